//! Property tests: a hostile card or agent gets an error, never a panic.
//!
//! Every parser that takes card bytes is fed arbitrary input, and input shaped like a
//! valid answer (right status word, plausible lengths) so that the deeper checks (MAC,
//! decryption, padding, field parsing) are reached too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use clavis_desfire::{
    AesKey, Authenticator, CardUid, CommMode, KeyTarget, ResponseApdu, ResponseChain, Session,
    VersionInfo,
};
use hex_literal::hex;
use proptest::prelude::*;

/// Arbitrary bytes, or arbitrary data followed by a plausible DESFire status word.
fn response() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        (
            proptest::collection::vec(any::<u8>(), 0..120),
            prop_oneof![Just(0x00u8), Just(0xAF), any::<u8>()],
        )
            .prop_map(|(mut data, status)| {
                data.extend_from_slice(&[0x91, status]);
                data
            }),
        // Block-aligned ciphertext plus a MAC: reaches decryption and unpadding.
        (1usize..5, any::<[u8; 8]>(), any::<u64>()).prop_map(|(blocks, mac, seed)| {
            let mut data: Vec<u8> = (0..blocks * 16)
                .map(|i| (seed.rotate_left(i as u32) & 0xFF) as u8)
                .collect();
            data.extend_from_slice(&mac);
            data.extend_from_slice(&[0x91, 0x00]);
            data
        }),
    ]
}

fn session(counter: u16) -> Session {
    Session::from_parts(
        0,
        AesKey::new(hex!("7A93D6571E4B180FCA6AC90C9A7488D4")),
        AesKey::new(hex!("FC4AF159B62E549B5812394CAB1918CC")),
        hex!("7614281A"),
        counter,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn response_framing_never_panics(bytes in response()) {
        if let Ok(r) = ResponseApdu::parse(&bytes) {
            let _ = r.into_ok_data();
            let _ = r.into_additional_frame_data();
        }
        let _ = clavis_desfire::apdu::expect_plain_ok(&bytes);
    }

    #[test]
    fn chain_reassembly_never_panics(frames in proptest::collection::vec(response(), 0..6)) {
        let mut chain = ResponseChain::new();
        for frame in &frames {
            if chain.push(frame).is_err() {
                break;
            }
        }
        let _ = chain.into_response();
    }

    #[test]
    fn auth_challenge_parsing_never_panics(bytes in response(), key_no in 0u8..14) {
        let (_, pending) = Authenticator::begin(key_no, &AesKey::ZERO, [0x11; 16]).unwrap();
        let _ = pending.on_response(&bytes);
    }

    #[test]
    fn auth_confirmation_parsing_never_panics(bytes in response()) {
        let (_, pending) = Authenticator::begin(
            3,
            &AesKey::ZERO,
            hex!("B98F4C50CF1C2E084FD150E33992B048"),
        )
        .unwrap();
        let (_, pending) = pending
            .on_response(&hex!("B875CEB0E66A6C5CD00898DC371F92D1 91AF"))
            .unwrap();
        prop_assert!(pending.on_response(&bytes).is_err());
    }

    #[test]
    fn non_first_confirmation_parsing_never_panics(first in response(), second in response()) {
        let (_, pending) = session(4).reauthenticate(1, &AesKey::ZERO, [0x22; 16]).unwrap();
        if let Ok((_, pending)) = pending.on_response(&first) {
            let _ = pending.on_response(&second);
        }
    }

    #[test]
    fn wrapped_responses_never_panic_in_any_mode(bytes in response(), counter in 0u16..u16::MAX) {
        for mode in [CommMode::Plain, CommMode::Mac, CommMode::Full] {
            let mut s = session(counter);
            s.wrap(0xBD, &[1, 0, 0, 0, 0, 0, 0], &[], mode).unwrap();
            let result = s.unwrap_response(mode, &bytes);
            if mode != CommMode::Plain {
                // Random bytes never carry a valid MAC.
                prop_assert!(result.is_err());
            }
        }
    }

    #[test]
    fn typed_responses_never_panic(bytes in response()) {
        let mut s = session(0);
        let (_, p) = s.get_card_uid().unwrap();
        let _ = s.finish(p, &bytes);
        let mut s = session(1);
        let (_, p) = s.get_version().unwrap();
        let _ = s.finish(p, &bytes);
        let mut s = session(2);
        let (_, p) = s.read_data(1, 0, 16, CommMode::Full).unwrap();
        let _ = s.finish(p, &bytes);
        let mut s = session(3);
        let (_, p) = s.change_key(KeyTarget::ApplicationKey(0), &AesKey::ZERO, 1, None).unwrap();
        let _ = s.finish(p, &bytes);
        prop_assert!(s.is_ended());
    }

    #[test]
    fn value_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = VersionInfo::parse(&bytes);
        let _ = CardUid::new(&bytes);
        if let Ok(info) = VersionInfo::parse(&bytes) {
            prop_assert_eq!(info.to_bytes(), bytes);
        }
    }
}

#[cfg(feature = "emulator")]
mod emulator {
    use super::*;
    use clavis_desfire::commands::NativeCommand;
    use clavis_desfire::emulator::CardEmulator;
    use clavis_desfire::{Access, AccessRights, Aid, ResponseChain};

    fn card() -> CardEmulator {
        let mut card = CardEmulator::new(hex!("04010203040506"), AesKey::ZERO, [3; 16]);
        let aid = Aid::new(0x00_C1A0).unwrap();
        card.add_application(aid, 0x0F, vec![AesKey::ZERO, AesKey::ZERO])
            .unwrap();
        card.add_std_file(
            aid,
            1,
            CommMode::Full,
            AccessRights {
                read: Access::Key(1),
                write: Access::Key(1),
                read_write: Access::Key(0),
                change: Access::Key(0),
            },
            vec![0; 240],
        )
        .unwrap();
        card
    }

    /// A native command with a known code, or arbitrary bytes.
    fn command() -> impl Strategy<Value = Vec<u8>> {
        let codes = prop::sample::select(vec![
            0x71u8, 0x77, 0xAF, 0x51, 0x60, 0x5A, 0xCA, 0xCD, 0xBD, 0xAD, 0x3D, 0x8D, 0xC4,
        ]);
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..80),
            (codes, proptest::collection::vec(any::<u8>(), 0..60)).prop_map(|(ins, data)| {
                let mut apdu = vec![0x90, ins, 0x00, 0x00];
                if !data.is_empty() {
                    apdu.push(data.len() as u8);
                    apdu.extend_from_slice(&data);
                }
                apdu.push(0x00);
                apdu
            }),
        ]
    }

    fn authenticated(card: &mut CardEmulator) -> Session {
        let select = NativeCommand::select_application(Aid::new(0x00_C1A0).unwrap());
        card.process(select.to_plain_apdu().unwrap().as_bytes());
        let (apdu, p) = Authenticator::begin(1, &AesKey::ZERO, [9; 16]).unwrap();
        let (apdu, p) = p.on_response(&card.process(apdu.as_bytes())).unwrap();
        p.on_response(&card.process(apdu.as_bytes())).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn emulator_answers_any_apdu_sequence(commands in proptest::collection::vec(command(), 1..12)) {
            let mut card = card();
            let _ = authenticated(&mut card);
            for apdu in &commands {
                let answer = card.process(apdu);
                prop_assert!(answer.len() >= 2);
            }
        }

        /// Host and card agree on every length, offset and mode.
        #[test]
        fn full_mode_write_read_round_trips(
            data in proptest::collection::vec(any::<u8>(), 1..200),
            offset in 0usize..40,
        ) {
            let mut card = card();
            let mut session = authenticated(&mut card);
            let (apdu, p) = session.write_data(1, offset, &data, CommMode::Full).unwrap();
            session.finish(p, &card.process(apdu.as_bytes())).unwrap();
            let (apdu, p) = session.read_data(1, offset, data.len(), CommMode::Full).unwrap();
            let mut chain = ResponseChain::new();
            let mut next = chain.push(&card.process(apdu.as_bytes())).unwrap();
            while let Some(more) = next {
                next = chain.push(&card.process(more.as_bytes())).unwrap();
            }
            let read = session.finish(p, &chain.into_response().unwrap()).unwrap();
            prop_assert_eq!(read, data);
        }
    }
}
