//! Git's delta format: a pack entry stored as instructions to rebuild an
//! object from a base object.
//!
//! The delta starts with the base's size and the result's size (each a
//! little-endian base-128 number), then a list of instructions: copy a range
//! of the base (high bit set) or insert the next 1–127 literal bytes.

/// Rebuilds the object that `delta` describes from `base`. Returns a short
/// reason when the delta does not fit the base or is malformed.
pub(crate) fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut pos = 0;
    let base_size = read_size(delta, &mut pos).ok_or("truncated delta header")?;
    if base_size != base.len() as u64 {
        return Err("delta base size does not match the base object");
    }
    let result_size = read_size(delta, &mut pos).ok_or("truncated delta header")?;
    let result_size = usize::try_from(result_size)
        .ok()
        .filter(|&size| size <= crate::odb::MAX_OBJECT_SIZE)
        .ok_or("delta result is too large")?;
    // Every instruction byte yields at most 64 KiB, so a corrupt size cannot
    // make this reserve more than the delta could ever produce.
    let mut out = Vec::with_capacity(result_size.min(delta.len().saturating_mul(0x10000)));

    while pos < delta.len() {
        let op = delta[pos];
        pos += 1;
        if op & 0x80 != 0 {
            // Copy: bits 0–3 say which offset bytes follow, bits 4–6 which size bytes.
            let mut offset = 0usize;
            for i in 0..4 {
                if op & (1 << i) != 0 {
                    let byte = *delta.get(pos).ok_or("truncated copy instruction")?;
                    pos += 1;
                    offset |= usize::from(byte) << (8 * i);
                }
            }
            let mut size = 0usize;
            for i in 0..3 {
                if op & (0x10 << i) != 0 {
                    let byte = *delta.get(pos).ok_or("truncated copy instruction")?;
                    pos += 1;
                    size |= usize::from(byte) << (8 * i);
                }
            }
            if size == 0 {
                size = 0x10000;
            }
            let end = offset
                .checked_add(size)
                .filter(|&end| end <= base.len())
                .ok_or("delta copies past the end of its base")?;
            if out.len() + size > result_size {
                return Err("delta result is longer than its header says");
            }
            out.extend_from_slice(&base[offset..end]);
        } else if op != 0 {
            let size = usize::from(op);
            let literal = delta
                .get(pos..pos + size)
                .ok_or("truncated insert instruction")?;
            pos += size;
            if out.len() + size > result_size {
                return Err("delta result is longer than its header says");
            }
            out.extend_from_slice(literal);
        } else {
            return Err("reserved delta instruction 0");
        }
    }
    if out.len() != result_size {
        return Err("delta result is shorter than its header says");
    }
    Ok(out)
}

/// A little-endian base-128 size, as used in delta headers.
fn read_size(delta: &[u8], pos: &mut usize) -> Option<u64> {
    let mut size = 0u64;
    let mut shift = 0;
    loop {
        let byte = *delta.get(*pos)?;
        *pos += 1;
        if shift > 63 {
            return None;
        }
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Some(size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_and_insert() {
        let base = b"hello, world";
        let mut delta = vec![12, 13];
        delta.extend_from_slice(&[0x80 | 0x10, 5]); // copy offset 0 size 5
        delta.extend_from_slice(&[1, b'!']); // insert "!"
        delta.extend_from_slice(&[0x80 | 0x01 | 0x10, 5, 7]); // copy offset 5 size 7
        assert_eq!(apply(base, &delta).unwrap(), b"hello!, world");
    }

    #[test]
    fn size_zero_means_64k() {
        let base = vec![7u8; 0x10000];
        let delta = [0x80, 0x80, 0x04, 0x80, 0x80, 0x04, 0x80];
        assert_eq!(apply(&base, &delta).unwrap(), base);
    }

    #[test]
    fn malformed_deltas_are_errors() {
        let base = b"abc";
        assert!(apply(base, &[]).is_err());
        assert!(apply(base, &[4, 3, 0x90, 3]).is_err()); // wrong base size
        assert!(apply(base, &[3, 3, 0x91, 1, 3]).is_err()); // copy past end
        assert!(apply(base, &[3, 3, 0]).is_err()); // reserved op
        assert!(apply(base, &[3, 3, 5, b'a']).is_err()); // truncated insert
        assert!(apply(base, &[3, 2, 0x90, 3]).is_err()); // longer than declared
        assert!(apply(base, &[3, 4, 0x90, 3]).is_err()); // shorter than declared
        assert!(
            apply(
                base,
                &[
                    3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1
                ]
            )
            .is_err()
        );
    }
}
