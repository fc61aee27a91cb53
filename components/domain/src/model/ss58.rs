//! SS58 account addresses (Substrate's base58 format with a network prefix and a checksum).
//!
//! Written here rather than taken from `sp-core`: that crate drags in most of Substrate and does not
//! belong in a small wasm component; the format itself is a few lines over `bs58` and `blake2`.

use blake2::{Blake2b512, Digest};

/// A 32-byte account id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId(pub [u8; 32]);

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ss58Error {
    /// Not base58.
    #[error("not a base58 string")]
    NotBase58,
    /// A length no 32-byte account address has.
    #[error("wrong length for a 32-byte account address")]
    BadLength,
    /// The checksum does not match: a typo, or a truncated address.
    #[error("the checksum does not match (a typo?)")]
    BadChecksum,
    /// A valid address of another network.
    #[error("the address is for network prefix {found}, this chain uses {expected}")]
    WrongPrefix {
        /// The chain's prefix.
        expected: u16,
        /// The address's prefix.
        found: u16,
    },
    /// A prefix outside SS58's range.
    #[error("network prefix {0} is out of range (0..=16383)")]
    BadPrefix(u16),
}

const CHECKSUM_LEN: usize = 2;
/// A two-byte prefix, the 32-byte account and the checksum.
const MAX_DECODED_LEN: usize = 2 + 32 + CHECKSUM_LEN;
const PREFIX_SALT: &[u8] = b"SS58PRE";

fn checksum(data: &[u8]) -> [u8; 64] {
    let mut hasher = Blake2b512::new();
    hasher.update(PREFIX_SALT);
    hasher.update(data);
    hasher.finalize().into()
}

impl AccountId {
    /// Decodes an address and returns the account and the address's network prefix.
    pub fn from_ss58(address: &str) -> Result<(Self, u16), Ss58Error> {
        // Decoded into a buffer that fits the longest address: base58 decoding into a growing
        // buffer is quadratic in the input's length (a 64 KB string took a second), while a
        // fixed buffer keeps it linear and stops once the value outgrows any address.
        let mut buf = [0u8; MAX_DECODED_LEN];
        let len = bs58::decode(address).onto(&mut buf).map_err(|e| match e {
            bs58::decode::Error::BufferTooSmall => Ss58Error::BadLength,
            _ => Ss58Error::NotBase58,
        })?;
        let data = &buf[..len];
        let (prefix, prefix_len) = match data.first() {
            Some(&b) if b < 64 => (u16::from(b), 1),
            Some(&b) if b < 128 => {
                let second = *data.get(1).ok_or(Ss58Error::BadLength)?;
                // Two-byte prefixes pack 14 bits; see the SS58 specification.
                let lower = (b << 2) | (second >> 6);
                let upper = second & 0b0011_1111;
                (u16::from(lower) | (u16::from(upper) << 8), 2)
            }
            Some(_) => return Err(Ss58Error::BadPrefix(0)),
            None => return Err(Ss58Error::BadLength),
        };
        if data.len() != prefix_len + 32 + CHECKSUM_LEN {
            return Err(Ss58Error::BadLength);
        }
        let body_end = prefix_len + 32;
        let hash = checksum(&data[..body_end]);
        if data[body_end..] != hash[..CHECKSUM_LEN] {
            return Err(Ss58Error::BadChecksum);
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&data[prefix_len..body_end]);
        Ok((Self(id), prefix))
    }

    /// Decodes an address that must belong to the network `prefix`.
    pub fn from_ss58_for(address: &str, prefix: u16) -> Result<Self, Ss58Error> {
        let (id, found) = Self::from_ss58(address)?;
        if found != prefix {
            return Err(Ss58Error::WrongPrefix {
                expected: prefix,
                found,
            });
        }
        Ok(id)
    }

    /// Encodes the account for the network `prefix`.
    pub fn to_ss58(&self, prefix: u16) -> Result<String, Ss58Error> {
        let mut data = match prefix {
            0..=63 => vec![prefix as u8],
            64..=16_383 => {
                let first = ((prefix & 0b0000_0000_1111_1100) as u8) >> 2;
                let second = ((prefix >> 8) as u8) | (((prefix & 0b11) as u8) << 6);
                vec![first | 0b0100_0000, second]
            }
            _ => return Err(Ss58Error::BadPrefix(prefix)),
        };
        data.extend_from_slice(&self.0);
        let hash = checksum(&data);
        data.extend_from_slice(&hash[..CHECKSUM_LEN]);
        Ok(bs58::encode(data).into_string())
    }

    /// `0x`-prefixed lowercase hex.
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }

    /// Parses `0x`-prefixed hex of 32 bytes.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s.strip_prefix("0x")?).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Alice's well-known dev account.
    const ALICE_HEX: &str = "0xd43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
    const ALICE_42: &str = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
    const ALICE_0: &str = "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5";

    #[test]
    fn round_trips_known_addresses() {
        let alice = AccountId::from_hex(ALICE_HEX).expect("hex");
        assert_eq!(alice.to_ss58(42).expect("encode"), ALICE_42);
        assert_eq!(alice.to_ss58(0).expect("encode"), ALICE_0);
        assert_eq!(AccountId::from_ss58(ALICE_42), Ok((alice, 42)));
        assert_eq!(AccountId::from_ss58(ALICE_0), Ok((alice, 0)));
        assert_eq!(alice.to_hex(), ALICE_HEX);
    }

    #[test]
    fn two_byte_prefixes_round_trip() {
        let id = AccountId([7; 32]);
        for prefix in [64, 255, 1284, 16_383] {
            let address = id.to_ss58(prefix).expect("encode");
            assert_eq!(AccountId::from_ss58(&address), Ok((id, prefix)), "{prefix}");
        }
        assert_eq!(id.to_ss58(16_384), Err(Ss58Error::BadPrefix(16_384)));
    }

    #[test]
    fn rejects_typos_other_networks_and_junk() {
        let mut typo = ALICE_42.to_string();
        let replacement = if &typo[12..13] == "2" { "3" } else { "2" };
        typo.replace_range(12..13, replacement);
        assert_eq!(AccountId::from_ss58(&typo), Err(Ss58Error::BadChecksum));
        assert_eq!(
            AccountId::from_ss58_for(ALICE_0, 42),
            Err(Ss58Error::WrongPrefix {
                expected: 42,
                found: 0
            })
        );
        assert_eq!(AccountId::from_ss58("0OIl"), Err(Ss58Error::NotBase58));
        assert_eq!(AccountId::from_ss58("5Grw"), Err(Ss58Error::BadLength));
    }
}
