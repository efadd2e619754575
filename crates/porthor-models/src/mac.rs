//! HMAC-SHA256, the one keyed hash Porthor uses: for keys derived from the
//! store key, names that must not reveal what they name, and signed CSRF
//! tokens.

use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use zeroize::Zeroize as _;

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts` under a 256-bit
/// `key`. Compare results with a constant-time equality.
pub fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    // RFC 2104 2: a key shorter than the hash's 64-byte block is padded with
    // zeros to it; padding it here makes keying infallible.
    let mut block = Key::<Hmac<Sha256>>::default();
    block
        .iter_mut()
        .zip(key)
        .for_each(|(slot, byte)| *slot = *byte);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
    block.as_mut_slice().zeroize();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 has a 4-byte key; padded with zeros to 32 bytes
    /// it is the same HMAC key (RFC 2104 2), so the same output.
    #[test]
    fn rfc_4231_test_case_2() {
        let mut key = [0u8; 32];
        key.iter_mut()
            .zip(b"Jefe")
            .for_each(|(slot, byte)| *slot = *byte);
        let mac = hmac_sha256(&key, &[b"what do ya want ", b"for nothing?"]);
        let hex: String = mac.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
