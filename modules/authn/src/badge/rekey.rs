//! Re-keying a badge to the current key version on its next tap, as a
//! state machine like [`BadgeCheck`](crate::badge::BadgeCheck).
//!
//! After a badge check that passed with older keys (or a badge recorded at
//! an older version), Clavis authenticates with the application master key
//! (key 0) — the recorded version's first, then the current one's, in case
//! a previous re-keying changed key 0 but was cut before it was recorded —
//! and changes what is still old: key 1 (login), key 2 (identification),
//! and last key 0. Keys are changed in that order so that a card pulled
//! half-way stays readable: the check tries the login key of the current
//! version when the old one is refused.

use crate::badge::check::key_no;
use clavis_desfire::commands::NativeCommand;
use clavis_desfire::{
    AesKey, Aid, Authenticator, CommandApdu, DesfireError, KeyTarget, Pending, PendingAuth,
    PendingAuthConfirmation, Session, apdu, status,
};
use std::fmt;

/// What to change on one card (keys already diversified for it).
pub struct RekeyPlan {
    /// Our application.
    pub aid: Aid,
    /// Application master keys (key 0) to try, in order; the last is the
    /// current version's (when authentication succeeds with it, key 0 is
    /// left as it is).
    pub masters: Vec<AesKey>,
    /// Key 0 of the current version.
    pub new_master: AesKey,
    /// Key 1: (new, current on the card), or `None` if already current.
    pub login: Option<(AesKey, AesKey)>,
    /// Key 2: (new, current on the card), or `None` if already current.
    pub ident: Option<(AesKey, AesKey)>,
    /// The version the keys are written at.
    pub version: u8,
}

impl fmt::Debug for RekeyPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RekeyPlan")
            .field("version", &self.version)
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// Why re-keying stopped (the badge keeps working with what it has).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekeyFailure {
    /// No answer or a cut answer.
    #[error("card removed during re-keying")]
    CardRemoved,
    /// No application master key was accepted.
    #[error("application master key refused")]
    MasterRefused,
    /// Anything else.
    #[error("protocol error: {0}")]
    Protocol(String),
}

fn classify(e: DesfireError) -> RekeyFailure {
    match e {
        DesfireError::ResponseTooShort { .. } => RekeyFailure::CardRemoved,
        other => RekeyFailure::Protocol(other.to_string()),
    }
}

enum State {
    Select(usize),
    Auth(usize, PendingAuth),
    Confirm(usize, PendingAuthConfirmation),
    Key1(bool, Session, Pending<()>),
    Key2(bool, Session, Pending<()>),
    Key0(Session, Pending<()>),
    Over,
}

/// What to do next.
#[derive(Debug)]
pub enum Step {
    /// Send this APDU, feed back the answer.
    Send(CommandApdu),
    /// The card now carries the current version's keys.
    Done,
}

/// One re-keying in progress.
pub struct Rekey<'k> {
    plan: &'k RekeyPlan,
    state: State,
    random: Box<dyn FnMut() -> [u8; 16] + Send + 'k>,
}

impl fmt::Debug for Rekey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Rekey")
    }
}

impl<'k> Rekey<'k> {
    /// Starts (SelectApplication first).
    pub fn start(
        plan: &'k RekeyPlan,
        random: impl FnMut() -> [u8; 16] + Send + 'k,
    ) -> Result<(Self, CommandApdu), RekeyFailure> {
        if plan.masters.is_empty() {
            return Err(RekeyFailure::MasterRefused);
        }
        let apdu = NativeCommand::select_application(plan.aid)
            .to_plain_apdu()
            .map_err(classify)?;
        Ok((
            Rekey {
                plan,
                state: State::Select(0),
                random: Box::new(random),
            },
            apdu,
        ))
    }

    /// Feeds the card's answer to the last APDU.
    pub fn on_response(&mut self, r: &[u8]) -> Result<Step, RekeyFailure> {
        let state = std::mem::replace(&mut self.state, State::Over);
        let p = self.plan;
        let send = |s: &mut Self, next: State, apdu: CommandApdu| {
            s.state = next;
            Ok(Step::Send(apdu))
        };
        match state {
            State::Select(i) => {
                apdu::expect_plain_ok(r).map_err(classify)?;
                let key = p.masters.get(i).ok_or(RekeyFailure::MasterRefused)?;
                let (a, pa) =
                    Authenticator::begin(key_no::MASTER, key, (self.random)()).map_err(classify)?;
                send(self, State::Auth(i, pa), a)
            }
            State::Auth(i, pa) => {
                let (a, pc) = pa.on_response(r).map_err(classify)?;
                send(self, State::Confirm(i, pc), a)
            }
            State::Confirm(i, pc) => match pc.on_response(r) {
                // The last candidate is the current version's key 0.
                Ok(s) => self.change_login(s, i + 1 < p.masters.len()),
                Err(DesfireError::CardStatus { code })
                    if code == status::AUTHENTICATION_ERROR && i + 1 < p.masters.len() =>
                {
                    let a = NativeCommand::select_application(p.aid)
                        .to_plain_apdu()
                        .map_err(classify)?;
                    send(self, State::Select(i + 1), a)
                }
                Err(DesfireError::CardStatus { code }) if code == status::AUTHENTICATION_ERROR => {
                    Err(RekeyFailure::MasterRefused)
                }
                Err(e) => Err(classify(e)),
            },
            State::Key1(master_old, mut s, pending) => {
                s.finish(pending, r).map_err(classify)?;
                self.change_ident(s, master_old)
            }
            State::Key2(master_old, mut s, pending) => {
                s.finish(pending, r).map_err(classify)?;
                self.change_master(s, master_old)
            }
            State::Key0(mut s, pending) => {
                s.finish(pending, r).map_err(classify)?;
                Ok(Step::Done)
            }
            State::Over => Err(RekeyFailure::Protocol("re-keying is over".into())),
        }
    }

    /// `master_old`: key 0 is not yet the current version's.
    fn change_login(&mut self, mut s: Session, master_old: bool) -> Result<Step, RekeyFailure> {
        let p = self.plan;
        match &p.login {
            Some((new, old)) => {
                let (a, pending) = s
                    .change_key(
                        KeyTarget::ApplicationKey(key_no::LOGIN),
                        new,
                        p.version,
                        Some(old),
                    )
                    .map_err(classify)?;
                self.state = State::Key1(master_old, s, pending);
                Ok(Step::Send(a))
            }
            None => self.change_ident(s, master_old),
        }
    }

    fn change_ident(&mut self, mut s: Session, master_old: bool) -> Result<Step, RekeyFailure> {
        let p = self.plan;
        match &p.ident {
            Some((new, old)) => {
                let (a, pending) = s
                    .change_key(
                        KeyTarget::ApplicationKey(key_no::IDENT),
                        new,
                        p.version,
                        Some(old),
                    )
                    .map_err(classify)?;
                self.state = State::Key2(master_old, s, pending);
                Ok(Step::Send(a))
            }
            None => self.change_master(s, master_old),
        }
    }

    fn change_master(&mut self, mut s: Session, master_old: bool) -> Result<Step, RekeyFailure> {
        let p = self.plan;
        if !master_old {
            s.end();
            return Ok(Step::Done);
        }
        let (a, pending) = s
            .change_key(
                KeyTarget::ApplicationKey(key_no::MASTER),
                &p.new_master,
                p.version,
                None,
            )
            .map_err(classify)?;
        self.state = State::Key0(s, pending);
        Ok(Step::Send(a))
    }
}
