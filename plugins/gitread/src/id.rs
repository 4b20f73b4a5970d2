//! Object ids: the SHA-1 names git gives every commit, tree, blob and tag.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The 20-byte SHA-1 name of a git object. Displayed as 40 lowercase hex
/// digits, the way `git rev-parse` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 20]);

impl ObjectId {
    /// Length of the raw id, as stored in trees and pack indexes.
    pub const LEN: usize = 20;

    pub const fn from_bytes(bytes: [u8; 20]) -> ObjectId {
        ObjectId(bytes)
    }

    /// The id stored in the first 20 bytes of `raw`, if there are that many.
    pub fn from_slice(raw: &[u8]) -> Option<ObjectId> {
        let bytes: [u8; 20] = raw.get(..20)?.try_into().ok()?;
        Some(ObjectId(bytes))
    }

    pub const fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// Parses 40 hex digits (either case) at the start of `text`, ignoring
    /// what follows; ref files and `packed-refs` lines carry more after it.
    pub(crate) fn from_hex_prefix(text: &[u8]) -> Option<ObjectId> {
        let hex = text.get(..40)?;
        let mut bytes = [0u8; 20];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            bytes[i] = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Some(ObjectId(bytes))
    }

    /// Whether `text` is exactly a full hex id, so it can be told apart from
    /// a ref name before any lookup.
    pub(crate) fn is_full_hex(text: &str) -> bool {
        text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit())
    }

    /// The two path parts of the id's loose object file: `ab` and the other 38 digits.
    pub(crate) fn loose_path_parts(&self) -> (String, String) {
        let hex = self.to_string();
        (hex[..2].to_string(), hex[2..].to_string())
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut hex = [0u8; 40];
        for (i, byte) in self.0.iter().enumerate() {
            hex[2 * i] = DIGITS[usize::from(byte >> 4)];
            hex[2 * i + 1] = DIGITS[usize::from(byte & 0xf)];
        }
        // Only ASCII digits were written.
        f.write_str(std::str::from_utf8(&hex).unwrap_or_default())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({self})")
    }
}

impl FromStr for ObjectId {
    type Err = Error;

    fn from_str(text: &str) -> Result<ObjectId, Error> {
        if !ObjectId::is_full_hex(text) {
            return Err(Error::InvalidObjectId(text.to_string()));
        }
        ObjectId::from_hex_prefix(text.as_bytes())
            .ok_or_else(|| Error::InvalidObjectId(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let text = "0123456789abcdef0123456789ABCDEF01234567";
        let id: ObjectId = text.parse().unwrap();
        assert_eq!(id.to_string(), text.to_lowercase());
        assert_eq!(id.loose_path_parts().0, "01");
    }

    #[test]
    fn rejects_other_lengths_and_digits() {
        assert!("abc".parse::<ObjectId>().is_err());
        assert!(
            "g123456789abcdef0123456789abcdef01234567"
                .parse::<ObjectId>()
                .is_err()
        );
        assert!(
            "0123456789abcdef0123456789abcdef012345678"
                .parse::<ObjectId>()
                .is_err()
        );
        // Multi-byte characters must not be sliced mid-character.
        assert!(
            "é123456789abcdef0123456789abcdef0123456"
                .parse::<ObjectId>()
                .is_err()
        );
    }
}
