//! Replaying a badge transaction: the card's recorded answers fed again,
//! from the start, to the (deterministic) state machine of its purpose —
//! the badge check, then re-keying when the badge carries older keys, or
//! the personalisation of an enrolment — with the random values drawn
//! from the transaction's seed. The outcome says what the last answer
//! leads to; [`super::step`] acts on it. Pure: no I/O, microseconds.

use super::{BadgeService, first16};
use crate::badge::check::{self, BadgeCheck, BadgeFailure, BadgeKeys};
use crate::badge::personalise::{self, Personalisation, PersonaliseFailure};
use crate::badge::rekey::{self, Rekey, RekeyFailure, RekeyPlan};
use clavis_core::BadgeTxPurpose;
use clavis_desfire::AesKey;
use clavis_store::models::BadgeTxRow;
use sha2::{Digest, Sha256};
use std::fmt;

/// Most card answers a transaction may carry (a personalisation takes 14).
const MAX_STEPS: usize = 32;

/// The deterministic random values of one transaction.
fn rnd_from(seed: [u8; 32]) -> impl FnMut() -> [u8; 16] + Send {
    let mut i = 0u32;
    move || {
        i += 1;
        let mut h = Sha256::new();
        h.update(seed);
        h.update(i.to_be_bytes());
        first16(h.finalize().into())
    }
}

/// What the card's last answer leads to.
pub(super) enum Replayed {
    /// Another APDU for the card.
    Send(Vec<u8>),
    /// The badge proved itself with these key versions (identification,
    /// login).
    Checked(check::BadgeRead, u8, u8),
    /// … and now carries the current version's keys.
    Rekeyed,
    /// … but re-keying stopped (the login goes on).
    RekeyStopped(RekeyFailure),
    /// Enrolment: the card is now a Clavis badge.
    Personalised(personalise::Personalised),
}

/// Why the exchange stopped: the check or the personalisation failed.
#[derive(Debug)]
pub(super) enum Stop {
    Check(BadgeFailure),
    Personalise(PersonaliseFailure),
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Check(e) => write!(f, "{e}"),
            Stop::Personalise(e) => write!(f, "{e}"),
        }
    }
}

impl Stop {
    /// The reason as audited (`reason` of `badge.check_failed`,
    /// `badge.enrolment_failed`).
    pub(super) fn code(&self) -> &'static str {
        match self {
            Stop::Check(BadgeFailure::CardRemoved)
            | Stop::Personalise(PersonaliseFailure::CardRemoved) => "card_removed",
            Stop::Check(BadgeFailure::NotOurCard) => "not_our_card",
            Stop::Check(BadgeFailure::IdentificationRefused) => "identification_refused",
            Stop::Check(BadgeFailure::LoginKeyRefused) => "login_key_refused",
            Stop::Check(BadgeFailure::Protocol(_))
            | Stop::Personalise(PersonaliseFailure::Protocol(_)) => "protocol_error",
            Stop::Personalise(PersonaliseFailure::TransportKeyRefused) => "transport_key_refused",
            Stop::Personalise(PersonaliseFailure::AlreadyPersonalised) => "already_personalised",
        }
    }
}

impl BadgeService {
    /// Replays `answers` from the start for the transaction `tx`.
    pub(super) fn replay(&self, tx: &BadgeTxRow, answers: &[Vec<u8>]) -> Result<Replayed, Stop> {
        let seed: [u8; 32] = hex::decode(&tx.seed)
            .ok()
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| Stop::Check(BadgeFailure::Protocol("corrupt transaction".into())))?;
        let rnd = rnd_from(seed);
        if tx.purpose == BadgeTxPurpose::Enrol {
            let keys = self.personalisation_keys();
            let (mut p, first) = Personalisation::start(&keys, rnd).map_err(Stop::Personalise)?;
            let mut next = Replayed::Send(first.as_bytes().to_vec());
            for (i, a) in answers.iter().enumerate() {
                if !matches!(next, Replayed::Send(_)) || i >= MAX_STEPS {
                    return Err(Stop::Personalise(PersonaliseFailure::Protocol(
                        "answer after the end".into(),
                    )));
                }
                next = match p.on_response(a).map_err(Stop::Personalise)? {
                    personalise::Step::Send(apdu) => Replayed::Send(apdu.as_bytes().to_vec()),
                    personalise::Step::Done(done) => Replayed::Personalised(done),
                };
            }
            Ok(next)
        } else {
            self.replay_login(tx, answers, rnd)
        }
    }

    /// The (identification, login) key versions a login tries, in order:
    /// the current version, then each older accepted one — with its own
    /// login key, then with the current login key (a card whose re-keying
    /// was cut after key 1).
    fn attempts(&self) -> Vec<(u8, u8)> {
        let n = self.config.key_version;
        let mut out = vec![(n, n)];
        for v in (self.config.min_key_version..n).rev() {
            out.push((v, v));
            out.push((v, n));
        }
        out
    }

    fn version(&self, v: u8) -> Option<&(u8, AesKey, AesKey, AesKey)> {
        self.versions.iter().find(|k| k.0 == v)
    }

    fn replay_login(
        &self,
        tx: &BadgeTxRow,
        answers: &[Vec<u8>],
        mut rnd: impl FnMut() -> [u8; 16] + Send,
    ) -> Result<Replayed, Stop> {
        let protocol = |m: &str| Stop::Check(BadgeFailure::Protocol(m.into()));
        if answers.len() > MAX_STEPS * 3 {
            return Err(protocol("too many answers"));
        }
        let attempts = self.attempts();
        let mut rest = answers.iter();
        let mut i = 0;
        let (read, iv, lv) = 'attempts: loop {
            let Some(&(iv, lv)) = attempts.get(i) else {
                return Err(protocol("no attempt left"));
            };
            let (Some(ik), Some(lk)) = (self.version(iv), self.version(lv)) else {
                return Err(protocol("unknown key version"));
            };
            let keys = BadgeKeys {
                aid: self.keys.aid,
                system_id: self.keys.system_id.clone(),
                ident_key: ik.1.clone(),
                login_master: lk.2.clone(),
            };
            let (mut c, first) = BadgeCheck::start(&keys, &mut rnd).map_err(Stop::Check)?;
            let mut next = first.as_bytes().to_vec();
            loop {
                let Some(a) = rest.next() else {
                    return Ok(Replayed::Send(next));
                };
                match c.on_response(a) {
                    Ok(check::Step::Send(apdu)) => next = apdu.as_bytes().to_vec(),
                    Ok(check::Step::Done(read)) => break 'attempts (read, iv, lv),
                    // Not this version's identification key: the next
                    // older version.
                    Err(BadgeFailure::IdentificationRefused)
                        if attempts[i + 1..].iter().any(|a| a.0 != iv) =>
                    {
                        i += 1 + attempts[i + 1..].iter().take_while(|a| a.0 == iv).count();
                        continue 'attempts;
                    }
                    // Its identification key but not its login key: the
                    // current login key (re-keying cut after key 1).
                    Err(BadgeFailure::LoginKeyRefused)
                        if attempts.get(i + 1).is_some_and(|a| a.0 == iv) =>
                    {
                        i += 1;
                        continue 'attempts;
                    }
                    Err(e) => return Err(Stop::Check(e)),
                }
            }
        };
        let Some(recorded) = tx.badge_key_version else {
            // Not yet recognised: the step identifies it.
            return match rest.next() {
                None => Ok(Replayed::Checked(read, iv, lv)),
                Some(_) => Err(protocol("answer after the end")),
            };
        };
        let Some(plan) = self.rekey_plan(&read, iv, lv, recorded) else {
            return Err(protocol("answer after the end"));
        };
        let (mut r, first) = match Rekey::start(&plan, &mut rnd) {
            Ok(x) => x,
            Err(e) => return Ok(Replayed::RekeyStopped(e)),
        };
        let mut next = first.as_bytes().to_vec();
        loop {
            let Some(a) = rest.next() else {
                return Ok(Replayed::Send(next));
            };
            match r.on_response(a) {
                Ok(rekey::Step::Send(apdu)) => next = apdu.as_bytes().to_vec(),
                Ok(rekey::Step::Done) => {
                    return match rest.next() {
                        None => Ok(Replayed::Rekeyed),
                        Some(_) => Err(protocol("answer after the end")),
                    };
                }
                Err(e) => return Ok(Replayed::RekeyStopped(e)),
            }
        }
    }

    /// What re-keying a card checked with (`iv`, `lv`) and recorded at
    /// version `recorded` must change; `None` when it is current.
    pub(super) fn rekey_plan(
        &self,
        read: &check::BadgeRead,
        iv: u8,
        lv: u8,
        recorded: i32,
    ) -> Option<RekeyPlan> {
        let n = self.config.key_version;
        let recorded = u8::try_from(recorded).ok()?;
        if iv == n && lv == n && recorded >= n {
            return None;
        }
        let div = |master: &AesKey| {
            clavis_desfire::diversify_aes128(
                master,
                read.uid.as_bytes(),
                self.keys.aid,
                &self.keys.system_id,
            )
            .ok()
        };
        let current = self.version(n)?;
        let new_master = div(&current.3)?;
        let mut masters = Vec::new();
        if recorded != n
            && let Some(old) = self.version(recorded)
        {
            masters.push(div(&old.3)?);
        }
        masters.push(new_master.clone());
        let login = if lv == n {
            None
        } else {
            Some((div(&current.2)?, div(&self.version(lv)?.2)?))
        };
        let ident = if iv == n {
            None
        } else {
            Some((current.1.clone(), self.version(iv)?.1.clone()))
        };
        Some(RekeyPlan {
            aid: self.keys.aid,
            masters,
            new_master,
            login,
            ident,
            version: n,
        })
    }
}
