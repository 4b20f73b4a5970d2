//! `sluice plugin ...`: pack a component as a package, sign it, trust
//! keys, install, list, inspect and remove installed plugins. The flags
//! are declared here (`main.rs` only hands them over); every command works
//! on the state directory of `--state-dir`.

use super::{Context, EXIT_OK, fail};
use crate::engine::now_millis;
use crate::packages::oci::{self, Form};
use crate::packages::sign::{self, PrivateKey, TrustStore};
use crate::packages::{self, InstallOptions, Installed, Package, PluginName};
use crate::providers::ProviderRef;
use crate::sandbox::ComponentSource;
use crate::units::{format_bytes, format_timestamp};
use clap::Subcommand;
use print::{package_json, pretty, print_installed, print_package, signatures_json};

mod print;
use std::path::{Path, PathBuf};

/// The `sluice plugin` commands.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Start a provider project from a template that builds as is: Rust
    /// (sluice-sdk), Python (componentize-py) or JavaScript
    /// (componentize-js).
    New {
        /// The provider's name: lowercase letters, digits and dashes.
        name: String,
        /// The language.
        #[arg(long, value_enum)]
        lang: crate::authoring::Language,
        /// The project folder [default: NAME].
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The `sdk/` folder of a Sluice checkout (Rust) [default: the one
        /// this binary was built from].
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a provider project with its language's toolchain; the
    /// component lands in DIR/provider.wasm.
    Build {
        /// The project folder.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// The language [default: detected from the project's files].
        #[arg(long, value_enum)]
        lang: Option<crate::authoring::Language>,
    },
    /// Conformance run of a component against the contract: describe,
    /// validate, run on fixtures, outputs, failures. Settings come from the
    /// project's sluice-test.json, and the flags.
    Test {
        /// A component (.wasm) or a project folder (its provider.wasm and
        /// sluice-test.json).
        #[arg(default_value = ".")]
        target: PathBuf,
        /// A configuration property of the test configuration.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
        config: Vec<(String, String)>,
        /// A property changed to make the run fail.
        #[arg(long = "fail-config", value_name = "KEY=VALUE", value_parser = super::parse_key_value)]
        fail_config: Vec<(String, String)>,
        /// An input artifact: name and folder.
        #[arg(long = "input", value_name = "NAME=DIR", value_parser = super::parse_key_value)]
        inputs: Vec<(String, String)>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Pack a provider component as a plugin package: an OCI image layout
    /// (a folder, or a .tar) holding the component, the CNCF Wasm config
    /// and a Sluice manifest taken from the component's own `describe`.
    Pack {
        /// The component: a .wasm file (or builtin:NAME).
        component: String,
        /// Where to write the package: a folder, or FILE.tar [default:
        /// OWNER-PROVIDER-VERSION in the current folder].
        #[arg(long, value_name = "DIR|FILE.tar")]
        out: Option<PathBuf>,
        /// Replace what is at --out.
        #[arg(long)]
        force: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check a package (every blob's digest and size, the contract, the
    /// signatures) and install it into the state directory.
    Install {
        /// The package: a folder or a .tar.
        package: PathBuf,
        /// Refuse it unless it carries a valid signature by a trusted key
        /// (the state directory's plugin-policy.json may require this too).
        #[arg(long)]
        require_signed: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List installed plugins.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show an installed plugin (OWNER/PROVIDER[@VERSION], default the
    /// highest version), or a package given by its path.
    Inspect {
        /// OWNER/PROVIDER[@VERSION], or the path of a package.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an installed version. Its component stays in the component
    /// store, so pipelines applied with it keep running it.
    Remove {
        /// OWNER/PROVIDER@VERSION.
        name: String,
    },
    /// Make an ed25519 key pair: the private key in KEYFILE (mode 0600),
    /// the public key in KEYFILE.pub.
    Keygen {
        /// The private key file to create.
        #[arg(long, value_name = "KEYFILE")]
        out: PathBuf,
    },
    /// Sign a package (its image manifest digest); the signature is added
    /// to the layout as an OCI referrer.
    Sign {
        /// The package: a folder or a .tar.
        package: PathBuf,
        /// The private key file.
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
    },
    /// Manage the keys whose signatures the state directory trusts.
    #[command(subcommand)]
    Trust(TrustCommand),
}

/// `sluice plugin trust ...`.
#[derive(Debug, Subcommand)]
pub enum TrustCommand {
    /// Trust a public key (a KEYFILE.pub).
    Add {
        /// The public key file.
        key: PathBuf,
    },
    /// List trusted keys.
    List,
    /// Stop trusting a key.
    Remove {
        /// The key's id.
        id: String,
    },
}

/// Runs a `sluice plugin` command; returns the exit code.
pub async fn run(ctx: &Context, command: PluginCommand) -> u8 {
    let result = match command {
        PluginCommand::New {
            name,
            lang,
            dir,
            sdk,
        } => new_project(&name, lang, dir, sdk),
        PluginCommand::Build { dir, lang } => build_project(ctx, &dir, lang),
        PluginCommand::Test {
            target,
            config,
            fail_config,
            inputs,
            json,
        } => {
            return test_component(ctx, &target, config, fail_config, inputs, json).await;
        }
        PluginCommand::Pack {
            component,
            out,
            force,
            json,
        } => pack(ctx, &component, out, force, json).await,
        PluginCommand::Install {
            package,
            require_signed,
            json,
        } => install(ctx, &package, require_signed, json).await,
        PluginCommand::List { json } => list(ctx, json),
        PluginCommand::Inspect { name, json } => inspect(ctx, &name, json),
        PluginCommand::Remove { name } => remove(ctx, &name),
        PluginCommand::Keygen { out } => keygen(&out),
        PluginCommand::Sign { package, key } => sign_package(&package, &key),
        PluginCommand::Trust(TrustCommand::Add { key }) => trust_add(ctx, &key),
        PluginCommand::Trust(TrustCommand::List) => trust_list(ctx),
        PluginCommand::Trust(TrustCommand::Remove { id }) => TrustStore::new(&ctx.host.state_dir)
            .remove(&id)
            .map(|_| say_lines!("no longer trusting key {id}"))
            .map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => EXIT_OK,
        Err(message) => fail(message),
    }
}

fn new_project(
    name: &str,
    language: crate::authoring::Language,
    dir: Option<PathBuf>,
    sdk: Option<PathBuf>,
) -> Result<(), String> {
    use crate::authoring::scaffold;
    let dir = dir.unwrap_or_else(|| PathBuf::from(name));
    let created = scaffold::create(name, language, &dir, sdk.as_deref())?;
    say_lines!(
        "created {} ({} provider `custom/{name}`, {} files)",
        created.dir.display(),
        language.name(),
        created.files.len()
    );
    let shown = created.dir.display();
    say_lines!("  build: sluice plugin build {shown}");
    say_lines!("  test:  sluice plugin test {shown}");
    say_lines!("  pack:  sluice plugin pack {shown}/provider.wasm");
    if language != crate::authoring::Language::Rust {
        say_lines!(
            "  (the {} toolchain: see {shown}/README.md)",
            language.name()
        );
    }
    Ok(())
}

fn build_project(
    ctx: &Context,
    dir: &Path,
    language: Option<crate::authoring::Language>,
) -> Result<(), String> {
    let built =
        crate::authoring::toolchain::build(dir, language, &ctx.host.process, &ctx.host.toolchains)?;
    say_lines!(
        "built {} ({}) in {}",
        built.component.display(),
        format_bytes(built.bytes),
        crate::units::format_duration(built.took)
    );
    Ok(())
}

async fn test_component(
    ctx: &Context,
    target: &Path,
    config: Vec<(String, String)>,
    fail_config: Vec<(String, String)>,
    inputs: Vec<(String, String)>,
    json: bool,
) -> u8 {
    use crate::authoring::conformance::{self, TestSettings, Verdict};
    use crate::authoring::{COMPONENT_FILE, TEST_FILE};
    let (component, settings_file) = if target.is_dir() {
        (target.join(COMPONENT_FILE), Some(target.join(TEST_FILE)))
    } else {
        let beside = target.parent().map(|p| p.join(TEST_FILE));
        (target.to_path_buf(), beside)
    };
    if !component.is_file() {
        return fail(format!(
            "no component at {}: build it first (sluice plugin build)",
            component.display()
        ));
    }
    let mut settings = match settings_file.filter(|f| f.is_file()) {
        Some(file) => match TestSettings::load(&file) {
            Ok(s) => s,
            Err(e) => return fail(e),
        },
        None => TestSettings::default(),
    };
    settings.config.extend(config);
    if !fail_config.is_empty() {
        settings
            .fail_config
            .get_or_insert_with(Default::default)
            .extend(fail_config);
    }
    for (name, dir) in inputs {
        settings.inputs.insert(name, PathBuf::from(dir));
    }
    let sandbox = match ctx.host.sandbox() {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    let report = conformance::run(&sandbox, &component, &settings).await;
    if json {
        say_lines!(
            "{}",
            pretty(&serde_json::to_value(&report).expect("serialises"))
        );
    } else {
        say_lines!("{} (sha256 {})", report.component, &report.sha256);
        for check in &report.checks {
            let (mark, detail) = match &check.verdict {
                Verdict::Pass(d) => ("pass", d),
                Verdict::Fail(d) => ("FAIL", d),
                Verdict::Skip(d) => ("skip", d),
            };
            say_lines!("  {mark}  {}: {detail}", check.name);
        }
        let failed = report
            .checks
            .iter()
            .filter(|c| matches!(c.verdict, Verdict::Fail(_)))
            .count();
        if failed == 0 {
            say_lines!("conformant: {} checks", report.checks.len());
        } else {
            say_lines!("{failed} of {} checks failed", report.checks.len());
        }
    }
    if report.passed() {
        EXIT_OK
    } else {
        super::EXIT_FAILED
    }
}

fn now() -> String {
    format_timestamp(now_millis())
}

async fn pack(
    ctx: &Context,
    component: &str,
    out: Option<PathBuf>,
    force: bool,
    json: bool,
) -> Result<(), String> {
    let source = match component.parse::<ProviderRef>() {
        Ok(reference @ ProviderRef::Builtin(_)) => {
            reference.component().map_err(|e| e.to_string())?
        }
        _ => ComponentSource::from_file(Path::new(component)).map_err(|e| e.to_string())?,
    };
    let sandbox = ctx.host.sandbox()?;
    let out = match out {
        Some(out) => out,
        None => {
            // The default name needs the descriptor; describe first.
            let (_, d) = packages::package::describe(&sandbox, source.clone())
                .await
                .map_err(|e| e.to_string())?;
            let t = &d.action_type;
            PathBuf::from(format!("{}-{}-{}", t.owner, t.provider, t.version))
        }
    };
    let package = packages::pack(&sandbox, source, &out, force, now())
        .await
        .map_err(|e| e.to_string())?;
    if json {
        say_lines!("{}", pretty(&package_json(&package)));
    } else {
        say_lines!(
            "packed {} into {} ({})",
            package.provider.reference(),
            out.display(),
            if package.form == Form::Tar {
                "tar archive"
            } else {
                "OCI image layout folder"
            }
        );
        say_lines!("  manifest {}", package.digest());
        say_lines!(
            "  component {} ({})",
            package.component_descriptor.digest,
            format_bytes(package.component_descriptor.size)
        );
    }
    Ok(())
}

async fn install(
    ctx: &Context,
    path: &Path,
    require_signed: bool,
    json: bool,
) -> Result<(), String> {
    let sandbox = ctx.host.sandbox()?;
    let report = packages::install(
        &sandbox,
        &ctx.host.state_dir,
        path,
        &InstallOptions { require_signed },
        now(),
    )
    .await
    .map_err(|e| e.to_string())?;
    for warning in &report.warnings {
        warn_lines!("warning: {}: {warning}", path.display());
    }
    let i = &report.installed;
    if json {
        say_lines!(
            "{}",
            pretty(&serde_json::json!({
                "installed": i,
                "already_installed": report.already,
                "warnings": report.warnings,
            }))
        );
    } else if report.already {
        say_lines!(
            "{} {} is already installed (sha256:{})",
            i.name,
            i.version,
            i.component_sha256
        );
    } else {
        say_lines!(
            "installed {} {} (sha256:{})",
            i.name,
            i.version,
            i.component_sha256
        );
        if !i.signed_by.is_empty() {
            say_lines!("  signed by trusted key {}", i.signed_by.join(", "));
        }
        say_lines!(
            "  use it in a pipeline as `provider: {}@^{}`",
            i.name,
            i.semver().major
        );
    }
    Ok(())
}

fn list(ctx: &Context, json: bool) -> Result<(), String> {
    let all = ctx.host.plugins().list().map_err(|e| e.to_string())?;
    if json {
        say_lines!("{}", pretty(&all));
        return Ok(());
    }
    if all.is_empty() {
        say_lines!("no plugins installed in {}", ctx.host.state_dir.display());
        return Ok(());
    }
    say_lines!(
        "{:<32} {:<12} {:<9} {:<8} COMPONENT",
        "NAME",
        "VERSION",
        "CATEGORY",
        "SIGNED"
    );
    for i in &all {
        say_lines!(
            "{:<32} {:<12} {:<9} {:<8} sha256:{}",
            i.name,
            i.version,
            i.manifest.action_type.category.to_string(),
            if i.signed_by.is_empty() { "no" } else { "yes" },
            &i.component_sha256[..16.min(i.component_sha256.len())]
        );
    }
    Ok(())
}

fn inspect(ctx: &Context, name: &str, json: bool) -> Result<(), String> {
    let path = Path::new(name);
    if path.exists() {
        let package = Package::open(path).map_err(|e| e.to_string())?;
        let checks = sign::signatures(&package).map_err(|e| e.to_string())?;
        if json {
            let mut answer = package_json(&package);
            answer["signatures"] = signatures_json(&checks);
            say_lines!("{}", pretty(&answer));
        } else {
            print_package(&package, &checks);
        }
        return Ok(());
    }
    let (name, version) = match name.split_once('@') {
        Some(_) => {
            let (n, v) = packages::parse_name_version(name)?;
            (n, Some(v))
        }
        None => (name.parse::<PluginName>()?, None),
    };
    let installed = ctx
        .host
        .plugins()
        .get(&name, version.as_ref())
        .map_err(|e| e.to_string())?;
    if json {
        say_lines!("{}", pretty(&installed));
    } else {
        print_installed(&installed);
    }
    Ok(())
}

fn remove(ctx: &Context, name: &str) -> Result<(), String> {
    let (name, version) = packages::parse_name_version(name)?;
    let removed = ctx
        .host
        .plugins()
        .remove(&name, &version)
        .map_err(|e| e.to_string())?;
    say_lines!(
        "removed {} {} (its component sha256:{} stays in the component store for pipelines applied with it)",
        removed.name,
        removed.version,
        removed.component_sha256
    );
    Ok(())
}

fn keygen(out: &Path) -> Result<(), String> {
    let (public, public_path) = sign::keygen(out).map_err(|e| e.to_string())?;
    say_lines!("private key: {} (keep it secret)", out.display());
    say_lines!("public key:  {}", public_path.display());
    say_lines!("key id:      {}", public.id());
    say_lines!("{}", public.to_text());
    Ok(())
}

fn sign_package(path: &Path, key: &Path) -> Result<(), String> {
    let key = PrivateKey::load(key).map_err(|e| e.to_string())?;
    let package = Package::open(path).map_err(|e| e.to_string())?;
    let layout = sign::sign(&package, &key, &now());
    layout
        .write(path, package.form, true)
        .map_err(|e| e.to_string())?;
    say_lines!(
        "signed {} ({}) with key {}",
        package.provider.reference(),
        package.digest(),
        key.public().id()
    );
    Ok(())
}

fn trust_add(ctx: &Context, key: &Path) -> Result<(), String> {
    let key = TrustStore::new(&ctx.host.state_dir)
        .add(key)
        .map_err(|e| e.to_string())?;
    say_lines!("trusting key {} ({})", key.id(), key.to_text());
    Ok(())
}

fn trust_list(ctx: &Context) -> Result<(), String> {
    let keys = TrustStore::new(&ctx.host.state_dir)
        .list()
        .map_err(|e| e.to_string())?;
    if keys.is_empty() {
        say_lines!("no trusted keys in {}", ctx.host.state_dir.display());
    }
    for key in keys {
        say_lines!("{}  {}", key.id(), key.to_text());
    }
    Ok(())
}
