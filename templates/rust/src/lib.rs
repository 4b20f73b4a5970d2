//! `custom:{{name}}`: a build provider. It counts the files of its input
//! artifact, writes `report.txt` into its output artifact and returns the
//! count as output variables.
//!
//! Build: `cargo build --release --target wasm32-wasip2`
//! Try:   `sluice action run --provider target/wasm32-wasip2/release/{{crate_name}}.wasm \
//!             --config Greeting=hi --input src=./fixtures/src --output out=./out`

use sluice_sdk::{
    Category, Config, Context, Descriptor, Failure, Job, Outcome, Property, Provider,
};

struct Template;

impl Provider for Template {
    fn describe() -> Descriptor {
        Descriptor::new(Category::Build, "custom", "{{name}}", "1.0.0")
            .description("Counts the files of its input and writes a report into its output.")
            .property(Property::required(
                "Greeting",
                "First line of the report (`report.txt` in the output artifact).",
            ))
            .property(Property::optional(
                "Fail",
                "true to make the job fail on purpose (to try failure handling); default false.",
            ))
            .inputs(1, 1)
            .outputs(1, 1)
    }

    fn validate(config: &Config) -> Result<(), Vec<String>> {
        // Required and unknown properties, as `describe` declares them.
        Self::describe().check(config)?;
        // Values holding `#{...}` references are only known at run time.
        if config.get("Fail").is_some_and(|v| !v.contains("#{")) {
            config.flag("Fail", false).map_err(|e| vec![e.message])?;
        }
        Ok(())
    }

    fn run(job: Job) -> Result<Outcome, Failure> {
        let greeting = job.config.require("Greeting")?;
        if job.config.flag("Fail", false)? {
            return Err(Failure::job_failed(
                "failing on purpose: configuration property `Fail` is true",
            ));
        }
        let (Some(input), Some(output)) = (job.inputs.first(), job.outputs.first()) else {
            return Err(Failure::configuration(
                "{{name}} needs one input artifact and one output artifact",
            ));
        };

        // Count the input's files and bytes (symbolic links are not followed).
        let files = sluice_sdk::fs::list_files(input.path())
            .context(format!("listing input artifact `{}`", input.name))?;
        let mut bytes = 0u64;
        for file in &files {
            let meta = std::fs::symlink_metadata(input.join(file))
                .context(format!("reading {}", file.display()))?;
            bytes += meta.len();
        }

        // Read one file of the input when it has it.
        let readme = match std::fs::read_to_string(input.join("README.md")) {
            Ok(text) => text.lines().next().unwrap_or("").to_string(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "(no README.md)".to_string(),
            Err(e) => return Err(Failure::job_failed(format!("reading README.md: {e}"))),
        };

        let report = format!(
            "{greeting} from {{name}} (rust)\ninput `{}`: {} files, {bytes} bytes\nREADME.md: {readme}\n",
            input.name,
            files.len(),
        );
        std::fs::write(output.join("report.txt"), report).context("writing report.txt")?;

        sluice_sdk::info!(
            "counted {} ({bytes} bytes) in `{}`",
            sluice_sdk::counted(files.len() as u64, "file"),
            input.name
        );
        Ok(Outcome::success()
            .summary(format!(
                "{} files, {bytes} bytes in `{}`",
                files.len(),
                input.name
            ))
            .variable("Files", files.len().to_string())
            .variable("Bytes", bytes.to_string())
            .variable("Language", "rust"))
    }
}

sluice_sdk::export_provider!(Template);
