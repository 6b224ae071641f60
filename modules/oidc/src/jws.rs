//! Compact JWS (RFC 7515) signing with our keys and verification against a
//! JWK: the ID tokens and logout tokens we sign, the `id_token_hint`s and
//! `private_key_jwt` client assertions we check, and what Pro Santé
//! Connect signs. RS256, PS256 and ES256 only, over aws-lc-rs; `none`, HMAC and
//! every other algorithm are refused.

use aws_lc_rs::signature;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

/// Why a token did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not three base64url parts of JSON.
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),
    /// An algorithm we do not accept (`none`, HS256…).
    #[error("unsupported JWS algorithm {0:?}")]
    Algorithm(String),
    /// No key with this kid (or of this type) to check against.
    #[error("no matching key")]
    NoKey,
    /// The signature does not verify.
    #[error("bad signature")]
    Signature,
}

/// The parts of a compact JWS, decoded but not yet verified.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The protected header.
    pub header: Value,
    /// The payload (claims).
    pub claims: Value,
    signing_input: String,
    signature: Vec<u8>,
}

impl Parsed {
    /// `alg` of the header.
    pub fn alg(&self) -> &str {
        self.header.get("alg").and_then(Value::as_str).unwrap_or("")
    }

    /// `kid` of the header.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
}

/// Splits and decodes a compact JWS of at most 16 KiB. Verify it before
/// trusting anything.
pub fn parse(token: &str) -> Result<Parsed, JwsError> {
    parse_limited(token, 16 * 1024)
}

/// [`parse`] with another size limit (a signed userinfo listing every
/// activity of a professional is larger than an ID token).
pub fn parse_limited(token: &str, max_len: usize) -> Result<Parsed, JwsError> {
    if token.len() > max_len {
        return Err(JwsError::Malformed("too long"));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwsError::Malformed("expected three parts"));
    };
    let decode = |part: &str, what: &'static str| {
        URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JwsError::Malformed(what))
    };
    let header: Value = serde_json::from_slice(&decode(h, "header is not base64url")?)
        .map_err(|_| JwsError::Malformed("header is not JSON"))?;
    let claims: Value = serde_json::from_slice(&decode(p, "payload is not base64url")?)
        .map_err(|_| JwsError::Malformed("payload is not JSON"))?;
    if !header.is_object() || !claims.is_object() {
        return Err(JwsError::Malformed(
            "header and payload must be JSON objects",
        ));
    }
    Ok(Parsed {
        header,
        claims,
        signing_input: format!("{h}.{p}"),
        signature: decode(s, "signature is not base64url")?,
    })
}

/// Signs `claims` into a compact JWS with `header` (which must carry `alg`
/// and `kid`), using `sign` over the signing input.
pub fn encode(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let h = URL_SAFE_NO_PAD.encode(header.to_string());
    let p = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{h}.{p}");
    let sig = sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn b64_field(jwk: &Value, name: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(jwk.get(name)?.as_str()?).ok()
}

/// The algorithms [`verify_with`] accepts.
pub const VERIFIED_ALGS: &[&str] = &["RS256", "PS256", "ES256"];

/// Verifies `parsed` against one JWK (RSA for RS256 and PS256, P-256 for
/// ES256). A JWK that names its own `alg` is used for that one only.
pub fn verify_with(parsed: &Parsed, jwk: &Value) -> Result<(), JwsError> {
    let input = parsed.signing_input.as_bytes();
    if let Some(a) = jwk.get("alg").and_then(Value::as_str)
        && a != parsed.alg()
        && VERIFIED_ALGS.contains(&parsed.alg())
    {
        return Err(JwsError::NoKey);
    }
    match parsed.alg() {
        alg @ ("RS256" | "PS256") => {
            if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
                return Err(JwsError::NoKey);
            }
            let (Some(n), Some(e)) = (b64_field(jwk, "n"), b64_field(jwk, "e")) else {
                return Err(JwsError::NoKey);
            };
            let scheme = if alg == "PS256" {
                &signature::RSA_PSS_2048_8192_SHA256
            } else {
                &signature::RSA_PKCS1_2048_8192_SHA256
            };
            signature::RsaPublicKeyComponents { n, e }
                .verify(scheme, input, &parsed.signature)
                .map_err(|_| JwsError::Signature)
        }
        "ES256" => {
            if jwk.get("kty").and_then(Value::as_str) != Some("EC")
                || jwk.get("crv").and_then(Value::as_str) != Some("P-256")
            {
                return Err(JwsError::NoKey);
            }
            let (Some(x), Some(y)) = (b64_field(jwk, "x"), b64_field(jwk, "y")) else {
                return Err(JwsError::NoKey);
            };
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(input, &parsed.signature)
                .map_err(|_| JwsError::Signature)
        }
        other => Err(JwsError::Algorithm(other.to_string())),
    }
}

/// Verifies `parsed` against a JWK Set: the key named by `kid`, or, without
/// a kid, any key of the right type.
pub fn verify_with_set(parsed: &Parsed, jwks: &Value) -> Result<(), JwsError> {
    if !VERIFIED_ALGS.contains(&parsed.alg()) {
        return Err(JwsError::Algorithm(parsed.alg().to_string()));
    }
    let keys = jwks
        .get("keys")
        .and_then(Value::as_array)
        .ok_or(JwsError::NoKey)?;
    let mut last = JwsError::NoKey;
    for k in keys {
        if let Some(kid) = parsed.kid()
            && k.get("kid").and_then(Value::as_str) != Some(kid)
        {
            continue;
        }
        match verify_with(parsed, k) {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        for t in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.??.**",
            "e30.e30",
            "e30.W10.AA",
        ] {
            assert!(parse(t).is_err(), "{t:?}");
        }
        let p = parse("eyJhbGciOiJub25lIn0.e30.").expect("parses");
        assert_eq!(
            verify_with_set(&p, &serde_json::json!({"keys": []})),
            Err(JwsError::Algorithm("none".into()))
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a client or a browser sends as a token (an
        /// `id_token_hint`, a client assertion), parsing and verifying it
        /// answers an error or a value, never a panic.
        #[test]
        fn hostile_tokens_never_panic(s in "[A-Za-z0-9_.=+/-]{0,300}") {
            if let Ok(p) = parse(&s) {
                let _ = verify_with_set(&p, &serde_json::json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}, {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}));
            }
        }

        #[test]
        fn hostile_json_parts_never_panic(h in any::<Vec<u8>>(), p in any::<Vec<u8>>(), sig in any::<Vec<u8>>()) {
            let t = format!("{}.{}.{}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p), URL_SAFE_NO_PAD.encode(sig));
            if let Ok(parsed) = parse(&t) {
                let _ = verify_with_set(&parsed, &serde_json::json!({"keys": []}));
            }
        }
    }
}
