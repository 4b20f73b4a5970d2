//! Pack files: `objects/pack/pack-*.pack` with their `.idx` index.
//!
//! The index (read whole: it is small next to its pack) maps ids to offsets.
//! The pack is read entry by entry with seek and read, so a pack of gigabytes
//! costs only the entries a checkout needs.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::zlib::{MAX_OBJECT_SIZE, ZlibStream};
use crate::objects::ObjectKind;
use crate::{Error, ObjectId};

/// Length of the fan-out table: one count per first byte of an id.
const FANOUT_BYTES: usize = 256 * 4;
/// Pack and index files both end with one or two 20-byte checksums.
const TRAILER: usize = 20;
/// The first read of an entry: enough for the header and, for most commits,
/// trees and deltas, the whole compressed data in one read.
const FIRST_READ: usize = 4096;

/// A `.idx` file, version 1 or 2.
pub(crate) struct PackIndex {
    path: PathBuf,
    data: Vec<u8>,
    count: usize,
    v2: bool,
}

impl PackIndex {
    pub(crate) fn load(path: &Path) -> Result<PackIndex, Error> {
        let data = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
        let corrupt =
            |detail: &str| Error::corrupt(format!("pack index {}", path.display()), detail);
        let v2 = data.starts_with(b"\xfftOc");
        if v2 {
            let version = data.get(4..8).map(be32).unwrap_or(0);
            if version != 2 {
                return Err(Error::Unsupported {
                    path: path.to_path_buf(),
                    what: format!("pack index version {version}"),
                });
            }
        }
        let fanout_start = if v2 { 8 } else { 0 };
        let fanout = data
            .get(fanout_start..fanout_start + FANOUT_BYTES)
            .ok_or_else(|| corrupt("too short for its fan-out table"))?;
        let mut previous = 0;
        for count in fanout.chunks_exact(4).map(be32) {
            if count < previous {
                return Err(corrupt("fan-out table is not sorted"));
            }
            previous = count;
        }
        let count = previous as usize;
        let tables = fanout_start + FANOUT_BYTES;
        let fixed = if v2 {
            // ids, CRCs and 4-byte offsets, then the large-offset table, then two checksums.
            count
                .checked_mul(28)
                .and_then(|n| n.checked_add(tables + 2 * TRAILER))
        } else {
            // (offset, id) pairs, then two checksums.
            count
                .checked_mul(24)
                .and_then(|n| n.checked_add(tables + 2 * TRAILER))
        }
        .ok_or_else(|| corrupt("object count overflows"))?;
        let large_table = data.len().checked_sub(fixed);
        let fits = match large_table {
            Some(extra) if v2 => extra % 8 == 0,
            Some(extra) => extra == 0,
            None => false,
        };
        if !fits {
            return Err(corrupt("size does not match its object count"));
        }
        Ok(PackIndex {
            path: path.to_path_buf(),
            data,
            count,
            v2,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.count
    }

    fn fanout(&self, first_byte: usize) -> usize {
        let start = if self.v2 { 8 } else { 0 } + first_byte * 4;
        be32(&self.data[start..start + 4]) as usize
    }

    fn id_at(&self, i: usize) -> &[u8] {
        let start = if self.v2 {
            8 + FANOUT_BYTES + i * 20
        } else {
            FANOUT_BYTES + i * 24 + 4
        };
        &self.data[start..start + 20]
    }

    fn offset_at(&self, i: usize) -> Result<u64, Error> {
        if !self.v2 {
            let start = FANOUT_BYTES + i * 24;
            return Ok(u64::from(be32(&self.data[start..start + 4])));
        }
        let offsets = 8 + FANOUT_BYTES + self.count * 24;
        let small = be32(&self.data[offsets + i * 4..offsets + i * 4 + 4]);
        if small & 0x8000_0000 == 0 {
            return Ok(u64::from(small));
        }
        // Packs over 2 GiB keep the real offset in the 8-byte table.
        let end = self.data.len() - 2 * TRAILER;
        let large = ((small & 0x7fff_ffff) as usize)
            .checked_mul(8)
            .and_then(|n| n.checked_add(offsets + self.count * 4))
            .filter(|&start| start.checked_add(8).is_some_and(|stop| stop <= end));
        match large.and_then(|start| self.data.get(start..start + 8)) {
            Some(bytes) => Ok(u64::from_be_bytes(bytes.try_into().unwrap_or_default())),
            None => Err(Error::corrupt(
                format!("pack index {}", self.path.display()),
                format!("large offset {} is out of range", small & 0x7fff_ffff),
            )),
        }
    }

    /// The pack offset of `id`, by binary search within its fan-out bucket.
    pub(crate) fn find(&self, id: &ObjectId) -> Result<Option<u64>, Error> {
        let first = usize::from(id.as_bytes()[0]);
        let mut low = if first == 0 {
            0
        } else {
            self.fanout(first - 1)
        };
        let mut high = self.fanout(first);
        let wanted: &[u8] = id.as_bytes();
        while low < high {
            let mid = low + (high - low) / 2;
            match self.id_at(mid).cmp(wanted) {
                std::cmp::Ordering::Less => low = mid + 1,
                std::cmp::Ordering::Greater => high = mid,
                std::cmp::Ordering::Equal => return self.offset_at(mid).map(Some),
            }
        }
        Ok(None)
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes.try_into().unwrap_or_default())
}

/// How a pack entry is stored.
pub(crate) enum Stored {
    /// The object itself.
    Whole(ObjectKind),
    /// A delta against the entry at an earlier offset of the same pack.
    OfsDelta { base_offset: u64 },
    /// A delta against an object named by id (usually in the same pack).
    RefDelta { base: ObjectId },
}

/// One pack entry, inflated: an object or a delta.
pub(crate) struct Entry {
    pub(crate) stored: Stored,
    pub(crate) data: Vec<u8>,
}

/// An open pack: the index in memory, the pack file opened on first use.
pub(crate) struct Pack {
    /// Tells packs apart in the delta base cache.
    pub(crate) key: usize,
    pub(crate) index: PackIndex,
    path: PathBuf,
    file: Mutex<Option<(File, u64)>>,
}

impl Pack {
    /// Loads the index at `idx_path`; the pack next to it is checked when
    /// first read.
    pub(crate) fn open(idx_path: &Path, key: usize) -> Result<Pack, Error> {
        Ok(Pack {
            key,
            index: PackIndex::load(idx_path)?,
            path: idx_path.with_extension("pack"),
            file: Mutex::new(None),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn location(&self, offset: u64) -> String {
        format!("pack {} at offset {offset}", self.path.display())
    }

    fn open_file(&self) -> Result<(File, u64), Error> {
        let mut file = File::open(&self.path).map_err(|e| Error::io("open", &self.path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("read", &self.path, e))?
            .len();
        let mut header = [0u8; 12];
        file.read_exact(&mut header).map_err(|_| {
            Error::corrupt(format!("pack {}", self.path.display()), "no pack header")
        })?;
        let corrupt =
            |detail: String| Error::corrupt(format!("pack {}", self.path.display()), detail);
        if &header[..4] != b"PACK" {
            return Err(corrupt("does not start with PACK".to_string()));
        }
        let version = be32(&header[4..8]);
        if version != 2 && version != 3 {
            return Err(Error::Unsupported {
                path: self.path.clone(),
                what: format!("pack version {version}"),
            });
        }
        let count = be32(&header[8..12]) as usize;
        if count != self.index.len() {
            return Err(corrupt(format!(
                "holds {count} objects but its index lists {}",
                self.index.len()
            )));
        }
        Ok((file, len))
    }

    /// Reads and inflates the entry at `offset`.
    pub(crate) fn read_entry(&self, offset: u64) -> Result<Entry, Error> {
        let corrupt = |detail: String| Error::corrupt(self.location(offset), detail);
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.open_file()?);
        }
        let Some((file, len)) = guard.as_mut() else {
            return Err(corrupt("pack file is not open".to_string()));
        };
        let len = *len;
        let data_end = len.saturating_sub(TRAILER as u64);
        if offset < 12 || offset >= data_end {
            return Err(corrupt(format!("offset is outside the pack ({len} bytes)")));
        }
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| Error::io("read", &self.path, e))?;
        let available = data_end - offset;
        let mut first = vec![0u8; (FIRST_READ as u64).min(available) as usize];
        file.read_exact(&mut first)
            .map_err(|e| Error::io("read", &self.path, e))?;

        let (kind_bits, size, mut pos) =
            entry_header(&first).ok_or_else(|| corrupt("bad entry header".to_string()))?;
        let stored = match kind_bits {
            1 => Stored::Whole(ObjectKind::Commit),
            2 => Stored::Whole(ObjectKind::Tree),
            3 => Stored::Whole(ObjectKind::Blob),
            4 => Stored::Whole(ObjectKind::Tag),
            6 => {
                let (distance, used) = ofs_distance(&first[pos..])
                    .ok_or_else(|| corrupt("bad delta base offset".to_string()))?;
                pos += used;
                let base_offset = offset
                    .checked_sub(distance)
                    .filter(|&base| base >= 12 && distance > 0)
                    .ok_or_else(|| corrupt("delta base offset is outside the pack".to_string()))?;
                Stored::OfsDelta { base_offset }
            }
            7 => {
                let base = ObjectId::from_slice(&first[pos..])
                    .ok_or_else(|| corrupt("truncated delta base id".to_string()))?;
                pos += ObjectId::LEN;
                Stored::RefDelta { base }
            }
            other => return Err(corrupt(format!("unknown entry type {other}"))),
        };
        let size = usize::try_from(size)
            .ok()
            .filter(|&size| size <= MAX_OBJECT_SIZE)
            .ok_or_else(|| Error::Unsupported {
                path: self.path.clone(),
                what: format!(
                    "entry at offset {offset} of {size} bytes (larger than {MAX_OBJECT_SIZE})"
                ),
            })?;
        let rest = available - first.len() as u64;
        first.drain(..pos);
        let stream = ZlibStream::new(Read::take(&mut *file, rest), first);
        let data = stream.finish(size).map_err(|e| corrupt(e.detail()))?;
        Ok(Entry { stored, data })
    }
}

/// Decodes an entry's type and inflated size: 3 type bits and 4 size bits in
/// the first byte, then 7 more size bits per byte while the high bit is set.
fn entry_header(bytes: &[u8]) -> Option<(u8, u64, usize)> {
    let first = *bytes.first()?;
    let kind = (first >> 4) & 0x7;
    let mut size = u64::from(first & 0x0f);
    let mut shift = 4;
    let mut pos = 1;
    let mut byte = first;
    while byte & 0x80 != 0 {
        byte = *bytes.get(pos)?;
        pos += 1;
        if shift > 57 {
            return None;
        }
        size |= u64::from(byte & 0x7f) << shift;
        shift += 7;
    }
    Some((kind, size, pos))
}

/// Decodes an OFS_DELTA's distance back to its base. Unlike sizes, this is
/// big-endian and adds one per continuation byte so no value has two encodings.
fn ofs_distance(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut byte = *bytes.first()?;
    let mut distance = u64::from(byte & 0x7f);
    let mut pos = 1;
    while byte & 0x80 != 0 {
        byte = *bytes.get(pos)?;
        pos += 1;
        distance = distance.checked_add(1)?.checked_mul(128)? | u64::from(byte & 0x7f);
    }
    Some((distance, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_headers() {
        // Blob of 5 bytes: type 3, size in one byte.
        assert_eq!(entry_header(&[0x35]), Some((3, 5, 1)));
        // Size 0x123 = 0b1_0010_0011: low 4 bits 3, then 0x12.
        assert_eq!(entry_header(&[0x93, 0x12]), Some((1, 0x123, 2)));
        assert_eq!(entry_header(&[0x93]), None);
        assert_eq!(entry_header(&[0xff; 20]), None);
    }

    #[test]
    fn ofs_distances() {
        assert_eq!(ofs_distance(&[0x05]), Some((5, 1)));
        // Two bytes: ((1 + 1) << 7) | 0 = 256.
        assert_eq!(ofs_distance(&[0x81, 0x00]), Some((256, 2)));
        assert_eq!(ofs_distance(&[0x81]), None);
        assert_eq!(ofs_distance(&[0xff; 20]), None);
    }
}
