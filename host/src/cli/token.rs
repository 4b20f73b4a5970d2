//! `sluice token create|list|revoke` and `sluice audit`: the named tokens a
//! shared server accepts, with their roles, and who changed what.
//! Through the server when one runs, else in the state directory.

use super::{Context, EXIT_OK, fail};
use crate::access::{self, Role};
use clap::{Args, Subcommand};

/// `sluice token`.
#[derive(Debug, Clone, Subcommand)]
pub enum TokenCommand {
    /// Make a named token with a role (read, operate, admin); it is shown
    /// once.
    Create {
        /// Its name: recorded as who started, approved or changed
        /// something.
        name: String,
        /// What it may do.
        #[arg(long)]
        role: Role,
        /// Also make an AWS access key pair for it, for the AWS CLI and
        /// SDKs (the CodePipeline API).
        #[arg(long)]
        aws: bool,
    },
    /// The named tokens and their roles.
    List(super::JsonFlag),
    /// Revoke a token.
    Revoke {
        /// Its name.
        name: String,
    },
}

/// `sluice audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    #[command(flatten)]
    pub output: super::JsonFlag,
}

/// Runs a `sluice token` command; returns the exit code.
pub async fn run(ctx: &Context, command: TokenCommand) -> u8 {
    match command {
        TokenCommand::Create { name, role, aws } => create(ctx, &name, role, aws).await,
        TokenCommand::List(output) => list(ctx, output.json).await,
        TokenCommand::Revoke { name } => revoke(ctx, &name).await,
    }
}

/// Prints an AWS key pair just made, shown this once.
fn say_aws_key(id: &str, secret: &str) {
    say!("AWS access key, shown this once:");
    say!("  aws_access_key_id = {id}");
    say!("  aws_secret_access_key = {secret}");
}

async fn create(ctx: &Context, name: &str, role: Role, aws: bool) -> u8 {
    if let Some(client) = &ctx.server {
        return match client.create_token(name, role, aws).await {
            Ok(made) => {
                say!("token `{name}` ({role}), shown this once:");
                say!("  {}", made["token"].as_str().unwrap_or_default());
                if let (Some(id), Some(secret)) = (
                    made["access_key_id"].as_str(),
                    made["secret_access_key"].as_str(),
                ) {
                    say_aws_key(id, secret);
                }
                EXIT_OK
            }
            Err(e) => fail(e),
        };
    }
    if !access::is_token_name(name) || name == access::BOOTSTRAP {
        return fail(format!(
            "`{name}` cannot name a token: use 1 to 64 letters, digits, `.`, `_`, `-` or `@` (not `{}`)",
            access::BOOTSTRAP
        ));
    }
    let token = match access::new_token() {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let key = match aws.then(access::new_aws_key).transpose() {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let by = format!("cli ({})", ctx.host.user);
    let added = ctx.host.store().and_then(|mut store| {
        let added = store
            .add_token(name, role.as_str(), &access::token_hash(&token), &by)
            .map_err(|e| e.to_string())?;
        if added && let Some((id, secret)) = &key {
            store
                .add_aws_key(name, id, secret)
                .map_err(|e| e.to_string())?;
        }
        if added {
            let _ = store.audit(&by, "CreateToken", &format!("/api/v1/tokens/{name}"), "ok");
        }
        Ok(added)
    });
    match added {
        Ok(true) => {
            say!("token `{name}` ({role}), shown this once:");
            say!("  {token}");
            if let Some((id, secret)) = &key {
                say_aws_key(id, secret);
            }
            EXIT_OK
        }
        Ok(false) => fail(format!("there is already a token named `{name}`")),
        Err(e) => fail(e),
    }
}

async fn list(ctx: &Context, json: bool) -> u8 {
    let tokens = match &ctx.server {
        Some(client) => client.tokens().await.map_err(|e| e.to_string()),
        None => ctx
            .host
            .existing_store()
            .and_then(|s| s.tokens().map_err(|e| e.to_string())),
    };
    let tokens = match tokens {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&tokens).unwrap());
        return EXIT_OK;
    }
    say!("{:<24} {:<8} {:<20} MADE BY", "NAME", "ROLE", "MADE");
    say!(
        "{:<24} {:<8} {:<20} the state directory's api-token",
        access::BOOTSTRAP,
        "admin",
        "-"
    );
    for t in tokens {
        say!(
            "{:<24} {:<8} {:<20} {}",
            t.name,
            t.role,
            crate::units::format_timestamp(t.created_at),
            t.created_by
        );
    }
    EXIT_OK
}

async fn revoke(ctx: &Context, name: &str) -> u8 {
    if let Some(client) = &ctx.server {
        return match client.revoke_token(name).await {
            Ok(m) => {
                say!("{}", m.message);
                EXIT_OK
            }
            Err(e) => fail(e),
        };
    }
    let by = format!("cli ({})", ctx.host.user);
    let removed = ctx.host.existing_store().and_then(|mut store| {
        let removed = store.revoke_token(name).map_err(|e| e.to_string())?;
        if removed {
            let _ = store.audit(&by, "RevokeToken", &format!("/api/v1/tokens/{name}"), "ok");
        }
        Ok(removed)
    });
    match removed {
        Ok(true) => {
            say!("revoked token `{name}`");
            EXIT_OK
        }
        Ok(false) => fail(format!("there is no token named `{name}`")),
        Err(e) => fail(e),
    }
}

/// `sluice audit`: who changed what, newest first.
pub async fn audit(ctx: &Context, args: AuditArgs) -> u8 {
    let entries = match &ctx.server {
        Some(client) => client.audit(args.limit).await.map_err(|e| e.to_string()),
        None => ctx
            .host
            .existing_store()
            .and_then(|s| s.audit_log(args.limit).map_err(|e| e.to_string())),
    };
    let entries = match entries {
        Ok(e) => e,
        Err(e) => return fail(e),
    };
    if args.output.json {
        println!("{}", serde_json::to_string_pretty(&entries).unwrap());
        return EXIT_OK;
    }
    for e in entries {
        say!(
            "{}  {:<20} {:<28} {}  {}",
            crate::units::format_timestamp(e.at),
            e.actor,
            e.action,
            e.target,
            e.outcome
        );
    }
    EXIT_OK
}
