//! Live progress of one execution: a line per action as it finishes (with
//! its duration and summary), the stage changes, a spinner for what is
//! running when on a terminal, and approvals asked for on the terminal.

use super::Context;
use super::control::Controller;
use crate::engine::Command;
use crate::engine::{ActionStatus, EngineEvent, Execution, ExecutionStatus, StageStatus};
use crate::store::Store;
use crate::units::format_duration;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::time::Duration;
use tokio::sync::broadcast;

/// Where snapshots of an execution come from.
pub enum Feed {
    /// The engine in this process.
    Events {
        /// Its changes.
        events: broadcast::Receiver<EngineEvent>,
        /// The execution.
        id: String,
        /// For catching up when events were missed.
        store: Store,
    },
    /// A server's event stream.
    Remote {
        /// The server.
        client: crate::client::Client,
        /// The execution.
        id: String,
        /// The stream, once open.
        following: Option<crate::client::Following>,
        /// The last snapshot's change time, not to repeat it.
        seen: i64,
    },
    /// The state database, polled.
    Poll {
        /// The database.
        store: Store,
        /// The execution.
        id: String,
        /// The last change seen.
        seen: i64,
    },
}

impl Feed {
    /// Snapshots from this process's engine.
    pub fn events(events: broadcast::Receiver<EngineEvent>, id: &str, store: Store) -> Feed {
        Feed::Events {
            events,
            id: id.to_string(),
            store,
        }
    }

    /// Snapshots from a server.
    pub fn remote(client: crate::client::Client, id: &str) -> Feed {
        Feed::Remote {
            client,
            id: id.to_string(),
            following: None,
            seen: -1,
        }
    }

    /// Snapshots read from the database.
    pub fn poll(store: Store, id: &str) -> Feed {
        Feed::Poll {
            store,
            id: id.to_string(),
            seen: -1,
        }
    }

    /// The next snapshot.
    pub async fn next(&mut self) -> Option<Execution> {
        match self {
            Feed::Events { events, id, store } => loop {
                match events.recv().await {
                    Ok(EngineEvent::Execution(e)) if e.id == *id => return Some(*e),
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        return store.execution(id, |_, _| None).ok().flatten();
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
            Feed::Remote {
                client,
                id,
                following,
                seen,
            } => {
                let mut failures = 0;
                loop {
                    if following.is_none() {
                        match client.follow(id).await {
                            Ok(f) => *following = Some(f),
                            Err(e) => {
                                failures += 1;
                                if failures > 20 {
                                    eprintln!("error: {e}");
                                    return None;
                                }
                                tokio::time::sleep(Duration::from_millis(500)).await;
                                continue;
                            }
                        }
                    }
                    let stream = following.as_mut().expect("opened above");
                    let snapshot = match stream.next().await {
                        Some(crate::client::Followed::Execution(e)) => Some(*e),
                        Some(crate::client::Followed::Reread) => {
                            client.execution(id).await.ok().map(|d| d.execution)
                        }
                        None => {
                            // The server went away (restart?): reopen.
                            *following = None;
                            failures += 1;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            None
                        }
                    };
                    if let Some(e) = snapshot
                        && (e.updated_at != *seen || e.status.is_terminal())
                    {
                        *seen = e.updated_at;
                        return Some(e);
                    }
                }
            }
            Feed::Poll { store, id, seen } => loop {
                match store.execution(id, |_, _| None) {
                    Ok(Some(e)) if e.updated_at != *seen || e.status.is_terminal() => {
                        *seen = e.updated_at;
                        return Some(e);
                    }
                    Ok(Some(_)) => {}
                    Ok(None) => return None,
                    Err(error) => {
                        eprintln!("error: {error}");
                        return None;
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            },
        }
    }
}

/// Prints an execution's progress until it ends; asks for (or, with
/// `yes`, gives) approvals. Returns its final status.
pub async fn follow(
    ctx: &Context,
    controller: &mut Controller,
    mut feed: Feed,
    id: &str,
    yes: bool,
) -> Option<ExecutionStatus> {
    let terminal = std::io::stdout().is_terminal();
    let interactive = std::io::stdin().is_terminal();
    let mut view = View::new(terminal);
    let mut asked: HashSet<(usize, usize, u32)> = HashSet::new();
    loop {
        let execution = feed.next().await?;
        view.update(&execution);
        if execution.status.is_terminal() {
            view.finish(&execution);
            return Some(execution.status);
        }
        for (s, stage) in execution.stages.iter().enumerate() {
            for (a, action) in stage.actions.iter().enumerate() {
                if !action.awaiting_approval || !asked.insert((s, a, action.attempt)) {
                    continue;
                }
                let decision = if yes {
                    Some((true, Some("approved with --yes".to_string())))
                } else if interactive {
                    view.suspend(|| ask(&execution.id, &stage.name, &action.name))
                } else {
                    view.line(format!(
                        "  waiting for approval of {}/{}: run `sluice approve {} {} {}` (or reject)",
                        stage.name, action.name, execution.id, stage.name, action.name
                    ));
                    None
                };
                if let Some((approved, summary)) = decision {
                    let reply = controller
                        .command(Command::Decide {
                            execution: execution.id.clone(),
                            stage: stage.name.clone(),
                            action: action.name.clone(),
                            approved,
                            by: ctx.host.user.clone(),
                            summary,
                        })
                        .await;
                    if let super::control::Reply::Refused(refusal) = reply {
                        view.line(format!("  could not record the decision: {refusal}"));
                    }
                }
            }
        }
        let _ = id;
    }
}

/// Asks on the terminal whether to approve.
fn ask(execution: &str, stage: &str, action: &str) -> Option<(bool, Option<String>)> {
    use std::io::{BufRead, Write};
    let stdin = std::io::stdin();
    loop {
        print!("Approve {stage}/{action} of execution {execution}? [y]es / [n]o: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        if stdin.lock().read_line(&mut answer).ok()? == 0 {
            return None;
        }
        let approved = match answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" => true,
            "n" | "no" => false,
            _ => continue,
        };
        print!("Comment (optional): ");
        let _ = std::io::stdout().flush();
        let mut comment = String::new();
        let _ = stdin.lock().read_line(&mut comment);
        let comment = comment.trim().to_string();
        return Some((approved, (!comment.is_empty()).then_some(comment)));
    }
}

/// What has been printed so far, to print only changes.
struct View {
    actions: HashMap<(usize, usize), (Option<ActionStatus>, u32, bool)>,
    stages: HashMap<usize, Option<StageStatus>>,
    waiting: Option<usize>,
    started: bool,
    spinner: Option<ProgressBar>,
}

impl View {
    fn new(terminal: bool) -> Self {
        let spinner = terminal.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(ProgressStyle::with_template("{spinner} {msg}").unwrap());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        View {
            actions: HashMap::new(),
            stages: HashMap::new(),
            waiting: None,
            started: false,
            spinner,
        }
    }

    /// Prints one line of the view. Parts of it come from providers
    /// (summaries, failure messages, revisions): the whole line is escaped.
    fn line(&self, text: String) {
        let text = crate::text::line(&text).into_owned();
        match &self.spinner {
            Some(bar) => bar.println(text),
            None => println!("{text}"),
        }
    }

    fn suspend<T>(&self, f: impl FnOnce() -> T) -> T {
        match &self.spinner {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn update(&mut self, e: &Execution) {
        if !self.started {
            self.started = true;
            let revisions: Vec<String> = e
                .source_revisions
                .iter()
                .map(|r| match (&r.revision, &r.error) {
                    (Some(rev), _) => format!("{}={}", r.action, short(&rev.id)),
                    (None, Some(err)) => format!("{}=? ({err})", r.action),
                    _ => format!("{}=?", r.action),
                })
                .collect();
            self.line(format!(
                "▶ {} v{} · execution {}{}",
                e.pipeline,
                e.version,
                e.id,
                if revisions.is_empty() {
                    String::new()
                } else {
                    format!(" · {}", revisions.join(", "))
                }
            ));
        }
        match e.position {
            Some(p) if p.waiting && self.waiting != Some(p.stage) && p.stage > 0 => {
                self.waiting = Some(p.stage);
                self.line(format!(
                    "  waiting in front of stage {} (locked or transition disabled)",
                    e.stages[p.stage].name
                ));
            }
            Some(p) if !p.waiting => self.waiting = None,
            _ => {}
        }
        let mut running = Vec::new();
        for (s, stage) in e.stages.iter().enumerate() {
            let previous = self.stages.get(&s).copied().flatten();
            if stage.status != previous {
                self.stages.insert(s, stage.status);
                if let Some(StageStatus::InProgress) = stage.status
                    && stage.attempt > 1
                {
                    self.line(format!(
                        "  {} · retry (attempt {})",
                        stage.name, stage.attempt
                    ));
                }
            }
            for (a, action) in stage.actions.iter().enumerate() {
                let state = (action.status, action.attempt, action.awaiting_approval);
                let before = self.actions.insert((s, a), state);
                if action.status == Some(ActionStatus::InProgress) {
                    let since = action.started_at.unwrap_or(e.updated_at);
                    let elapsed =
                        Duration::from_millis((crate::engine::now_millis() - since).max(0) as u64);
                    let note = if action.awaiting_approval {
                        " (waiting for approval)".to_string()
                    } else {
                        action.percent.map(|p| format!(" {p}%")).unwrap_or_default()
                    };
                    running.push(format!(
                        "{}/{} {}{note}",
                        stage.name,
                        action.name,
                        format_duration(elapsed)
                    ));
                    if action.awaiting_approval && before.map(|b| b.2) != Some(true) {
                        self.line(format!(
                            "  {:<10} ⏸ {:<14} waiting for approval",
                            stage.name, action.name
                        ));
                    }
                    continue;
                }
                if before.map(|b| (b.0, b.1)) == Some((action.status, action.attempt)) {
                    continue;
                }
                let Some(status) = action.status else {
                    continue;
                };
                let took = match (action.started_at, action.ended_at) {
                    (Some(a), Some(b)) => {
                        format_duration(Duration::from_millis((b - a).max(0) as u64))
                    }
                    _ => String::new(),
                };
                let (mark, detail) = match status {
                    ActionStatus::Succeeded => ("✔", action.summary.clone().unwrap_or_default()),
                    ActionStatus::Failed => (
                        "✘",
                        action
                            .error
                            .as_ref()
                            .map(|f| f.message.clone())
                            .unwrap_or_default(),
                    ),
                    ActionStatus::Abandoned => (
                        "■",
                        action
                            .error
                            .as_ref()
                            .map(|f| f.message.clone())
                            .unwrap_or_default(),
                    ),
                    ActionStatus::InProgress => continue,
                };
                let attempt = if action.attempt > 1 {
                    format!(" (attempt {})", action.attempt)
                } else {
                    String::new()
                };
                self.line(format!(
                    "  {:<10} {mark} {:<14} {:>8}  {}{attempt}",
                    stage.name, action.name, took, detail
                ));
            }
        }
        if let Some(bar) = &self.spinner {
            bar.set_message(if running.is_empty() {
                String::new()
            } else {
                format!("running: {}", running.join(", "))
            });
        }
    }

    fn finish(&mut self, e: &Execution) {
        if let Some(bar) = self.spinner.take() {
            bar.finish_and_clear();
        }
        let took = e
            .ended_at
            .map(|end| format_duration(Duration::from_millis((end - e.started_at).max(0) as u64)))
            .unwrap_or_default();
        let mark = match e.status {
            ExecutionStatus::Succeeded => "✔",
            ExecutionStatus::Stopped | ExecutionStatus::Superseded => "■",
            _ => "✘",
        };
        println!(
            "{mark} {} in {took}{}",
            e.status.as_str(),
            e.status_reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
    }
}

fn short(id: &str) -> &str {
    crate::text::prefix(id, 12)
}
