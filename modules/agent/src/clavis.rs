//! The agent's side of `/agent/v1/*`: HTTPS to Clavis, authenticated as
//! this workstation.

use serde::Deserialize;
use serde_json::json;
use std::fmt;
use std::time::Duration;

/// What Clavis answers to a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Send this APDU, post its answer as `step`.
    Send { apdu: Vec<u8>, step: i32 },
    /// Finished.
    Done,
    /// Refused.
    Failed,
}

/// Errors talking to Clavis.
#[derive(Debug, thiserror::Error)]
pub enum ClavisError {
    /// Network or TLS.
    #[error("Clavis unreachable: {0}")]
    Http(String),
    /// Clavis refused this workstation's credential.
    #[error("Clavis refused this workstation's credential")]
    Unauthorized,
    /// Any other refusal.
    #[error("Clavis answered {status}: {body}")]
    Refused { status: u16, body: String },
    /// A malformed answer.
    #[error("unexpected answer from Clavis: {0}")]
    Malformed(String),
}

/// A client for one Clavis, as one workstation.
pub struct Clavis {
    base: String,
    workstation: String,
    credential: String,
    http: reqwest::blocking::Client,
}

impl fmt::Debug for Clavis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Clavis")
            .field("base", &self.base)
            .field("workstation", &self.workstation)
            .field("credential", &"[redacted]")
            .finish()
    }
}

#[derive(Deserialize)]
struct StepAnswer {
    apdu: Option<String>,
    step: Option<i32>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    failed: bool,
}

#[derive(Deserialize)]
struct PendingAnswer {
    transaction: String,
}

impl Clavis {
    /// A client for `base` (Clavis's URL).
    pub fn new(
        base: &str,
        workstation: &str,
        credential: String,
        ca_pem: Option<&[u8]>,
    ) -> Result<Self, ClavisError> {
        let mut b = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("clavis-agent/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem)
                .map_err(|e| ClavisError::Http(format!("ca_file: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        Ok(Clavis {
            base: base.trim_end_matches('/').to_string(),
            workstation: workstation.to_string(),
            credential,
            http: b.build().map_err(|e| ClavisError::Http(e.to_string()))?,
        })
    }

    fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<reqwest::blocking::Response, ClavisError> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .basic_auth(&self.workstation, Some(&self.credential))
            .json(body)
            .send()
            .map_err(|e| ClavisError::Http(e.to_string()))?;
        match r.status().as_u16() {
            200..=299 => Ok(r),
            401 => Err(ClavisError::Unauthorized),
            status => Err(ClavisError::Refused {
                status,
                body: r.text().unwrap_or_default().chars().take(300).collect(),
            }),
        }
    }

    /// Posts the card's answer to the previous APDU (none at step 0).
    pub fn step(
        &self,
        transaction: &str,
        token: Option<&str>,
        step: i32,
        answer: Option<&[u8]>,
    ) -> Result<Reply, ClavisError> {
        let r = self.post(
            "/agent/v1/step",
            &json!({"transaction": transaction, "token": token, "step": step, "answer": answer.map(hex::encode)}),
        )?;
        let a: StepAnswer = r
            .json()
            .map_err(|e| ClavisError::Malformed(e.to_string()))?;
        match a {
            StepAnswer { done: true, .. } => Ok(Reply::Done),
            StepAnswer { failed: true, .. } => Ok(Reply::Failed),
            StepAnswer {
                apdu: Some(h),
                step: Some(step),
                ..
            } => Ok(Reply::Send {
                apdu: hex::decode(&h).map_err(|e| ClavisError::Malformed(e.to_string()))?,
                step,
            }),
            _ => Err(ClavisError::Malformed("no apdu, done or failed".into())),
        }
    }

    /// An enrolment waiting for this workstation, if any.
    pub fn pending(&self) -> Result<Option<String>, ClavisError> {
        let r = self.post("/agent/v1/pending", &json!({}))?;
        if r.status().as_u16() == 204 {
            return Ok(None);
        }
        let a: PendingAnswer = r
            .json()
            .map_err(|e| ClavisError::Malformed(e.to_string()))?;
        Ok(Some(a.transaction))
    }
}
