//! Authorization codes: what a code carries, sealed into the code itself.
//!
//! The authorization endpoint writes nothing: the code is the grant it
//! stands for (client, person, SSO session, `redirect_uri`, scopes, nonce,
//! PKCE challenge, the session's `auth_time`, `acr` and `amr`, its end),
//! encrypted and authenticated with a key derived from the master key
//! (AES-256-GCM-SIV: a random nonce per code, and a repeated one would
//! tell only that two codes are the same code). Every node of a cluster
//! shares the master key, so any of them opens what another sealed. The
//! grant is stored when the code is exchanged, under the id the code
//! carries: a second exchange finds it there (a replay), so a code is
//! still used once.
//!
//! A code looks like any opaque code to a client: base64url, about 600
//! characters (a version byte, the nonce, the sealed claims and their tag).

use aws_lc_rs::aead::{AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clavis_core::{ClientId, Oid, SessionId};
use serde::{Deserialize, Serialize};

/// The first byte of every code this format seals; another format would
/// take the next one.
const VERSION: u8 = 1;

/// Bound to every code, before the issuer: a value sealed by the same key
/// for another purpose, or by another installation sharing the master
/// key under another issuer, does not open as a code here.
const AAD_PREFIX: &str = "clavis:oidc:authorization-code:v1:";

/// What the master key derives the codes' key under.
pub(crate) const KEY_LABEL: &str = "oidc-authorization-code";

/// The longest code [`CodeSealer::open`] decodes: far above what the
/// authorization endpoint seals (its request, a few hundred bytes), far
/// below what would cost anything to refuse.
const MAX_CODE_CHARS: usize = 8_192;

/// Tag (16 bytes) of AES-GCM-SIV.
const TAG_LEN: usize = 16;

/// The grant a code stands for. Short field names: they travel in every
/// code, and so in the redirect the browser follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CodeGrant {
    /// The grant's id (time-ordered), under which the exchange stores it.
    #[serde(rename = "g")]
    pub grant_id: String,
    #[serde(rename = "c")]
    pub client_id: ClientId,
    #[serde(rename = "o")]
    pub oid: Oid,
    #[serde(rename = "s")]
    pub session_id: SessionId,
    #[serde(rename = "r")]
    pub redirect_uri: String,
    /// Space-separated granted scopes.
    #[serde(rename = "sc")]
    pub scope: String,
    #[serde(rename = "n", default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    #[serde(rename = "pk", default, skip_serializing_if = "Option::is_none")]
    pub code_challenge: Option<String>,
    /// When the person authenticated (unix seconds).
    #[serde(rename = "at")]
    pub auth_time: i64,
    #[serde(rename = "a")]
    pub acr: String,
    #[serde(rename = "m")]
    pub amr: Vec<String>,
    /// When the code was issued (unix seconds).
    #[serde(rename = "i")]
    pub issued_at: i64,
    /// When the code stops being accepted (unix seconds).
    #[serde(rename = "x")]
    pub expires_at: i64,
    /// The authorisation request's trace (W3C `traceparent`), when traces
    /// are sent: the exchange continues it.
    #[serde(rename = "t", default, skip_serializing_if = "Option::is_none")]
    pub trace_parent: Option<String>,
}

/// Seals and opens codes. `Debug` never shows the key.
pub(crate) struct CodeSealer {
    key: LessSafeKey,
    /// [`AAD_PREFIX`] and the issuer.
    aad: Vec<u8>,
    rng: SystemRandom,
}

impl std::fmt::Debug for CodeSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeSealer([redacted])")
    }
}

/// Why a code could not be sealed (the system's randomness or the
/// cipher failed: nothing a request did).
#[derive(Debug, thiserror::Error)]
#[error("an authorization code could not be sealed")]
pub(crate) struct SealError;

impl CodeSealer {
    /// A sealer with `key` (32 bytes, derived from the master key under
    /// [`KEY_LABEL`]) for the provider `issuer`.
    pub(crate) fn new(key: &[u8; 32], issuer: &str) -> Self {
        let key = UnboundKey::new(&AES_256_GCM_SIV, key).expect("32 bytes is an AES-256 key");
        CodeSealer {
            key: LessSafeKey::new(key),
            aad: format!("{AAD_PREFIX}{issuer}").into_bytes(),
            rng: SystemRandom::new(),
        }
    }

    /// The code for `grant`.
    pub(crate) fn seal(&self, grant: &CodeGrant) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).map_err(|_| SealError)?;
        let mut out = Vec::with_capacity(512);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        serde_json::to_writer(&mut out, grant).map_err(|_| SealError)?;
        let mut body = out.split_off(1 + NONCE_LEN);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(self.aad.as_slice()),
                &mut body,
            )
            .map_err(|_| SealError)?;
        out.extend_from_slice(&body);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    /// The grant `code` stands for; `None` for anything this key did not
    /// seal as a code (another key, another format, altered, truncated).
    pub(crate) fn open(&self, code: &str) -> Option<CodeGrant> {
        if code.len() > MAX_CODE_CHARS {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(code).ok()?;
        let (&version, rest) = raw.split_first()?;
        if version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(self.aad.as_slice()), &mut body)
            .ok()?;
        serde_json::from_slice(plain).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://clavis.chu.test";

    fn grant() -> CodeGrant {
        CodeGrant {
            grant_id: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into(),
            client_id: ClientId::from("dpi"),
            oid: "0b7f5c2e-8d1a-4c3b-9e6f-2a4d8c1e7b90".parse().expect("oid"),
            session_id: SessionId::from("6f1c2d3e-4b5a-4968-8776-a5b4c3d2e1f0"),
            redirect_uri: "https://dpi.chu.test/cb".into(),
            scope: "openid profile".into(),
            nonce: Some("n-1".into()),
            code_challenge: Some("ngF5GsXcbwljx6u133FFr3Xht9xooA_DuaX_3QwODtc".into()),
            auth_time: 1_800_000_000,
            acr: "eidas2".into(),
            amr: vec!["hwk".into(), "pin".into()],
            issued_at: 1_800_000_100,
            expires_at: 1_800_000_160,
            trace_parent: None,
        }
    }

    #[test]
    fn a_code_opens_to_its_grant_with_the_key_that_sealed_it_only() {
        let a = CodeSealer::new(&[7u8; 32], ISSUER);
        let b = CodeSealer::new(&[8u8; 32], ISSUER);
        let elsewhere = CodeSealer::new(&[7u8; 32], "https://clavis.other.test");
        let code = a.seal(&grant()).expect("seal");
        assert_eq!(a.open(&code), Some(grant()));
        assert_eq!(b.open(&code), None, "another master key's code");
        assert_eq!(elsewhere.open(&code), None, "another issuer's code");
        // Two codes for the same grant differ (a fresh nonce each).
        assert_ne!(a.seal(&grant()).expect("seal"), code);
        // Nothing of the grant shows in the code.
        let raw = URL_SAFE_NO_PAD.decode(&code).expect("base64url");
        for visible in ["dpi.chu.test", "openid", "eidas2", "n-1"] {
            assert!(
                !raw.windows(visible.len()).any(|w| w == visible.as_bytes()),
                "{visible} is readable in the code"
            );
        }
        assert!(code.len() < 700, "{} characters", code.len());
        assert_eq!(format!("{a:?}"), "CodeSealer([redacted])");
    }

    #[test]
    fn an_altered_or_truncated_code_does_not_open() {
        let s = CodeSealer::new(&[7u8; 32], ISSUER);
        let code = s.seal(&grant()).expect("seal");
        let raw = URL_SAFE_NO_PAD.decode(&code).expect("base64url");
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(s.open(&URL_SAFE_NO_PAD.encode(&bad)), None, "byte {i}");
        }
        for n in [0, 1, 12, 28, raw.len() - 1] {
            assert_eq!(
                s.open(&URL_SAFE_NO_PAD.encode(&raw[..n])),
                None,
                "{n} bytes"
            );
        }
        for junk in ["", "not base64!", "AAAA", &"A".repeat(MAX_CODE_CHARS + 4)] {
            assert_eq!(s.open(junk), None);
        }
    }

    #[test]
    fn a_value_sealed_for_another_purpose_is_no_code() {
        // The same key, the same format, another associated data.
        let s = CodeSealer::new(&[7u8; 32], ISSUER);
        let mut nonce = [0u8; NONCE_LEN];
        nonce[0] = 9;
        let mut body = serde_json::to_vec(&grant()).expect("json");
        s.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(b"something else"),
                &mut body,
            )
            .expect("seal");
        let mut raw = vec![VERSION];
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&body);
        assert_eq!(s.open(&URL_SAFE_NO_PAD.encode(&raw)), None);
    }
}
