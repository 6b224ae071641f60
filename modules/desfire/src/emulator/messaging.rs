//! EV2 secure messaging, card side: checking the MAC of a command and deciphering its
//! payload, protecting an answer and advancing the command counter. The formulas are the
//! host's (`crate::session`), pinned to NXP vectors.

use crate::crypto::{MAC_LEN, cbc_decrypt, cbc_encrypt, macs_equal, pad_m2, unpad_m2};
use crate::session::{LABEL_ENC, LABEL_MAC, command_mac, response_mac, secure_messaging_iv};
use crate::status::{INTEGRITY_ERROR, LENGTH_ERROR, OPERATION_OK};
use crate::types::CommMode;

use super::{AuthState, CardEmulator, CardResult};

impl CardEmulator {
    /// Checks and opens a command in `mode`: returns `(header, payload)`, the payload
    /// deciphered in Full mode. Outside a session only Plain exists.
    pub(super) fn receive(
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
    pub(super) fn reply(&mut self, mode: CommMode, data: &[u8]) -> CardResult<Vec<u8>> {
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
    pub(super) fn mac_if_authenticated(&self) -> CommMode {
        if self.session().is_some() {
            CommMode::Mac
        } else {
            CommMode::Plain
        }
    }
}
