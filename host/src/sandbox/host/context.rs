//! What the host interfaces of one call know about their job: its folders,
//! its grants, its deadline, its log.

use crate::contain::Budget;
use crate::contain::{self, Root};
use crate::sandbox::grants::{Grants, ProcessSettings};
use crate::sandbox::isolation::Programs;
use crate::sandbox::limits::MemoryBudget;
use crate::sandbox::log::ActionLog;
use crate::sandbox::{HostMount, Limits, Mount, Sandbox, guest_paths};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// How deep components may run components (`components.run-provider`
/// from inside a component run that way, and so on).
pub(crate) const MAX_DEPTH: u32 = 2;

/// One call's context, shared by the host interfaces.
pub(crate) struct JobContext {
    /// The action, for messages.
    pub(crate) action: String,
    /// The job's folders.
    pub(crate) mounts: JobMounts,
    /// What it is granted.
    pub(crate) grants: Grants,
    /// When its time runs out.
    pub(crate) deadline: Instant,
    /// Its log.
    pub(crate) log: ActionLog,
    /// Host-wide settings for programs.
    pub(crate) settings: Arc<ProcessSettings>,
    /// For running other components.
    pub(crate) sandbox: Sandbox,
    /// Its limits (memory, outcome sizes) for components it runs.
    pub(crate) limits: Limits,
    /// The job itself, for components it runs on the same artifacts.
    pub(crate) job: Option<crate::sandbox::Job>,
    /// How many components deep this call is.
    pub(crate) depth: u32,
    /// The action's memory, shared with components it runs.
    pub(crate) memory: Arc<MemoryBudget>,
    /// What host copies may still write (time, files, bytes), shared with
    /// components it runs.
    pub(crate) copies: Arc<Mutex<Budget>>,
    /// Programs it started that are still being ended.
    pub(crate) programs: Programs,
}

impl JobContext {
    /// The budgets of a new action (not a component another one runs).
    pub(crate) fn budgets(limits: &Limits) -> (Arc<MemoryBudget>, Arc<Mutex<Budget>>) {
        let copies = Budget {
            deadline: Some(limits.call_deadline()),
            max_bytes: limits.output_bytes,
            max_entries: limits.output_files,
            bytes: 0,
            entries: 0,
        };
        (
            MemoryBudget::new(limits.memory_bytes),
            Arc::new(Mutex::new(copies)),
        )
    }
}

/// A job's folders on the host and where the guest sees them.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobMounts {
    pub(crate) scratch: Option<PathBuf>,
    pub(crate) inputs: Vec<Mount>,
    pub(crate) outputs: Vec<Mount>,
    pub(crate) paths: Vec<HostMount>,
}

/// One of the job's folders: where the guest sees it, where it is.
#[derive(Debug, Clone)]
pub(crate) struct Binding {
    /// Its guest path (`/scratch`, `/inputs/NAME`...).
    pub(crate) guest: String,
    /// Its host path.
    pub(crate) host: PathBuf,
    /// Whether the job may write to it.
    pub(crate) writable: bool,
    /// A folder a pipeline granted by path (opened only when no component
    /// of its path became a link since).
    pub(crate) granted: bool,
}

/// A guest path found inside one of the job's folders.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    /// The folder it is in.
    pub(crate) binding: Binding,
    /// Its path below that folder (`.` for the folder itself), checked by
    /// [`contain::relative`].
    pub(crate) relative: PathBuf,
}

impl Located {
    /// The folder, opened as a capability root: everything done below it
    /// stays inside it.
    pub(crate) fn root(&self) -> std::io::Result<Root> {
        if self.binding.granted {
            Root::open_exact(&self.binding.host)
        } else {
            Root::open(&self.binding.host)
        }
    }
}

impl JobMounts {
    /// Every folder of the job.
    pub(crate) fn bindings(&self) -> Vec<Binding> {
        let mut all = Vec::new();
        if let Some(scratch) = &self.scratch {
            all.push(Binding {
                guest: guest_paths::SCRATCH.to_string(),
                host: scratch.clone(),
                writable: true,
                granted: false,
            });
        }
        for m in &self.inputs {
            all.push(Binding {
                guest: format!("{}/{}", guest_paths::INPUTS, m.name),
                host: m.host_path.clone(),
                writable: false,
                granted: false,
            });
        }
        for m in &self.outputs {
            all.push(Binding {
                guest: format!("{}/{}", guest_paths::OUTPUTS, m.name),
                host: m.host_path.clone(),
                writable: true,
                granted: false,
            });
        }
        for m in &self.paths {
            all.push(Binding {
                guest: m.guest_path.clone(),
                host: m.host_path.clone(),
                writable: m.writable,
                granted: true,
            });
        }
        all
    }

    /// The folder a guest path is in, and its path below it. `..` is
    /// refused; links are judged when the path is used, through
    /// [`Located::root`].
    pub(crate) fn locate(&self, guest: &str) -> Result<Located, String> {
        for binding in self.bindings() {
            let rest = if guest == binding.guest {
                Some("")
            } else {
                guest.strip_prefix(&format!("{}/", binding.guest))
            };
            if let Some(rest) = rest {
                let relative = contain::relative(rest).map_err(|e| e.to_string())?;
                return Ok(Located { binding, relative });
            }
        }
        Err(format!(
            "`{}` is not inside the job (use /scratch, /inputs/NAME, /outputs/NAME or /paths/NAME)",
            guest.escape_debug()
        ))
    }
}
