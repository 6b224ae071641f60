//! The cryptographic primitives DESFire EV2 is built from, over the RustCrypto `aes`,
//! `cbc` and `cmac` crates: AES-128 block and CBC encryption, AES-CMAC and its EV2
//! truncation, ISO/IEC 9797-1 method 2 padding, the one-byte rotation used by the
//! authentication, and the DESFire CRC32. Internal to the crate: callers use the
//! protocol types built on them.

use aes::Aes128;
use aes::cipher::{BlockCipherEncrypt, BlockModeDecrypt, BlockModeEncrypt, KeyInit, KeyIvInit};
use cmac::{Cmac, Mac};
use subtle::ConstantTimeEq;

use crate::error::{DesfireError, Result};
use crate::key::AesKey;

/// AES block size in bytes.
pub(crate) const BLOCK: usize = 16;

/// Length of the truncated EV2 MAC ("MACt") in bytes.
pub(crate) const MAC_LEN: usize = 8;

/// An all-zero IV, used by the authentication exchange.
pub(crate) const ZERO_IV: [u8; 16] = [0; 16];

/// AES-128 encryption of one block (ECB).
pub(crate) fn aes_encrypt_block(key: &AesKey, block: &[u8; 16]) -> [u8; 16] {
    let cipher = Aes128::new(key.expose_secret().into());
    let mut out = *block;
    cipher.encrypt_block((&mut out).into());
    out
}

/// AES-128-CBC encryption in place, without padding.
pub(crate) fn cbc_encrypt(key: &AesKey, iv: &[u8; 16], data: &mut [u8]) -> Result<()> {
    ensure_aligned(data)?;
    let mut mode = cbc::Encryptor::<Aes128>::new(key.expose_secret().into(), iv.into());
    for chunk in data.chunks_exact_mut(BLOCK) {
        let block: &mut [u8; 16] = chunk
            .try_into()
            .expect("chunks_exact_mut yields 16-byte chunks");
        mode.encrypt_block(block.into());
    }
    Ok(())
}

/// AES-128-CBC decryption in place, without padding removal.
pub(crate) fn cbc_decrypt(key: &AesKey, iv: &[u8; 16], data: &mut [u8]) -> Result<()> {
    ensure_aligned(data)?;
    let mut mode = cbc::Decryptor::<Aes128>::new(key.expose_secret().into(), iv.into());
    for chunk in data.chunks_exact_mut(BLOCK) {
        let block: &mut [u8; 16] = chunk
            .try_into()
            .expect("chunks_exact_mut yields 16-byte chunks");
        mode.decrypt_block(block.into());
    }
    Ok(())
}

fn ensure_aligned(data: &[u8]) -> Result<()> {
    if data.len().is_multiple_of(BLOCK) {
        Ok(())
    } else {
        Err(DesfireError::CiphertextNotBlockAligned { len: data.len() })
    }
}

/// Full 16-byte AES-CMAC (NIST SP 800-38B) of the concatenation of `parts`.
pub(crate) fn cmac(key: &AesKey, parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Cmac<Aes128> as KeyInit>::new(key.expose_secret().into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// EV2 MAC truncation: the 8 bytes at odd indices 1, 3, ..., 15 of the full CMAC.
pub(crate) fn truncate_mac(full: &[u8; 16]) -> [u8; 8] {
    let mut out = [0u8; MAC_LEN];
    for (dst, pair) in out.iter_mut().zip(full.chunks_exact(2)) {
        if let [_, odd] = pair {
            *dst = *odd;
        }
    }
    out
}

/// Truncated EV2 MAC ("MACt") of the concatenation of `parts`.
pub(crate) fn mac_t(key: &AesKey, parts: &[&[u8]]) -> [u8; 8] {
    truncate_mac(&cmac(key, parts))
}

/// Constant-time comparison of two MACs.
pub(crate) fn macs_equal(received: &[u8], expected: &[u8]) -> bool {
    received.ct_eq(expected).into()
}

/// ISO/IEC 9797-1 padding method 2: append `0x80`, then zeros up to a multiple of 16.
/// A full block is added when the data is already aligned (DESFire EV2 always pads).
pub(crate) fn pad_m2(data: &[u8]) -> Vec<u8> {
    let padded_len = (data.len() / BLOCK + 1) * BLOCK;
    let mut out = Vec::with_capacity(padded_len);
    out.extend_from_slice(data);
    out.push(0x80);
    out.resize(padded_len, 0);
    out
}

/// Removes ISO/IEC 9797-1 method 2 padding. The padding must lie within the last block.
pub(crate) fn unpad_m2(data: &[u8]) -> Result<&[u8]> {
    let marker = data
        .iter()
        .rposition(|&b| b != 0)
        .ok_or(DesfireError::BadPadding)?;
    let padding_len = data.len() - marker;
    match data.get(marker) {
        Some(0x80) if padding_len <= BLOCK => data.get(..marker).ok_or(DesfireError::BadPadding),
        _ => Err(DesfireError::BadPadding),
    }
}

/// Rotates a 16-byte value left by one byte (RndA' and RndB' of the authentication).
pub(crate) fn rotate_left(value: &[u8; 16]) -> [u8; 16] {
    let mut out = *value;
    out.rotate_left(1);
    out
}

/// The DESFire CRC32 (CRC-32/JAMCRC): IEEE 802.3 polynomial, reflected, initial value
/// `0xFFFFFFFF`, no final XOR; serialised little-endian.
pub(crate) fn crc32_desfire(data: &[u8]) -> [u8; 4] {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let lsb_set = crc & 1 != 0;
            crc >>= 1;
            if lsb_set {
                crc ^= 0xEDB8_8320;
            }
        }
    }
    crc.to_le_bytes()
}

/// XOR of two 16-byte values.
pub(crate) fn xor16(a: &[u8; 16], b: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for ((o, x), y) in out.iter_mut().zip(a).zip(b) {
        *o = x ^ y;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use hex_literal::hex;

    /// NIST SP 800-38B / RFC 4493 example 2, to show the CMAC wiring is standard.
    #[test]
    fn cmac_matches_rfc4493_example() {
        let key = AesKey::new(hex!("2b7e151628aed2a6abf7158809cf4f3c"));
        let mac = cmac(
            &key,
            &[&hex!("6bc1bee22e409f96"), &hex!("e93d7e117393172a")],
        );
        assert_eq!(mac, hex!("070a16b46b4d4144f79bdd9dd04a287c"));
        assert_eq!(cmac(&key, &[]), hex!("bb1d6929e95937287fa37d129b756746"));
    }

    /// AN12196 §6.16 (ChangeKey, step 16): full CMAC B7A6…BB32 truncates to A661…6432.
    #[test]
    fn truncation_keeps_odd_indexed_bytes() {
        let full = hex!("B7A60161F202EC3489BD4BEDEF64BB32");
        assert_eq!(truncate_mac(&full), hex!("A6610234BDED6432"));
    }

    #[test]
    fn padding_always_adds_at_least_one_byte() {
        assert_eq!(pad_m2(&[]), {
            let mut v = vec![0x80];
            v.resize(16, 0);
            v
        });
        assert_eq!(pad_m2(&[1; 16]).len(), 32);
        assert_eq!(pad_m2(&[1; 15]).len(), 16);
        for len in 0..40 {
            let data: Vec<u8> = (0..len).map(|i| i as u8 ^ 0x80).collect();
            assert_eq!(unpad_m2(&pad_m2(&data)).unwrap(), &data[..]);
        }
    }

    #[test]
    fn unpadding_rejects_malformed_padding() {
        assert_eq!(unpad_m2(&[0; 16]), Err(DesfireError::BadPadding));
        assert_eq!(unpad_m2(&[]), Err(DesfireError::BadPadding));
        let mut bad = [0u8; 16];
        bad[3] = 0x81;
        assert_eq!(unpad_m2(&bad), Err(DesfireError::BadPadding));
        // The marker may not sit more than one block before the end.
        let mut far = vec![0u8; 32];
        far[10] = 0x80;
        assert_eq!(unpad_m2(&far), Err(DesfireError::BadPadding));
    }

    /// AN12196 §6.16.1 step 7: CRC32 of the new key F3847D62… is 789DFADC (stream order).
    #[test]
    fn crc32_matches_an12196_change_key_vector() {
        assert_eq!(
            crc32_desfire(&hex!("F3847D627727ED3BC9C4CC050489B966")),
            hex!("789DFADC")
        );
        // JAMCRC check value: CRC-32("123456789") = CBF43926, without the final XOR.
        assert_eq!(crc32_desfire(b"123456789"), 0x340B_C6D9u32.to_le_bytes());
    }

    #[test]
    fn cbc_round_trips_and_rejects_partial_blocks() {
        let key = AesKey::new([7; 16]);
        let iv = [9; 16];
        let mut data = [0x42u8; 48];
        cbc_encrypt(&key, &iv, &mut data).unwrap();
        assert_ne!(data, [0x42; 48]);
        cbc_decrypt(&key, &iv, &mut data).unwrap();
        assert_eq!(data, [0x42; 48]);
        assert_eq!(
            cbc_decrypt(&key, &iv, &mut [0; 17]),
            Err(DesfireError::CiphertextNotBlockAligned { len: 17 })
        );
    }
}
