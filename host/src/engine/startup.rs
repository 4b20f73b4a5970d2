//! Taking over a state directory: the driver lock (one process drives a
//! state directory at a time) and loading its pipelines, transitions and
//! running executions into the machine.

use super::driver::DriverError;
use super::machine::Machine;
use crate::state_dir::StateDir;
use crate::store::{Store, StoreError};
use std::path::Path;

/// Takes the driver lock, or says who holds it.
pub(super) fn take_lock(dir: &StateDir) -> Result<std::fs::File, DriverError> {
    let path = dir.lock_file();
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| DriverError::Io {
            what: format!("opening {}", path.display()),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DriverError::Busy {
            dir: dir.root.clone(),
            lock: path.display().to_string(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(DriverError::Io {
            what: format!("locking {}", path.display()),
            source,
        }),
    }
}

/// The driver locks held for changes made without a driver.
pub struct HeldLock {
    _file: std::fs::File,
    _store: Store,
}

/// Holds the driver locks of `state_dir` (its lock file, and its
/// database's when that is PostgreSQL) while the returned guard lives: no
/// driver starts meanwhile (for changes made without one).
pub fn hold_lock(state_dir: &Path) -> Result<HeldLock, DriverError> {
    let dir = StateDir::new(state_dir);
    let file = take_lock(&dir)?;
    let store = Store::open(state_dir)?;
    if !store.take_driver_lock()? {
        return Err(DriverError::Busy {
            dir: dir.root.clone(),
            lock: format!("the driver lock of {}", store.path().display()),
        });
    }
    Ok(HeldLock {
        _file: file,
        _store: store,
    })
}

/// Whether a process on this host holds `state_dir`'s lock file.
pub fn locked_here(state_dir: &Path) -> bool {
    let dir = StateDir::new(state_dir);
    match std::fs::OpenOptions::new()
        .write(true)
        .open(dir.lock_file())
    {
        Ok(file) => matches!(file.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Whether a process drives `state_dir` now: one on this host holding its
/// lock file, or, when its database is PostgreSQL, one on any host holding
/// the database's driver lock.
pub fn is_driven(state_dir: &Path) -> bool {
    let dir = StateDir::new(state_dir);
    locked_here(state_dir)
        || (dir.database_url().exists()
            && Store::open(state_dir).is_ok_and(|store| {
                // Driven: the driver lock is held and the lease is live. A
                // lapsed lease is taken over, lock or not (its holder went
                // silent); a free lock means the holder's session ended.
                store.driver_lock_held().unwrap_or(false)
                    && store
                        .lease()
                        .is_ok_and(|lease| lease.is_some_and(|l| l.remaining_ms > 0))
            }))
}

/// Loads pipelines, transitions and running executions into the machine.
pub(super) fn load(
    machine: &mut Machine,
    store: &Store,
) -> Result<Vec<(String, String)>, StoreError> {
    let current = store.current_pipelines()?;
    let names: Vec<String> = current.iter().map(|p| p.name.clone()).collect();
    for version in current {
        machine.add_version(version);
    }
    for version in store.versions_in_use()? {
        machine.add_version(version);
    }
    for pipeline in &names {
        for transition in store.transitions(pipeline)? {
            machine.restore_transition(transition);
        }
    }
    let (last_seq, _) = store.last_numbers()?;
    machine.restore_seq(last_seq);
    for (pipeline, stage, entry, execution) in store.latest_stage_entries()? {
        machine.restore_latest_entry(&pipeline, &stage, entry, &execution);
    }
    // Executions share the machine's copy of their version.
    let (active, damaged) = store.active_executions(|p, v| machine.version(p, v).cloned())?;
    for (id, reason) in &damaged {
        tracing::error!(execution = %id, %reason, "an execution cannot be read back; it is left as it is");
    }
    for execution in active {
        machine.restore(execution);
    }
    Ok(damaged)
}
