//! MIFARE DESFire EV2/EV3 protocol for Clavis, without I/O.
//!
//! The appliance runs the badge protocol; the workstation agent only relays APDUs. This
//! crate is therefore a set of state machines that turn card answers (untrusted bytes)
//! into the next command or a typed result, and never block, sleep or touch a reader:
//!
//! * [`apdu`]: ISO/IEC 7816-4 framing of native commands, response splitting and
//!   reassembly of multi-frame answers;
//! * [`auth`]: AuthenticateEV2First / NonFirst ([`Authenticator`] → [`Session`]);
//! * [`session`]: EV2 secure messaging (session keys, IVs, truncated CMAC, Full-mode
//!   encryption, command counter, TI) and the typed commands GetCardUID, GetVersion,
//!   ReadData, WriteData, CreateApplication, CreateStdDataFile, ChangeKey;
//! * [`commands`]: builders for native commands, also usable outside a session;
//! * [`diversify`]: AN10922 AES-128 key diversification;
//! * [`types`], [`key`], [`status`], [`error`]: the vocabulary;
//! * `emulator` (feature `emulator`): a software DESFire EV2 card for tests.
//!
//! A badge check, with `send` standing for the agent round trip:
//!
//! ```
//! # #[cfg(feature = "emulator")] {
//! use clavis_desfire::{Authenticator, AesKey, CommMode, commands::NativeCommand, apdu};
//! # use clavis_desfire::{emulator::CardEmulator, Aid};
//! # let key = AesKey::new([0x42; 16]);
//! # let mut card = CardEmulator::new([4, 1, 2, 3, 4, 5, 6], AesKey::ZERO, [9; 16]);
//! # card.add_application(Aid::new(0x00C1A0).unwrap(), 0x0F, vec![key.clone()]).unwrap();
//! # let aid = Aid::new(0x00C1A0).unwrap();
//! # let mut send = |apdu: &[u8]| card.process(apdu);
//! let select = NativeCommand::select_application(aid).to_plain_apdu()?;
//! apdu::expect_plain_ok(&send(select.as_bytes()))?;
//!
//! let rnd_a = [0x5A; 16]; // from a CSPRNG in production
//! let (apdu, pending) = Authenticator::begin(0, &key, rnd_a)?;
//! let (apdu, pending) = pending.on_response(&send(apdu.as_bytes()))?;
//! let mut session = pending.on_response(&send(apdu.as_bytes()))?;
//!
//! let (apdu, pending) = session.get_card_uid()?;
//! let uid = session.finish(pending, &send(apdu.as_bytes()))?;
//! assert_eq!(uid.to_string(), "04010203040506");
//! # }
//! # Ok::<(), clavis_desfire::DesfireError>(())
//! ```

pub mod apdu;
pub mod auth;
pub mod commands;
mod crypto;
pub mod diversify;
#[cfg(feature = "emulator")]
pub mod emulator;
pub mod error;
pub mod key;
pub mod session;
pub mod status;
pub mod types;

pub use apdu::{CommandApdu, ResponseApdu, ResponseChain};
pub use auth::{Authenticator, PendingAuth, PendingAuthConfirmation};
pub use diversify::{diversify_aes128, diversify_aes128_input};
pub use error::{DesfireError, Result};
pub use key::AesKey;
pub use session::{Pending, Session};
pub use types::{Access, AccessRights, Aid, CardUid, CommMode, KeyTarget, VersionInfo};

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    /// The async server keeps these across `.await` points, possibly on another thread.
    #[test]
    fn protocol_states_can_cross_threads() {
        assert_send::<Session>();
        assert_send::<PendingAuth>();
        assert_send::<PendingAuthConfirmation>();
        assert_send::<Pending<CardUid>>();
        assert_send::<Pending<Vec<u8>>>();
        assert_send::<ResponseChain>();
        #[cfg(feature = "emulator")]
        assert_send::<emulator::CardEmulator>();
    }
}
