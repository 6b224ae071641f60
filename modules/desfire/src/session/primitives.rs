//! The EV2 secure messaging formulas, pinned to NXP's worked examples: session key
//! derivation from the authentication, the command and response IVs, and the truncated
//! command and response MACs. The host [`Session`](super::Session) and the emulator's card
//! side both compute with these.

use crate::crypto::{self, aes_encrypt_block, mac_t};
use crate::key::AesKey;

/// Label of the session encryption key derivation vector and of the command IV.
pub(crate) const LABEL_ENC: [u8; 2] = [0xA5, 0x5A];
/// Label of the session MAC key derivation vector and of the response IV.
pub(crate) const LABEL_MAC: [u8; 2] = [0x5A, 0xA5];

/// Derives (KSesAuthENC, KSesAuthMAC) from the authentication key and both random numbers:
/// `SV = label || 00 01 00 80 || RndA[0..2] || (RndA[2..8] ^ RndB[0..6]) || RndB[6..16] ||
/// RndA[8..16]`, `KSes = CMAC(K, SV)`.
pub(crate) fn derive_session_keys(
    key: &AesKey,
    rnd_a: &[u8; 16],
    rnd_b: &[u8; 16],
) -> (AesKey, AesKey) {
    let enc = crypto::cmac(key, &[&session_vector(LABEL_ENC, rnd_a, rnd_b)]);
    let mac = crypto::cmac(key, &[&session_vector(LABEL_MAC, rnd_a, rnd_b)]);
    (AesKey::new(enc), AesKey::new(mac))
}

fn session_vector(label: [u8; 2], rnd_a: &[u8; 16], rnd_b: &[u8; 16]) -> [u8; 32] {
    let [
        a0,
        a1,
        a2,
        a3,
        a4,
        a5,
        a6,
        a7,
        a8,
        a9,
        a10,
        a11,
        a12,
        a13,
        a14,
        a15,
    ] = *rnd_a;
    let [
        b0,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
        b8,
        b9,
        b10,
        b11,
        b12,
        b13,
        b14,
        b15,
    ] = *rnd_b;
    let [l0, l1] = label;
    [
        l0,
        l1,
        0x00,
        0x01,
        0x00,
        0x80,
        a0,
        a1,
        a2 ^ b0,
        a3 ^ b1,
        a4 ^ b2,
        a5 ^ b3,
        a6 ^ b4,
        a7 ^ b5,
        b6,
        b7,
        b8,
        b9,
        b10,
        b11,
        b12,
        b13,
        b14,
        b15,
        a8,
        a9,
        a10,
        a11,
        a12,
        a13,
        a14,
        a15,
    ]
}

/// `AES(KSesAuthENC, label || TI || counter (LE) || 00*8)`: the IV of a command (label
/// `A5 5A`, current counter) or of a response (label `5A A5`, counter + 1).
pub(crate) fn secure_messaging_iv(
    kenc: &AesKey,
    label: [u8; 2],
    ti: &[u8; 4],
    counter: u16,
) -> [u8; 16] {
    let mut block = [0u8; 16];
    let [l0, l1] = label;
    let [t0, t1, t2, t3] = *ti;
    let [c0, c1] = counter.to_le_bytes();
    block
        .iter_mut()
        .zip([l0, l1, t0, t1, t2, t3, c0, c1])
        .for_each(|(dst, src)| *dst = src);
    aes_encrypt_block(kenc, &block)
}

/// Truncated MAC of a command: `Cmd || CmdCtr || TI || header || data`.
pub(crate) fn command_mac(
    kmac: &AesKey,
    cmd: u8,
    counter: u16,
    ti: &[u8; 4],
    header: &[u8],
    data: &[u8],
) -> [u8; 8] {
    mac_t(kmac, &[&[cmd], &counter.to_le_bytes(), ti, header, data])
}

/// Truncated MAC of a response: `Status || CmdCtr+1 || TI || data` (`counter` is CmdCtr+1).
pub(crate) fn response_mac(
    kmac: &AesKey,
    status: u8,
    counter: u16,
    ti: &[u8; 4],
    data: &[u8],
) -> [u8; 8] {
    mac_t(kmac, &[&[status], &counter.to_le_bytes(), ti, data])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::tests::key;
    use hex_literal::hex;

    /// AN12343 p.33-34 (also Proxmark3 desfiretest.c): session keys from K = 0, RndA, RndB.
    #[test]
    fn session_keys_match_an12343_vector() {
        let (enc, mac) = derive_session_keys(
            &AesKey::ZERO,
            &hex!("B04D0787C93EE0CC8CACC8E86F16C6FE"),
            &hex!("FA659AD0DCA738DD65DC7DC38612AD81"),
        );
        assert_eq!(
            enc.expose_secret(),
            &hex!("63DC07286289A7A6C0334CA31C314A04")
        );
        assert_eq!(
            mac.expose_secret(),
            &hex!("774F26743ECE6AF5033B6AE8522946F6")
        );
    }

    /// EV2 command IV, psc-tech §4.5: TI ED56F6E6, counter 0.
    #[test]
    fn command_iv_matches_vector_at_counter_zero() {
        let iv = secure_messaging_iv(
            &key(hex!("66A8CB93269DC9BC2885B7A91B9C697B")),
            LABEL_ENC,
            &hex!("ED56F6E6"),
            0,
        );
        assert_eq!(iv, hex!("DA0F644A4986275957CF1EC3AF4CCE53"));
    }

    /// EV2 command IV, psc-tech §4.5: TI 11223344, counter 5 (little-endian in the IV).
    #[test]
    fn command_iv_matches_vector_at_counter_five() {
        let iv = secure_messaging_iv(
            &key(hex!("445A8626B3338459321232FADF6ADE2B")),
            LABEL_ENC,
            &hex!("11223344"),
            5,
        );
        assert_eq!(iv, hex!("177494FCC4F1DAB2AFBE8FAE2057A9D2"));
    }

    /// EV2 MAC, AN12343 p.54: WriteData (8D) header + 25 bytes of 0x22, counter 0.
    #[test]
    fn command_and_response_macs_match_an12343_vector() {
        let kmac = key(hex!("9366FA195EB566F5BD2BAD4020B83002"));
        let ti = hex!("E2D3AF69");
        let mac = command_mac(&kmac, 0x8D, 0, &ti, &hex!("00000000190000"), &[0x22; 25]);
        assert_eq!(mac, hex!("68F2C28C575A1628"));
        let rmac = response_mac(&kmac, 0x00, 1, &ti, &[]);
        assert_eq!(rmac, hex!("0820F68898C2A7F1"));
    }
}
