//! The checks of what PSC answers: the ID token (signature by PSC's JWKS,
//! issuer, audience, expiry, nonce), the userinfo (JSON or a signed JWT,
//! about the same `sub`), and the national id read from them. Pure: the
//! keys are given; [`crate::rp`] fetches them.

use clavis_core::NationalId;
use clavis_oidc::jws;
use serde_json::{Map, Value};

/// Why an answer of PSC was refused: a stable code for the audit and a
/// detail for the operator (never shown to the person as such).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Refusal {
    /// `wrong_issuer`, `wrong_audience`, `expired`, `unsigned`…
    pub code: &'static str,
    /// What exactly.
    pub detail: String,
}

impl Refusal {
    pub(crate) fn new(code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// What the checks of an ID token need besides the token.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// PSC's issuer.
    pub issuer: &'a str,
    /// Clavis's client id at PSC.
    pub client_id: &'a str,
    /// The nonce sent with the request.
    pub nonce: &'a str,
    /// Now, unix seconds.
    pub now: i64,
    /// Clock difference tolerated.
    pub skew: i64,
}

/// Whether a token is a JWE (five parts): PSC can encrypt, Clavis does not
/// register for it.
fn is_jwe(token: &str) -> bool {
    token.split('.').count() == 5
}

/// Parses a compact JWS from PSC and names the key it asks for; refuses
/// what is not a signature Clavis checks (`none`, HMAC, JWE).
pub fn parse(token: &str, what: &str) -> Result<jws::Parsed, Refusal> {
    if is_jwe(token) {
        return Err(Refusal::new(
            "encrypted",
            format!("{what} is encrypted (JWE); register Clavis at PSC without encryption"),
        ));
    }
    let parsed = jws::parse_limited(token, crate::discovery::MAX_BODY)
        .map_err(|e| Refusal::new("malformed", format!("{what}: {e}")))?;
    match parsed.alg() {
        a if jws::VERIFIED_ALGS.contains(&a) => Ok(parsed),
        "none" | "" => Err(Refusal::new(
            "unsigned",
            format!("{what} is not signed (alg none)"),
        )),
        other => Err(Refusal::new(
            "unsupported_algorithm",
            format!("{what} is signed with {other}; Clavis accepts RS256, PS256, ES256"),
        )),
    }
}

/// Checks the signature of `parsed` against PSC's `jwks`.
pub fn signature(parsed: &jws::Parsed, jwks: &Value, what: &str) -> Result<(), Refusal> {
    jws::verify_with_set(parsed, jwks).map_err(|e| match e {
        jws::JwsError::NoKey => Refusal::new(
            "unknown_key",
            format!(
                "{what} is signed with key {:?}, which PSC's JWKS does not hold",
                parsed.kid().unwrap_or("")
            ),
        ),
        other => Refusal::new("bad_signature", format!("{what}: {other}")),
    })
}

fn str_claim<'a>(c: &'a Value, name: &str) -> Option<&'a str> {
    c.get(name).and_then(Value::as_str)
}

/// The claims checks of a signature-checked ID token (OpenID Connect Core
/// §3.1.3.7): issuer, audience (and `azp` when several), expiry and
/// issue time within the tolerated skew, nonce, a `sub`.
pub fn id_token_claims(claims: &Value, e: &Expected<'_>) -> Result<(), Refusal> {
    let iss = str_claim(claims, "iss").unwrap_or("");
    if iss.trim_end_matches('/') != e.issuer.trim_end_matches('/') {
        return Err(Refusal::new(
            "wrong_issuer",
            format!("iss {iss:?}, expected {:?}", e.issuer),
        ));
    }
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    if !aud.contains(&e.client_id) {
        return Err(Refusal::new(
            "wrong_audience",
            format!("aud {aud:?} does not name {:?}", e.client_id),
        ));
    }
    if aud.len() > 1 && str_claim(claims, "azp") != Some(e.client_id) {
        return Err(Refusal::new(
            "wrong_audience",
            format!("several audiences {aud:?} and azp is not {:?}", e.client_id),
        ));
    }
    let exp = claims.get("exp").and_then(Value::as_i64);
    match exp {
        None => return Err(Refusal::new("expired", "no exp")),
        Some(exp) if exp + e.skew <= e.now => {
            return Err(Refusal::new(
                "expired",
                format!("expired at {exp}, now {} (skew {} s)", e.now, e.skew),
            ));
        }
        _ => {}
    }
    if let Some(iat) = claims.get("iat").and_then(Value::as_i64)
        && iat > e.now + e.skew
    {
        return Err(Refusal::new(
            "issued_in_future",
            format!(
                "iat {iat} is after now {} (skew {} s): check the clocks",
                e.now, e.skew
            ),
        ));
    }
    let nonce = str_claim(claims, "nonce").unwrap_or("");
    if !clavis_core::secret::constant_time_eq(nonce.as_bytes(), e.nonce.as_bytes()) {
        return Err(Refusal::new("wrong_nonce", "the nonce is not the one sent"));
    }
    if str_claim(claims, "sub").is_none_or(str::is_empty) {
        return Err(Refusal::new("no_subject", "no sub"));
    }
    Ok(())
}

/// The assurance PSC reached: present, and at least the weakest level
/// asked (`acr_values`), in the eIDAS order (as the ANS's own connector
/// refuses a missing or lower `acr`). Asking nothing accepts anything.
pub fn acr(claims: &Value, asked: &str) -> Result<(), Refusal> {
    let order = clavis_core::AcrOrder::default();
    let Some(weakest) = asked.split_whitespace().min_by_key(|a| order.rank(a)) else {
        return Ok(());
    };
    match str_claim(claims, "acr") {
        Some(have) if order.satisfies(have, weakest) => Ok(()),
        Some(have) => Err(Refusal::new(
            "acr_too_weak",
            format!("acr {have:?}, asked at least {weakest:?}"),
        )),
        None => Err(Refusal::new(
            "acr_too_weak",
            format!("no acr, asked {weakest:?}"),
        )),
    }
}

/// The person authenticated at PSC during this trip (`auth_time` not
/// before it started, within the tolerated skew), not earlier: a PSC
/// session left open in the browser by someone else is no proof.
pub fn fresh(claims: &Value, trip_started: i64, skew: i64) -> Result<(), Refusal> {
    match claims.get("auth_time").and_then(Value::as_i64) {
        Some(t) if t + skew >= trip_started => Ok(()),
        Some(t) => Err(Refusal::new(
            "stale_authentication",
            format!("PSC reused an authentication of {t}, before this trip ({trip_started})"),
        )),
        None => Err(Refusal::new("stale_authentication", "no auth_time")),
    }
}

/// The claims of a userinfo answer: about the ID token's `sub`; a signed
/// one (already signature-checked) names PSC as issuer and Clavis as
/// audience when it carries them.
pub fn userinfo_claims(
    claims: &Value,
    id_sub: &str,
    signed: Option<&Expected<'_>>,
) -> Result<(), Refusal> {
    if !claims.is_object() {
        return Err(Refusal::new("malformed", "userinfo is not a JSON object"));
    }
    let sub = str_claim(claims, "sub").unwrap_or("");
    if sub != id_sub {
        return Err(Refusal::new(
            "userinfo_subject_mismatch",
            format!("userinfo is about {sub:?}, the ID token about {id_sub:?}"),
        ));
    }
    if let Some(e) = signed {
        if let Some(iss) = str_claim(claims, "iss")
            && iss.trim_end_matches('/') != e.issuer.trim_end_matches('/')
        {
            return Err(Refusal::new(
                "wrong_issuer",
                format!("userinfo iss {iss:?}"),
            ));
        }
        let aud_ok = match claims.get("aud") {
            None => true,
            Some(Value::String(a)) => a == e.client_id,
            Some(Value::Array(a)) => a.iter().any(|x| x.as_str() == Some(e.client_id)),
            Some(_) => false,
        };
        if !aud_ok {
            return Err(Refusal::new(
                "wrong_audience",
                "userinfo aud does not name Clavis",
            ));
        }
    }
    Ok(())
}

/// The national id, as PSC gives it: `SubjectNameID`, else
/// `preferred_username`, else `8` + `otherIds[origine=RPPS].identifiant`,
/// looked for in the userinfo first, then in the ID token. Its shape is
/// checked ([`NationalId::parse`]).
pub fn national_id(sources: &[&Value]) -> Result<NationalId, Refusal> {
    let found = sources.iter().find_map(|c| {
        let direct = ["SubjectNameID", "preferred_username"]
            .iter()
            .find_map(|n| {
                str_claim(c, n)
                    .filter(|v| !v.is_empty())
                    .map(str::to_string)
            });
        direct.or_else(|| {
            c.get("otherIds")
                .and_then(Value::as_array)?
                .iter()
                .find(|o| str_claim(o, "origine") == Some("RPPS"))
                .and_then(|o| str_claim(o, "identifiant"))
                .map(|r| format!("8{r}"))
        })
    });
    let Some(raw) = found else {
        return Err(Refusal::new(
            "no_national_id",
            "neither SubjectNameID, preferred_username nor otherIds[origine=RPPS]",
        ));
    };
    NationalId::parse(&raw).map_err(|e| Refusal::new("national_id_shape", format!("{raw:?}: {e}")))
}

/// A string claim, from the first source that has it.
pub fn claim(sources: &[&Value], name: &str) -> Option<String> {
    sources.iter().find_map(|c| {
        str_claim(c, name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    })
}

/// The claims of a JSON object, or an empty map.
pub fn object(v: &Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ISS: &str = "https://auth.bas.psc.esante.gouv.fr/auth/realms/esante-wallet";
    const NOW: i64 = 1_800_000_000;

    fn expected() -> Expected<'static> {
        Expected {
            issuer: ISS,
            client_id: "clavis-chu",
            nonce: "n-0S6_WzA2Mj",
            now: NOW,
            skew: 60,
        }
    }

    fn good() -> Value {
        json!({"iss": ISS, "aud": "clavis-chu", "exp": NOW + 120, "iat": NOW, "nonce": "n-0S6_WzA2Mj",
               "sub": "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:899700427885", "acr": "eidas1"})
    }

    fn code(c: Value) -> &'static str {
        id_token_claims(&c, &expected()).expect_err("refused").code
    }

    #[test]
    fn a_good_id_token_passes_and_each_bad_claim_has_its_reason() {
        assert_eq!(id_token_claims(&good(), &expected()), Ok(()));
        let with = |k: &str, v: Value| {
            let mut c = good();
            c[k] = v;
            c
        };
        assert_eq!(
            code(with("iss", json!("https://evil.example/realms/x"))),
            "wrong_issuer"
        );
        assert_eq!(code(with("aud", json!("another-client"))), "wrong_audience");
        assert_eq!(
            code(with("aud", json!(["clavis-chu", "other"]))),
            "wrong_audience"
        );
        assert_eq!(code(with("exp", json!(NOW - 61))), "expired");
        assert_eq!(code(with("iat", json!(NOW + 61))), "issued_in_future");
        assert_eq!(code(with("nonce", json!("other"))), "wrong_nonce");
        assert_eq!(code(with("sub", json!(""))), "no_subject");
        // Within the skew, a token just expired still passes.
        assert_eq!(
            id_token_claims(&with("exp", json!(NOW - 59)), &expected()),
            Ok(())
        );
        // Several audiences with azp = Clavis.
        let mut c = with("aud", json!(["clavis-chu", "other"]));
        c["azp"] = json!("clavis-chu");
        assert_eq!(id_token_claims(&c, &expected()), Ok(()));
    }

    #[test]
    fn unsigned_encrypted_and_hmac_tokens_are_refused_before_any_key() {
        assert_eq!(
            parse("eyJhbGciOiJub25lIn0.e30.", "ID token")
                .expect_err("none")
                .code,
            "unsigned"
        );
        assert_eq!(
            parse("a.b.c.d.e", "ID token").expect_err("jwe").code,
            "encrypted"
        );
        // {"alg":"HS256"}
        assert_eq!(
            parse("eyJhbGciOiJIUzI1NiJ9.e30.AA", "ID token")
                .expect_err("hmac")
                .code,
            "unsupported_algorithm"
        );
        assert_eq!(parse("x", "ID token").expect_err("junk").code, "malformed");
    }

    #[test]
    fn the_national_id_falls_back_as_psc_implementers_do() {
        let ui = json!({"SubjectNameID": "899700427885", "preferred_username": "x"});
        assert_eq!(
            national_id(&[&ui]).map(|n| n.to_string()),
            Ok("899700427885".into())
        );
        let ui = json!({"preferred_username": "810001045367"});
        assert_eq!(
            national_id(&[&ui]).map(|n| n.to_string()),
            Ok("810001045367".into())
        );
        let ui = json!({"otherIds": [{"identifiant": "X", "origine": "ADELI"}, {"identifiant": "10001045367", "origine": "RPPS"}]});
        assert_eq!(
            national_id(&[&ui]).map(|n| n.to_string()),
            Ok("810001045367".into())
        );
        // Userinfo first, then the ID token.
        let it = json!({"SubjectNameID": "810100224947"});
        assert_eq!(
            national_id(&[&json!({}), &it]).map(|n| n.to_string()),
            Ok("810100224947".into())
        );
        assert_eq!(
            national_id(&[&json!({})]).expect_err("none").code,
            "no_national_id"
        );
        let edit = json!({"SubjectNameID": "ANS20231122132732"});
        assert_eq!(
            national_id(&[&edit]).expect_err("shape").code,
            "national_id_shape"
        );
    }

    #[test]
    fn the_authentication_must_belong_to_this_trip() {
        assert_eq!(fresh(&json!({"auth_time": NOW}), NOW, 60), Ok(()));
        assert_eq!(fresh(&json!({"auth_time": NOW - 60}), NOW, 60), Ok(()));
        assert_eq!(
            fresh(&json!({"auth_time": NOW - 61}), NOW, 60)
                .expect_err("old")
                .code,
            "stale_authentication"
        );
        assert_eq!(
            fresh(&json!({}), NOW, 60).expect_err("none").code,
            "stale_authentication"
        );
    }

    #[test]
    fn psc_must_reach_the_assurance_asked() {
        assert_eq!(acr(&json!({"acr": "eidas1"}), "eidas1"), Ok(()));
        assert_eq!(acr(&json!({"acr": "eidas3"}), "eidas1"), Ok(()));
        assert_eq!(acr(&json!({}), "").map_err(|r| r.code), Ok(()));
        assert_eq!(
            acr(&json!({}), "eidas1").expect_err("none").code,
            "acr_too_weak"
        );
        assert_eq!(
            acr(&json!({"acr": "eidas1"}), "eidas2")
                .expect_err("weak")
                .code,
            "acr_too_weak"
        );
        assert_eq!(
            acr(&json!({"acr": "0"}), "eidas1")
                .expect_err("unknown")
                .code,
            "acr_too_weak"
        );
    }

    #[test]
    fn userinfo_must_be_about_the_same_person() {
        let ui = json!({"sub": "f:a:1"});
        assert_eq!(userinfo_claims(&ui, "f:a:1", None), Ok(()));
        assert_eq!(
            userinfo_claims(&ui, "f:b:2", None).expect_err("other").code,
            "userinfo_subject_mismatch"
        );
        let signed = json!({"sub": "f:a:1", "iss": ISS, "aud": "other"});
        assert_eq!(
            userinfo_claims(&signed, "f:a:1", Some(&expected()))
                .expect_err("aud")
                .code,
            "wrong_audience"
        );
    }
}
