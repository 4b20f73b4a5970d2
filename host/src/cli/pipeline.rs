//! `sluice validate`, `sluice pipeline apply|list|get|delete`, `sluice schema`.

use super::{Context, EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail};
use crate::engine::is_driven;
use crate::model::{self, Report, Severity};
use crate::providers::Catalog;
use crate::units::format_timestamp;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};

/// `sluice validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The pipeline definition (YAML or JSON).
    pub file: PathBuf,
    #[command(flatten)]
    pub output: super::JsonFlag,
}

/// `sluice pipeline`.
#[derive(Debug, Clone, Subcommand)]
pub enum PipelineCommand {
    /// Validate a definition and record it as the pipeline's new version.
    Apply {
        /// The pipeline definition (YAML or JSON).
        file: PathBuf,
    },
    /// List pipelines.
    List(super::JsonFlag),
    /// Print a pipeline's definition.
    Get {
        /// The pipeline.
        name: String,
        /// A version other than the current one.
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        output: super::JsonFlag,
    },
    /// Delete a pipeline and its history (refused while it has executions
    /// in progress or waiting, unless --force).
    Delete {
        /// The pipeline.
        name: String,
        /// Stop its executions in progress or waiting first (running
        /// actions are abandoned).
        #[arg(long)]
        force: bool,
    },
}

/// Runs a `sluice pipeline` command; returns the exit code.
pub async fn run(ctx: &Context, command: PipelineCommand) -> u8 {
    match command {
        PipelineCommand::Apply { file } => apply(ctx, &file).await,
        PipelineCommand::List(output) => list(ctx, output.json).await,
        PipelineCommand::Get {
            name,
            version,
            output,
        } => get(ctx, &name, version, output.json).await,
        PipelineCommand::Delete { name, force } => delete(ctx, &name, force).await,
    }
}

/// Prints a report's findings and a one-line summary to standard error.
pub fn print_report(report: &Report) {
    eprint!("{}", crate::text::lines(&report.to_string()));
    let errors = report.error_count();
    let warnings = report.diagnostics.len() - errors;
    if errors > 0 {
        eprintln!(
            "{}: {errors} error{}{}",
            report.file,
            if errors == 1 { "" } else { "s" },
            if warnings > 0 {
                format!(
                    ", {warnings} warning{}",
                    if warnings == 1 { "" } else { "s" }
                )
            } else {
                String::new()
            }
        );
    }
}

/// `sluice validate FILE`: every problem, errors and warnings. Exit 0 when
/// valid, 1 when not.
pub async fn validate(ctx: &Context, args: ValidateArgs) -> u8 {
    let (file, json) = (args.file.as_path(), args.output.json);
    let loaded = match model::load(file) {
        Ok(l) => l,
        Err(report) => return finish_validation(&report, json, None),
    };
    let sandbox = match ctx.host.sandbox() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    // Validation resolves providers without keeping anything.
    let catalog = Catalog::new(sandbox, &loaded.base_dir, None).with_plugins(ctx.host.plugins());
    let secrets = match ctx.host.secret_store() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let checked = crate::definitions::check(&loaded, &catalog, &secrets, &ctx.host.state_dir).await;
    let summary = format!(
        "pipeline `{}`: {} stages, {} actions",
        loaded.pipeline.name,
        loaded.pipeline.stages.len(),
        loaded
            .pipeline
            .stages
            .iter()
            .map(|s| s.actions.len())
            .sum::<usize>()
    );
    finish_validation(&checked.report, json, Some(summary))
}

fn finish_validation(report: &Report, json: bool, summary: Option<String>) -> u8 {
    if json {
        let answer = serde_json::json!({
            "file": report.file,
            "valid": !report.has_errors(),
            "diagnostics": report.diagnostics,
        });
        println!("{}", serde_json::to_string_pretty(&answer).unwrap());
    } else {
        print_report(report);
        if !report.has_errors() {
            println!("{}: valid; {}", report.file, summary.unwrap_or_default());
        }
    }
    if report.has_errors() {
        EXIT_FAILED
    } else {
        EXIT_OK
    }
}

/// `sluice pipeline apply FILE`: validates and records a new version.
async fn apply(ctx: &Context, file: &Path) -> u8 {
    match apply_file(ctx, file).await {
        Ok((name, version, changed)) => {
            if changed {
                println!("applied pipeline `{name}`: version {version}");
            } else {
                println!("pipeline `{name}` is unchanged: version {version}");
            }
            EXIT_OK
        }
        Err(code) => code,
    }
}

/// Applies a definition file, printing its findings; tells a running
/// driver to reload it (or sends it to the server). `Err` holds the exit
/// code.
pub async fn apply_file(ctx: &Context, file: &Path) -> Result<(String, u32, bool), u8> {
    let loaded = model::load(file).map_err(|report| {
        print_report(&report);
        EXIT_USAGE
    })?;
    if let Some(client) = &ctx.server {
        return apply_remote(client, file, &loaded).await;
    }
    let sandbox = ctx.host.sandbox().map_err(fail)?;
    apply_loaded(ctx, &loaded, sandbox).await
}

/// Sends a definition to the server, which checks and records it.
pub async fn apply_remote(
    client: &crate::client::Client,
    file: &Path,
    loaded: &model::Loaded,
) -> Result<(String, u32, bool), u8> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| fail(format!("cannot read {}: {e}", file.display())))?;
    let base_dir =
        std::path::absolute(&loaded.base_dir).unwrap_or_else(|_| loaded.base_dir.clone());
    match client.apply(text, &loaded.file, &base_dir).await {
        Ok(applied) => {
            if !applied.warnings.is_empty() {
                print_report(&crate::model::Report {
                    file: loaded.file.clone(),
                    diagnostics: applied.warnings,
                });
            }
            Ok((applied.name, applied.version, applied.changed))
        }
        Err(error) if !error.diagnostics.is_empty() => {
            print_report(&crate::model::Report {
                file: loaded.file.clone(),
                diagnostics: error.diagnostics,
            });
            Err(EXIT_USAGE)
        }
        Err(error) => Err(fail(error)),
    }
}

/// [`apply_file`] for a definition already loaded.
pub async fn apply_loaded(
    ctx: &Context,
    loaded: &model::Loaded,
    sandbox: crate::sandbox::Sandbox,
) -> Result<(String, u32, bool), u8> {
    let catalog = ctx.host.catalog(sandbox, &loaded.base_dir).map_err(fail)?;
    let mut store = ctx.host.store().map_err(fail)?;
    let secrets = ctx.host.secret_store().map_err(fail)?;
    match crate::definitions::apply(loaded, &catalog, &secrets, &mut store).await {
        Ok((version, changed, report)) => {
            let target = format!("/api/v1/pipelines/{}", loaded.pipeline.name);
            super::audit_local(ctx, "PutPipeline", &target, "ok");
            if report
                .diagnostics
                .iter()
                .any(|d| d.severity == Severity::Warning)
            {
                print_report(&report);
            }
            if changed && is_driven(&ctx.host.state_dir) {
                let reload = crate::engine::Command::Reload {
                    pipeline: loaded.pipeline.name.clone(),
                };
                let _ = store.push_request(&reload.to_json());
            }
            Ok((loaded.pipeline.name.clone(), version, changed))
        }
        Err(report) => {
            print_report(&report);
            Err(EXIT_USAGE)
        }
    }
}

/// `sluice pipeline list`.
async fn list(ctx: &Context, json: bool) -> u8 {
    let reader = match ctx.reader() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let pipelines = match reader.pipelines().await {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&pipelines).unwrap());
        return EXIT_OK;
    }
    if pipelines.is_empty() {
        println!("no pipelines in {}", ctx.host.state_dir.display());
        return EXIT_OK;
    }
    println!(
        "{:<24} {:>7}  {:<20}  LATEST EXECUTION",
        "NAME", "VERSION", "UPDATED"
    );
    for p in pipelines {
        let latest = p
            .latest_execution
            .map(|(id, status)| format!("{id}  {status}"))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:<24} {:>7}  {:<20}  {latest}",
            p.name,
            p.version,
            format_timestamp(p.updated_at)
        );
    }
    EXIT_OK
}

/// `sluice pipeline get NAME`: the definition of the current (or a given)
/// version, as YAML (or JSON).
async fn get(ctx: &Context, name: &str, version: Option<u32>, json: bool) -> u8 {
    let reader = match ctx.reader() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let version = match reader.pipeline(name, version).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&version).unwrap());
    } else {
        println!(
            "# pipeline `{}` version {}, applied {}",
            name,
            version.version,
            format_timestamp(version.created_at)
        );
        print!("{}", serde_yaml::to_string(&version.definition).unwrap());
    }
    EXIT_OK
}

/// `sluice pipeline delete NAME`: through the engine, which refuses while
/// the pipeline has executions in progress.
async fn delete(ctx: &Context, name: &str, force: bool) -> u8 {
    if ctx.server.is_some() || is_driven(&ctx.host.state_dir) {
        let delete = crate::engine::Command::Delete {
            pipeline: name.to_string(),
            force,
        };
        return super::control::send(ctx, delete).await;
    }
    // No one drives: hold the driver lock while the store deletes, so no
    // driver starts meanwhile (the store refuses in one transaction while
    // an execution is in progress, unless --force).
    let deleted = crate::engine::startup::hold_lock(&ctx.host.state_dir)
        .map_err(|e| e.to_string())
        .and_then(|lock| {
            let mut store = ctx.host.existing_store()?;
            let deletion = store
                .delete_pipeline(name, force)
                .map_err(|e| e.to_string());
            drop(lock);
            deletion
        })
        .map(|deletion| crate::engine::command::deleted(name, deletion));
    match deleted {
        Ok(Ok(())) => {
            super::audit_local(
                ctx,
                "DeletePipeline",
                &format!("/api/v1/pipelines/{name}"),
                "ok",
            );
            println!("deleted pipeline `{name}` and its history");
            EXIT_OK
        }
        Ok(Err(refused)) => {
            let refusal = super::control::Refusal::Engine(refused);
            warn_lines!("error: {refusal}");
            refusal.exit_code()
        }
        Err(e) => fail(e),
    }
}

/// `sluice schema`: the JSON Schema of pipeline definitions.
pub fn schema() -> u8 {
    println!(
        "{}",
        serde_json::to_string_pretty(&model::json_schema()).unwrap()
    );
    EXIT_OK
}
