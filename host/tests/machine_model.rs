//! Model-based test of the engine's rules: random sequences of start, stop
//! (wait and abandon), retry (failed actions and all), disable and enable
//! transitions, approve and reject, and providers finishing (succeeding,
//! failing, answering in progress), applied both to the engine's state
//! machine and to a small reference model written from the rules at stage
//! granularity. After every step the two must agree on every execution's
//! status and position, and the machine must keep the invariants: at most
//! one execution per stage (outside parallel mode), superseding only
//! between stages, no execution both waiting and running, and every final
//! status final (until a retry is accepted).

use proptest::prelude::*;
use sluice::engine::*;
use sluice::model::{Action, ExecutionMode, Pipeline, Stage};
use sluice::sandbox::{Category, Failure, FailureKind, Outcome};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

const STAGES: [(&str, Category); 4] = [
    ("Source", Category::Source),
    ("Build", Category::Build),
    ("Approve", Category::Approval),
    ("Deploy", Category::Deploy),
];

fn version(mode: ExecutionMode) -> PipelineVersion {
    let stages = STAGES
        .iter()
        .map(|(name, _)| Stage {
            name: name.to_string(),
            actions: vec![Action {
                name: "Act".into(),
                provider: "builtin:noop".into(),
                run_order: 1,
                configuration: Default::default(),
                inputs: vec![],
                outputs: vec![],
                namespace: None,
                timeout: None,
                memory: None,
                output_size: None,
                output_files: None,
                grants: Default::default(),
            }],
        })
        .collect();
    PipelineVersion {
        name: "p".into(),
        version: 1,
        definition: Pipeline {
            name: "p".into(),
            execution_mode: mode,
            variables: vec![],
            stages,
            triggers: vec![],
            notifications: vec![],
            retention: Default::default(),
        },
        resolved: STAGES
            .iter()
            .map(|(_, category)| {
                vec![ResolvedAction {
                    sha256: "0".into(),
                    category: *category,
                    secret_properties: vec![],
                    mounts: vec![],
                    grants: Default::default(),
                    configuration: None,
                    external: None,
                }]
            })
            .collect(),
        created_at: 0,
    }
}

#[derive(Debug, Clone)]
enum Op {
    Start,
    Finish {
        call: usize,
        how: Finish,
    },
    Tick,
    Stop {
        execution: usize,
        abandon: bool,
    },
    Retry {
        execution: usize,
        stage: usize,
        all: bool,
    },
    Transition {
        stage: usize,
        enabled: bool,
    },
    Decide {
        execution: usize,
        approved: bool,
    },
}

#[derive(Debug, Clone, Copy)]
enum Finish {
    Succeed,
    Fail,
    InProgress,
}

fn op() -> impl Strategy<Value = Op> {
    let finish = prop_oneof![
        Just(Finish::Succeed),
        Just(Finish::Succeed),
        Just(Finish::Fail),
        Just(Finish::InProgress)
    ];
    prop_oneof![
        3 => Just(Op::Start),
        8 => (0..8usize, finish).prop_map(|(call, how)| Op::Finish { call, how }),
        2 => Just(Op::Tick),
        1 => (0..8usize, any::<bool>()).prop_map(|(execution, abandon)| Op::Stop { execution, abandon }),
        1 => (0..8usize, 0..4usize, any::<bool>()).prop_map(|(execution, stage, all)| Op::Retry { execution, stage, all }),
        1 => (1..4usize, any::<bool>()).prop_map(|(stage, enabled)| Op::Transition { stage, enabled }),
        2 => (0..8usize, any::<bool>()).prop_map(|(execution, approved)| Op::Decide { execution, approved }),
    ]
}

fn mode() -> impl Strategy<Value = ExecutionMode> {
    prop_oneof![
        Just(ExecutionMode::Superseded),
        Just(ExecutionMode::Queued),
        Just(ExecutionMode::Parallel)
    ]
}

// ---------------------------------------------------------------- the reference model

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    /// A call is under way.
    Calling,
    /// In progress between calls, waiting for its call-back.
    Pending,
    /// An approval waiting for a decision.
    Awaiting,
    /// An approval waiting for a decision, with a routine call-back under way.
    AwaitingCalling,
    Succeeded,
    Failed,
    Abandoned,
}

#[derive(Debug, Clone)]
struct RefExecution {
    status: ExecutionStatus,
    position: Option<(usize, bool)>,
    /// Per stage: the action's state in the stage's latest run, and the stage's status.
    actions: [Option<Act>; 4],
    stages: [Option<StageStatus>; 4],
    decided: [bool; 4],
}

#[derive(Debug, Default)]
struct Reference {
    mode: Option<ExecutionMode>,
    executions: Vec<RefExecution>,
    holders: [Vec<usize>; 4],
    waiting: [Vec<usize>; 4],
    latest: [Option<usize>; 4],
    disabled: [bool; 4],
}

impl Reference {
    fn mode(&self) -> ExecutionMode {
        self.mode.unwrap()
    }

    fn start(&mut self) -> usize {
        self.executions.push(RefExecution {
            status: ExecutionStatus::InProgress,
            position: Some((0, true)),
            actions: [None; 4],
            stages: [None; 4],
            decided: [false; 4],
        });
        let e = self.executions.len() - 1;
        self.try_enter(e);
        e
    }

    fn locked(&self, s: usize) -> bool {
        self.mode() != ExecutionMode::Parallel && !self.holders[s].is_empty()
    }

    fn try_enter(&mut self, e: usize) {
        let (s, _) = self.executions[e].position.unwrap();
        let open = s == 0 || !self.disabled[s];
        let queue_ahead =
            self.mode() == ExecutionMode::Queued && self.waiting[s].iter().any(|w| *w < e);
        if open && !self.locked(s) && !queue_ahead {
            self.enter(e, s);
        } else {
            if !self.waiting[s].contains(&e) {
                self.waiting[s].push(e);
                self.waiting[s].sort();
            }
            if self.mode() == ExecutionMode::Superseded {
                let newest = *self.waiting[s].last().unwrap();
                for older in self.waiting[s].clone() {
                    if older != newest {
                        self.finish(older, ExecutionStatus::Superseded);
                    }
                }
                self.waiting[s] = vec![newest];
            }
        }
    }

    fn enter(&mut self, e: usize, s: usize) {
        self.waiting[s].retain(|w| *w != e);
        self.holders[s].push(e);
        self.latest[s] = Some(e);
        let x = &mut self.executions[e];
        x.position = Some((s, false));
        x.stages[s] = Some(StageStatus::InProgress);
        x.actions[s] = Some(Act::Calling);
        x.decided[s] = false;
    }

    fn finish(&mut self, e: usize, status: ExecutionStatus) {
        let x = &mut self.executions[e];
        x.status = status;
        x.position = None;
    }

    fn release(&mut self, e: usize, s: usize) {
        self.holders[s].retain(|h| *h != e);
        self.waiting[s].retain(|w| *w != e);
        self.admit(s);
    }

    fn admit(&mut self, s: usize) {
        while !self.locked(s) {
            let Some(&next) = self.waiting[s].first() else {
                return;
            };
            if s > 0 && self.disabled[s] {
                return;
            }
            self.enter(next, s);
        }
    }

    /// The stage's action ended (succeeded, failed, or abandoned).
    fn stage_settled(&mut self, e: usize, s: usize) {
        let x = &self.executions[e];
        let act = x.actions[s].unwrap();
        if x.status == ExecutionStatus::Stopping {
            self.executions[e].stages[s] = Some(StageStatus::Stopped);
            self.finish(e, ExecutionStatus::Stopped);
            self.release(e, s);
            return;
        }
        match act {
            Act::Failed | Act::Abandoned => {
                self.executions[e].stages[s] = Some(StageStatus::Failed);
                self.finish(e, ExecutionStatus::Failed);
                self.release(e, s);
            }
            Act::Succeeded => {
                self.executions[e].stages[s] = Some(StageStatus::Succeeded);
                let last = s == 3;
                if last {
                    self.finish(e, ExecutionStatus::Succeeded);
                } else {
                    self.executions[e].position = Some((s + 1, true));
                }
                self.release(e, s);
                if !last {
                    self.try_enter(e);
                }
            }
            _ => unreachable!(),
        }
    }

    fn provider_answered(&mut self, e: usize, s: usize, how: Finish) {
        let act = match how {
            Finish::Succeed => Act::Succeeded,
            Finish::Fail => Act::Failed,
            Finish::InProgress
                if STAGES[s].1 == Category::Approval && !self.executions[e].decided[s] =>
            {
                Act::Awaiting
            }
            Finish::InProgress => Act::Pending,
        };
        self.executions[e].actions[s] = Some(act);
        if matches!(act, Act::Succeeded | Act::Failed) {
            self.stage_settled(e, s);
        }
    }

    fn call_backs_due(&mut self) -> Vec<(usize, usize)> {
        let mut due = Vec::new();
        for (e, x) in self.executions.iter_mut().enumerate() {
            for s in 0..4 {
                match x.actions[s] {
                    Some(Act::Pending) => {
                        x.actions[s] = Some(Act::Calling);
                        due.push((e, s));
                    }
                    // An approval is looked at again while it waits.
                    Some(Act::Awaiting) => {
                        x.actions[s] = Some(Act::AwaitingCalling);
                        due.push((e, s));
                    }
                    _ => {}
                }
            }
        }
        due
    }

    fn stop(&mut self, e: usize, abandon: bool) -> bool {
        let x = &self.executions[e];
        if x.status.is_terminal() {
            return false;
        }
        if x.status == ExecutionStatus::Stopping && !abandon {
            return true;
        }
        let (s, waiting) = x.position.unwrap();
        if waiting {
            self.waiting[s].retain(|w| *w != e);
            self.finish(e, ExecutionStatus::Stopped);
            return true;
        }
        let x = &mut self.executions[e];
        x.status = ExecutionStatus::Stopping;
        x.stages[s] = Some(StageStatus::Stopping);
        let busy = matches!(
            x.actions[s],
            Some(Act::Calling | Act::Pending | Act::Awaiting | Act::AwaitingCalling)
        );
        if abandon && busy {
            x.actions[s] = Some(Act::Abandoned);
        }
        if abandon || !busy {
            self.stage_settled(e, s);
        }
        true
    }

    fn retry(&mut self, e: usize, s: usize, all: bool) -> bool {
        let x = &self.executions[e];
        if !matches!(x.status, ExecutionStatus::Failed | ExecutionStatus::Stopped)
            || !matches!(
                x.stages[s],
                Some(StageStatus::Failed | StageStatus::Stopped)
            )
            || self.latest[s] != Some(e)
            || (self.locked(s) && !self.holders[s].contains(&e))
        {
            return false;
        }
        self.holders[s].push(e);
        let x = &mut self.executions[e];
        x.status = ExecutionStatus::InProgress;
        x.position = Some((s, false));
        x.stages[s] = Some(StageStatus::InProgress);
        if all || x.actions[s] != Some(Act::Succeeded) {
            x.actions[s] = Some(Act::Calling);
            x.decided[s] = false;
        } else {
            // Only succeeded actions: nothing to run, the stage succeeds.
            self.stage_settled(e, s);
        }
        true
    }

    fn decide(&mut self, e: usize) -> Option<usize> {
        let x = &mut self.executions[e];
        let s = x.position.filter(|p| !p.1)?.0;
        if !matches!(x.actions[s], Some(Act::Awaiting | Act::AwaitingCalling)) {
            return None;
        }
        x.actions[s] = Some(Act::Calling);
        x.decided[s] = true;
        Some(s)
    }

    fn transition(&mut self, s: usize, enabled: bool) {
        self.disabled[s] = !enabled;
        if enabled {
            self.admit(s);
        }
    }
}

// ---------------------------------------------------------------- driving both

struct World {
    machine: Machine,
    /// Where every step is also written, when the test checks the store
    /// (read back after each step, it must equal the machine's records).
    store: Option<(sluice::store::Store, tempfile::TempDir)>,
    reference: Reference,
    ids: Vec<String>,
    index: HashMap<String, usize>,
    calls: BTreeMap<(ActionKey, u64), ()>,
    now: i64,
}

impl World {
    fn new(mode: ExecutionMode) -> World {
        let mut machine = Machine::new();
        // The reference model calls providers back when they ask: the
        // host's floor and back-off are tested on their own.
        machine.set_recheck_policy(RecheckPolicy::with_floor(Duration::ZERO));
        machine.set_now(0);
        machine.add_version(version(mode));
        World {
            machine,
            store: None,
            reference: Reference {
                mode: Some(mode),
                ..Default::default()
            },
            ids: vec![],
            index: HashMap::new(),
            calls: BTreeMap::new(),
            now: 0,
        }
    }

    /// The same world, writing every step to a store on `database` (a
    /// PostgreSQL URL, or `None` for SQLite in a temporary folder).
    fn stored(mode: ExecutionMode, database: Option<String>) -> World {
        let dir = tempfile::tempdir().unwrap();
        if let Some(url) = database {
            sluice::store::use_database(dir.path(), &url).unwrap();
        }
        let store = sluice::store::Store::open(dir.path()).unwrap();
        World {
            store: Some((store, dir)),
            ..World::new(mode)
        }
    }

    fn collect_effects(&mut self) {
        let changes = self.machine.take_changes();
        if let Some((store, _)) = &mut self.store {
            store.write_step(&changes.records(&self.machine)).unwrap();
        }
        for effect in self.machine.take_effects() {
            match effect {
                Effect::Run(request) => {
                    self.calls.insert((request.key.clone(), request.token), ());
                }
                Effect::Cancel { key, token } => {
                    self.calls.remove(&(key, token));
                }
                Effect::Finished { .. } => {}
            }
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        self.now += 1;
        self.machine.set_now(self.now);
        let before: Vec<(ExecutionStatus, Option<Position>)> = self
            .ids
            .iter()
            .map(|id| {
                let e = self.machine.execution(id).unwrap();
                (e.status, e.position)
            })
            .collect();
        let mut retried = None;
        match op.clone() {
            Op::Start => {
                let id = format!("e{:03}", self.ids.len());
                let version = self.machine.current_version("p").unwrap().clone();
                self.machine
                    .start(
                        id.clone(),
                        version,
                        "test",
                        Default::default(),
                        vec![],
                        None,
                    )
                    .unwrap();
                let r = self.reference.start();
                self.index.insert(id.clone(), r);
                self.ids.push(id);
            }
            Op::Finish { call, how } => {
                if self.calls.is_empty() {
                    return Ok(());
                }
                let (key, token) = self
                    .calls
                    .keys()
                    .nth(call % self.calls.len())
                    .unwrap()
                    .clone();
                self.calls.remove(&(key.clone(), token));
                let outcome = match how {
                    Finish::Succeed => Outcome::Succeeded {
                        summary: None,
                        revision: None,
                        variables: vec![],
                    },
                    Finish::Fail => Outcome::Failed(Failure {
                        kind: FailureKind::JobFailed,
                        message: "no".into(),
                    }),
                    Finish::InProgress => Outcome::InProgress {
                        continuation: "c".into(),
                        recheck_after: Duration::from_millis(10),
                        summary: None,
                        percent_complete: None,
                    },
                };
                self.machine.action_finished(
                    &key,
                    token,
                    CallResult {
                        outcome,
                        outputs: vec![],
                        log: None,
                    },
                );
                let e = self.index[&key.execution];
                self.reference.provider_answered(e, key.stage, how);
            }
            Op::Tick => {
                self.now += 10;
                self.machine.set_now(self.now);
                self.machine.tick();
                self.reference.call_backs_due();
            }
            Op::Stop { execution, abandon } => {
                if self.ids.is_empty() {
                    return Ok(());
                }
                let i = execution % self.ids.len();
                let mode = if abandon {
                    StopMode::Abandon
                } else {
                    StopMode::Wait
                };
                let done = self.machine.stop(&self.ids[i], mode, None).is_ok();
                let expected = self.reference.stop(i, abandon);
                prop_assert_eq!(
                    done,
                    expected,
                    "stop of {} (abandon: {})",
                    self.ids[i],
                    abandon
                );
            }
            Op::Retry {
                execution,
                stage,
                all,
            } => {
                if self.ids.is_empty() {
                    return Ok(());
                }
                let i = execution % self.ids.len();
                let mode = if all {
                    RetryMode::AllActions
                } else {
                    RetryMode::FailedActions
                };
                let done = self.machine.retry(&self.ids[i], STAGES[stage].0, mode);
                let expected = self.reference.retry(i, stage, all);
                prop_assert_eq!(
                    done.is_ok(),
                    expected,
                    "retry of {} stage {}: {:?}",
                    self.ids[i],
                    stage,
                    done
                );
                if expected {
                    retried = Some(i);
                }
            }
            Op::Transition { stage, enabled } => {
                self.machine
                    .set_transition("p", STAGES[stage].0, enabled, None, "test")
                    .unwrap();
                self.reference.transition(stage, enabled);
            }
            Op::Decide {
                execution,
                approved,
            } => {
                if self.ids.is_empty() {
                    return Ok(());
                }
                let i = execution % self.ids.len();
                let done = self
                    .machine
                    .decide(&self.ids[i], "Approve", "Act", approved, "tester", None)
                    .is_ok();
                let expected = self.reference.decide(i).is_some_and(|s| s == 2);
                prop_assert_eq!(done, expected, "decision on {}", self.ids[i]);
            }
        }
        self.collect_effects();
        self.check(&before, retried)
    }

    fn check(
        &self,
        before: &[(ExecutionStatus, Option<Position>)],
        retried: Option<usize>,
    ) -> Result<(), TestCaseError> {
        let mode = self.reference.mode();
        let mut inside = [0usize; 4];
        for (i, id) in self.ids.iter().enumerate() {
            let e = self.machine.execution(id).unwrap();
            let r = &self.reference.executions[i];
            prop_assert_eq!(e.status, r.status, "status of {}", id);
            prop_assert_eq!(
                e.position.map(|p| (p.stage, p.waiting)),
                r.position,
                "position of {}",
                id
            );

            // No execution both waiting and running.
            if let Some(p) = e.position {
                if p.waiting {
                    let running = e
                        .stages
                        .iter()
                        .flat_map(|s| &s.actions)
                        .any(|a| a.status == Some(ActionStatus::InProgress));
                    prop_assert!(!running, "{} waits with an action in progress", id);
                } else {
                    inside[p.stage] += 1;
                }
            }
            if let Some((was, position)) = before.get(i) {
                // Final statuses are final, unless a retry was accepted.
                if was.is_terminal() && retried != Some(i) {
                    prop_assert_eq!(e.status, *was, "{} left a final status", id);
                }
                // Superseding happens only between stages.
                if e.status == ExecutionStatus::Superseded && !was.is_terminal() {
                    prop_assert!(
                        position.is_some_and(|p| p.waiting),
                        "{} was superseded inside a stage",
                        id
                    );
                }
            }
        }
        if let Some((store, _)) = &self.store {
            for id in &self.ids {
                let stored = store
                    .execution(id, |p, v| self.machine.version(p, v).cloned())
                    .unwrap();
                // A call's token lives in memory only: a restored action
                // is called again with a new one.
                let mut held = self.machine.execution(id).cloned();
                for run in held
                    .iter_mut()
                    .flat_map(|e| &mut e.stages)
                    .flat_map(|s| &mut s.actions)
                {
                    run.token = 0;
                }
                prop_assert_eq!(stored, held, "{} as stored", id);
            }
        }
        if mode != ExecutionMode::Parallel {
            for (s, count) in inside.iter().enumerate() {
                prop_assert!(
                    *count <= 1,
                    "{} executions inside stage {}",
                    count,
                    STAGES[s].0
                );
            }
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_agrees_with_the_reference_model(mode in mode(), ops in prop::collection::vec(op(), 1..40)) {
        let mut world = World::new(mode);
        for op in &ops {
            world.apply(op)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, max_shrink_iters: 500, ..ProptestConfig::default() })]

    /// Every step written to SQLite reads back as the machine holds it.
    #[test]
    fn the_store_keeps_what_the_engine_did_on_sqlite(mode in mode(), ops in prop::collection::vec(op(), 1..40)) {
        let mut world = World::stored(mode, None);
        for op in &ops {
            world.apply(op)?;
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 60, max_shrink_iters: 200, ..ProptestConfig::default() })]

    /// Every step written to PostgreSQL reads back as the machine holds it
    /// (a fresh database for each case).
    #[test]
    fn the_store_keeps_what_the_engine_did_on_postgres(mode in mode(), ops in prop::collection::vec(op(), 1..40)) {
        let url = sluice_pgtest::Server::shared().database();
        let mut world = World::stored(mode, Some(url));
        for op in &ops {
            world.apply(op)?;
        }
    }
}

#[test]
fn recovery_runs_an_interrupted_call_again_as_the_next_attempt_with_its_token() {
    let mut world = World::new(ExecutionMode::Superseded);
    world.apply(&Op::Start).unwrap();
    // The source action answers in progress with token "c"; its call-back
    // is under way when the host dies.
    world
        .apply(&Op::Finish {
            call: 0,
            how: Finish::InProgress,
        })
        .unwrap();
    world.apply(&Op::Tick).unwrap();
    let snapshot = world.machine.execution("e000").unwrap().clone();
    let run = &snapshot.stages[0].actions[0];
    assert!(run.running && run.continuation.as_deref() == Some("c") && run.attempt == 1);

    let mut machine = Machine::new();
    machine.set_recheck_policy(RecheckPolicy::with_floor(Duration::ZERO));
    machine.set_now(1_000);
    machine.add_version(version(ExecutionMode::Superseded));
    machine.restore(snapshot);
    machine.resume();
    let changes = machine.take_changes();
    let (_, closed) = &changes.closed_attempts[0];
    assert_eq!(
        (closed.attempt, closed.status),
        (1, Some(ActionStatus::Abandoned))
    );
    let effects = machine.take_effects();
    let Some(Effect::Run(request)) = effects.first() else {
        panic!("{effects:?}")
    };
    assert_eq!(
        (request.attempt, request.continuation.as_deref()),
        (2, Some("c"))
    );
}
