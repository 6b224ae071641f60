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

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use crate::apdu::{CLA_NATIVE, SW1_DESFIRE};
use crate::commands::{MAX_FILE_NO, code, from_u24};
use crate::crypto::{
    MAC_LEN, ZERO_IV, cbc_decrypt, cbc_encrypt, crc32_desfire, macs_equal, pad_m2, rotate_left,
    unpad_m2, xor16,
};
use crate::error::{DesfireError, Result};
use crate::key::AesKey;
use crate::session::{
    LABEL_ENC, LABEL_MAC, command_mac, derive_session_keys, response_mac, secure_messaging_iv,
};
use crate::status::{
    ADDITIONAL_FRAME, APPLICATION_NOT_FOUND, AUTHENTICATION_ERROR, BOUNDARY_ERROR, DUPLICATE_ERROR,
    FILE_NOT_FOUND, ILLEGAL_COMMAND, INTEGRITY_ERROR, LENGTH_ERROR, NO_SUCH_KEY, OPERATION_OK,
    OUT_OF_EEPROM, PARAMETER_ERROR, PERMISSION_DENIED,
};
use crate::types::{Access, AccessRights, Aid, CommMode, ProductVersion, VersionInfo};

/// Most data bytes the emulator puts in one response frame before chaining with `91 AF`.
pub const MAX_FRAME_DATA: usize = 59;

/// File memory of the emulated card (an 8 KiB EV2), in bytes.
pub const FILE_MEMORY_BYTES: usize = 8 * 1024;

/// ISO status words for APDUs that are not well-formed native commands.
const SW_WRONG_LENGTH: [u8; 2] = [0x67, 0x00];
const SW_CLA_NOT_SUPPORTED: [u8; 2] = [0x6E, 0x00];
const SW_WRONG_P1P2: [u8; 2] = [0x6A, 0x86];

/// Key settings bit: files/applications may be created without the master key.
const SETTINGS_FREE_CREATE: u8 = 0x04;
/// Key settings bit: the master key may be changed.
const SETTINGS_MASTER_KEY_CHANGEABLE: u8 = 0x01;

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
    /// A blank card with real UID `uid`, AES card master key `picc_master_key` (key
    /// settings `0x0F`: applications may be created without it) and RndB/TI drawn from a
    /// deterministic generator seeded with `rng_seed`.
    pub fn new(uid: [u8; 7], picc_master_key: AesKey, rng_seed: [u8; 16]) -> Self {
        let product = |minor_sw: bool| ProductVersion {
            vendor_id: 0x04,
            product_type: 0x01,
            subtype: 0x01,
            major: if minor_sw { 0x02 } else { 0x12 },
            minor: if minor_sw { 0x01 } else { 0x00 },
            storage_size: 0x1A,
            protocol: 0x05,
        };
        CardEmulator {
            uid,
            random_id: false,
            version: VersionInfo {
                hardware: product(false),
                software: product(true),
                uid,
                batch_no: [0xBA, 0x34, 0x99, 0x89, 0x30],
                production_week: 0x30,
                production_year: 0x24,
                fab_key_id: None,
            },
            picc: Application {
                key_settings: 0x0F,
                keys: vec![KeySlot {
                    key: picc_master_key,
                    version: 0,
                }],
                files: BTreeMap::new(),
            },
            applications: BTreeMap::new(),
            selected: Aid::PICC,
            auth: AuthState::None,
            outgoing: VecDeque::new(),
            rng: seeded_rng(rng_seed),
        }
    }

    /// Replaces the random source (RndB, TI).
    pub fn with_rng(mut self, rng: impl FnMut(&mut [u8]) + Send + 'static) -> Self {
        self.rng = Box::new(rng);
        self
    }

    /// Enables the Random ID option: GetVersion then shows a zero UID, and only
    /// GetCardUID after authentication reveals the real one.
    pub fn set_random_id(&mut self, enabled: bool) {
        self.random_id = enabled;
    }

    /// Sets the card-level key settings (bit 2: free CreateApplication; bit 0: master key
    /// changeable).
    pub fn set_picc_key_settings(&mut self, key_settings: u8) {
        self.picc.key_settings = key_settings;
    }

    /// Personalises an application directly (test setup, no APDUs): `keys` are its AES
    /// keys 0.., at version 0.
    pub fn add_application(&mut self, aid: Aid, key_settings: u8, keys: Vec<AesKey>) -> Result<()> {
        if aid == Aid::PICC || keys.is_empty() || keys.len() > 14 {
            return Err(DesfireError::CardStatus {
                code: PARAMETER_ERROR,
            });
        }
        if self.applications.contains_key(&aid) {
            return Err(DesfireError::CardStatus {
                code: DUPLICATE_ERROR,
            });
        }
        let keys = keys
            .into_iter()
            .map(|key| KeySlot { key, version: 0 })
            .collect();
        self.applications.insert(
            aid,
            Application {
                key_settings,
                keys,
                files: BTreeMap::new(),
            },
        );
        Ok(())
    }

    /// Personalises a standard data file directly (test setup, no APDUs).
    pub fn add_std_file(
        &mut self,
        aid: Aid,
        file_no: u8,
        comm_mode: CommMode,
        access: AccessRights,
        data: Vec<u8>,
    ) -> Result<()> {
        let used = self.used_file_memory();
        let app = self
            .applications
            .get_mut(&aid)
            .ok_or(DesfireError::CardStatus {
                code: APPLICATION_NOT_FOUND,
            })?;
        create_file(app, used, file_no, comm_mode, access, data)
            .map_err(|code| DesfireError::CardStatus { code })
    }

    /// The content of a standard data file, for test assertions.
    pub fn file_data(&self, aid: Aid, file_no: u8) -> Option<&[u8]> {
        self.applications
            .get(&aid)?
            .files
            .get(&file_no)
            .map(|f| f.data.as_slice())
    }

    /// Whether `key` is the current value of key `key_no` of `aid` (`Aid::PICC` for the
    /// card master key), for test assertions.
    pub fn has_key(&self, aid: Aid, key_no: u8, key: &AesKey) -> bool {
        let app = if aid == Aid::PICC {
            Some(&self.picc)
        } else {
            self.applications.get(&aid)
        };
        app.and_then(|a| a.keys.get(usize::from(key_no)))
            .is_some_and(|slot| &slot.key == key)
    }

    /// The version of key `key_no` of `aid`, for test assertions.
    pub fn key_version(&self, aid: Aid, key_no: u8) -> Option<u8> {
        let app = if aid == Aid::PICC {
            Some(&self.picc)
        } else {
            self.applications.get(&aid)
        };
        app.and_then(|a| a.keys.get(usize::from(key_no)))
            .map(|slot| slot.version)
    }

    /// The card's real UID.
    pub fn uid(&self) -> [u8; 7] {
        self.uid
    }

    /// Whether a session is established.
    pub fn is_authenticated(&self) -> bool {
        matches!(self.auth, AuthState::Authenticated(_))
    }

    /// The card's command counter, when authenticated.
    pub fn command_counter(&self) -> Option<u16> {
        match &self.auth {
            AuthState::Authenticated(s) => Some(s.cmd_ctr),
            _ => None,
        }
    }

    /// The card leaves the field: authentication and selection are lost.
    pub fn reset(&mut self) {
        self.auth = AuthState::None;
        self.selected = Aid::PICC;
        self.outgoing.clear();
    }

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

    // --- authentication -----------------------------------------------------------

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

    fn random<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        (self.rng)(&mut out);
        out
    }

    fn start_challenge(
        &mut self,
        key_no: u8,
        resume: Option<([u8; 4], u16)>,
    ) -> CardResult<Outcome> {
        let key = self
            .current_app()
            .keys
            .get(usize::from(key_no))
            .ok_or(NO_SUCH_KEY)?
            .key
            .clone();
        let rnd_b: [u8; 16] = self.random();
        let mut challenge = rnd_b;
        cbc_encrypt(&key, &ZERO_IV, &mut challenge).map_err(|_| INTEGRITY_ERROR)?;
        self.auth = AuthState::Challenge {
            key_no,
            rnd_b,
            resume,
        };
        Ok(Outcome::AdditionalFrame(challenge.to_vec()))
    }

    fn authenticate_first(&mut self, data: &[u8]) -> CardResult<Outcome> {
        self.auth = AuthState::None;
        let [key_no, len_cap, pcd_cap2 @ ..] = data else {
            return Err(LENGTH_ERROR);
        };
        if usize::from(*len_cap) != pcd_cap2.len() || *len_cap > 6 {
            return Err(LENGTH_ERROR);
        }
        self.start_challenge(*key_no, None)
    }

    fn authenticate_non_first(&mut self, data: &[u8]) -> CardResult<Outcome> {
        let resume = match &self.auth {
            AuthState::Authenticated(s) => (s.ti, s.cmd_ctr),
            _ => return Err(AUTHENTICATION_ERROR),
        };
        self.auth = AuthState::None;
        let [key_no] = data else {
            return Err(LENGTH_ERROR);
        };
        self.start_challenge(*key_no, Some(resume))
    }

    fn authenticate_confirm(&mut self, data: &[u8]) -> CardResult<Outcome> {
        let AuthState::Challenge {
            key_no,
            rnd_b,
            resume,
        } = std::mem::replace(&mut self.auth, AuthState::None)
        else {
            return Err(ILLEGAL_COMMAND);
        };
        let mut token: [u8; 32] = data.try_into().map_err(|_| LENGTH_ERROR)?;
        let key = self
            .current_app()
            .keys
            .get(usize::from(key_no))
            .ok_or(NO_SUCH_KEY)?
            .key
            .clone();
        cbc_decrypt(&key, &ZERO_IV, &mut token).map_err(|_| LENGTH_ERROR)?;
        let (rnd_a, rnd_b_rotated) = token.split_at(16);
        if !macs_equal(rnd_b_rotated, &rotate_left(&rnd_b)) {
            return Err(AUTHENTICATION_ERROR);
        }
        let rnd_a: [u8; 16] = rnd_a.try_into().map_err(|_| LENGTH_ERROR)?;
        let (kenc, kmac) = derive_session_keys(&key, &rnd_a, &rnd_b);

        let (ti, cmd_ctr, mut proof) = match resume {
            Some((ti, cmd_ctr)) => (ti, cmd_ctr, rotate_left(&rnd_a).to_vec()),
            None => {
                let ti: [u8; 4] = self.random();
                let mut proof = Vec::with_capacity(32);
                proof.extend_from_slice(&ti);
                proof.extend_from_slice(&rotate_left(&rnd_a));
                proof.extend_from_slice(&[0; 12]); // PDcap2 and PCDcap2
                (ti, 0, proof)
            }
        };
        cbc_encrypt(&key, &ZERO_IV, &mut proof).map_err(|_| LENGTH_ERROR)?;
        self.auth = AuthState::Authenticated(CardSession {
            key_no,
            kenc,
            kmac,
            ti,
            cmd_ctr,
        });
        Ok(Outcome::Data(proof))
    }

    fn session(&self) -> Option<&CardSession> {
        match &self.auth {
            AuthState::Authenticated(s) => Some(s),
            _ => None,
        }
    }

    fn authenticated_key(&self) -> Option<u8> {
        self.session().map(|s| s.key_no)
    }

    // --- secure messaging, card side ------------------------------------------------

    /// Checks and opens a command in `mode`: returns `(header, payload)`, the payload
    /// deciphered in Full mode. Outside a session only Plain exists.
    fn receive(
        &self,
        ins: u8,
        data: &[u8],
        header_len: usize,
        mode: CommMode,
    ) -> CardResult<(Vec<u8>, Vec<u8>)> {
        let session = match (self.session(), mode) {
            (_, CommMode::Plain) | (None, _) => {
                if data.len() < header_len {
                    return Err(LENGTH_ERROR);
                }
                let (header, payload) = data.split_at(header_len);
                return Ok((header.to_vec(), payload.to_vec()));
            }
            (Some(session), _) => session,
        };
        let (protected, mac) = data.split_last_chunk::<MAC_LEN>().ok_or(LENGTH_ERROR)?;
        if protected.len() < header_len {
            return Err(LENGTH_ERROR);
        }
        let (header, payload) = protected.split_at(header_len);
        let expected = command_mac(
            &session.kmac,
            ins,
            session.cmd_ctr,
            &session.ti,
            header,
            payload,
        );
        if !macs_equal(mac, &expected) {
            return Err(INTEGRITY_ERROR);
        }
        if mode == CommMode::Mac || payload.is_empty() {
            return Ok((header.to_vec(), payload.to_vec()));
        }
        let mut plain = payload.to_vec();
        let iv = secure_messaging_iv(&session.kenc, LABEL_ENC, &session.ti, session.cmd_ctr);
        cbc_decrypt(&session.kenc, &iv, &mut plain).map_err(|_| LENGTH_ERROR)?;
        let len = unpad_m2(&plain).map_err(|_| INTEGRITY_ERROR)?.len();
        plain.truncate(len);
        Ok((header.to_vec(), plain))
    }

    /// Protects a successful answer in `mode` and advances the counter (in a session).
    fn reply(&mut self, mode: CommMode, data: &[u8]) -> CardResult<Vec<u8>> {
        let AuthState::Authenticated(session) = &mut self.auth else {
            return Ok(data.to_vec());
        };
        session.cmd_ctr = session.cmd_ctr.wrapping_add(1);
        let mut body = match mode {
            CommMode::Plain => return Ok(data.to_vec()),
            CommMode::Mac => data.to_vec(),
            CommMode::Full if data.is_empty() => Vec::new(),
            CommMode::Full => {
                let mut ciphertext = pad_m2(data);
                let iv =
                    secure_messaging_iv(&session.kenc, LABEL_MAC, &session.ti, session.cmd_ctr);
                cbc_encrypt(&session.kenc, &iv, &mut ciphertext).map_err(|_| LENGTH_ERROR)?;
                ciphertext
            }
        };
        let mac = response_mac(
            &session.kmac,
            OPERATION_OK,
            session.cmd_ctr,
            &session.ti,
            &body,
        );
        body.extend_from_slice(&mac);
        Ok(body)
    }

    /// The mode of commands that are MACed in a session and plain outside one.
    fn mac_if_authenticated(&self) -> CommMode {
        if self.session().is_some() {
            CommMode::Mac
        } else {
            CommMode::Plain
        }
    }

    // --- commands -----------------------------------------------------------------

    fn get_version(&mut self, data: &[u8]) -> CardResult<Outcome> {
        let mode = self.mac_if_authenticated();
        let (_, payload) = self.receive(code::GET_VERSION, data, 0, mode)?;
        if !payload.is_empty() {
            return Err(LENGTH_ERROR);
        }
        let mut version = self.version;
        version.uid = if self.random_id { [0; 7] } else { self.uid };
        let body = self.reply(mode, &version.to_bytes())?;
        let (hardware, rest) = body.split_at(7.min(body.len()));
        let (software, rest) = rest.split_at(7.min(rest.len()));
        Ok(Outcome::Frames(vec![
            hardware.to_vec(),
            software.to_vec(),
            rest.to_vec(),
        ]))
    }

    fn get_card_uid(&mut self, data: &[u8]) -> CardResult<Outcome> {
        if self.session().is_none() {
            return Err(AUTHENTICATION_ERROR);
        }
        let (_, payload) = self.receive(code::GET_CARD_UID, data, 0, CommMode::Full)?;
        if !payload.is_empty() {
            return Err(LENGTH_ERROR);
        }
        let uid = self.uid;
        Ok(Outcome::Data(self.reply(CommMode::Full, &uid)?))
    }

    fn select_application(&mut self, data: &[u8]) -> CardResult<Outcome> {
        // Selecting always ends the authentication, whatever the outcome.
        self.auth = AuthState::None;
        let aid = Aid::from_wire_bytes(data.try_into().map_err(|_| LENGTH_ERROR)?);
        if aid != Aid::PICC && !self.applications.contains_key(&aid) {
            return Err(APPLICATION_NOT_FOUND);
        }
        self.selected = aid;
        Ok(Outcome::Data(Vec::new()))
    }

    /// Who may create: the master key (key 0), or anyone when bit 2 of the key settings
    /// allows free creation. Returns the mode of the command.
    fn creation_mode(&self, key_settings: u8) -> CardResult<CommMode> {
        let free = key_settings & SETTINGS_FREE_CREATE != 0;
        match self.authenticated_key() {
            Some(0) => Ok(CommMode::Mac),
            Some(_) if free => Ok(CommMode::Mac),
            Some(_) => Err(PERMISSION_DENIED),
            None if free => Ok(CommMode::Plain),
            None => Err(AUTHENTICATION_ERROR),
        }
    }

    fn create_application(&mut self, data: &[u8]) -> CardResult<Outcome> {
        if self.selected != Aid::PICC {
            return Err(PERMISSION_DENIED);
        }
        let mode = self.creation_mode(self.picc.key_settings)?;
        let (_, payload) = self.receive(code::CREATE_APPLICATION, data, 0, mode)?;
        // Only the 5-byte form: no ISO file id or DF name.
        let [a0, a1, a2, key_settings, key_settings2] = payload[..] else {
            return Err(LENGTH_ERROR);
        };
        let aid = Aid::from_wire_bytes([a0, a1, a2]);
        let key_count = key_settings2 & 0x0F;
        // AES applications only (key type bits 10).
        if aid == Aid::PICC || key_settings2 & 0xC0 != 0x80 || key_count == 0 || key_count > 14 {
            return Err(PARAMETER_ERROR);
        }
        if self.applications.contains_key(&aid) {
            return Err(DUPLICATE_ERROR);
        }
        let keys = (0..key_count)
            .map(|_| KeySlot {
                key: AesKey::ZERO,
                version: 0,
            })
            .collect();
        self.applications.insert(
            aid,
            Application {
                key_settings,
                keys,
                files: BTreeMap::new(),
            },
        );
        Ok(Outcome::Data(self.reply(mode, &[])?))
    }

    fn create_std_data_file(&mut self, data: &[u8]) -> CardResult<Outcome> {
        if self.selected == Aid::PICC {
            return Err(PERMISSION_DENIED);
        }
        let mode = self.creation_mode(self.current_app().key_settings)?;
        let (_, payload) = self.receive(code::CREATE_STD_DATA_FILE, data, 0, mode)?;
        // Only the 7-byte form: no ISO file id.
        let [file_no, option, r0, r1, s0, s1, s2] = payload[..] else {
            return Err(LENGTH_ERROR);
        };
        if option & !0x03 != 0 {
            return Err(PARAMETER_ERROR);
        }
        let size = from_u24([s0, s1, s2]);
        let used = self.used_file_memory();
        create_file(
            self.current_app_mut(),
            used,
            file_no,
            CommMode::from_file_option_bits(option),
            AccessRights::from_bytes([r0, r1]),
            vec![0; size],
        )?;
        Ok(Outcome::Data(self.reply(mode, &[])?))
    }

    fn used_file_memory(&self) -> usize {
        self.applications
            .values()
            .flat_map(|app| app.files.values())
            .map(|file| file.data.len())
            .sum()
    }

    /// The mode of a data access to `file_no`, if the current authentication allows it:
    /// free access is plain, keyed access uses the file's mode.
    fn access_mode(&self, file_no: u8, write: bool) -> CardResult<CommMode> {
        let file = self
            .current_app()
            .files
            .get(&file_no)
            .ok_or(FILE_NOT_FOUND)?;
        let single = if write {
            file.access.write
        } else {
            file.access.read
        };
        let conditions = [single, file.access.read_write];
        if conditions.contains(&Access::Free) {
            return Ok(CommMode::Plain);
        }
        let key = self.authenticated_key();
        if conditions.iter().any(|c| c.allows(key)) {
            return Ok(file.comm_mode);
        }
        if key.is_none() && conditions.iter().any(|c| matches!(c, Access::Key(_))) {
            return Err(AUTHENTICATION_ERROR);
        }
        Err(PERMISSION_DENIED)
    }

    /// Parses the 7-byte ReadData/WriteData header and checks the range against the file.
    fn data_range(&self, header: &[u8], write: bool) -> CardResult<(u8, usize, usize)> {
        let [file_no, o0, o1, o2, l0, l1, l2] = header[..] else {
            return Err(LENGTH_ERROR);
        };
        let size = self
            .current_app()
            .files
            .get(&file_no)
            .map(|f| f.data.len())
            .ok_or(FILE_NOT_FOUND)?;
        let offset = from_u24([o0, o1, o2]);
        let mut length = from_u24([l0, l1, l2]);
        if length == 0 {
            if write {
                return Err(LENGTH_ERROR);
            }
            length = size.checked_sub(offset).ok_or(BOUNDARY_ERROR)?;
        }
        match offset.checked_add(length) {
            Some(end) if end <= size => Ok((file_no, offset, length)),
            _ => Err(BOUNDARY_ERROR),
        }
    }

    fn read_data(&mut self, ins: u8, data: &[u8]) -> CardResult<Outcome> {
        let file_no = *data.first().ok_or(LENGTH_ERROR)?;
        let mode = self.access_mode(file_no, false)?;
        let (header, payload) = self.receive(ins, data, 7, mode)?;
        if !payload.is_empty() {
            return Err(LENGTH_ERROR);
        }
        let (file_no, offset, length) = self.data_range(&header, false)?;
        let content = self
            .current_app()
            .files
            .get(&file_no)
            .and_then(|f| f.data.get(offset..offset + length))
            .ok_or(BOUNDARY_ERROR)?
            .to_vec();
        Ok(Outcome::Data(self.reply(mode, &content)?))
    }

    fn write_data(&mut self, ins: u8, data: &[u8]) -> CardResult<Outcome> {
        let file_no = *data.first().ok_or(LENGTH_ERROR)?;
        let mode = self.access_mode(file_no, true)?;
        let (header, payload) = self.receive(ins, data, 7, mode)?;
        let (file_no, offset, length) = self.data_range(&header, true)?;
        if payload.len() != length {
            return Err(LENGTH_ERROR);
        }
        self.current_app_mut()
            .files
            .get_mut(&file_no)
            .and_then(|f| f.data.get_mut(offset..offset + length))
            .ok_or(BOUNDARY_ERROR)?
            .copy_from_slice(&payload);
        Ok(Outcome::Data(self.reply(mode, &[])?))
    }

    fn change_key(&mut self, data: &[u8]) -> CardResult<Outcome> {
        let auth_key = self.authenticated_key().ok_or(AUTHENTICATION_ERROR)?;
        let key_no_byte = *data.first().ok_or(LENGTH_ERROR)?;
        let at_picc = self.selected == Aid::PICC;
        let key_no = if at_picc {
            // The PICC master key: key 0 with the AES key type bits.
            if key_no_byte & 0xC0 != 0x80 {
                return Err(PARAMETER_ERROR);
            }
            key_no_byte & 0x3F
        } else {
            key_no_byte
        };
        let app = self.current_app();
        if usize::from(key_no) >= app.keys.len() {
            return Err(NO_SUCH_KEY);
        }
        let change_right = app.key_settings >> 4;
        let allowed = if key_no == 0 {
            auth_key == 0 && app.key_settings & SETTINGS_MASTER_KEY_CHANGEABLE != 0
        } else {
            match change_right {
                0x0 => auth_key == 0,
                0xE => auth_key == key_no,
                0xF => false,
                k => auth_key == k,
            }
        };
        if !allowed {
            return Err(PERMISSION_DENIED);
        }

        let (_, cryptogram) = self.receive(code::CHANGE_KEY, data, 1, CommMode::Full)?;
        let same_key = key_no == auth_key;
        let slot = self
            .current_app_mut()
            .keys
            .get_mut(usize::from(key_no))
            .ok_or(NO_SUCH_KEY)?;
        if same_key {
            let (new_key, [version]) = split_key(&cryptogram, 17)?;
            slot.key = AesKey::new(new_key);
            slot.version = version;
            // The key the session stands on is gone: answer in plain, drop the session.
            self.auth = AuthState::None;
            return Ok(Outcome::Data(Vec::new()));
        }
        let (xored, [version, c0, c1, c2, c3]) = split_key(&cryptogram, 21)?;
        let new_key = xor16(&xored, slot.key.expose_secret());
        if !macs_equal(&crc32_desfire(&new_key), &[c0, c1, c2, c3]) {
            return Err(INTEGRITY_ERROR);
        }
        slot.key = AesKey::new(new_key);
        slot.version = version;
        Ok(Outcome::Data(self.reply(CommMode::Full, &[])?))
    }
}

/// Splits a deciphered ChangeKey cryptogram of exactly `len` bytes into the 16 key bytes
/// and the rest.
fn split_key<const N: usize>(cryptogram: &[u8], len: usize) -> CardResult<([u8; 16], [u8; N])> {
    if cryptogram.len() != len {
        return Err(LENGTH_ERROR);
    }
    let (key, rest) = cryptogram.split_first_chunk::<16>().ok_or(LENGTH_ERROR)?;
    let rest: [u8; N] = rest.try_into().map_err(|_| LENGTH_ERROR)?;
    Ok((*key, rest))
}

fn create_file(
    app: &mut Application,
    used_memory: usize,
    file_no: u8,
    comm_mode: CommMode,
    access: AccessRights,
    data: Vec<u8>,
) -> CardResult<()> {
    if file_no > MAX_FILE_NO || data.is_empty() {
        return Err(PARAMETER_ERROR);
    }
    if app.files.contains_key(&file_no) {
        return Err(DUPLICATE_ERROR);
    }
    if used_memory.saturating_add(data.len()) > FILE_MEMORY_BYTES {
        return Err(OUT_OF_EEPROM);
    }
    app.files.insert(
        file_no,
        StdFile {
            comm_mode,
            access,
            data,
        },
    );
    Ok(())
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

/// A deterministic generator: AES-128 in counter mode under the seed.
fn seeded_rng(seed: [u8; 16]) -> RandomSource {
    let key = AesKey::new(seed);
    let mut counter: u128 = 0;
    Box::new(move |out: &mut [u8]| {
        for chunk in out.chunks_mut(16) {
            counter = counter.wrapping_add(1);
            let block = crate::crypto::aes_encrypt_block(&key, &counter.to_be_bytes());
            chunk
                .iter_mut()
                .zip(block)
                .for_each(|(dst, src)| *dst = src);
        }
    })
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

    #[test]
    fn seeded_generator_is_deterministic() {
        let mut a = seeded_rng([3; 16]);
        let mut b = seeded_rng([3; 16]);
        let (mut x, mut y) = ([0u8; 20], [0u8; 20]);
        a(&mut x);
        b(&mut y);
        assert_eq!(x, y);
        assert_ne!(x, [0; 20]);
    }
}
