//! The limits every job runs under: time, memory, log size and outcome size.
//! Each has a default here and can be set per action.

use std::time::{Duration, Instant};

/// One mebibyte.
pub const MIB: u64 = 1 << 20;

/// Limits for one job. [`Limits::default`] holds the host-wide defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time an action may run, across all calls of an
    /// in-progress action (default 1 hour).
    pub timeout: Duration,
    /// When the action's time runs out, for call-backs of an action that
    /// started earlier. `None`: `timeout` from the start of this call.
    pub deadline: Option<Instant>,
    /// Linear memory an instance may use, all memories together (default 1 GiB).
    pub memory_bytes: u64,
    /// Bytes of log an action may write before the log is cut off with a
    /// marker (default 10 MiB).
    pub log_bytes: u64,
    /// Size limits on what a provider returns.
    pub outcome: OutcomeLimits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60 * 60),
            deadline: None,
            memory_bytes: 1024 * MIB,
            log_bytes: 10 * MIB,
            outcome: OutcomeLimits::default(),
        }
    }
}

impl Limits {
    /// When this call must end.
    pub fn call_deadline(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + self.timeout)
    }
}

/// The largest memory a wasm32 instance can address; the most a per-action
/// memory limit can be.
pub const MAX_MEMORY_BYTES: u64 = 4096 * MIB;

/// Size limits on an outcome. Past them the job fails with an error that
/// names the limit; nothing oversized is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutcomeLimits {
    /// Bytes of summary text (success or in-progress).
    pub summary_bytes: usize,
    /// Number of output variables.
    pub variables: usize,
    /// Bytes of output variables, names and values together.
    pub variables_bytes: usize,
    /// Bytes of a continuation token.
    pub continuation_bytes: usize,
    /// Bytes of a failure message; longer messages are cut, not rejected,
    /// so that the failure itself is never lost.
    pub failure_message_bytes: usize,
}

impl Default for OutcomeLimits {
    fn default() -> Self {
        OutcomeLimits {
            summary_bytes: 2048,
            variables: 100,
            variables_bytes: 100 * 1024,
            continuation_bytes: 16 * 1024,
            failure_message_bytes: 4096,
        }
    }
}

/// Enforces [`Limits::memory_bytes`] on one store and remembers the growth
/// it refused, so the failure can name the limit instead of reporting the
/// allocator's abort that follows.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    in_use: u64,
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            in_use: 0,
            refused: None,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.in_use - current as u64 + desired as u64;
        if after > self.limit {
            self.refused = Some(after);
            return Ok(false);
        }
        self.in_use = after;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far past any real
        // provider and keeps a hostile one from using host memory this way.
        Ok(desired <= 1_000_000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_limiter_counts_all_memories_and_remembers_refusals() {
        use wasmtime::ResourceLimiter;
        let mut limiter = MemoryLimiter::new(10 * MIB);
        assert!(limiter.memory_growing(0, 6 * MIB as usize, None).unwrap());
        assert!(!limiter.memory_growing(0, 6 * MIB as usize, None).unwrap());
        assert_eq!(limiter.refused, Some(12 * MIB));
        assert!(
            limiter
                .memory_growing(6 * MIB as usize, 8 * MIB as usize, None)
                .unwrap()
        );
    }
}
