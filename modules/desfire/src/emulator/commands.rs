//! Card and application commands of the emulator: GetVersion, GetCardUID,
//! SelectApplication, CreateApplication and ChangeKey (both cryptogram cases).

use std::collections::BTreeMap;

use crate::commands::code;
use crate::crypto::{crc32_desfire, macs_equal, xor16};
use crate::key::AesKey;
use crate::status::{
    APPLICATION_NOT_FOUND, AUTHENTICATION_ERROR, DUPLICATE_ERROR, INTEGRITY_ERROR, LENGTH_ERROR,
    NO_SUCH_KEY, PARAMETER_ERROR, PERMISSION_DENIED,
};
use crate::types::{Aid, CommMode};

use super::{Application, AuthState, CardEmulator, CardResult, KeySlot, Outcome};

/// Key settings bit: files/applications may be created without the master key.
const SETTINGS_FREE_CREATE: u8 = 0x04;
/// Key settings bit: the master key may be changed.
const SETTINGS_MASTER_KEY_CHANGEABLE: u8 = 0x01;

impl CardEmulator {
    pub(super) fn get_version(&mut self, data: &[u8]) -> CardResult<Outcome> {
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

    pub(super) fn get_card_uid(&mut self, data: &[u8]) -> CardResult<Outcome> {
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

    pub(super) fn select_application(&mut self, data: &[u8]) -> CardResult<Outcome> {
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
    pub(super) fn creation_mode(&self, key_settings: u8) -> CardResult<CommMode> {
        let free = key_settings & SETTINGS_FREE_CREATE != 0;
        match self.authenticated_key() {
            Some(0) => Ok(CommMode::Mac),
            Some(_) if free => Ok(CommMode::Mac),
            Some(_) => Err(PERMISSION_DENIED),
            None if free => Ok(CommMode::Plain),
            None => Err(AUTHENTICATION_ERROR),
        }
    }

    pub(super) fn create_application(&mut self, data: &[u8]) -> CardResult<Outcome> {
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
    pub(super) fn change_key(&mut self, data: &[u8]) -> CardResult<Outcome> {
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
