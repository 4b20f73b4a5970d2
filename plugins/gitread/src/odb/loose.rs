//! Loose objects: one zlib file per object at `objects/ab/cdef…`, holding a
//! `kind size\0` header followed by the content.

use std::fs::File;
use std::io;
use std::path::Path;

use super::zlib::{MAX_OBJECT_SIZE, ZlibStream};
use crate::objects::{Object, ObjectKind};
use crate::{Error, ObjectId};

/// The longest header git writes: `commit ` plus a 20-digit size and NUL.
const MAX_HEADER: usize = 32;

/// Reads the loose object `id` from the object folder `objects`, or `None`
/// when it has no such file.
pub(crate) fn read(objects: &Path, id: &ObjectId) -> Result<Option<Object>, Error> {
    let (dir, file) = id.loose_path_parts();
    let path = objects.join(dir).join(file);
    let handle = match File::open(&path) {
        Ok(handle) => handle,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("read", &path, e)),
    };
    let location = || format!("loose object {id} ({})", path.display());
    let corrupt = |detail: String| Error::corrupt(location(), detail);

    let mut stream = ZlibStream::new(handle, Vec::new());
    stream
        .inflate_prefix(MAX_HEADER)
        .map_err(|e| corrupt(e.detail()))?;
    let prefix = stream.inflated();
    let nul = prefix
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| corrupt("no object header".to_string()))?;
    let header = &prefix[..nul];
    let space = header
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| corrupt("bad object header".to_string()))?;
    let kind = ObjectKind::from_name(&header[..space])
        .ok_or_else(|| corrupt("unknown object kind in header".to_string()))?;
    let size = std::str::from_utf8(&header[space + 1..])
        .ok()
        .filter(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|digits| digits.parse::<usize>().ok())
        .ok_or_else(|| corrupt("bad size in header".to_string()))?;
    if size > MAX_OBJECT_SIZE {
        return Err(Error::Unsupported {
            path,
            what: format!("object {id} of {size} bytes (larger than {MAX_OBJECT_SIZE})"),
        });
    }
    let mut data = stream
        .finish(nul + 1 + size)
        .map_err(|e| corrupt(e.detail()))?;
    data.drain(..=nul);
    Ok(Some(Object { kind, data }))
}
