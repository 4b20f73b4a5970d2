//! The component store of a state directory: its `components/` folder, and
//! when its database is PostgreSQL (shared with other hosts) the database
//! too, so a pipeline applied on one host runs on any.

use crate::component_store::{ComponentStore, SharedComponents};
use crate::state_dir::StateDir;
use crate::store::Store;
use std::path::PathBuf;

/// Components kept in the database of a state directory.
struct InDatabase {
    state_dir: PathBuf,
}

fn io(e: crate::store::StoreError) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl SharedComponents for InDatabase {
    fn put(&self, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
        Store::open(&self.state_dir)
            .and_then(|mut store| store.put_component(sha256, bytes))
            .map_err(io)
    }

    fn get(&self, sha256: &str) -> std::io::Result<Option<Vec<u8>>> {
        Store::open(&self.state_dir)
            .and_then(|store| store.component(sha256))
            .map_err(io)
    }
}

/// The component store of `dir`.
pub fn component_store(dir: &StateDir) -> std::io::Result<ComponentStore> {
    let store = ComponentStore::open(&dir.components())?;
    Ok(if dir.database_url().exists() {
        store.with_shared(std::sync::Arc::new(InDatabase {
            state_dir: dir.root.clone(),
        }))
    } else {
        store
    })
}
