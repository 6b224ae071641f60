//! The server side of a badge check: a state machine that turns the card's
//! answers (relayed, untrusted bytes) into the next APDU, and finally into
//! the card's real UID and badge reference. No I/O: the caller relays each
//! APDU through the workstation agent and feeds the answer back.
//!
//! Layout of a Clavis badge (our own DESFire application; any
//! physical-access application already on the card is left alone):
//!
//! | key | what | diversified |
//! |---|---|---|
//! | 0 | application master (re-keying) | yes |
//! | 1 | login: authenticates the card, reads the badge reference | yes |
//! | 2 | identification: only lets GetCardUID through | no (one per system) |
//!
//! The check: SelectApplication → AuthenticateEV2First with key 2 →
//! GetCardUID (Full mode: the real UID, even on Random-ID cards) → derive
//! key 1 for that UID with AN10922 (UID ‖ AID ‖ system identifier) →
//! AuthenticateEV2First with key 1 → ReadData of the badge reference file
//! (Full mode). The UID the card shows in the field is never used: a clone
//! with the same UID but not the diversified key fails at the second
//! authentication, as does a card personalised by another system.

use clavis_desfire::commands::NativeCommand;
use clavis_desfire::{
    AesKey, Aid, Authenticator, CardUid, CommMode, CommandApdu, DesfireError, Pending, PendingAuth,
    PendingAuthConfirmation, Session, apdu, diversify_aes128, status,
};
use std::fmt;

/// Application key numbers of a Clavis badge.
pub mod key_no {
    /// Application master key (re-keying, diversified).
    pub const MASTER: u8 = 0;
    /// Login key (diversified).
    pub const LOGIN: u8 = 1;
    /// Identification key (common to the system; GetCardUID only).
    pub const IDENT: u8 = 2;
}

/// The file holding the badge reference (16 random bytes, no personal data).
pub const REFERENCE_FILE: u8 = 1;
/// Length of the badge reference.
pub const REFERENCE_LEN: usize = 16;

/// What a badge check needs to know: the application and the keys. Never
/// printed.
pub struct BadgeKeys {
    /// Our application id on the card.
    pub aid: Aid,
    /// System identifier, part of the diversification input.
    pub system_id: Vec<u8>,
    /// The common identification key (key 2).
    pub ident_key: AesKey,
    /// The master key the login keys (key 1) are diversified from.
    pub login_master: AesKey,
}

impl fmt::Debug for BadgeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BadgeKeys")
            .field("aid", &self.aid)
            .field("keys", &"[redacted]")
            .finish()
    }
}

impl BadgeKeys {
    /// The diversified login key of the card with this UID.
    pub fn login_key_for(&self, uid: &CardUid) -> Result<AesKey, DesfireError> {
        diversify_aes128(
            &self.login_master,
            uid.as_bytes(),
            self.aid,
            &self.system_id,
        )
    }
}

/// A badge that proved itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadgeRead {
    /// The card's real UID (from GetCardUID inside the session).
    pub uid: CardUid,
    /// The badge reference (hex).
    pub reference: String,
}

/// Why a badge check failed. The user sees one message ("badge not
/// recognised" or "hold the badge still"); the audit log gets this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadgeFailure {
    /// No answer, or an answer cut short: the card left the field.
    #[error("card removed during the exchange")]
    CardRemoved,
    /// The card has no Clavis application.
    #[error("not a Clavis badge (application not found)")]
    NotOurCard,
    /// The identification key was refused: not a badge of this system.
    #[error("identification key refused")]
    IdentificationRefused,
    /// The diversified login key was refused: a clone, or a card of another
    /// system.
    #[error("login key refused (clone or card of another system)")]
    LoginKeyRefused,
    /// A MAC did not verify or a response was malformed, replayed or out of
    /// order.
    #[error("protocol error: {0}")]
    Protocol(String),
}

fn classify(e: DesfireError, at_login_auth: bool) -> BadgeFailure {
    match e {
        DesfireError::ResponseTooShort { .. } => BadgeFailure::CardRemoved,
        DesfireError::CardStatus { code }
            if code == status::AUTHENTICATION_ERROR || code == status::NO_SUCH_KEY =>
        {
            if at_login_auth {
                BadgeFailure::LoginKeyRefused
            } else {
                BadgeFailure::IdentificationRefused
            }
        }
        DesfireError::CardStatus { code } if code == status::APPLICATION_NOT_FOUND => {
            BadgeFailure::NotOurCard
        }
        other => BadgeFailure::Protocol(other.to_string()),
    }
}

enum State {
    Select,
    IdentAuth(PendingAuth),
    IdentConfirm(PendingAuthConfirmation),
    Uid(Session, Pending<CardUid>),
    LoginAuth(CardUid, PendingAuth),
    LoginConfirm(CardUid, PendingAuthConfirmation),
    Read(CardUid, Session, Pending<Vec<u8>>),
    Over,
}

/// What to do next.
#[derive(Debug)]
pub enum Step {
    /// Send this APDU to the card and call [`BadgeCheck::on_response`] with
    /// its answer.
    Send(CommandApdu),
    /// The badge proved itself.
    Done(BadgeRead),
}

/// One badge check in progress.
pub struct BadgeCheck<'k> {
    keys: &'k BadgeKeys,
    state: State,
    random: Box<dyn FnMut() -> [u8; 16] + Send + 'k>,
}

impl fmt::Debug for BadgeCheck<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BadgeCheck")
    }
}

impl<'k> BadgeCheck<'k> {
    /// Starts a check; `random` gives each authentication's RndA (a CSPRNG
    /// in production). Returns the first APDU (SelectApplication).
    pub fn start(
        keys: &'k BadgeKeys,
        random: impl FnMut() -> [u8; 16] + Send + 'k,
    ) -> Result<(Self, CommandApdu), BadgeFailure> {
        let apdu = NativeCommand::select_application(keys.aid)
            .to_plain_apdu()
            .map_err(|e| BadgeFailure::Protocol(e.to_string()))?;
        Ok((
            BadgeCheck {
                keys,
                state: State::Select,
                random: Box::new(random),
            },
            apdu,
        ))
    }

    /// Feeds the card's answer to the last APDU. After a failure the check
    /// is over (every later answer is refused).
    pub fn on_response(&mut self, response: &[u8]) -> Result<Step, BadgeFailure> {
        let state = std::mem::replace(&mut self.state, State::Over);
        let next = self.advance(state, response)?;
        Ok(next)
    }

    fn advance(&mut self, state: State, r: &[u8]) -> Result<Step, BadgeFailure> {
        let rnd = &mut self.random;
        let keys = self.keys;
        match state {
            State::Select => {
                apdu::expect_plain_ok(r).map_err(|e| classify(e, false))?;
                let (apdu, pending) = Authenticator::begin(key_no::IDENT, &keys.ident_key, rnd())
                    .map_err(|e| classify(e, false))?;
                self.state = State::IdentAuth(pending);
                Ok(Step::Send(apdu))
            }
            State::IdentAuth(p) => {
                let (apdu, p) = p.on_response(r).map_err(|e| classify(e, false))?;
                self.state = State::IdentConfirm(p);
                Ok(Step::Send(apdu))
            }
            State::IdentConfirm(p) => {
                let mut session = p.on_response(r).map_err(|e| classify(e, false))?;
                let (apdu, pending) = session.get_card_uid().map_err(|e| classify(e, false))?;
                self.state = State::Uid(session, pending);
                Ok(Step::Send(apdu))
            }
            State::Uid(mut session, pending) => {
                let uid = session.finish(pending, r).map_err(|e| classify(e, false))?;
                let key = keys.login_key_for(&uid).map_err(|e| classify(e, true))?;
                let (apdu, p) = Authenticator::begin(key_no::LOGIN, &key, rnd())
                    .map_err(|e| classify(e, true))?;
                self.state = State::LoginAuth(uid, p);
                Ok(Step::Send(apdu))
            }
            State::LoginAuth(uid, p) => {
                let (apdu, p) = p.on_response(r).map_err(|e| classify(e, true))?;
                self.state = State::LoginConfirm(uid, p);
                Ok(Step::Send(apdu))
            }
            State::LoginConfirm(uid, p) => {
                let mut session = p.on_response(r).map_err(|e| classify(e, true))?;
                let (apdu, pending) = session
                    .read_data(REFERENCE_FILE, 0, REFERENCE_LEN, CommMode::Full)
                    .map_err(|e| classify(e, true))?;
                self.state = State::Read(uid, session, pending);
                Ok(Step::Send(apdu))
            }
            State::Read(uid, mut session, pending) => {
                let data = session.finish(pending, r).map_err(|e| classify(e, true))?;
                session.end();
                Ok(Step::Done(BadgeRead {
                    uid,
                    reference: hex::encode(data),
                }))
            }
            State::Over => Err(BadgeFailure::Protocol("the check is over".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clavis_desfire::emulator::CardEmulator;
    use clavis_desfire::{Access, AccessRights};

    fn keys(system: &[u8]) -> BadgeKeys {
        BadgeKeys {
            aid: Aid::new(0x5A_4C_43).expect("aid"),
            system_id: system.to_vec(),
            ident_key: AesKey::new([0x21; 16]),
            login_master: AesKey::new([0x42; 16]),
        }
    }

    /// A card personalised by `by` (its diversified keys and a reference).
    fn card(uid: [u8; 7], by: &BadgeKeys, random_id: bool) -> CardEmulator {
        let mut c = CardEmulator::new(uid, AesKey::ZERO, [7; 16]);
        let cuid = CardUid::new(&uid).expect("uid");
        let login = by.login_key_for(&cuid).expect("div");
        c.add_application(
            by.aid,
            0x0B,
            vec![login.clone(), login, by.ident_key.clone()],
        )
        .expect("app");
        c.add_std_file(
            by.aid,
            REFERENCE_FILE,
            CommMode::Full,
            AccessRights {
                read: Access::Key(key_no::LOGIN),
                write: Access::Key(key_no::MASTER),
                read_write: Access::Key(key_no::MASTER),
                change: Access::Key(key_no::MASTER),
            },
            vec![0xAB; REFERENCE_LEN],
        )
        .expect("file");
        c.set_random_id(random_id);
        c
    }

    fn run(keys: &BadgeKeys, c: &mut CardEmulator) -> Result<BadgeRead, BadgeFailure> {
        let mut n = 0u8;
        let (mut check, mut apdu) = BadgeCheck::start(keys, move || {
            n = n.wrapping_add(1);
            [n; 16]
        })?;
        loop {
            match check.on_response(&c.process(apdu.as_bytes()))? {
                Step::Send(next) => apdu = next,
                Step::Done(read) => return Ok(read),
            }
        }
    }

    #[test]
    fn a_genuine_badge_gives_its_real_uid_and_reference_even_with_random_id() {
        let k = keys(b"CHU-TEST");
        for random_id in [false, true] {
            let mut c = card([4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66], &k, random_id);
            let read = run(&k, &mut c).expect("genuine");
            assert_eq!(read.uid.to_string(), "04112233445566");
            assert_eq!(read.reference, "ab".repeat(REFERENCE_LEN));
        }
    }

    #[test]
    fn a_clone_with_the_same_uid_but_not_the_key_is_refused() {
        let k = keys(b"CHU-TEST");
        let mut forger = keys(b"CHU-TEST");
        forger.login_master = AesKey::new([0x66; 16]);
        let mut clone = card([4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66], &forger, false);
        assert_eq!(run(&k, &mut clone), Err(BadgeFailure::LoginKeyRefused));
    }

    #[test]
    fn a_badge_of_another_system_is_refused() {
        let ours = keys(b"CHU-TEST");
        let theirs = keys(b"CH-VOISIN");
        let mut c = card([4, 1, 2, 3, 4, 5, 6], &theirs, false);
        assert_eq!(run(&ours, &mut c), Err(BadgeFailure::LoginKeyRefused));
        let mut blank = CardEmulator::new([4, 9, 9, 9, 9, 9, 9], AesKey::ZERO, [1; 16]);
        assert_eq!(run(&ours, &mut blank), Err(BadgeFailure::NotOurCard));
    }

    #[test]
    fn a_card_pulled_mid_authentication_or_a_tampered_answer_fails_cleanly() {
        let k = keys(b"CHU-TEST");
        let mut c = card([4, 1, 2, 3, 4, 5, 6], &k, false);
        let (mut check, apdu) = BadgeCheck::start(&k, || [3; 16]).expect("start");
        let Step::Send(apdu) = check
            .on_response(&c.process(apdu.as_bytes()))
            .expect("select")
        else {
            panic!("expected an APDU");
        };
        let _ = c.process(apdu.as_bytes());
        // The card left the field: empty answer.
        assert!(matches!(
            check.on_response(&[]),
            Err(BadgeFailure::CardRemoved)
        ));
        // Over: nothing more is accepted.
        assert!(check.on_response(&[0x91, 0x00]).is_err());

        // A flipped bit in the encrypted UID answer: the MAC catches it.
        let mut c = card([4, 1, 2, 3, 4, 5, 6], &k, false);
        let (mut check, mut apdu) = BadgeCheck::start(&k, || [5; 16]).expect("start");
        for step in 0..4 {
            let mut answer = c.process(apdu.as_bytes());
            if step == 3 {
                answer[0] ^= 1;
                let r = check.on_response(&answer);
                assert!(matches!(r, Err(BadgeFailure::Protocol(_))), "{r:?}");
                break;
            }
            match check.on_response(&answer).expect("step") {
                Step::Send(next) => apdu = next,
                Step::Done(_) => panic!("too early"),
            }
        }
    }

    #[test]
    fn an_answer_replayed_from_an_earlier_check_is_refused() {
        let k = keys(b"CHU-TEST");
        let mut c = card([4, 1, 2, 3, 4, 5, 6], &k, false);
        // Record a genuine check's answers.
        let mut answers = Vec::new();
        let (mut check, mut apdu) = BadgeCheck::start(&k, || [9; 16]).expect("start");
        loop {
            let a = c.process(apdu.as_bytes());
            answers.push(a.clone());
            match check.on_response(&a).expect("genuine") {
                Step::Send(next) => apdu = next,
                Step::Done(_) => break,
            }
        }
        // Replay them to a new check (fresh RndA): refused at the first
        // authentication's confirmation.
        let mut n = 0u8;
        let (mut check, _) = BadgeCheck::start(&k, move || {
            n += 1;
            [0x30 + n; 16]
        })
        .expect("start");
        let mut refused = false;
        for a in &answers {
            if check.on_response(a).is_err() {
                refused = true;
                break;
            }
        }
        assert!(refused, "a replayed transcript must not pass");
    }

    #[test]
    fn keys_never_show_in_debug_output() {
        let k = keys(b"CHU-TEST");
        let shown = format!("{k:?}");
        assert!(!shown.contains("21") && !shown.contains("42"), "{shown}");
    }
}
