//! AN10922 AES-128 key diversification.
//!
//! Clavis never writes its master key to a badge: each badge gets a key derived from the
//! master key (held by the KMS) and the badge's identity, so that extracting one badge's
//! key reveals nothing about the others. NXP AN10922 §2.2 defines the derivation:
//!
//! ```text
//! M = diversification input (1..=31 bytes), here UID || AID || system identifier
//! D = 0x01 || M, padded with 80 00.. to 32 bytes when shorter
//! K' = CMAC-style CBC-MAC over D, last block XORed with CMAC subkey K1 (D was 32 bytes)
//!      or K2 (D was padded)
//! ```
//!
//! The padding always fills 32 bytes (two blocks), which differs from plain AES-CMAC when
//! `D` is 16 bytes or shorter; for the usual 17-byte `M` both coincide.

use crate::crypto::{BLOCK, aes_encrypt_block};
use crate::error::{DesfireError, Result};
use crate::key::AesKey;
use crate::types::Aid;

/// The AN10922 diversification constant for AES-128 keys.
const DIV_CONSTANT_AES128: u8 = 0x01;

/// Longest diversification input AN10922 allows for AES-128 (`D` fits two blocks).
pub const MAX_DIVERSIFICATION_INPUT: usize = 31;

/// Derives a card key from `master_key` for the card `uid`, application `aid` and
/// `system_identifier` (free bytes naming the system, e.g. a hospital code).
///
/// The input is `M = uid || aid || system_identifier`, with the AID in wire order (least
/// significant byte first, as [`Aid::to_wire_bytes`]): the AN10922 example's AID bytes
/// `30 42 F5` are the AID `0xF54230`. Fails if `M` is longer than 31 bytes.
pub fn diversify_aes128(
    master_key: &AesKey,
    uid: &[u8],
    aid: Aid,
    system_identifier: &[u8],
) -> Result<AesKey> {
    let mut input = Vec::with_capacity(uid.len() + 3 + system_identifier.len());
    input.extend_from_slice(uid);
    input.extend_from_slice(&aid.to_wire_bytes());
    input.extend_from_slice(system_identifier);
    diversify_aes128_input(master_key, &input)
}

/// Derives a card key from `master_key` and an arbitrary diversification input `M`
/// (1..=31 bytes), for callers whose input layout differs from UID || AID || system id.
pub fn diversify_aes128_input(master_key: &AesKey, input: &[u8]) -> Result<AesKey> {
    if input.is_empty() || input.len() > MAX_DIVERSIFICATION_INPUT {
        return Err(DesfireError::DiversificationInputLength { len: input.len() });
    }
    let (k1, k2) = cmac_subkeys(master_key);

    let mut d = [0u8; 2 * BLOCK];
    let (constant, rest) = d.split_at_mut(1);
    constant.copy_from_slice(&[DIV_CONSTANT_AES128]);
    let (message, padding) = rest.split_at_mut(input.len());
    message.copy_from_slice(input);
    let subkey = if let Some(first) = padding.first_mut() {
        *first = 0x80;
        k2
    } else {
        k1
    };

    let (first_block, last_block) = d.split_at(BLOCK);
    let first: [u8; 16] = first_block.try_into().expect("split at 16 of 32 bytes");
    let last: [u8; 16] = last_block.try_into().expect("split at 16 of 32 bytes");
    let chained = aes_encrypt_block(master_key, &first);
    let mut block = [0u8; 16];
    for (((out, c), m), k) in block.iter_mut().zip(&chained).zip(&last).zip(&subkey) {
        *out = c ^ m ^ k;
    }
    Ok(AesKey::new(aes_encrypt_block(master_key, &block)))
}

/// The CMAC subkeys K1 and K2 of `key` (NIST SP 800-38B §6.1).
pub(crate) fn cmac_subkeys(key: &AesKey) -> ([u8; 16], [u8; 16]) {
    let l = aes_encrypt_block(key, &[0u8; 16]);
    let k1 = double(&l);
    let k2 = double(&k1);
    (k1, k2)
}

/// Multiplication by x in GF(2^128), the CMAC "dbl" operation.
fn double(value: &[u8; 16]) -> [u8; 16] {
    let as_int = u128::from_be_bytes(*value);
    let mut doubled = as_int << 1;
    if as_int >> 127 == 1 {
        doubled ^= 0x87;
    }
    doubled.to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::cmac;
    use hex_literal::hex;

    const MASTER: AesKey = AesKey::new(hex!("00112233445566778899AABBCCDDEEFF"));
    const UID: [u8; 7] = hex!("04782E21801D80");
    const SYSTEM_ID: &[u8] = b"NXP Abu";

    /// AN10922 §2.2.1 table 2: CMAC subkeys of the example master key.
    #[test]
    fn subkeys_match_an10922_example() {
        let (k1, k2) = cmac_subkeys(&MASTER);
        assert_eq!(k1, hex!("FBC9F75C9413C041DFEE452D3F0706D1"));
        assert_eq!(k2, hex!("F793EEB928278083BFDC8A5A7E0E0D25"));
    }

    /// AN10922 §2.2.1 table 2: UID 04782E21801D80, AID 3042F5, system id "NXP Abu".
    #[test]
    fn diversified_key_matches_an10922_example() {
        assert_eq!(SYSTEM_ID, hex!("4E585020416275"));
        let aid = Aid::from_wire_bytes(hex!("3042F5"));
        assert_eq!(aid.as_u32(), 0xF5_4230);
        let key = diversify_aes128(&MASTER, &UID, aid, SYSTEM_ID).unwrap();
        assert_eq!(
            key.expose_secret(),
            &hex!("A8DD63A3B89D54B37CA802473FDA9175")
        );
    }

    /// For a 17-byte M, D = 01 || M is 18 bytes: padded to 32 like plain AES-CMAC does.
    #[test]
    fn seventeen_byte_input_equals_plain_cmac() {
        let m = hex!("04782E21801D803042F54E585020416275");
        let key = diversify_aes128_input(&MASTER, &m).unwrap();
        assert_eq!(key.expose_secret(), &cmac(&MASTER, &[&[0x01], &m]));
    }

    /// A 31-byte M fills D exactly: no padding, subkey K1, which is plain CMAC again.
    #[test]
    fn full_length_input_uses_k1_like_cmac() {
        let m = [0x5Au8; 31];
        let key = diversify_aes128_input(&MASTER, &m).unwrap();
        assert_eq!(key.expose_secret(), &cmac(&MASTER, &[&[0x01], &m]));
    }

    /// A short M is padded to 32 bytes, unlike plain CMAC (which would pad to 16).
    #[test]
    fn short_input_is_padded_to_two_blocks() {
        let m = [0x11u8; 15];
        let key = diversify_aes128_input(&MASTER, &m).unwrap();
        assert_ne!(key.expose_secret(), &cmac(&MASTER, &[&[0x01], &m]));
        let mut padded = vec![0x01];
        padded.extend_from_slice(&m);
        padded.push(0x80);
        padded.resize(32, 0);
        // Recompute by hand: CBC-MAC with K2 XORed into the last block.
        let (_, k2) = cmac_subkeys(&MASTER);
        let c1 = aes_encrypt_block(&MASTER, &padded[..16].try_into().unwrap());
        let mut last = [0u8; 16];
        for i in 0..16 {
            last[i] = c1[i] ^ padded[16 + i] ^ k2[i];
        }
        assert_eq!(key.expose_secret(), &aes_encrypt_block(&MASTER, &last));
    }

    #[test]
    fn input_length_is_bounded() {
        assert_eq!(
            diversify_aes128_input(&MASTER, &[]),
            Err(DesfireError::DiversificationInputLength { len: 0 })
        );
        assert_eq!(
            diversify_aes128_input(&MASTER, &[0; 32]),
            Err(DesfireError::DiversificationInputLength { len: 32 })
        );
    }
}
