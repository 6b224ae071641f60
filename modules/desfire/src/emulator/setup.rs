//! The emulated card as test code handles it, without APDUs: a blank card and its random
//! source, applications, keys and files set up directly, Random ID, leaving the field, and
//! what a test asserts on afterwards (file contents, keys, authentication state).

use std::collections::{BTreeMap, VecDeque};

use crate::error::{DesfireError, Result};
use crate::key::AesKey;
use crate::status::{APPLICATION_NOT_FOUND, DUPLICATE_ERROR, PARAMETER_ERROR};
use crate::types::{AccessRights, Aid, CommMode, ProductVersion, VersionInfo};

use super::files::create_file;
use super::{Application, AuthState, CardEmulator, KeySlot, RandomSource};

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

#[cfg(test)]
mod tests {
    use super::*;

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
