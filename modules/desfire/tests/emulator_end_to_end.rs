//! The host side against the software card, over APDUs only: what the appliance will do
//! through the agent, with the card emulator standing in for a badge.
#![cfg(feature = "emulator")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use clavis_desfire::apdu::expect_plain_ok;
use clavis_desfire::commands::NativeCommand;
use clavis_desfire::emulator::CardEmulator;
use clavis_desfire::{
    Access, AccessRights, AesKey, Aid, Authenticator, CommMode, CommandApdu, DesfireError,
    KeyTarget, Pending, ResponseChain, Result, Session, diversify_aes128, status,
};
use hex_literal::hex;

const UID: [u8; 7] = hex!("04A1B2C3D4E5F6");
const BADGE_FILE: u8 = 1;
const SECRET_FILE: u8 = 2;
const BADGE_CONTENT: &[u8; 16] = b"CLAVIS-BADGE-001";

fn aid() -> Aid {
    Aid::new(0x00_C1A0).unwrap()
}

fn picc_key() -> AesKey {
    AesKey::new([0x0C; 16])
}

fn app_master_key() -> AesKey {
    AesKey::new([0xA0; 16])
}

fn badge_key() -> AesKey {
    AesKey::new([0xB1; 16])
}

fn rnd(tag: u8) -> [u8; 16] {
    let mut out = [tag; 16];
    out[0] = 0x5A;
    out
}

/// A badge as Clavis enrols it: one application with a master key and a badge key, a
/// MACed badge file readable with the badge key, and an enciphered file.
fn enrolled_card() -> CardEmulator {
    let mut card = CardEmulator::new(UID, picc_key(), [0x42; 16]);
    card.add_application(aid(), 0x0F, vec![app_master_key(), badge_key()])
        .unwrap();
    card.add_std_file(
        aid(),
        BADGE_FILE,
        CommMode::Mac,
        AccessRights {
            read: Access::Key(1),
            write: Access::Key(0),
            read_write: Access::Key(0),
            change: Access::Key(0),
        },
        BADGE_CONTENT.to_vec(),
    )
    .unwrap();
    card.add_std_file(
        aid(),
        SECRET_FILE,
        CommMode::Full,
        AccessRights {
            read: Access::Key(1),
            write: Access::Key(1),
            read_write: Access::Key(0),
            change: Access::Key(0),
        },
        vec![0; 200],
    )
    .unwrap();
    card
}

/// Sends one APDU and collects every frame of the answer.
fn transmit(card: &mut CardEmulator, apdu: &CommandApdu) -> Result<Vec<u8>> {
    let mut chain = ResponseChain::new();
    let mut next = chain.push(&card.process(apdu.as_bytes()))?;
    while let Some(apdu) = next {
        next = chain.push(&card.process(apdu.as_bytes()))?;
    }
    chain.into_response()
}

/// Builds one command on the session, sends it, and checks the answer.
fn run<T>(
    card: &mut CardEmulator,
    session: &mut Session,
    build: impl FnOnce(&mut Session) -> Result<(CommandApdu, Pending<T>)>,
) -> Result<T> {
    let (apdu, pending) = build(session)?;
    let response = transmit(card, &apdu)?;
    session.finish(pending, &response)
}

fn select(card: &mut CardEmulator, aid: Aid) -> Result<()> {
    let apdu = NativeCommand::select_application(aid).to_plain_apdu()?;
    expect_plain_ok(&card.process(apdu.as_bytes()))
}

fn authenticate(
    card: &mut CardEmulator,
    key_no: u8,
    key: &AesKey,
    rnd_a: [u8; 16],
) -> Result<Session> {
    let (apdu, pending) = Authenticator::begin(key_no, key, rnd_a)?;
    let (apdu, pending) = pending.on_response(&card.process(apdu.as_bytes()))?;
    pending.on_response(&card.process(apdu.as_bytes()))
}

#[test]
fn badge_login_reads_real_uid_and_badge_file() {
    let mut card = enrolled_card();
    card.set_random_id(true);
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(1)).unwrap();
    assert!(card.is_authenticated());

    let uid = run(&mut card, &mut session, |s| s.get_card_uid()).unwrap();
    assert_eq!(uid.as_bytes(), UID);

    let content = run(&mut card, &mut session, |s| {
        s.read_data(BADGE_FILE, 0, 16, CommMode::Mac)
    })
    .unwrap();
    assert_eq!(content, BADGE_CONTENT);
    assert_eq!(session.command_counter(), 2);
    assert_eq!(card.command_counter(), Some(2));
}

#[test]
fn full_mode_write_then_read_round_trips_including_chained_frames() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(2)).unwrap();
    let secret: Vec<u8> = (0..200u8).map(|i| i.wrapping_mul(37)).collect();

    run(&mut card, &mut session, |s| {
        s.write_data(SECRET_FILE, 0, &secret, CommMode::Full)
    })
    .unwrap();
    assert_eq!(card.file_data(aid(), SECRET_FILE).unwrap(), secret);

    // 200 bytes enciphered + MAC come back in several 91 AF frames.
    let read = run(&mut card, &mut session, |s| {
        s.read_data(SECRET_FILE, 0, 0, CommMode::Full)
    })
    .unwrap();
    assert_eq!(read, secret);
    let part = run(&mut card, &mut session, |s| {
        s.read_data(SECRET_FILE, 10, 5, CommMode::Full)
    })
    .unwrap();
    assert_eq!(part, secret[10..15]);
}

#[test]
fn blank_card_is_provisioned_over_apdus() {
    let mut card = CardEmulator::new(UID, picc_key(), [7; 16]);
    card.set_picc_key_settings(0x0B); // no free CreateApplication
    let mut picc = authenticate(&mut card, 0, &picc_key(), rnd(3)).unwrap();
    run(&mut card, &mut picc, |s| {
        s.create_application(aid(), 0x0F, 2)
    })
    .unwrap();
    assert_eq!(
        run(&mut card, &mut picc, |s| s.create_application(
            aid(),
            0x0F,
            2
        )),
        Err(DesfireError::CardStatus {
            code: status::DUPLICATE_ERROR
        })
    );

    select(&mut card, aid()).unwrap();
    let mut app = authenticate(&mut card, 0, &AesKey::ZERO, rnd(4)).unwrap();
    let rights = AccessRights {
        read: Access::Key(1),
        write: Access::Key(0),
        read_write: Access::Key(0),
        change: Access::Key(0),
    };
    run(&mut card, &mut app, |s| {
        s.create_std_data_file(BADGE_FILE, CommMode::Full, rights, 40)
    })
    .unwrap();
    let data = [0x33u8; 40];
    run(&mut card, &mut app, |s| {
        s.write_data(BADGE_FILE, 0, &data, CommMode::Full)
    })
    .unwrap();
    let back = run(&mut card, &mut app, |s| {
        s.read_data(BADGE_FILE, 0, 40, CommMode::Full)
    })
    .unwrap();
    assert_eq!(back, data);

    run(&mut card, &mut app, |s| {
        s.change_key(
            KeyTarget::ApplicationKey(1),
            &badge_key(),
            1,
            Some(&AesKey::ZERO),
        )
    })
    .unwrap();
    run(&mut card, &mut app, |s| {
        s.change_key(KeyTarget::ApplicationKey(0), &app_master_key(), 1, None)
    })
    .unwrap();
    assert!(app.is_ended());
    assert!(card.has_key(aid(), 0, &app_master_key()));
    assert!(card.has_key(aid(), 1, &badge_key()));
    assert_eq!(card.key_version(aid(), 1), Some(1));
}

#[test]
fn changed_key_authenticates_and_old_key_is_refused() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let mut admin = authenticate(&mut card, 0, &app_master_key(), rnd(5)).unwrap();
    let new_badge_key = AesKey::new([0xB2; 16]);
    run(&mut card, &mut admin, |s| {
        s.change_key(
            KeyTarget::ApplicationKey(1),
            &new_badge_key,
            2,
            Some(&badge_key()),
        )
    })
    .unwrap();
    // Changing another key keeps the session going.
    assert!(!admin.is_ended());
    let uid = run(&mut card, &mut admin, |s| s.get_card_uid()).unwrap();
    assert_eq!(uid.as_bytes(), UID);

    assert_eq!(
        authenticate(&mut card, 1, &badge_key(), rnd(6)).map(|_| ()),
        Err(DesfireError::CardStatus {
            code: status::AUTHENTICATION_ERROR
        })
    );
    let mut badge = authenticate(&mut card, 1, &new_badge_key, rnd(7)).unwrap();
    let content = run(&mut card, &mut badge, |s| {
        s.read_data(BADGE_FILE, 0, 16, CommMode::Mac)
    })
    .unwrap();
    assert_eq!(content, BADGE_CONTENT);
}

#[test]
fn changing_the_authenticated_key_ends_the_session() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(8)).unwrap();
    // Key settings 0x0F: only the master key may change keys.
    assert_eq!(
        run(&mut card, &mut session, |s| s.change_key(
            KeyTarget::ApplicationKey(1),
            &AesKey::ZERO,
            0,
            None
        ),),
        Err(DesfireError::CardStatus {
            code: status::PERMISSION_DENIED
        })
    );

    let mut admin = authenticate(&mut card, 0, &app_master_key(), rnd(9)).unwrap();
    let new_master = AesKey::new([0xA1; 16]);
    run(&mut card, &mut admin, |s| {
        s.change_key(KeyTarget::ApplicationKey(0), &new_master, 1, None)
    })
    .unwrap();
    assert!(admin.is_ended());
    assert!(!card.is_authenticated());
    assert_eq!(
        run(&mut card, &mut admin, |s| s.get_card_uid()),
        Err(DesfireError::SessionEnded)
    );
    assert!(authenticate(&mut card, 0, &app_master_key(), rnd(10)).is_err());
    authenticate(&mut card, 0, &new_master, rnd(11)).unwrap();
}

#[test]
fn picc_master_key_change_uses_the_aes_key_type_flag() {
    let mut card = enrolled_card();
    let mut picc = authenticate(&mut card, 0, &picc_key(), rnd(12)).unwrap();
    let new_picc = AesKey::new([0x0D; 16]);
    let (apdu, pending) = picc
        .change_key(KeyTarget::PiccMasterKey, &new_picc, 3, None)
        .unwrap();
    assert_eq!(apdu.data()[0], 0x80);
    picc.finish(pending, &card.process(apdu.as_bytes()))
        .unwrap();
    assert!(card.has_key(Aid::PICC, 0, &new_picc));
    authenticate(&mut card, 0, &new_picc, rnd(13)).unwrap();
}

#[test]
fn wrong_key_is_refused_by_the_card() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    assert_eq!(
        authenticate(&mut card, 1, &AesKey::new([0xEE; 16]), rnd(14)).map(|_| ()),
        Err(DesfireError::CardStatus {
            code: status::AUTHENTICATION_ERROR
        })
    );
    assert!(!card.is_authenticated());
    assert_eq!(
        authenticate(&mut card, 9, &badge_key(), rnd(15)).map(|_| ()),
        Err(DesfireError::CardStatus {
            code: status::NO_SUCH_KEY
        })
    );
}

#[test]
fn impostor_without_the_key_is_refused_by_the_host() {
    // An agent relays the genuine card's challenge, then forges the card's proof.
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let (apdu, pending) = Authenticator::begin(1, &badge_key(), rnd(16)).unwrap();
    let (_apdu, pending) = pending.on_response(&card.process(apdu.as_bytes())).unwrap();
    let mut forged = vec![0x3C; 32];
    forged.extend_from_slice(&[0x91, 0x00]);
    assert_eq!(
        pending.on_response(&forged).map(|_| ()),
        Err(DesfireError::RndAMismatch)
    );
}

#[test]
fn tampered_response_mac_is_refused() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(17)).unwrap();
    let (apdu, pending) = session.read_data(BADGE_FILE, 0, 16, CommMode::Mac).unwrap();
    let mut response = card.process(apdu.as_bytes());
    let n = response.len();
    response[n - 3] ^= 0x01; // last MAC byte
    assert_eq!(
        session.finish(pending, &response),
        Err(DesfireError::MacMismatch)
    );
    assert!(session.is_ended());

    // Altered data under an intact MAC is refused too.
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(18)).unwrap();
    let (apdu, pending) = session.read_data(BADGE_FILE, 0, 16, CommMode::Mac).unwrap();
    let mut response = card.process(apdu.as_bytes());
    response[0] ^= 0x20;
    assert_eq!(
        session.finish(pending, &response),
        Err(DesfireError::MacMismatch)
    );
}

#[test]
fn tampered_command_is_refused_by_the_card() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(19)).unwrap();
    let (apdu, pending) = session
        .write_data(SECRET_FILE, 0, b"tampered?", CommMode::Full)
        .unwrap();
    let mut bytes = apdu.into_bytes();
    bytes[14] ^= 0x80; // inside the ciphertext
    let response = card.process(&bytes);
    assert_eq!(response, [0x91, status::INTEGRITY_ERROR]);
    assert!(!card.is_authenticated());
    assert_eq!(
        session.finish(pending, &response),
        Err(DesfireError::CardStatus {
            code: status::INTEGRITY_ERROR
        })
    );
    assert_eq!(card.file_data(aid(), SECRET_FILE).unwrap(), [0; 200]);
}

#[test]
fn replayed_response_is_refused_because_of_the_command_counter() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(20)).unwrap();
    let (apdu, pending) = session.get_card_uid().unwrap();
    let first = card.process(apdu.as_bytes());
    session.finish(pending, &first).unwrap();

    // Same command again; an attacker answers with the previous (genuine) response.
    let (apdu, pending) = session.get_card_uid().unwrap();
    let _ = card.process(apdu.as_bytes());
    assert_eq!(
        session.finish(pending, &first).map(|_| ()),
        Err(DesfireError::MacMismatch)
    );
}

#[test]
fn non_first_authentication_keeps_ti_and_counter() {
    let mut card = enrolled_card();
    select(&mut card, aid()).unwrap();
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(21)).unwrap();
    run(&mut card, &mut session, |s| s.get_card_uid()).unwrap();
    let ti = session.transaction_id();

    let (apdu, pending) = session
        .reauthenticate(0, &app_master_key(), rnd(22))
        .unwrap();
    assert_eq!(apdu.as_bytes(), hex!("907700000100 00"));
    let (apdu, pending) = pending.on_response(&card.process(apdu.as_bytes())).unwrap();
    let mut session = pending.on_response(&card.process(apdu.as_bytes())).unwrap();
    assert_eq!(session.transaction_id(), ti);
    assert_eq!(session.command_counter(), 1);
    assert_eq!(session.key_no(), 0);
    let content = run(&mut card, &mut session, |s| {
        s.read_data(BADGE_FILE, 0, 0, CommMode::Mac)
    })
    .unwrap();
    assert_eq!(content, BADGE_CONTENT);
}

#[test]
fn get_version_plain_and_in_session() {
    let mut card = enrolled_card();
    let apdu = NativeCommand::get_version().to_plain_apdu().unwrap();
    let response = transmit(&mut card, &apdu).unwrap();
    let data = clavis_desfire::ResponseApdu::parse(&response)
        .unwrap()
        .into_ok_data()
        .unwrap();
    let version = clavis_desfire::VersionInfo::parse(data).unwrap();
    assert_eq!(version.hardware.vendor_id, 0x04);
    assert_eq!(version.hardware.major, 0x12);
    assert_eq!(version.uid, UID);

    card.set_random_id(true);
    let mut session = authenticate(&mut card, 0, &picc_key(), rnd(23)).unwrap();
    let version = run(&mut card, &mut session, |s| s.get_version()).unwrap();
    assert_eq!(version.uid, [0; 7]);
    let uid = run(&mut card, &mut session, |s| s.get_card_uid()).unwrap();
    assert_eq!(uid.as_bytes(), UID);
}

#[test]
fn card_reports_domain_errors_with_desfire_status_codes() {
    let mut card = enrolled_card();
    // Unknown application.
    assert_eq!(
        select(&mut card, Aid::new(0x123456).unwrap()),
        Err(DesfireError::CardStatus {
            code: status::APPLICATION_NOT_FOUND
        })
    );
    // GetCardUID needs authentication.
    assert_eq!(card.process(&hex!("9051000000")), hex!("91AE"));
    // Malformed AuthenticateEV2First (LenCap says 1, nothing follows).
    assert_eq!(card.process(&hex!("90710000020001 00")), hex!("917E"));
    select(&mut card, aid()).unwrap();
    // Reading a keyed file without authentication.
    let read = NativeCommand::read_data(BADGE_FILE, 0, 16).unwrap();
    assert_eq!(
        card.process(read.to_plain_apdu().unwrap().as_bytes()),
        hex!("91AE")
    );
    // Missing file.
    let read = NativeCommand::read_data(7, 0, 16).unwrap();
    assert_eq!(
        card.process(read.to_plain_apdu().unwrap().as_bytes()),
        hex!("91F0")
    );

    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(24)).unwrap();
    // Beyond the end of the file.
    assert_eq!(
        run(&mut card, &mut session, |s| s.read_data(
            BADGE_FILE,
            10,
            10,
            CommMode::Mac
        )),
        Err(DesfireError::CardStatus {
            code: status::BOUNDARY_ERROR
        })
    );
    // The card dropped the session with the error; so did the host.
    assert!(!card.is_authenticated());
    assert!(session.is_ended());

    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(25)).unwrap();
    // The badge key may not write the badge file.
    assert_eq!(
        run(&mut card, &mut session, |s| s.write_data(
            BADGE_FILE,
            0,
            b"x",
            CommMode::Mac
        )),
        Err(DesfireError::CardStatus {
            code: status::PERMISSION_DENIED
        })
    );
    // A MAC-mode command stripped of its MAC is a length error.
    let mut session = authenticate(&mut card, 1, &badge_key(), rnd(26)).unwrap();
    let _ = session.get_card_uid().unwrap();
    assert_eq!(card.process(&hex!("9051000000")), hex!("917E"));
}

#[test]
fn creating_an_application_needs_the_master_key_when_settings_say_so() {
    let mut card = CardEmulator::new(UID, picc_key(), [1; 16]);
    card.set_picc_key_settings(0x0B);
    let create = NativeCommand::create_application(aid(), 0x0F, 1).unwrap();
    assert_eq!(
        card.process(create.to_plain_apdu().unwrap().as_bytes()),
        hex!("91AE")
    );
    card.set_picc_key_settings(0x0F);
    assert_eq!(
        card.process(create.to_plain_apdu().unwrap().as_bytes()),
        hex!("9100")
    );
}

#[test]
fn diversified_badge_key_authenticates() {
    let master = AesKey::new(hex!("00112233445566778899AABBCCDDEEFF"));
    let key = diversify_aes128(&master, &UID, aid(), b"CLAVIS").unwrap();
    let mut card = CardEmulator::new(UID, picc_key(), [5; 16]);
    card.add_application(aid(), 0x0F, vec![app_master_key(), key.clone()])
        .unwrap();
    select(&mut card, aid()).unwrap();
    authenticate(&mut card, 1, &key, rnd(27)).unwrap();
    let other = diversify_aes128(&master, &hex!("04000000000000"), aid(), b"CLAVIS").unwrap();
    assert!(authenticate(&mut card, 1, &other, rnd(28)).is_err());
}
