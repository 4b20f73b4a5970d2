//! What the host interfaces of one call know about their job: its folders,
//! its grants, its deadline, its log.

use crate::sandbox::grants::{Grants, ProcessSettings};
use crate::sandbox::log::ActionLog;
use crate::sandbox::{HostMount, Limits, Mount, Sandbox, guest_paths};
use std::path::PathBuf;
use std::sync::Arc;
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
}

/// A job's folders on the host and where the guest sees them.
#[derive(Debug, Clone, Default)]
pub(crate) struct JobMounts {
    pub(crate) scratch: Option<PathBuf>,
    pub(crate) inputs: Vec<Mount>,
    pub(crate) outputs: Vec<Mount>,
    pub(crate) paths: Vec<HostMount>,
}

impl JobMounts {
    /// Each folder: guest path, host path, writable.
    pub(crate) fn bindings(&self) -> Vec<(String, PathBuf, bool)> {
        let mut all = Vec::new();
        if let Some(scratch) = &self.scratch {
            all.push((guest_paths::SCRATCH.to_string(), scratch.clone(), true));
        }
        for m in &self.inputs {
            all.push((
                format!("{}/{}", guest_paths::INPUTS, m.name),
                m.host_path.clone(),
                false,
            ));
        }
        for m in &self.outputs {
            all.push((
                format!("{}/{}", guest_paths::OUTPUTS, m.name),
                m.host_path.clone(),
                true,
            ));
        }
        for m in &self.paths {
            all.push((m.guest_path.clone(), m.host_path.clone(), m.writable));
        }
        all
    }

    /// The host path of a guest path, and whether its folder is writable.
    pub(crate) fn to_host_writable(&self, guest: &str) -> Option<(PathBuf, bool)> {
        for (root, host, writable) in self.bindings() {
            if guest == root {
                return Some((host, writable));
            }
            if let Some(rest) = guest.strip_prefix(&format!("{root}/")) {
                return super::process::join_below(&host, rest).map(|p| (p, writable));
            }
        }
        None
    }

    /// The host path of a guest path inside one of the job's folders.
    pub(crate) fn to_host(&self, guest: &str) -> Option<PathBuf> {
        for (root, host, _) in self.bindings() {
            if guest == root {
                return Some(host);
            }
            if let Some(rest) = guest.strip_prefix(&format!("{root}/")) {
                return super::process::join_below(&host, rest);
            }
        }
        None
    }
}
