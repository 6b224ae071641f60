//! A software DESFire EV2 card, for tests and the Clavis test harness (feature `emulator`).
//!
//! [`CardEmulator`] answers wrapped native APDUs the way a real card does for the commands
//! this crate speaks: AuthenticateEV2First/NonFirst (RndB and TI from an injected RNG),
//! EV2 secure messaging in Plain, MAC and Full modes with the command counter, GetVersion,
//! GetCardUID, SelectApplication, CreateApplication, CreateStdDataFile, ReadData,
//! WriteData and ChangeKey, with DESFire status codes (`91 AE`, `91 7E`, `91 A0`, `91 9D`,
//! `91 1E`, ...). It drops its authentication on any error, as DESFire cards do on most.
//!
//! It implements the card side independently of the host types ([`crate::Session`] is not
//! used here), sharing only the primitives pinned to NXP vectors, so that host/card tests
//! exercise both directions; its unit test replays the AN12196 transcript from the card
//! side. Simplifications: AES keys only, standard data files only, no ISO file ids or DF
//! names, 8 KiB of file memory.
//!
//! Behaviours no vector pins, chosen from the datasheets' general rules:
//! * inside a session GetVersion, CreateApplication and CreateStdDataFile are MACed both
//!   ways (the response MAC of GetVersion covers all three frames, on the last one);
//! * a file access right set to free (`E`) makes the access plain, even inside a session
//!   (the command counter still advances);
//! * a keyed access without authentication answers `91 AE`, with the wrong key `91 9D`;
//! * AuthenticateEV2NonFirst outside a session answers `91 AE`;
//! * answers longer than 59 bytes are chained in `91 AF` frames.
//!
//! Here: the card's state and the dispatch of an APDU to its command, with the framing of
//! answers (`91 AF` chaining). `setup.rs`: building, personalising and inspecting a card
//! from test code, without APDUs. `auth.rs`: AuthenticateEV2First/NonFirst, card side.
//! `messaging.rs`: secure messaging, card side (checking and opening a command, protecting
//! an answer). `commands.rs`: GetVersion, GetCardUID, SelectApplication,
//! CreateApplication and ChangeKey. `files.rs`: standard data files (CreateStdDataFile,
//! ReadData, WriteData, access rights, file memory).

mod auth;
mod commands;
mod files;
mod messaging;
mod setup;

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::apdu::{CLA_NATIVE, SW1_DESFIRE};
use crate::commands::code;
use crate::key::AesKey;
use crate::status::{ADDITIONAL_FRAME, ILLEGAL_COMMAND, OPERATION_OK};
use crate::types::{AccessRights, Aid, CommMode, VersionInfo};

/// Most data bytes the emulator puts in one response frame before chaining with `91 AF`.
pub const MAX_FRAME_DATA: usize = 59;

/// File memory of the emulated card (an 8 KiB EV2), in bytes.
pub const FILE_MEMORY_BYTES: usize = 8 * 1024;

/// ISO status words for APDUs that are not well-formed native commands.
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
const SW_CLA_NOT_SUPPORTED: [u8; 2] = [0x6E, 0x00];
const SW_WRONG_P1P2: [u8; 2] = [0x6A, 0x86];

/// A source of random bytes for RndB and TI.
pub type RandomSource = Box<dyn FnMut(&mut [u8]) + Send>;

/// A DESFire EV2 card in software.
pub struct CardEmulator {
    uid: [u8; 7],
    random_id: bool,
    version: VersionInfo,
    picc: Application,
    applications: BTreeMap<Aid, Application>,
    selected: Aid,
    auth: AuthState,
    outgoing: VecDeque<Vec<u8>>,
    rng: RandomSource,
}

struct KeySlot {
    key: AesKey,
    version: u8,
}

struct Application {
    key_settings: u8,
    keys: Vec<KeySlot>,
    files: BTreeMap<u8, StdFile>,
}

struct StdFile {
    comm_mode: CommMode,
    access: AccessRights,
    data: Vec<u8>,
}

enum AuthState {
    None,
    Challenge {
        key_no: u8,
        rnd_b: [u8; 16],
        resume: Option<([u8; 4], u16)>,
    },
    Authenticated(CardSession),
}

struct CardSession {
    key_no: u8,
    kenc: AesKey,
    kmac: AesKey,
    ti: [u8; 4],
    cmd_ctr: u16,
}

/// What a command produced, before framing.
enum Outcome {
    /// Final data with status `91 00`, split into frames as needed.
    Data(Vec<u8>),
    /// Data already split into frames (GetVersion's 7 / 7 / rest).
    Frames(Vec<Vec<u8>>),
    /// Data with status `91 AF` (first step of the authentication).
    AdditionalFrame(Vec<u8>),
}

type CardResult<T> = std::result::Result<T, u8>;

impl CardEmulator {
    /// Answers one command APDU. Any input gives an answer, never a panic.
    pub fn process(&mut self, apdu: &[u8]) -> Vec<u8> {
        let (ins, data) = match parse_command(apdu) {
            Ok(parsed) => parsed,
            Err(sw) => return sw.to_vec(),
        };
        let outcome = if ins == code::ADDITIONAL_FRAME {
            self.continue_exchange(data)
        } else {
            self.outgoing.clear();
            if matches!(self.auth, AuthState::Challenge { .. }) {
                self.auth = AuthState::None;
            }
            self.execute(ins, data)
        };
        match outcome {
            Ok(Outcome::AdditionalFrame(data)) => frame(data, ADDITIONAL_FRAME),
            Ok(Outcome::Data(data)) => {
                let frames = data
                    .chunks(MAX_FRAME_DATA)
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>();
                self.send_frames(frames)
            }
            Ok(Outcome::Frames(frames)) => self.send_frames(frames),
            Err(code) => {
                self.auth = AuthState::None;
                self.outgoing.clear();
                vec![SW1_DESFIRE, code]
            }
        }
    }

    fn send_frames(&mut self, frames: Vec<Vec<u8>>) -> Vec<u8> {
        self.outgoing = frames.into();
        self.next_frame()
    }

    fn next_frame(&mut self) -> Vec<u8> {
        let data = self.outgoing.pop_front().unwrap_or_default();
        let status = if self.outgoing.is_empty() {
            OPERATION_OK
        } else {
            ADDITIONAL_FRAME
        };
        frame(data, status)
    }

    fn continue_exchange(&mut self, data: &[u8]) -> CardResult<Outcome> {
        if matches!(self.auth, AuthState::Challenge { .. }) {
            return self.authenticate_confirm(data);
        }
        if !self.outgoing.is_empty() && data.is_empty() {
            let frames = std::mem::take(&mut self.outgoing);
            return Ok(Outcome::Frames(frames.into()));
        }
        Err(ILLEGAL_COMMAND)
    }

    fn execute(&mut self, ins: u8, data: &[u8]) -> CardResult<Outcome> {
        match ins {
            code::AUTHENTICATE_EV2_FIRST => self.authenticate_first(data),
            code::AUTHENTICATE_EV2_NON_FIRST => self.authenticate_non_first(data),
            code::GET_VERSION => self.get_version(data),
            code::GET_CARD_UID => self.get_card_uid(data),
            code::SELECT_APPLICATION => self.select_application(data),
            code::CREATE_APPLICATION => self.create_application(data),
            code::CREATE_STD_DATA_FILE => self.create_std_data_file(data),
            code::READ_DATA | code::READ_DATA_ISO => self.read_data(ins, data),
            code::WRITE_DATA | code::WRITE_DATA_ISO => self.write_data(ins, data),
            code::CHANGE_KEY => self.change_key(data),
            _ => Err(ILLEGAL_COMMAND),
        }
    }
    fn current_app(&self) -> &Application {
        if self.selected == Aid::PICC {
            &self.picc
        } else {
            self.applications.get(&self.selected).unwrap_or(&self.picc)
        }
    }

    fn current_app_mut(&mut self) -> &mut Application {
        if self.selected == Aid::PICC {
            &mut self.picc
        } else {
            self.applications
                .get_mut(&self.selected)
                .unwrap_or(&mut self.picc)
        }
    }
}

/// Splits a command APDU into INS and data; answers ISO errors for malformed ones.
fn parse_command(apdu: &[u8]) -> std::result::Result<(u8, &[u8]), [u8; 2]> {
    let [cla, ins, p1, p2, rest @ ..] = apdu else {
        return Err(SW_WRONG_LENGTH);
    };
    if *cla != CLA_NATIVE {
        return Err(SW_CLA_NOT_SUPPORTED);
    }
    if (*p1, *p2) != (0, 0) {
        return Err(SW_WRONG_P1P2);
    }
    let data = match rest {
        // Case 1 (no Le) and case 2 (Le only).
        [] | [_] => &[][..],
        [lc, body @ ..] => {
            let lc = usize::from(*lc);
            match body.len().checked_sub(lc) {
                Some(0 | 1) if lc > 0 => body.get(..lc).ok_or(SW_WRONG_LENGTH)?,
                _ => return Err(SW_WRONG_LENGTH),
            }
        }
    };
    Ok((*ins, data))
}

fn frame(mut data: Vec<u8>, status: u8) -> Vec<u8> {
    data.extend_from_slice(&[SW1_DESFIRE, status]);
    data
}

impl fmt::Debug for CardEmulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardEmulator")
            .field("uid", &format_args!("{}", crate::apdu::Hex(&self.uid)))
            .field("selected", &self.selected)
            .field(
                "applications",
                &self.applications.keys().collect::<Vec<_>>(),
            )
            .field("authenticated", &self.is_authenticated())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Access;
    use hex_literal::hex;

    fn card() -> CardEmulator {
        CardEmulator::new(hex!("04958CAA5C5E80"), AesKey::ZERO, [1; 16])
    }

    #[test]
    fn malformed_apdus_get_iso_errors() {
        let mut card = card();
        assert_eq!(card.process(&[]), hex!("6700"));
        assert_eq!(card.process(&hex!("00A4040000")), hex!("6E00"));
        assert_eq!(card.process(&hex!("9060010000")), hex!("6A86"));
        assert_eq!(card.process(&hex!("905A000005AABB00")), hex!("6700"));
        assert_eq!(card.process(&hex!("9060000000")).last(), Some(&0xAF));
    }

    #[test]
    fn card_answers_the_an12196_transcript_when_given_its_random_numbers() {
        // Key 03 = 0^16 in an application; RndB and TI from the transcript.
        let aid = Aid::new(0x00_0001).unwrap();
        let mut randoms = vec![
            hex!("91517975190DCEA6104948EFA3085C1B").to_vec(),
            hex!("7614281A").to_vec(),
        ]
        .into_iter();
        let mut card = card().with_rng(move |out| {
            out.copy_from_slice(&randoms.next().unwrap());
        });
        card.add_application(aid, 0x0F, vec![AesKey::ZERO; 4])
            .unwrap();
        assert_eq!(card.process(&hex!("905A00000301000000")), hex!("9100"));
        assert_eq!(
            card.process(&hex!("9071000002030000")),
            hex!("B875CEB0E66A6C5CD00898DC371F92D1 91AF")
        );
        assert_eq!(
            card.process(&hex!(
                "90AF000020FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B100"
            )),
            hex!("0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A 9100")
        );
        card.add_std_file(
            aid,
            3,
            CommMode::Full,
            AccessRights {
                read: Access::Key(3),
                write: Access::Key(3),
                read_write: Access::Key(3),
                change: Access::Key(3),
            },
            vec![0; 32],
        )
        .unwrap();
        assert_eq!(
            card.process(&hex!(
                "908D00001F030000000A00006B5E6804909962FC4E3FF5522CF0F8436C0C53315B9C73AA00"
            )),
            hex!("C26D236E4A7C046D 9100")
        );
        assert_eq!(
            &card.file_data(aid, 3).unwrap()[..11],
            hex!("0102030405060708090A00")
        );
    }
}
