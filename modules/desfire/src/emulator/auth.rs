//! AuthenticateEV2First and AuthenticateEV2NonFirst, card side: the challenge under the
//! key, the check of the reader's answer, session keys and TI (counter kept by NonFirst).

use crate::crypto::{ZERO_IV, cbc_decrypt, cbc_encrypt, macs_equal, rotate_left};
use crate::session::derive_session_keys;
use crate::status::{
    AUTHENTICATION_ERROR, ILLEGAL_COMMAND, INTEGRITY_ERROR, LENGTH_ERROR, NO_SUCH_KEY,
};

use super::{AuthState, CardEmulator, CardResult, CardSession, Outcome};

impl CardEmulator {
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

    pub(super) fn authenticate_first(&mut self, data: &[u8]) -> CardResult<Outcome> {
        self.auth = AuthState::None;
        let [key_no, len_cap, pcd_cap2 @ ..] = data else {
            return Err(LENGTH_ERROR);
        };
        if usize::from(*len_cap) != pcd_cap2.len() || *len_cap > 6 {
            return Err(LENGTH_ERROR);
        }
        self.start_challenge(*key_no, None)
    }

    pub(super) fn authenticate_non_first(&mut self, data: &[u8]) -> CardResult<Outcome> {
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

    pub(super) fn authenticate_confirm(&mut self, data: &[u8]) -> CardResult<Outcome> {
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

    pub(super) fn session(&self) -> Option<&CardSession> {
        match &self.auth {
            AuthState::Authenticated(s) => Some(s),
            _ => None,
        }
    }

    pub(super) fn authenticated_key(&self) -> Option<u8> {
        self.session().map(|s| s.key_no)
    }
}
