//! Personalising a blank (or door-access) badge for Clavis: the server side
//! of enrolment, as a state machine like [`BadgeCheck`](crate::badge::BadgeCheck).
//!
//! With the card's PICC master key (the configured transport key):
//! GetCardUID (the real UID) → CreateApplication (our AID, 3 AES keys; any
//! other application on the card is left alone) → SelectApplication →
//! authenticate with the new application's default key → create the
//! reference file (Full mode; read with key 1, write with key 0) → write a
//! random badge reference → set key 1 (login, diversified), key 2
//! (identification, common), and last key 0 (application master,
//! diversified), all at the current key version. The result (real UID,
//! reference, key version) is what Clavis records for the badge.

use crate::badge::check::{BadgeKeys, REFERENCE_FILE, REFERENCE_LEN, key_no};
use clavis_desfire::commands::NativeCommand;
use clavis_desfire::{
    Access, AccessRights, AesKey, Aid, Authenticator, CardUid, CommMode, CommandApdu, DesfireError,
    KeyTarget, Pending, PendingAuth, PendingAuthConfirmation, Session, apdu, diversify_aes128,
    status,
};
use std::fmt;

/// Key settings of our application: the master key may be changed and the
/// configuration too; listing files and keys needs the master key (no
/// free directory listing); ChangeKey needs the master key.
pub const APP_KEY_SETTINGS: u8 = 0x09;

/// What personalisation needs beyond [`BadgeKeys`].
pub struct PersonalisationKeys<'k> {
    /// The keys a badge check uses.
    pub badge: &'k BadgeKeys,
    /// The master the application master keys (key 0) are diversified
    /// from.
    pub app_master: AesKey,
    /// The card's PICC master key as delivered (transport key).
    pub transport: AesKey,
    /// Version given to the keys written (for rotation: badges re-keyed on
    /// their next tap carry the new version).
    pub key_version: u8,
}

impl fmt::Debug for PersonalisationKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonalisationKeys")
            .field("key_version", &self.key_version)
            .field("keys", &"[redacted]")
            .finish()
    }
}

/// A personalised badge, to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Personalised {
    /// The real UID.
    pub uid: CardUid,
    /// The badge reference written (hex).
    pub reference: String,
    /// Version of the keys written.
    pub key_version: u8,
}

/// Why personalisation stopped. Nothing is recorded; the card may hold a
/// half-made application, which the next attempt reports as
/// `AlreadyPersonalised` (an operator wipes it with the card master key).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonaliseFailure {
    /// No answer or a cut answer.
    #[error("card removed during personalisation")]
    CardRemoved,
    /// The configured transport key is not this card's PICC master key.
    #[error("the card refused the transport key")]
    TransportKeyRefused,
    /// The card already has a Clavis application.
    #[error("the card already carries a Clavis application")]
    AlreadyPersonalised,
    /// Anything else (MAC, out of memory, malformed answer…).
    #[error("protocol error: {0}")]
    Protocol(String),
}

fn classify(e: DesfireError) -> PersonaliseFailure {
    match e {
        DesfireError::ResponseTooShort { .. } => PersonaliseFailure::CardRemoved,
        DesfireError::CardStatus { code } if code == status::AUTHENTICATION_ERROR => {
            PersonaliseFailure::TransportKeyRefused
        }
        DesfireError::CardStatus { code } if code == status::DUPLICATE_ERROR => {
            PersonaliseFailure::AlreadyPersonalised
        }
        other => PersonaliseFailure::Protocol(other.to_string()),
    }
}

enum State {
    SelectPicc,
    PiccAuth(PendingAuth),
    PiccConfirm(PendingAuthConfirmation),
    Uid(Session, Pending<CardUid>),
    CreateApp(CardUid, Session, Pending<()>),
    SelectApp(CardUid),
    AppAuth(CardUid, PendingAuth),
    AppConfirm(CardUid, PendingAuthConfirmation),
    CreateFile(CardUid, Session, Pending<()>),
    WriteRef(CardUid, Session, Pending<()>),
    Key1(CardUid, Session, Pending<()>),
    Key2(CardUid, Session, Pending<()>),
    Key0(CardUid, Session, Pending<()>),
    Over,
}

/// What to do next.
#[derive(Debug)]
pub enum Step {
    /// Send this APDU, feed back the answer.
    Send(CommandApdu),
    /// Done: record this badge.
    Done(Personalised),
}

/// One personalisation in progress.
pub struct Personalisation<'k> {
    keys: &'k PersonalisationKeys<'k>,
    reference: [u8; REFERENCE_LEN],
    state: State,
    random: Box<dyn FnMut() -> [u8; 16] + Send + 'k>,
}

impl fmt::Debug for Personalisation<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personalisation")
    }
}

impl<'k> Personalisation<'k> {
    /// Starts; `random` gives RndA values and the badge reference (a
    /// CSPRNG in production).
    pub fn start(
        keys: &'k PersonalisationKeys<'k>,
        mut random: impl FnMut() -> [u8; 16] + Send + 'k,
    ) -> Result<(Self, CommandApdu), PersonaliseFailure> {
        let reference = random();
        let apdu = NativeCommand::select_application(Aid::PICC)
            .to_plain_apdu()
            .map_err(classify)?;
        Ok((
            Personalisation {
                keys,
                reference,
                state: State::SelectPicc,
                random: Box::new(random),
            },
            apdu,
        ))
    }

    /// Feeds the card's answer to the last APDU.
    pub fn on_response(&mut self, response: &[u8]) -> Result<Step, PersonaliseFailure> {
        let state = std::mem::replace(&mut self.state, State::Over);
        self.advance(state, response)
    }

    fn advance(&mut self, state: State, r: &[u8]) -> Result<Step, PersonaliseFailure> {
        let k = self.keys;
        let b = k.badge;
        let v = k.key_version;
        let send = |s: &mut Self, next: State, apdu: CommandApdu| {
            s.state = next;
            Ok(Step::Send(apdu))
        };
        match state {
            State::SelectPicc => {
                apdu::expect_plain_ok(r).map_err(classify)?;
                let (a, p) =
                    Authenticator::begin(0, &k.transport, (self.random)()).map_err(classify)?;
                send(self, State::PiccAuth(p), a)
            }
            State::PiccAuth(p) => {
                let (a, p) = p.on_response(r).map_err(classify)?;
                send(self, State::PiccConfirm(p), a)
            }
            State::PiccConfirm(p) => {
                let mut s = p.on_response(r).map_err(classify)?;
                let (a, p) = s.get_card_uid().map_err(classify)?;
                send(self, State::Uid(s, p), a)
            }
            State::Uid(mut s, p) => {
                let uid = s.finish(p, r).map_err(classify)?;
                let (a, p) = s
                    .create_application(b.aid, APP_KEY_SETTINGS, 3)
                    .map_err(classify)?;
                send(self, State::CreateApp(uid, s, p), a)
            }
            State::CreateApp(uid, mut s, p) => {
                s.finish(p, r).map_err(classify)?;
                s.end();
                let a = NativeCommand::select_application(b.aid)
                    .to_plain_apdu()
                    .map_err(classify)?;
                send(self, State::SelectApp(uid), a)
            }
            State::SelectApp(uid) => {
                apdu::expect_plain_ok(r).map_err(classify)?;
                let (a, p) = Authenticator::begin(key_no::MASTER, &AesKey::ZERO, (self.random)())
                    .map_err(classify)?;
                send(self, State::AppAuth(uid, p), a)
            }
            State::AppAuth(uid, p) => {
                let (a, p) = p.on_response(r).map_err(classify)?;
                send(self, State::AppConfirm(uid, p), a)
            }
            State::AppConfirm(uid, p) => {
                let mut s = p.on_response(r).map_err(classify)?;
                let access = AccessRights {
                    read: Access::Key(key_no::LOGIN),
                    write: Access::Key(key_no::MASTER),
                    read_write: Access::Key(key_no::MASTER),
                    change: Access::Key(key_no::MASTER),
                };
                let (a, p) = s
                    .create_std_data_file(REFERENCE_FILE, CommMode::Full, access, REFERENCE_LEN)
                    .map_err(classify)?;
                send(self, State::CreateFile(uid, s, p), a)
            }
            State::CreateFile(uid, mut s, p) => {
                s.finish(p, r).map_err(classify)?;
                let reference = self.reference;
                let (a, p) = s
                    .write_data(REFERENCE_FILE, 0, &reference, CommMode::Full)
                    .map_err(classify)?;
                send(self, State::WriteRef(uid, s, p), a)
            }
            State::WriteRef(uid, mut s, p) => {
                s.finish(p, r).map_err(classify)?;
                let login = b.login_key_for(&uid).map_err(classify)?;
                let (a, p) = s
                    .change_key(
                        KeyTarget::ApplicationKey(key_no::LOGIN),
                        &login,
                        v,
                        Some(&AesKey::ZERO),
                    )
                    .map_err(classify)?;
                send(self, State::Key1(uid, s, p), a)
            }
            State::Key1(uid, mut s, p) => {
                s.finish(p, r).map_err(classify)?;
                let (a, p) = s
                    .change_key(
                        KeyTarget::ApplicationKey(key_no::IDENT),
                        &b.ident_key,
                        v,
                        Some(&AesKey::ZERO),
                    )
                    .map_err(classify)?;
                send(self, State::Key2(uid, s, p), a)
            }
            State::Key2(uid, mut s, p) => {
                s.finish(p, r).map_err(classify)?;
                let master = diversify_aes128(&k.app_master, uid.as_bytes(), b.aid, &b.system_id)
                    .map_err(classify)?;
                let (a, p) = s
                    .change_key(KeyTarget::ApplicationKey(key_no::MASTER), &master, v, None)
                    .map_err(classify)?;
                send(self, State::Key0(uid, s, p), a)
            }
            State::Key0(uid, mut s, p) => {
                s.finish(p, r).map_err(classify)?;
                Ok(Step::Done(Personalised {
                    uid,
                    reference: hex::encode(self.reference),
                    key_version: v,
                }))
            }
            State::Over => Err(PersonaliseFailure::Protocol(
                "personalisation is over".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::badge::check::{self, BadgeCheck, BadgeFailure};
    use clavis_desfire::emulator::CardEmulator;

    fn badge_keys() -> BadgeKeys {
        BadgeKeys {
            aid: Aid::new(0x5A_4C_43).expect("aid"),
            system_id: b"CHU-TEST".to_vec(),
            ident_key: AesKey::new([0x21; 16]),
            login_master: AesKey::new([0x42; 16]),
        }
    }

    fn counter() -> impl FnMut() -> [u8; 16] + Send {
        let mut n = 0u8;
        move || {
            n = n.wrapping_add(1);
            [n; 16]
        }
    }

    fn personalise(
        keys: &PersonalisationKeys<'_>,
        card: &mut CardEmulator,
    ) -> Result<Personalised, PersonaliseFailure> {
        let (mut p, mut a) = Personalisation::start(keys, counter())?;
        loop {
            match p.on_response(&card.process(a.as_bytes()))? {
                Step::Send(next) => a = next,
                Step::Done(done) => return Ok(done),
            }
        }
    }

    fn check(keys: &BadgeKeys, card: &mut CardEmulator) -> Result<String, BadgeFailure> {
        let (mut c, mut a) = BadgeCheck::start(keys, counter())?;
        loop {
            match c.on_response(&card.process(a.as_bytes()))? {
                check::Step::Send(next) => a = next,
                check::Step::Done(read) => return Ok(read.reference),
            }
        }
    }

    #[test]
    fn a_blank_card_becomes_a_badge_that_passes_the_check_and_keeps_its_door_application() {
        let bk = badge_keys();
        let transport = AesKey::new([0x77; 16]);
        let pk = PersonalisationKeys {
            badge: &bk,
            app_master: AesKey::new([0x99; 16]),
            transport: transport.clone(),
            key_version: 3,
        };
        let mut card = CardEmulator::new([4, 8, 8, 8, 8, 8, 8], transport, [5; 16]);
        card.set_random_id(true);
        // The door system's application, already on the card.
        let door = Aid::new(0x0F_00_01).expect("aid");
        card.add_application(door, 0x0F, vec![AesKey::new([0x10; 16])])
            .expect("door app");
        let done = personalise(&pk, &mut card).expect("personalised");
        assert_eq!(done.uid.to_string(), "04080808080808");
        assert_eq!(done.key_version, 3);
        assert_eq!(card.key_version(bk.aid, key_no::LOGIN), Some(3));
        assert!(
            card.has_key(door, 0, &AesKey::new([0x10; 16])),
            "the door application is untouched"
        );
        assert!(
            !card.has_key(bk.aid, key_no::MASTER, &AesKey::ZERO),
            "no default key left"
        );
        assert_eq!(
            check(&bk, &mut card).expect("the new badge passes"),
            done.reference
        );
    }

    #[test]
    fn a_wrong_transport_key_or_a_second_personalisation_is_refused() {
        let bk = badge_keys();
        let pk = PersonalisationKeys {
            badge: &bk,
            app_master: AesKey::new([0x99; 16]),
            transport: AesKey::new([0x77; 16]),
            key_version: 1,
        };
        let mut other = CardEmulator::new([4, 1, 1, 1, 1, 1, 1], AesKey::new([0x55; 16]), [5; 16]);
        assert_eq!(
            personalise(&pk, &mut other),
            Err(PersonaliseFailure::TransportKeyRefused)
        );
        let mut card = CardEmulator::new([4, 2, 2, 2, 2, 2, 2], AesKey::new([0x77; 16]), [5; 16]);
        personalise(&pk, &mut card).expect("first");
        assert_eq!(
            personalise(&pk, &mut card),
            Err(PersonaliseFailure::AlreadyPersonalised)
        );
    }
}
