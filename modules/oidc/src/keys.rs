//! Signing keys and the master key that protects them at rest.
//!
//! Each algorithm (RS256, ES256) has one current key; `clavis keys rotate`
//! makes a new current key and retires the old one, which stays in the
//! JWKS until every token it signed has expired. Private keys are stored as
//! PKCS#8 sealed with AES-256-GCM under the master key
//! ([`clavis_core::master_key`]), which never enters the database.
//! Signing uses aws-lc-rs (ring's API, twice its RSA speed); RSA keys are generated with the `rsa` crate
//! (generation only: it never signs).

use crate::OidcError;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
pub use clavis_core::master_key::MasterKey;
use clavis_core::{Actor, AuditAction};
use clavis_store::DbConn;
use clavis_store::models::OidcKeyRow;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::fmt;

/// What a sealed signing key is bound to (it opens as nothing else).
const SEALED_KEY_AAD: &[u8] = b"clavis-oidc-key";

/// The signing algorithms we offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (default).
    Rs256,
    /// ECDSA P-256 with SHA-256.
    Es256,
}

impl Alg {
    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    /// From the JOSE name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }
}

enum Pair {
    Rsa(signature::RsaKeyPair),
    Ec(signature::EcdsaKeyPair),
}

/// One usable signing key.
pub struct SigningKey {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// Its algorithm.
    pub alg: Alg,
    /// The public JWK.
    pub public_jwk: Value,
    /// When it was retired (unix seconds), if it was.
    pub retired_at: Option<i64>,
    pair: Pair,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private", &"[redacted]")
            .finish()
    }
}

impl SigningKey {
    /// Signs `claims` as a compact JWS of type `typ`.
    pub fn sign(&self, typ: &str, claims: &Value) -> Result<String, OidcError> {
        let header = json!({"alg": self.alg.as_str(), "kid": self.kid, "typ": typ});
        let rng = SystemRandom::new();
        let mut failed = false;
        let token = crate::jws::encode(&header, claims, |input| match &self.pair {
            Pair::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                if kp
                    .sign(&signature::RSA_PKCS1_SHA256, &rng, input, &mut sig)
                    .is_err()
                {
                    failed = true;
                }
                sig
            }
            Pair::Ec(kp) => match kp.sign(&rng, input) {
                Ok(s) => s.as_ref().to_vec(),
                Err(_) => {
                    failed = true;
                    Vec::new()
                }
            },
        });
        if failed {
            return Err(OidcError::Signing);
        }
        Ok(token)
    }

    /// A key given as PKCS#8 DER (RSA for RS256, P-256 for ES256): the
    /// key Clavis authenticates with at another provider
    /// (`private_key_jwt`).
    pub fn from_private_pkcs8(der: &[u8]) -> Result<Self, OidcError> {
        Self::from_pkcs8(Alg::Rs256, der, None).or_else(|_| {
            Self::from_pkcs8(Alg::Es256, der, None).map_err(|_| {
                OidcError::InvalidClient("not an RSA or P-256 private key (PKCS#8)".into())
            })
        })
    }

    fn from_pkcs8(alg: Alg, der: &[u8], retired_at: Option<i64>) -> Result<Self, OidcError> {
        let bad = |e: String| {
            OidcError::MasterKey(format!("stored {} key is invalid: {e}", alg.as_str()))
        };
        let (pair, jwk) = match alg {
            Alg::Rs256 => {
                let kp = signature::RsaKeyPair::from_pkcs8(der).map_err(|e| bad(e.to_string()))?;
                let c: signature::RsaPublicKeyComponents<Vec<u8>> = kp.public_key().into();
                let jwk = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(&c.n), "e": URL_SAFE_NO_PAD.encode(&c.e)});
                (Pair::Rsa(kp), jwk)
            }
            Alg::Es256 => {
                let kp = signature::EcdsaKeyPair::from_pkcs8(
                    &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                )
                .map_err(|e| bad(e.to_string()))?;
                let point = kp.public_key().as_ref();
                let jwk = json!({"kty": "EC", "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65])});
                (Pair::Ec(kp), jwk)
            }
        };
        let kid = thumbprint(&jwk);
        let mut public_jwk = jwk;
        public_jwk["kid"] = json!(kid);
        public_jwk["alg"] = json!(alg.as_str());
        public_jwk["use"] = json!("sig");
        Ok(SigningKey {
            kid,
            alg,
            public_jwk,
            retired_at,
            pair,
        })
    }
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url).
fn thumbprint(jwk: &Value) -> String {
    let canonical = match jwk["kty"].as_str() {
        Some("RSA") => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk["e"].as_str().unwrap_or(""),
            jwk["n"].as_str().unwrap_or("")
        ),
        _ => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk["crv"].as_str().unwrap_or(""),
            jwk["x"].as_str().unwrap_or(""),
            jwk["y"].as_str().unwrap_or("")
        ),
    };
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A new private key, PKCS#8 DER.
fn generate(alg: Alg) -> Result<Vec<u8>, OidcError> {
    match alg {
        Alg::Rs256 => {
            use rsa::pkcs8::EncodePrivateKey;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|_| OidcError::Signing)?;
            Ok(key
                .to_pkcs8_der()
                .map_err(|_| OidcError::Signing)?
                .as_bytes()
                .to_vec())
        }
        Alg::Es256 => Ok(signature::EcdsaKeyPair::generate_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .map_err(|_| OidcError::Signing)?
        .as_ref()
        .to_vec()),
    }
}

/// The keys in use: the current one per algorithm, and the retired ones
/// still published.
#[derive(Debug, Default)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// Loads the published keys (retired less than `keep_retired_secs` ago).
    pub async fn load(
        conn: &mut DbConn,
        master: &MasterKey,
        now: i64,
        keep_retired_secs: i64,
    ) -> Result<Self, OidcError> {
        let rows = OidcKeyRow::published(conn, now - keep_retired_secs).await?;
        let mut keys = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(alg) = Alg::parse(&r.alg) else {
                continue;
            };
            keys.push(SigningKey::from_pkcs8(
                alg,
                &master.open(SEALED_KEY_AAD, &r.private_key)?,
                r.retired_at,
            )?);
        }
        Ok(KeyRing { keys })
    }

    /// The current key of `alg`.
    pub fn current(&self, alg: Alg) -> Option<&SigningKey> {
        self.keys
            .iter()
            .rev()
            .find(|k| k.alg == alg && k.retired_at.is_none())
    }

    /// The JWKS document (public keys only).
    pub fn jwks(&self) -> Value {
        json!({"keys": self.keys.iter().map(|k| k.public_jwk.clone()).collect::<Vec<_>>()})
    }
}

/// Makes a new current key of `alg` (retiring the previous one, which stays
/// published); returns its kid. Audited.
pub async fn rotate(
    conn: &mut DbConn,
    master: &MasterKey,
    alg: Alg,
    now: i64,
    actor: &Actor,
) -> Result<String, OidcError> {
    let der = generate(alg)?;
    let key = SigningKey::from_pkcs8(alg, &der, None)?;
    conn.transaction(async |tx| -> Result<(), OidcError> {
        let retired = OidcKeyRow::retire_current(tx, alg.as_str(), now).await?;
        OidcKeyRow {
            kid: key.kid.clone(),
            alg: alg.as_str().into(),
            private_key: master.seal(SEALED_KEY_AAD, &der)?,
            public_jwk: key.public_jwk.to_string(),
            created_at: now,
            retired_at: None,
        }
        .insert(tx)
        .await?;
        clavis_audit::AuditEvent::new(
            actor,
            AuditAction::OidcKeyRotated,
            Some(key.kid.clone()),
            json!({"alg": alg.as_str(), "retired": retired}),
        )
        .record(
            tx,
            chrono::DateTime::from_timestamp(now, 0).unwrap_or_default(),
        )
        .await?;
        Ok(())
    })
    .await?;
    Ok(key.kid)
}

/// Makes sure each algorithm has a current key (first start).
pub async fn ensure(conn: &mut DbConn, master: &MasterKey, now: i64) -> Result<(), OidcError> {
    let ring = KeyRing::load(conn, master, now, 0).await?;
    for alg in [Alg::Rs256, Alg::Es256] {
        if ring.current(alg).is_none() {
            rotate(conn, master, alg, now, &Actor::Clavis).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_tokens_verify_against_the_published_jwk_only() {
        for alg in [Alg::Es256, Alg::Rs256] {
            let key = SigningKey::from_pkcs8(alg, &generate(alg).expect("gen"), None).expect("key");
            let other =
                SigningKey::from_pkcs8(alg, &generate(alg).expect("gen"), None).expect("key");
            let t = key.sign("JWT", &json!({"sub": "x"})).expect("sign");
            let p = crate::jws::parse(&t).expect("parse");
            assert_eq!(p.kid(), Some(key.kid.as_str()));
            crate::jws::verify_with(&p, &key.public_jwk).expect("verifies");
            assert!(crate::jws::verify_with(&p, &other.public_jwk).is_err());
            // A changed payload no longer verifies.
            let mut parts: Vec<&str> = t.split('.').collect();
            let forged = URL_SAFE_NO_PAD.encode(r#"{"sub":"y"}"#);
            parts[1] = &forged;
            let p = crate::jws::parse(&parts.join(".")).expect("parse");
            assert!(crate::jws::verify_with(&p, &key.public_jwk).is_err());
            assert!(!format!("{key:?}").contains("BEGIN"));
        }
    }
}
