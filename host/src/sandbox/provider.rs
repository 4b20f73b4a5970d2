//! A loaded provider and its calls: `describe`, `validate`,
//! `latest-revision` and `changed-paths` through one query skeleton
//! ([`Provider::query`]), `run` with the job's folders, grants and budgets.

use super::call::{crash_message, new_store, query_limits, within};
use super::host::context::{JobContext, JobMounts};
use super::wasi::{job_wasi, mount_granted, output_to, quiet_wasi};
use super::*;
use std::time::Instant;
use wasmtime::Store;
use wasmtime_wasi::WasiCtx;

/// A loaded provider, ready to run jobs. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    pub(super) core: Arc<Core>,
    pub(super) shared: Arc<Shared>,
    pub(super) name: String,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name)
            .field("sha256", &self.core.sha256)
            .finish_non_exhaustive()
    }
}

/// A call that is not a job.
enum Query {
    Describe,
    Validate(Vec<(String, String)>),
    LatestRevision(Vec<(String, String)>),
    ChangedPaths(Vec<(String, String)>, String, String),
}

impl Query {
    /// The function it calls, as errors name it.
    fn function(&self) -> &'static str {
        match self {
            Query::Describe => "describe",
            Query::Validate(_) => "validate",
            Query::LatestRevision(_) => "latest-revision",
            Query::ChangedPaths(..) => "changed-paths",
        }
    }
}

/// What a query returned, as the contract's bindings give it.
enum Answer {
    Described(bindings::sluice::provider::types::Descriptor),
    Validated(Result<(), Vec<String>>),
    Latest(
        Result<
            bindings::sluice::provider::types::SourceRevision,
            bindings::sluice::provider::types::Failure,
        >,
    ),
    Changed(Result<Option<Vec<String>>, bindings::sluice::provider::types::Failure>),
}

/// The result of running one job.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// What the job came to (crashes, deadlines and limits are failures).
    pub outcome: Outcome,
    /// Wall time of the call, instantiation included.
    pub elapsed: Duration,
}

impl Provider {
    /// The name it was loaded under (`builtin:copy`, a path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The component's sha256.
    pub fn sha256(&self) -> &str {
        &self.core.sha256
    }

    /// The component's imports, as `namespace:package/interface@version`.
    pub fn imports(&self) -> &[String] {
        &self.core.imports
    }

    /// The grants its imports may ask for (`process`, `http`, `secrets`).
    pub fn capabilities(&self) -> Vec<crate::contract::Capability> {
        imports::capabilities(&self.core.imports)
    }

    /// Whether it exports the `source` interface.
    pub fn is_source(&self) -> bool {
        self.core.source_exports.is_some()
    }

    /// What the provider says about itself (asked once, then remembered),
    /// checked ([`Descriptor::problems`]): a component whose descriptor is
    /// refused is refused by every other call too.
    pub async fn describe(&self) -> Result<Descriptor, SandboxError> {
        self.core
            .descriptor
            .get_or_try_init(|| async {
                let limits = query_limits(self.shared.query_timeout);
                let log = ActionLog::discard();
                let Answer::Described(descriptor) = self
                    .query(Query::Describe, quiet_wasi(&log), &[], &limits, &log)
                    .await?
                else {
                    unreachable!("describe answers a descriptor")
                };
                let descriptor = Descriptor::from(descriptor);
                let problems = descriptor.problems();
                if problems.is_empty() {
                    Ok(descriptor)
                } else {
                    Err(SandboxError::BadDescriptor {
                        provider: self.name.clone(),
                        problems,
                    })
                }
            })
            .await
            .cloned()
    }

    /// Asks the provider whether `configuration` is acceptable: `Ok(Err(problems))`
    /// lists what it rejects.
    pub async fn validate(
        &self,
        configuration: &[(String, String)],
    ) -> Result<Result<(), Vec<String>>, SandboxError> {
        self.describe().await?;
        let limits = query_limits(self.shared.query_timeout);
        let log = ActionLog::discard();
        let query = Query::Validate(configuration.to_vec());
        match self
            .query(query, quiet_wasi(&log), &[], &limits, &log)
            .await?
        {
            Answer::Validated(answer) => Ok(answer),
            _ => unreachable!("validate answers problems"),
        }
    }

    /// Asks a source provider for the newest revision of its source object.
    pub async fn latest_revision(
        &self,
        configuration: &[(String, String)],
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Result<SourceRevision, Failure>, SandboxError> {
        self.latest_revision_with(configuration, &[], limits, log)
            .await
    }

    /// [`Provider::latest_revision`] with the action's granted folders mounted.
    pub async fn latest_revision_with(
        &self,
        configuration: &[(String, String)],
        mounts: &[HostMount],
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Result<SourceRevision, Failure>, SandboxError> {
        let query = Query::LatestRevision(configuration.to_vec());
        match self.source_query(query, mounts, limits, log).await? {
            Answer::Latest(answer) => Ok(answer.map(SourceRevision::from).map_err(Failure::from)),
            _ => unreachable!("latest-revision answers a revision"),
        }
    }

    /// Asks a source provider which paths differ between two revisions it
    /// returned (`None`: it cannot tell), with the action's granted
    /// folders mounted.
    pub async fn changed_paths_with(
        &self,
        configuration: &[(String, String)],
        mounts: &[HostMount],
        from: &str,
        to: &str,
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Result<Option<Vec<String>>, Failure>, SandboxError> {
        let query = Query::ChangedPaths(configuration.to_vec(), from.to_string(), to.to_string());
        match self.source_query(query, mounts, limits, log).await? {
            Answer::Changed(answer) => Ok(answer.map_err(Failure::from)),
            _ => unreachable!("changed-paths answers paths"),
        }
    }

    /// A question for a source provider: its descriptor checked, its
    /// granted folders mounted, its output to `log`.
    async fn source_query(
        &self,
        query: Query,
        mounts: &[HostMount],
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Answer, SandboxError> {
        self.describe().await?;
        if self.core.source_exports.is_none() {
            return Err(SandboxError::NotASource {
                provider: self.name.clone(),
            });
        }
        let mut builder = output_to(log);
        mount_granted(&mut builder, mounts)?;
        self.query(query, builder.build(), mounts, limits, log)
            .await
    }

    /// The skeleton of every call that is not a job: a fresh store with
    /// `wasi` and only `mounts` granted, an instance slot, the deadline of
    /// `limits`, and a failure reported in the user's words.
    async fn query(
        &self,
        query: Query,
        wasi: WasiCtx,
        mounts: &[HostMount],
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<Answer, SandboxError> {
        let ctx = self.query_context(limits, log, mounts);
        let mut store = self.store(wasi, limits, log, ctx);
        let _slot = self.slot().await;
        let function = query.function();
        let result = within(limits.call_deadline(), async {
            let instance = self.core.pre.instantiate_async(&mut store).await?;
            let provider =
                |store: &mut Store<JobState>| self.core.provider_exports.load(store, &instance);
            let source = |store: &mut Store<JobState>| match &self.core.source_exports {
                Some(exports) => exports.load(store, &instance),
                None => Err(wasmtime::Error::msg(
                    "the provider exports no source interface",
                )),
            };
            Ok(match query {
                Query::Describe => {
                    Answer::Described(provider(&mut store)?.call_describe(&mut store).await?)
                }
                Query::Validate(configuration) => Answer::Validated(
                    provider(&mut store)?
                        .call_validate(&mut store, &configuration)
                        .await?,
                ),
                Query::LatestRevision(configuration) => Answer::Latest(
                    source(&mut store)?
                        .call_latest_revision(&mut store, &configuration)
                        .await?,
                ),
                Query::ChangedPaths(configuration, from, to) => Answer::Changed(
                    source(&mut store)?
                        .call_changed_paths(&mut store, &configuration, &from, &to)
                        .await?,
                ),
            })
        })
        .await;
        result.map_err(|error| self.call_error(function, &error, &store, limits, log))
    }

    /// Runs one job. The job's folders are mounted (inputs read-only); the
    /// guest's output goes to `log`. A crash, a deadline, a memory limit or
    /// an oversized outcome is a failed outcome, with a message saying
    /// which; only a job that cannot be set up at all is an error.
    pub async fn run(
        &self,
        job: &Job,
        limits: &Limits,
        log: &ActionLog,
    ) -> Result<RunReport, SandboxError> {
        log.set_cap(limits.log_bytes);
        self.run_nested(job, limits, log, None).await
    }

    /// [`Provider::run`], or for a component another one runs (`parent`):
    /// one level deeper, on the parent's memory and copy budgets.
    pub(crate) async fn run_nested(
        &self,
        job: &Job,
        limits: &Limits,
        log: &ActionLog,
        parent: Option<&JobContext>,
    ) -> Result<RunReport, SandboxError> {
        // A component whose descriptor the host refuses never runs (asked
        // once per loaded component, then remembered).
        self.describe().await?;
        let (depth, (memory, copies)) = match parent {
            Some(parent) => (
                parent.depth + 1,
                (parent.memory.clone(), parent.copies.clone()),
            ),
            None => (0, JobContext::budgets(limits)),
        };
        let started = Instant::now();
        for secret in &job.grants.secrets {
            log.redact(secret.value.clone());
        }
        let wasi = job_wasi(job, log)?;
        let ctx = JobContext {
            action: job.action.clone(),
            mounts: JobMounts {
                scratch: Some(job.scratch.clone()),
                inputs: job.inputs.clone(),
                outputs: job.outputs.clone(),
                paths: job.mounts.clone(),
            },
            grants: job.grants.clone(),
            deadline: limits.call_deadline(),
            log: log.clone(),
            settings: self.shared.process.clone(),
            sandbox: Sandbox {
                shared: self.shared.clone(),
            },
            limits: limits.clone(),
            job: Some(job.clone()),
            depth,
            memory,
            copies,
            programs: Default::default(),
        };
        let programs = ctx.programs.clone();
        let mut store = self.store(wasi, limits, log, ctx);
        let _slot = self.slot().await;
        let wit_job = job.to_wit();
        let result = within(limits.call_deadline(), async {
            let instance = self.core.pre.instantiate_async(&mut store).await?;
            let guest = self.core.provider_exports.load(&mut store, &instance)?;
            guest.call_run(&mut store, &wit_job).await
        })
        .await;
        // Every program the call started has ended before anything reads
        // the job's folders back.
        programs.settle().await;
        log.flush();
        let outcome = match result {
            Ok(outcome) => outcome::enforce(Outcome::from(outcome), &limits.outcome),
            Err(error) => Outcome::Failed(Failure::job_failed(crash_message(
                &error,
                store.data(),
                limits,
                log,
            ))),
        };
        // Secrets never leave in clear, whatever the provider put where.
        let outcome = outcome::redact(outcome, log);
        Ok(RunReport {
            outcome,
            elapsed: started.elapsed(),
        })
    }

    /// The context of a call that is not a job (`describe`, `validate`,
    /// `latest-revision`): no artifacts, nothing granted but folders.
    fn query_context(&self, limits: &Limits, log: &ActionLog, paths: &[HostMount]) -> JobContext {
        let (memory, copies) = JobContext::budgets(limits);
        JobContext {
            action: self.name.clone(),
            mounts: JobMounts {
                paths: paths.to_vec(),
                ..JobMounts::default()
            },
            grants: Grants::default(),
            deadline: limits.call_deadline(),
            log: log.clone(),
            settings: self.shared.process.clone(),
            sandbox: Sandbox {
                shared: self.shared.clone(),
            },
            limits: limits.clone(),
            job: None,
            depth: 0,
            memory,
            copies,
            programs: Default::default(),
        }
    }

    fn store(
        &self,
        wasi: WasiCtx,
        limits: &Limits,
        log: &ActionLog,
        ctx: JobContext,
    ) -> Store<JobState> {
        new_store(&self.shared.engine, wasi, limits, log, ctx)
    }

    async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.shared
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the instance semaphore is never closed")
    }

    fn call_error(
        &self,
        function: &'static str,
        error: &wasmtime::Error,
        store: &Store<JobState>,
        limits: &Limits,
        log: &ActionLog,
    ) -> SandboxError {
        SandboxError::Call {
            provider: self.name.clone(),
            function,
            message: crash_message(error, store.data(), limits, log),
        }
    }
}
