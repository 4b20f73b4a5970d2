//! A secret given to a pipeline through `#{secrets.NAME}` reaches the
//! program that needs it and nowhere else: not the log, the summaries, the
//! failure messages, the output variables, the stored configuration or any
//! file of the state directory.

use sluice::engine::ExecutionStatus as S;
use sluice_tests::harness::Harness;
use std::path::Path;

const SECRET: &str = "s3cr3t-v4lue-42";

fn files_under(root: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else if entry.file_type().unwrap().is_file() {
                found.push(path);
            }
        }
    }
    found
}

#[tokio::test]
async fn a_secret_reaches_the_program_and_is_never_stored() {
    let yaml = r#"
name: secretive
stages:
{source_stage}
  - name: Build
    actions:
      - name: Use
        provider: builtin:command
        configuration:
          Environment: "TOKEN=#{secrets.TEST_TOKEN}"
          Build: |
            echo "the program got the token: $TOKEN"
            printf 'split across writes: s3cr3t-'; sleep 0.1; printf 'v4lue-42\n'
            echo "Leak=$TOKEN" >> "$SLUICE_OUTPUT_VARIABLES"
            echo "Length=${#TOKEN}" >> "$SLUICE_OUTPUT_VARIABLES"
        grants:
          process: { programs: [sh, sleep] }
          secrets: [TEST_TOKEN]
        namespace: Used
      - name: Fail
        provider: builtin:command
        configuration:
          Environment: "TOKEN=#{secrets.TEST_TOKEN}"
          Build: 'echo "about to fail with $TOKEN"; exit 4'
        grants:
          process: { programs: [sh] }
          secrets: [TEST_TOKEN]
"#;
    let mut h = Harness::new(yaml).await;
    let a = h.start().await;
    h.wait_status(&a, S::Failed).await;

    let execution = h.execution(&a);
    let build = &execution.stages[1];
    let used = build.actions.iter().find(|x| x.name == "Use").unwrap();
    let variables: Vec<(&str, &str)> = used
        .variables
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert!(variables.contains(&("Leak", "****")), "{variables:?}");
    assert!(variables.contains(&("Length", "15")), "{variables:?}");
    let failed = build.actions.iter().find(|x| x.name == "Fail").unwrap();
    let message = &failed.error.as_ref().unwrap().message;
    assert!(message.contains("about to fail with ****"), "{message}");

    let log = std::fs::read_to_string(h.state_dir.join(used.log.as_ref().unwrap())).unwrap();
    assert!(log.contains("the program got the token: ****"), "{log}");
    assert!(log.contains("split across writes: ****"), "{log}");

    h.shutdown().await;
    let files = files_under(&h.state_dir);
    assert!(files.iter().any(|f| f.ends_with("state.db")), "{files:?}");
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "log")),
        "{files:?}"
    );
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in {}",
            file.display()
        );
    }
}
