//! The limits every job runs under: time, memory, log size, outcome size,
//! output size and the host-side resources a guest can make the host hold.
//! Each has a default here; time, memory and output sizes can be set per
//! action.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Bytes an action's outputs may hold, apparent sizes (a sparse file
    /// counts whole), counted in host copies and when outputs are stored
    /// (default 10 GiB).
    pub output_bytes: u64,
    /// Files, folders and links an action's outputs may hold, counted the
    /// same way (default 100,000).
    pub output_files: u64,
    /// Host-side resources one call may hold at once: open files and
    /// folders, streams, HTTP requests and header fields, pollables (the
    /// call's resource table; default 1,024).
    pub host_resources: usize,
    /// Bytes of HTTP header fields one request or response may carry
    /// (default 64 KiB).
    pub http_field_bytes: usize,
    /// Elements a WebAssembly table may grow to (default 200,000).
    pub table_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(60 * 60),
            deadline: None,
            memory_bytes: 1024 * MIB,
            log_bytes: 10 * MIB,
            outcome: OutcomeLimits::default(),
            output_bytes: 10 * 1024 * MIB,
            output_files: 100_000,
            host_resources: 1024,
            http_field_bytes: 64 * 1024,
            table_elements: 200_000,
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

pub use crate::contract::MAX_MEMORY_BYTES;

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

/// The memory one action may use, shared by every store of the action: a
/// component it runs through `components` draws on the same budget, so
/// nesting never multiplies the limit.
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    limit: u64,
    in_use: AtomicU64,
}

impl MemoryBudget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(MemoryBudget {
            limit,
            in_use: AtomicU64::new(0),
        })
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Takes `more` bytes when they fit; the total after, either way.
    fn take(&self, more: u64) -> Result<u64, u64> {
        let mut current = self.in_use.load(Ordering::Relaxed);
        loop {
            let after = current.saturating_add(more);
            if after > self.limit {
                return Err(after);
            }
            match self.in_use.compare_exchange_weak(
                current,
                after,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(after),
                Err(actual) => current = actual,
            }
        }
    }

    fn give_back(&self, bytes: u64) {
        self.in_use.fetch_sub(bytes, Ordering::Relaxed);
    }
}

/// Enforces an action's [`MemoryBudget`] on one store (all its memories)
/// and its table limit, and remembers the growth it refused, so the failure
/// can name the limit instead of reporting the allocator's abort that
/// follows. What the store held goes back to the budget when it is dropped.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    budget: Arc<MemoryBudget>,
    in_use: u64,
    table_elements: usize,
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    pub(crate) fn new(budget: Arc<MemoryBudget>, table_elements: usize) -> Self {
        MemoryLimiter {
            budget,
            in_use: 0,
            table_elements,
            refused: None,
        }
    }
}

impl MemoryLimiter {
    /// The action's memory limit.
    pub(crate) fn limit(&self) -> u64 {
        self.budget.limit()
    }
}

impl Drop for MemoryLimiter {
    fn drop(&mut self) {
        self.budget.give_back(self.in_use);
    }
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let more = (desired as u64).saturating_sub(current as u64);
        match self.budget.take(more) {
            Ok(_) => {
                self.in_use += more;
                Ok(true)
            }
            Err(after) => {
                self.refused = Some(after);
                Ok(false)
            }
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold references, which the host allocates; a provider has
        // no use for millions of entries.
        Ok(desired <= self.table_elements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::ResourceLimiter;

    #[test]
    fn memory_limiter_counts_all_memories_and_remembers_refusals() {
        let mut limiter = MemoryLimiter::new(MemoryBudget::new(10 * MIB), 1000);
        assert!(limiter.memory_growing(0, 6 * MIB as usize, None).unwrap());
        assert!(!limiter.memory_growing(0, 6 * MIB as usize, None).unwrap());
        assert_eq!(limiter.refused, Some(12 * MIB));
        assert!(
            limiter
                .memory_growing(6 * MIB as usize, 8 * MIB as usize, None)
                .unwrap()
        );
        assert!(!limiter.table_growing(0, 1001, None).unwrap());
    }

    #[test]
    fn nested_stores_share_one_budget_and_give_it_back() {
        let budget = MemoryBudget::new(10 * MIB);
        let mut outer = MemoryLimiter::new(budget.clone(), 1000);
        assert!(outer.memory_growing(0, 6 * MIB as usize, None).unwrap());
        {
            let mut inner = MemoryLimiter::new(budget.clone(), 1000);
            assert!(inner.memory_growing(0, 3 * MIB as usize, None).unwrap());
            // The two together are at 9 MiB: 2 more would pass 10.
            assert!(
                !inner
                    .memory_growing(3 * MIB as usize, 5 * MIB as usize, None)
                    .unwrap()
            );
            assert_eq!(inner.refused, Some(11 * MIB));
        }
        // The inner store's memory went back when it was dropped.
        assert!(
            outer
                .memory_growing(6 * MIB as usize, 10 * MIB as usize, None)
                .unwrap()
        );
    }
}
