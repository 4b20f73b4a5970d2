//! The AWS clients the CodePipeline API's tests drive: boto3 and the AWS
//! CLI from the virtual environment `scripts/aws-clients.sh` makes, access
//! keys `sluice token create --aws` makes, and a git repository a
//! CodeCommit source maps to.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The clients' virtual environment (`$SLUICE_AWS_CLIENTS`, else
/// `~/.cache/sluice/aws-clients`); panics naming the script that makes it.
pub fn clients() -> PathBuf {
    let dir = std::env::var_os("SLUICE_AWS_CLIENTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("sluice/aws-clients")
        });
    assert!(
        dir.join("bin/python").exists() && dir.join("bin/aws").exists(),
        "boto3 and the AWS CLI are not installed in {}: run scripts/aws-clients.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// `sluice token create NAME --role ROLE --aws` on `state` (through its
/// server when one serves it): the key pair it prints.
pub fn aws_key(exe: &Path, state: &Path, name: &str, role: &str) -> (String, String) {
    let out = Command::new(exe)
        .arg("--state-dir")
        .arg(state)
        .args(["token", "create", name, "--role", role, "--aws"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            .unwrap_or_else(|| panic!("no {key} in: {text}"))
    };
    (field("aws_access_key_id"), field("aws_secret_access_key"))
}

/// Runs one of the `tests/aws/` scripts with the clients' Python.
pub fn script(name: &str, args: &[&str]) -> Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("aws").join(name);
    Command::new(clients().join("bin/python"))
        .arg(path)
        .args(args)
        .output()
        .unwrap()
}

/// A git repository at `dir` with `files` committed on branch `main`, and
/// the state directory's `aws-actions.yaml` mapping it as `app`.
pub fn mapped_repository(dir: &Path, state: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (path, body) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.com",
            "commit",
            "-qm",
            "one",
        ],
    ] {
        let status = Command::new("git")
            .args(args)
            .current_dir(dir)
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }
    std::fs::create_dir_all(state).unwrap();
    std::fs::write(
        state.join("aws-actions.yaml"),
        format!("repositories:\n  app: {}\n", dir.display()),
    )
    .unwrap();
}

/// botocore's model of CodePipeline 2015-07-09, as the installed clients
/// have it (read through botocore's own loader: the file is compressed).
pub fn service_model() -> serde_json::Value {
    let out = Command::new(clients().join("bin/python"))
        .args([
            "-c",
            "import json, botocore.loaders; print(json.dumps(botocore.loaders.Loader().load_service_model('codepipeline', 'service-2', '2015-07-09')))",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Where `value` does not match the model's shape `shape` (members the
/// shape lacks, wrong types, values outside an enum, required members
/// missing), each with its path.
pub fn mismatches(
    model: &serde_json::Value,
    shape: &str,
    value: &serde_json::Value,
) -> Vec<String> {
    let mut out = Vec::new();
    walk(model, shape, value, shape, &mut out);
    out
}

fn walk(
    model: &serde_json::Value,
    shape: &str,
    value: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    let def = &model["shapes"][shape];
    if value.is_null() {
        return;
    }
    match def["type"].as_str().unwrap_or("") {
        "structure" => {
            let Some(object) = value.as_object() else {
                return out.push(format!("{path}: a structure, not {value}"));
            };
            for (key, member) in object {
                match def["members"].get(key) {
                    Some(m) => walk(
                        model,
                        m["shape"].as_str().unwrap(),
                        member,
                        &format!("{path}.{key}"),
                        out,
                    ),
                    None => out.push(format!("{path}.{key}: not a member of {shape}")),
                }
            }
            for required in def["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap();
                if object.get(key).is_none_or(Value::is_null) {
                    out.push(format!("{path}.{key}: required by {shape}, missing"));
                }
            }
        }
        "list" => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(
                        model,
                        def["member"]["shape"].as_str().unwrap(),
                        item,
                        &format!("{path}[{i}]"),
                        out,
                    );
                }
            }
            None => out.push(format!("{path}: a list, not {value}")),
        },
        "map" => match value.as_object() {
            Some(items) => {
                for (key, item) in items {
                    walk(
                        model,
                        def["value"]["shape"].as_str().unwrap(),
                        item,
                        &format!("{path}[{key}]"),
                        out,
                    );
                }
            }
            None => out.push(format!("{path}: a map, not {value}")),
        },
        "string" => match value.as_str() {
            Some(text) => {
                if let Some(allowed) = def["enum"].as_array()
                    && !allowed.iter().any(|a| a == text)
                {
                    out.push(format!("{path}: `{text}` is not one of {}", def["enum"]));
                }
            }
            None => out.push(format!("{path}: a string, not {value}")),
        },
        "integer" | "long" if !value.is_i64() && !value.is_u64() => {
            out.push(format!("{path}: an integer, not {value}"));
        }
        "double" | "float" | "timestamp" if !value.is_number() => {
            out.push(format!("{path}: a number, not {value}"));
        }
        "boolean" if !value.is_boolean() => {
            out.push(format!("{path}: a boolean, not {value}"));
        }
        _ => {}
    }
}
