//! The object database: finding an object by id in packs and loose files,
//! in the repository's object folder and the folders it borrows from
//! (`objects/info/alternates`).

mod loose;
mod pack;
mod zlib;

use std::collections::VecDeque;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) use zlib::MAX_OBJECT_SIZE;

use crate::delta;
use crate::objects::{Object, ObjectKind};
use crate::{Error, ObjectId};
use pack::{Pack, Stored};

/// Git itself stops at 5 levels of alternates; so do we.
const MAX_ALTERNATE_DEPTH: usize = 5;
/// Longer chains than git ever writes (its maximum `--depth` is 4095) mean
/// a corrupt pack, possibly one whose REF_DELTAs form a cycle.
const MAX_DELTA_CHAIN: usize = 10_000;
/// REF_DELTA bases in another pack are read by a nested lookup; a cycle of
/// those across packs must end too.
const MAX_NESTED_LOOKUPS: usize = 16;
/// Delta bases kept after use: checking out a tree reads many blobs that are
/// deltas against the same few bases.
const CACHE_BYTES: usize = 32 << 20;
const CACHE_ENTRIES: usize = 256;

pub(crate) struct Odb {
    /// The repository's own object folder first, then alternates.
    dirs: Vec<ObjectDir>,
    cache: Mutex<BaseCache>,
    next_pack_key: AtomicUsize,
}

struct ObjectDir {
    path: PathBuf,
    /// Loaded on first lookup; `None` until then.
    packs: Mutex<Option<Vec<Arc<Pack>>>>,
}

impl Odb {
    /// The object database rooted at `objects` (a repository's `objects` folder).
    pub(crate) fn open(objects: &Path) -> Odb {
        let mut paths = vec![objects.to_path_buf()];
        collect_alternates(objects, 0, &mut paths);
        Odb {
            dirs: paths
                .into_iter()
                .map(|path| ObjectDir {
                    path,
                    packs: Mutex::new(None),
                })
                .collect(),
            cache: Mutex::new(BaseCache::default()),
            next_pack_key: AtomicUsize::new(0),
        }
    }

    /// The repository's own object folder, for messages.
    pub(crate) fn path(&self) -> &Path {
        &self.dirs[0].path
    }

    pub(crate) fn read(&self, id: &ObjectId) -> Result<Object, Error> {
        self.read_nested(id, 0)
    }

    fn read_nested(&self, id: &ObjectId, nesting: usize) -> Result<Object, Error> {
        if nesting > MAX_NESTED_LOOKUPS {
            return Err(Error::corrupt(
                format!("object {id}"),
                "delta bases refer to each other across packs in a cycle",
            ));
        }
        for dir in &self.dirs {
            for pack in self.packs(dir, false)? {
                if let Some(offset) = pack.index.find(id)? {
                    return self.read_packed(&pack, offset, nesting);
                }
            }
            if let Some(object) = loose::read(&dir.path, id)? {
                return Ok(object);
            }
        }
        // A `git gc` running meanwhile may have moved the object into a new
        // pack (and deleted the loose file): look at the packs once more.
        for dir in &self.dirs {
            for pack in self.packs(dir, true)? {
                if let Some(offset) = pack.index.find(id)? {
                    return self.read_packed(&pack, offset, nesting);
                }
            }
        }
        Err(Error::ObjectNotFound {
            id: *id,
            objects: self.path().to_path_buf(),
        })
    }

    /// The packs of `dir`, listing the pack folder the first time or when
    /// `rescan` asks to pick up packs added since.
    fn packs(&self, dir: &ObjectDir, rescan: bool) -> Result<Vec<Arc<Pack>>, Error> {
        let mut packs = dir.packs.lock().unwrap_or_else(|e| e.into_inner());
        if packs.is_some() && !rescan {
            return Ok(packs.clone().unwrap_or_default());
        }
        let known = packs.take().unwrap_or_default();
        let pack_dir = dir.path.join("pack");
        let listing = match fs::read_dir(&pack_dir) {
            Ok(listing) => listing,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                *packs = Some(known.clone());
                return Ok(known);
            }
            Err(e) => return Err(Error::io("list", &pack_dir, e)),
        };
        let mut index_paths = Vec::new();
        for entry in listing {
            let path = entry.map_err(|e| Error::io("list", &pack_dir, e))?.path();
            // An index without its pack is left over from an interrupted
            // repack; git ignores it too.
            if path.extension().is_some_and(|ext| ext == "idx")
                && path.with_extension("pack").is_file()
            {
                index_paths.push(path);
            }
        }
        index_paths.sort();
        let mut found = Vec::with_capacity(index_paths.len());
        for index_path in index_paths {
            let pack_path = index_path.with_extension("pack");
            match known.iter().find(|pack| pack.path() == pack_path) {
                Some(pack) => found.push(Arc::clone(pack)),
                None => {
                    let key = self.next_pack_key.fetch_add(1, Ordering::Relaxed);
                    found.push(Arc::new(Pack::open(&index_path, key)?));
                }
            }
        }
        *packs = Some(found.clone());
        Ok(found)
    }

    /// Reads a pack entry, following its delta chain down to a whole object
    /// (or a cached base) and applying the deltas back up.
    fn read_packed(&self, pack: &Pack, offset: u64, nesting: usize) -> Result<Object, Error> {
        if let Some((kind, data)) = self.cached(pack.key, offset) {
            return Ok(Object {
                kind,
                data: data.as_ref().clone(),
            });
        }
        // Deltas from the requested entry down, each with its own offset.
        let mut deltas: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut at = offset;
        // `base_offset` is set when the base came from this pack and is not
        // cached yet, so it can be cached once it has served as a base.
        let (kind, mut base, mut base_offset) = loop {
            if !deltas.is_empty()
                && let Some((kind, data)) = self.cached(pack.key, at)
            {
                break (kind, data, None);
            }
            if deltas.len() > MAX_DELTA_CHAIN {
                return Err(Error::corrupt(
                    pack.location(offset),
                    format!("delta chain longer than {MAX_DELTA_CHAIN}"),
                ));
            }
            let entry = pack.read_entry(at)?;
            match entry.stored {
                Stored::Whole(kind) => break (kind, Arc::new(entry.data), Some(at)),
                Stored::OfsDelta { base_offset } => {
                    deltas.push((at, entry.data));
                    at = base_offset;
                }
                Stored::RefDelta { base } => {
                    deltas.push((at, entry.data));
                    match pack.index.find(&base)? {
                        Some(base_at) => at = base_at,
                        None => {
                            let object = self.read_nested(&base, nesting + 1)?;
                            break (object.kind, Arc::new(object.data), None);
                        }
                    }
                }
            }
        };
        while let Some((at, delta)) = deltas.pop() {
            if let Some(base_at) = base_offset {
                self.cache(pack.key, base_at, kind, Arc::clone(&base));
            }
            let result = delta::apply(&base, &delta)
                .map_err(|why| Error::corrupt(pack.location(at), why))?;
            base = Arc::new(result);
            base_offset = Some(at);
        }
        Ok(Object {
            kind,
            data: Arc::try_unwrap(base).unwrap_or_else(|shared| shared.as_ref().clone()),
        })
    }

    fn cached(&self, pack: usize, offset: u64) -> Option<(ObjectKind, Arc<Vec<u8>>)> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(pack, offset)
    }

    fn cache(&self, pack: usize, offset: u64, kind: ObjectKind, data: Arc<Vec<u8>>) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pack, offset, kind, data);
    }
}

/// Appends the object folders listed in `objects/info/alternates`, and
/// theirs, skipping ones already listed and ones that do not exist.
fn collect_alternates(objects: &Path, depth: usize, paths: &mut Vec<PathBuf>) {
    if depth >= MAX_ALTERNATE_DEPTH {
        return;
    }
    let Ok(text) = fs::read_to_string(objects.join("info").join("alternates")) else {
        return;
    };
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix('"')
            .and_then(|quoted| quoted.strip_suffix('"'))
            .unwrap_or(line);
        let path = objects.join(line);
        // wasi has no `canonicalize`; the joined path works there as it is.
        let path = path.canonicalize().unwrap_or(path);
        if !path.is_dir() || paths.iter().any(|known| same_dir(known, &path)) {
            continue;
        }
        paths.push(path.clone());
        collect_alternates(&path, depth + 1, paths);
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b
        || match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
}

/// Recently used delta bases, least recently used first.
#[derive(Default)]
struct BaseCache {
    entries: VecDeque<CachedBase>,
    bytes: usize,
}

struct CachedBase {
    pack: usize,
    offset: u64,
    kind: ObjectKind,
    data: Arc<Vec<u8>>,
}

impl BaseCache {
    fn get(&mut self, pack: usize, offset: u64) -> Option<(ObjectKind, Arc<Vec<u8>>)> {
        let position = self
            .entries
            .iter()
            .position(|entry| entry.pack == pack && entry.offset == offset)?;
        let entry = self.entries.remove(position)?;
        let found = (entry.kind, Arc::clone(&entry.data));
        self.entries.push_back(entry);
        Some(found)
    }

    fn insert(&mut self, pack: usize, offset: u64, kind: ObjectKind, data: Arc<Vec<u8>>) {
        if data.len() > CACHE_BYTES / 4
            || self
                .entries
                .iter()
                .any(|entry| entry.pack == pack && entry.offset == offset)
        {
            return;
        }
        self.bytes += data.len();
        self.entries.push_back(CachedBase {
            pack,
            offset,
            kind,
            data,
        });
        while self.bytes > CACHE_BYTES || self.entries.len() > CACHE_ENTRIES {
            match self.entries.pop_front() {
                Some(evicted) => self.bytes -= evicted.data.len(),
                None => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_evicts_least_recently_used() {
        let mut cache = BaseCache::default();
        let blob = |n: usize| Arc::new(vec![0u8; n]);
        for offset in 0..CACHE_ENTRIES as u64 {
            cache.insert(0, offset, ObjectKind::Blob, blob(1));
        }
        // Touch offset 0 so offset 1 is the oldest.
        assert!(cache.get(0, 0).is_some());
        cache.insert(0, 9999, ObjectKind::Blob, blob(1));
        assert!(cache.get(0, 0).is_some());
        assert!(cache.get(0, 1).is_none());
        assert!(cache.get(1, 0).is_none());

        cache.insert(0, 10_000, ObjectKind::Blob, blob(CACHE_BYTES / 4));
        cache.insert(0, 10_001, ObjectKind::Blob, blob(CACHE_BYTES / 4));
        cache.insert(0, 10_002, ObjectKind::Blob, blob(CACHE_BYTES / 4));
        cache.insert(0, 10_003, ObjectKind::Blob, blob(CACHE_BYTES / 4));
        cache.insert(0, 10_004, ObjectKind::Blob, blob(CACHE_BYTES / 4));
        assert!(cache.bytes <= CACHE_BYTES);
        assert!(cache.get(0, 10_004).is_some());
        assert!(cache.get(0, 10_000).is_none());
        // Too large to be worth keeping.
        cache.insert(0, 10_005, ObjectKind::Blob, blob(CACHE_BYTES / 4 + 1));
        assert!(cache.get(0, 10_005).is_none());
    }
}
