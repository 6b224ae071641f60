//! Feeds untrusted bytes to every parser of card answers, and to the card emulator.
//!
//! The first input byte picks the parser, the rest is the card's (or agent's) answer.
//! Any panic is a bug: a hostile card must only ever produce a `DesfireError`.
//!
//! Two callers: `fuzz_targets/parse_response.rs`, the libFuzzer target (`cargo fuzz
//! run parse_response` from the fuzz directory, or `scripts/fuzz`), and the
//! suite's `tests/it/fuzz_replay.rs`, which replays the committed seeds
//! and mutations of them on every test run (docs/operations.md,
//! "Fuzzing").

use clavis_desfire::emulator::CardEmulator;
use clavis_desfire::{
    AesKey, Authenticator, CardUid, CommMode, KeyTarget, ResponseApdu, ResponseChain, Session,
    VersionInfo,
};

/// Session keys, TI and counter of the AN12196 worked example.
fn session() -> Session {
    Session::from_parts(
        3,
        AesKey::new([
            0x7A, 0x93, 0xD6, 0x57, 0x1E, 0x4B, 0x18, 0x0F, 0xCA, 0x6A, 0xC9, 0x0C, 0x9A, 0x74,
            0x88, 0xD4,
        ]),
        AesKey::new([
            0xFC, 0x4A, 0xF1, 0x59, 0xB6, 0x2E, 0x54, 0x9B, 0x58, 0x12, 0x39, 0x4C, 0xAB, 0x19,
            0x18, 0xCC,
        ]),
        [0x76, 0x14, 0x28, 0x1A],
        0,
    )
}

fn mode(selector: u8) -> CommMode {
    match selector % 3 {
        0 => CommMode::Plain,
        1 => CommMode::Mac,
        _ => CommMode::Full,
    }
}

/// Checks one input; panics on a bug.
pub fn check(input: &[u8]) {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    match selector % 10 {
        0 => {
            if let Ok(r) = ResponseApdu::parse(data) {
                let _ = r.into_ok_data();
            }
        }
        1 => {
            let mut chain = ResponseChain::new();
            for frame in data.split(|&b| b == 0xFF) {
                if chain.push(frame).is_err() {
                    break;
                }
            }
            let _ = chain.into_response();
        }
        2 => {
            if let Ok((_, pending)) = Authenticator::begin(0, &AesKey::ZERO, [0x11; 16]) {
                let _ = pending.on_response(data);
            }
        }
        3 => {
            // Step two, after a well-formed challenge taken from the input.
            let (challenge, rest) = data.split_at(data.len().min(16));
            let mut first = challenge.to_vec();
            first.extend_from_slice(&[0x91, 0xAF]);
            if let Ok((_, pending)) = Authenticator::begin(0, &AesKey::ZERO, [0x11; 16])
                && let Ok((_, pending)) = pending.on_response(&first)
            {
                let _ = pending.on_response(rest);
            }
        }
        4 => {
            if let Ok((_, pending)) = session().reauthenticate(1, &AesKey::ZERO, [0x22; 16]) {
                let (challenge, rest) = data.split_at(data.len().min(18));
                if let Ok((_, pending)) = pending.on_response(challenge) {
                    let _ = pending.on_response(rest);
                }
            }
        }
        5 => {
            let mut s = session();
            let m = mode(selector / 10);
            if s.wrap(0xBD, &[1, 0, 0, 0, 0, 0, 0], &[], m).is_ok() {
                let _ = s.unwrap_response(m, data);
            }
        }
        6 => {
            let mut s = session();
            if let Ok((_, pending)) = s.get_card_uid() {
                let _ = s.finish(pending, data);
            }
            let mut s = session();
            if let Ok((_, pending)) = s.get_version() {
                let _ = s.finish(pending, data);
            }
        }
        7 => {
            let mut s = session();
            if let Ok((_, pending)) =
                s.change_key(KeyTarget::ApplicationKey(3), &AesKey::ZERO, 1, None)
            {
                let _ = s.finish(pending, data);
            }
            let mut s = session();
            if let Ok((_, pending)) = s.read_data(1, 0, 0, mode(selector / 10)) {
                let _ = s.finish(pending, data);
            }
        }
        8 => {
            let _ = VersionInfo::parse(data);
            let _ = CardUid::new(data);
        }
        _ => {
            // The card side: a sequence of APDUs separated by 0xFF.
            let mut card = CardEmulator::new([4, 1, 2, 3, 4, 5, 6], AesKey::ZERO, [7; 16]);
            for apdu in data.split(|&b| b == 0xFF) {
                let _ = card.process(apdu);
            }
        }
    }
}
