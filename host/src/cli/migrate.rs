//! `sluice migrate`: creates the state database's schema, or brings it up
//! to this build's, and says which database and version (a schema newer
//! than this build is refused, and nothing is changed).

use super::{Context, EXIT_OK, fail};
use clap::Args;

/// `sluice migrate`.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub output: super::JsonFlag,
}

/// Migrates; returns the exit code.
pub async fn migrate(ctx: &Context, args: MigrateArgs) -> u8 {
    let state_dir = ctx.host.state_dir.clone();
    let opened = tokio::task::spawn_blocking(move || {
        let store = crate::store::Store::open(&state_dir)?;
        let version = store.schema_version()?;
        Ok::<_, crate::store::StoreError>((store.path(), store.is_postgres(), version))
    })
    .await;
    let (path, postgres, version) = match opened {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => return fail(e),
        Err(e) => return fail(e),
    };
    let database = if postgres { "postgres" } else { "sqlite" };
    if args.output.json {
        println!(
            "{}",
            serde_json::json!({
                "database": database,
                "location": path.display().to_string(),
                "schema_version": version,
            })
        );
    } else {
        println!(
            "{} ({database}) is at schema version {version}",
            path.display()
        );
    }
    EXIT_OK
}
