//! Inflating the zlib streams that loose objects and pack entries are stored as.
//!
//! The stream is read in chunks from a file, so a large pack never has to be
//! in memory; only the inflated object is. The output buffer grows as data
//! arrives instead of trusting the size a (possibly corrupt) header claims.

use std::io::{self, Read};

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_COMPUTE_ADLER32, TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_PARSE_ZLIB_HEADER,
    TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{DecompressorOxide, decompress};

/// Objects larger than this are refused rather than risking an allocation
/// failure, which aborts a wasm component instead of returning an error.
pub(crate) const MAX_OBJECT_SIZE: usize = 1 << 31;

/// Up to this size the whole output buffer is allocated at once.
const EAGER_ALLOCATION: usize = 16 << 20;

const CHUNK: usize = 64 << 10;

/// Why a stream did not inflate to what was expected.
#[derive(Debug)]
pub(crate) enum InflateError {
    Io(io::Error),
    /// The input ended before the zlib stream did.
    Truncated,
    /// The stream is not valid zlib (or its checksum does not match).
    Invalid(&'static str),
    /// The stream inflated to a different size than the header said.
    WrongSize {
        expected: usize,
        actual: String,
    },
}

impl InflateError {
    pub(crate) fn detail(&self) -> String {
        match self {
            InflateError::Io(e) => format!("read failed: {e}"),
            InflateError::Truncated => "zlib stream is truncated".to_string(),
            InflateError::Invalid(why) => format!("zlib stream is invalid: {why}"),
            InflateError::WrongSize { expected, actual } => {
                format!("inflates to {actual} bytes, header says {expected}")
            }
        }
    }
}

/// One zlib stream being inflated from `source`, after any bytes already
/// read into `input`.
pub(crate) struct ZlibStream<R> {
    decompressor: Box<DecompressorOxide>,
    source: R,
    input: Vec<u8>,
    pos: usize,
    source_done: bool,
    /// Inflated bytes are `out[..produced]`; the rest is room to fill.
    out: Vec<u8>,
    produced: usize,
    finished: bool,
}

impl<R: Read> ZlibStream<R> {
    /// A stream whose first bytes are `already_read` and the rest in `source`.
    pub(crate) fn new(source: R, already_read: Vec<u8>) -> ZlibStream<R> {
        ZlibStream {
            decompressor: Box::default(),
            source,
            input: already_read,
            pos: 0,
            source_done: false,
            out: Vec::new(),
            produced: 0,
            finished: false,
        }
    }

    /// The bytes inflated so far.
    pub(crate) fn inflated(&self) -> &[u8] {
        &self.out[..self.produced]
    }

    /// Inflates at least `len` bytes, or fewer if the stream ends first.
    /// Used to read a loose object's header before its size is known.
    pub(crate) fn inflate_prefix(&mut self, len: usize) -> Result<(), InflateError> {
        if self.out.len() < len {
            self.out.resize(len, 0);
        }
        while !self.finished && self.produced < len {
            self.step()?;
        }
        Ok(())
    }

    /// Inflates the rest of the stream, which must come to exactly `total`
    /// bytes of output, and returns them.
    pub(crate) fn finish(mut self, total: usize) -> Result<Vec<u8>, InflateError> {
        let wrong_size = |actual: String| InflateError::WrongSize {
            expected: total,
            actual,
        };
        // One byte of room past `total` lets a too-long stream show itself.
        let limit = total.saturating_add(1);
        while !self.finished {
            if self.produced == self.out.len() {
                if self.out.len() >= limit {
                    return Err(wrong_size(format!("more than {total}")));
                }
                let grown = if limit <= EAGER_ALLOCATION {
                    limit
                } else {
                    self.out
                        .len()
                        .saturating_mul(2)
                        .clamp(EAGER_ALLOCATION, limit)
                };
                self.out.resize(grown, 0);
            }
            self.step()?;
        }
        if self.produced != total {
            return Err(wrong_size(self.produced.to_string()));
        }
        self.out.truncate(total);
        Ok(self.out)
    }

    /// One call of the decompressor, reading more input first if needed.
    fn step(&mut self) -> Result<(), InflateError> {
        if self.pos == self.input.len() && !self.source_done {
            self.refill()?;
        }
        let mut flags = TINFL_FLAG_PARSE_ZLIB_HEADER
            | TINFL_FLAG_COMPUTE_ADLER32
            | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        if !self.source_done {
            flags |= TINFL_FLAG_HAS_MORE_INPUT;
        }
        let (status, consumed, written) = decompress(
            &mut self.decompressor,
            &self.input[self.pos..],
            &mut self.out,
            self.produced,
            flags,
        );
        self.pos = (self.pos + consumed).min(self.input.len());
        self.produced = (self.produced + written).min(self.out.len());
        match status {
            TINFLStatus::Done => {
                self.finished = true;
                Ok(())
            }
            // Only expected with the output buffer full; anything else
            // would have the caller call again forever.
            TINFLStatus::HasMoreOutput if self.produced < self.out.len() && written == 0 => {
                Err(InflateError::Invalid("decoder made no progress"))
            }
            TINFLStatus::HasMoreOutput => Ok(()),
            TINFLStatus::NeedsMoreInput => {
                if self.pos < self.input.len() && consumed == 0 && written == 0 {
                    // Unread input and no progress: never spin on it.
                    Err(InflateError::Invalid("decoder made no progress"))
                } else {
                    Ok(())
                }
            }
            TINFLStatus::FailedCannotMakeProgress => Err(InflateError::Truncated),
            TINFLStatus::Adler32Mismatch => Err(InflateError::Invalid("checksum mismatch")),
            _ => Err(InflateError::Invalid("bad deflate data")),
        }
    }

    fn refill(&mut self) -> Result<(), InflateError> {
        self.input.clear();
        self.input.resize(CHUNK, 0);
        self.pos = 0;
        let read = loop {
            match self.source.read(&mut self.input) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(InflateError::Io(e)),
            }
        };
        self.input.truncate(read);
        if read == 0 {
            self.source_done = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniz_oxide::deflate::compress_to_vec_zlib;

    fn inflate(compressed: &[u8], split: usize, total: usize) -> Result<Vec<u8>, InflateError> {
        let split = split.min(compressed.len());
        let stream = ZlibStream::new(&compressed[split..], compressed[..split].to_vec());
        stream.finish(total)
    }

    #[test]
    fn round_trips_across_chunk_boundaries() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let compressed = compress_to_vec_zlib(&data, 6);
        for split in [0, 1, 2, 100, compressed.len()] {
            assert_eq!(inflate(&compressed, split, data.len()).unwrap(), data);
        }
    }

    #[test]
    fn empty_stream() {
        let compressed = compress_to_vec_zlib(b"", 6);
        assert_eq!(inflate(&compressed, 0, 0).unwrap(), b"");
    }

    #[test]
    fn wrong_sizes_truncation_and_damage_are_errors() {
        let data = b"hello hello hello world".repeat(10);
        let compressed = compress_to_vec_zlib(&data, 6);
        assert!(matches!(
            inflate(&compressed, 0, data.len() - 1),
            Err(InflateError::WrongSize { .. })
        ));
        assert!(matches!(
            inflate(&compressed, 0, data.len() + 1),
            Err(InflateError::WrongSize { .. })
        ));
        for cut in 0..compressed.len() {
            assert!(
                inflate(&compressed[..cut], 0, data.len()).is_err(),
                "cut {cut}"
            );
        }
        let mut damaged = compressed.clone();
        let last = damaged.len() - 1;
        damaged[last] ^= 1;
        assert!(matches!(
            inflate(&damaged, 0, data.len()),
            Err(InflateError::Invalid(_))
        ));
    }
}
