//! The Clavis workstation agent.
//!
//! It runs on a workstation with a PC/SC badge reader and does one thing:
//! relay APDUs between the card and Clavis for one badge transaction at a
//! time. It holds no key and makes no decision: Clavis drives the DESFire
//! protocol, the agent only carries bytes.
//!
//! - The login page (served by Clavis, allowed by origin) calls
//!   `POST http://127.0.0.1:4655/v1/read` with a transaction id and token;
//!   the agent waits for a card, then posts each card answer to Clavis
//!   (`/agent/v1/step`, authenticated as this workstation) until Clavis says
//!   done or failed, and tells the page which.
//! - A card tapped with no page waiting: the agent asks Clavis whether an
//!   enrolment waits for this workstation (`/agent/v1/pending`) and relays
//!   it.

pub mod card;
pub mod clavis;
pub mod config;
pub mod server;

pub use config::AgentConfig;

/// How a relayed transaction ended, as the page learns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Clavis accepted the card (login: the PIN comes next).
    Done,
    /// Clavis refused the card (the reason is in Clavis's audit log).
    Failed,
    /// No card was presented in time.
    NoCard,
    /// The card left the reader during the exchange.
    CardRemoved,
    /// Clavis could not be reached or refused this workstation.
    ClavisUnreachable,
    /// Another transaction is in progress on this reader.
    Busy,
}

impl Outcome {
    /// The value the page receives.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::NoCard => "no_card",
            Outcome::CardRemoved => "card_removed",
            Outcome::ClavisUnreachable => "clavis_unreachable",
            Outcome::Busy => "busy",
        }
    }
}

/// Relays one transaction between `card` and Clavis. A card that stops
/// answering is reported to Clavis as an empty answer, so the attempt is
/// closed and audited there too.
pub fn relay(
    clavis: &clavis::Clavis,
    card: &mut dyn card::Card,
    transaction: &str,
    token: Option<&str>,
) -> Outcome {
    let mut step = 0;
    let mut answer: Option<Vec<u8>> = None;
    let mut removed = false;
    for _ in 0..64 {
        let reply = match clavis.step(transaction, token, step, answer.as_deref()) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Clavis step failed");
                return Outcome::ClavisUnreachable;
            }
        };
        match reply {
            clavis::Reply::Done => return Outcome::Done,
            clavis::Reply::Failed if removed => return Outcome::CardRemoved,
            clavis::Reply::Failed => return Outcome::Failed,
            clavis::Reply::Send { apdu, step: next } => {
                step = next;
                answer = Some(match card.transmit(&apdu) {
                    // No status word: some readers answer nothing rather
                    // than an error when the card leaves the field.
                    Ok(a) if a.len() < 2 => {
                        tracing::info!("card stopped answering");
                        removed = true;
                        Vec::new()
                    }
                    Ok(a) => {
                        // Only the command byte and the status word: the
                        // data is the card's business and Clavis's.
                        tracing::debug!(
                            step,
                            command = format!("{:02X}", apdu.get(1).copied().unwrap_or(0)),
                            status = hex::encode(a.get(a.len().saturating_sub(2)..).unwrap_or(&[])),
                            "card answered"
                        );
                        a
                    }
                    Err(e) => {
                        tracing::info!(error = %e, "card stopped answering");
                        removed = true;
                        Vec::new()
                    }
                });
            }
        }
    }
    Outcome::Failed
}
