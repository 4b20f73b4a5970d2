//! AWS action types on Sluice's providers. An action written
//! `aws:CATEGORY/OWNER/PROVIDER/VERSION` (as a CodePipeline declaration's
//! `actionTypeId` is kept) runs on the built-in provider its type maps
//! to, with its AWS configuration translated for that provider, and with
//! what the host's mapping file grants it: never anything the pipeline
//! asks for itself, so a pipeline created through the API gets no grant
//! the operator did not configure.
//!
//! The mapping is `aws-actions.yaml` in the state directory:
//!
//! ```yaml
//! repositories:            # git sources, by CodeCommit RepositoryName,
//!   app: /srv/git/app      # CodeStar FullRepositoryId or GitHub Owner/Repo
//! ```

use crate::model::codepipeline::ActionTypeId;
use crate::model::{Action, Diagnostic, PathAccess, PathGrant, Pipeline};
use indexmap::IndexMap;
use serde::Deserialize;
use std::path::Path;

/// The mapping file's name in the state directory.
pub const MAPPING_FILE: &str = "aws-actions.yaml";

/// What the host lets AWS action types reach.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Git repositories on this host by the name AWS's source actions
    /// give them: CodeCommit's `RepositoryName`, CodeStar's
    /// `FullRepositoryId`, GitHub's `Owner/Repo`.
    #[serde(default)]
    pub repositories: IndexMap<String, String>,
}

impl Mapping {
    /// The state directory's mapping; none when it has no file. A file
    /// that cannot be read is an error naming it.
    pub fn load(state_dir: &Path) -> Result<Mapping, String> {
        let path = state_dir.join(MAPPING_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Mapping::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        serde_yaml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

/// The AWS action types Sluice runs, with what each maps to.
pub const SUPPORTED: &[(&str, &str)] = &[
    (
        "Source/AWS/CodeCommit/1",
        "builtin:git, on a repository of the mapping's `repositories`",
    ),
    (
        "Source/AWS/CodeStarSourceConnection/1",
        "builtin:git, on a repository of the mapping's `repositories`",
    ),
    (
        "Source/ThirdParty/GitHub/1",
        "builtin:git, on a repository of the mapping's `repositories`",
    ),
    ("Approval/AWS/Manual/1", "builtin:manual"),
];

/// An AWS action as the provider that runs it sees it.
struct Adapted {
    provider: &'static str,
    configuration: IndexMap<String, String>,
    grants: crate::model::Grants,
}

/// Each action of `pipeline` as it runs: AWS action types replaced by the
/// provider, configuration and grants the mapping gives them (other
/// actions as they are); with whether each was, and what is wrong.
pub fn adapt(
    pipeline: &Pipeline,
    mapping: &Mapping,
) -> (Pipeline, Vec<Vec<bool>>, Vec<Diagnostic>) {
    let mut effective = pipeline.clone();
    let mut adapted = Vec::new();
    let mut problems = Vec::new();
    for (s, stage) in effective.stages.iter_mut().enumerate() {
        let mut flags = Vec::new();
        for (a, action) in stage.actions.iter_mut().enumerate() {
            let path = format!("stages[{s}].actions[{a}]");
            let Some(id) = ActionTypeId::from_reference(&action.provider) else {
                flags.push(false);
                continue;
            };
            flags.push(true);
            let id = match id {
                Ok(id) => id,
                Err(message) => {
                    problems.push(Diagnostic::error(format!("{path}.provider"), message));
                    continue;
                }
            };
            if !action.grants.is_empty() {
                problems.push(Diagnostic::error(
                    format!("{path}.grants"),
                    format!(
                        "{} runs with what the host's {MAPPING_FILE} grants it; an action of an AWS type cannot grant itself more",
                        action.provider
                    ),
                ));
                continue;
            }
            match adapt_action(&id, action, mapping) {
                Ok(done) => {
                    action.provider = done.provider.to_string();
                    action.configuration = done.configuration;
                    action.grants = done.grants;
                }
                Err((field, message)) => problems.push(Diagnostic::error(
                    if field.is_empty() {
                        format!("{path}.provider")
                    } else {
                        format!("{path}.configuration.{field}")
                    },
                    message,
                )),
            }
        }
        adapted.push(flags);
    }
    (effective, adapted, problems)
}

/// The keys each type's configuration may have, as AWS documents them.
fn allowed(id: &ActionTypeId) -> Option<&'static [&'static str]> {
    Some(
        match (
            id.category.as_str(),
            id.owner.as_str(),
            id.provider.as_str(),
            id.version.as_str(),
        ) {
            ("Source", "AWS", "CodeCommit", "1") => &[
                "RepositoryName",
                "BranchName",
                "PollForSourceChanges",
                "OutputArtifactFormat",
            ],
            ("Source", "AWS", "CodeStarSourceConnection", "1") => &[
                "ConnectionArn",
                "FullRepositoryId",
                "BranchName",
                "OutputArtifactFormat",
                "DetectChanges",
            ],
            ("Source", "ThirdParty", "GitHub", "1") => &[
                "Owner",
                "Repo",
                "Branch",
                "OAuthToken",
                "PollForSourceChanges",
            ],
            ("Approval", "AWS", "Manual", "1") => {
                &["NotificationArn", "CustomData", "ExternalEntityLink"]
            }
            _ => return None,
        },
    )
}

fn adapt_action(
    id: &ActionTypeId,
    action: &Action,
    mapping: &Mapping,
) -> Result<Adapted, (String, String)> {
    let type_name = format!(
        "{}/{}/{}/{}",
        id.category, id.owner, id.provider, id.version
    );
    let Some(keys) = allowed(id) else {
        let supported: Vec<&str> = SUPPORTED.iter().map(|(t, _)| *t).collect();
        return Err((
            String::new(),
            format!(
                "Sluice does not run the AWS action type {type_name}; it runs: {}",
                supported.join(", ")
            ),
        ));
    };
    let config = &action.configuration;
    if let Some(key) = config.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err((
            key.clone(),
            format!(
                "{type_name} has no configuration property `{key}` (it has: {})",
                keys.join(", ")
            ),
        ));
    }
    let get = |key: &str| {
        config
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    };
    let need = |key: &str| {
        get(key).ok_or_else(|| (key.to_string(), format!("{type_name} requires `{key}`")))
    };
    match id.provider.as_str() {
        "CodeCommit" | "CodeStarSourceConnection" | "GitHub" => {
            let (repository, branch) = match id.provider.as_str() {
                "CodeCommit" => (need("RepositoryName")?.to_string(), need("BranchName")?),
                "CodeStarSourceConnection" => {
                    need("ConnectionArn")?;
                    (need("FullRepositoryId")?.to_string(), need("BranchName")?)
                }
                _ => (
                    format!("{}/{}", need("Owner")?, need("Repo")?),
                    need("Branch")?,
                ),
            };
            if let Some(format) = get("OutputArtifactFormat").filter(|f| *f != "CODE_ZIP") {
                return Err((
                    "OutputArtifactFormat".into(),
                    format!(
                        "`{format}` is not supported: the output is the commit's files (CODE_ZIP)"
                    ),
                ));
            }
            let Some(folder) = mapping.repositories.get(&repository) else {
                let known: Vec<&str> = mapping.repositories.keys().map(String::as_str).collect();
                return Err((
                    String::new(),
                    format!(
                        "repository `{repository}` is not one this host maps: add it to `repositories` in the state directory's {MAPPING_FILE} (it maps: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
            };
            let mut grants = crate::model::Grants::default();
            grants.paths.insert(
                "repo".into(),
                PathGrant {
                    path: folder.clone(),
                    access: PathAccess::ReadOnly,
                },
            );
            Ok(Adapted {
                provider: "builtin:git",
                configuration: [("Branch".to_string(), branch.to_string())]
                    .into_iter()
                    .collect(),
                grants,
            })
        }
        "Manual" => Ok(Adapted {
            provider: "builtin:manual",
            configuration: ["CustomData", "ExternalEntityLink"]
                .iter()
                .filter_map(|k| config.get(*k).map(|v| (k.to_string(), v.clone())))
                .collect(),
            grants: Default::default(),
        }),
        _ => unreachable!("every type `allowed` knows is adapted"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipeline(actions: &str) -> Pipeline {
        let yaml = format!(
            "name: p\nstages:\n  - name: Source\n    actions:\n{actions}\n  - name: Approve\n    actions:\n      - name: Ok\n        provider: aws:Approval/AWS/Manual/1\n        configuration: {{ CustomData: look, NotificationArn: arn:aws:sns:x }}\n"
        );
        crate::model::parse::parse_with_map(&yaml, crate::model::Format::Yaml)
            .unwrap()
            .0
    }

    fn mapping() -> Mapping {
        serde_yaml::from_str("repositories:\n  app: /srv/git/app\n  org/app: /srv/git/org-app\n")
            .unwrap()
    }

    #[test]
    fn git_sources_run_on_the_repositories_the_host_maps() {
        for (source, folder) in [
            (
                "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app, BranchName: main } }",
                "/srv/git/app",
            ),
            (
                "{ provider: aws:Source/AWS/CodeStarSourceConnection/1, configuration: { ConnectionArn: arn:c, FullRepositoryId: org/app, BranchName: main } }",
                "/srv/git/org-app",
            ),
            (
                "{ provider: aws:Source/ThirdParty/GitHub/1, configuration: { Owner: org, Repo: app, Branch: main, OAuthToken: x } }",
                "/srv/git/org-app",
            ),
        ] {
            let p = pipeline(&format!(
                "      - {{ name: App, outputs: [Code], {} ",
                &source[2..]
            ));
            let (effective, adapted, problems) = adapt(&p, &mapping());
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(adapted, vec![vec![true], vec![true]]);
            let action = &effective.stages[0].actions[0];
            assert_eq!(action.provider, "builtin:git");
            assert_eq!(action.configuration["Branch"], "main");
            assert_eq!(action.grants.paths["repo"].path, folder);
            assert_eq!(action.grants.paths["repo"].access, PathAccess::ReadOnly);
            let approve = &effective.stages[1].actions[0];
            assert_eq!(approve.provider, "builtin:manual");
            assert_eq!(approve.configuration.len(), 1, "NotificationArn is AWS's");
            // The definition itself is left as written.
            assert!(p.stages[0].actions[0].provider.starts_with("aws:"));
        }
    }

    #[test]
    fn what_the_host_does_not_map_is_refused_naming_it() {
        let cases = [
            (
                "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: other, BranchName: main } }",
                "stages[0].actions[0].provider",
                "repository `other`",
            ),
            (
                "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app } }",
                "stages[0].actions[0].configuration.BranchName",
                "requires `BranchName`",
            ),
            (
                "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app, BranchName: main, Colour: red } }",
                "stages[0].actions[0].configuration.Colour",
                "no configuration property",
            ),
            (
                "{ provider: aws:Source/AWS/S3/1, configuration: { S3Bucket: b } }",
                "stages[0].actions[0].provider",
                "Approval/AWS/Manual/1",
            ),
            (
                "{ provider: aws:Source/AWS/CodeCommit/1, configuration: { RepositoryName: app, BranchName: main }, grants: { process: { programs: [sh] } } }",
                "stages[0].actions[0].grants",
                "cannot grant itself",
            ),
        ];
        for (source, path, words) in cases {
            let p = pipeline(&format!(
                "      - {{ name: App, outputs: [Code], {} ",
                &source[2..]
            ));
            let (_, _, problems) = adapt(&p, &mapping());
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].path, path);
            assert!(
                problems[0].message.contains(words),
                "{}",
                problems[0].message
            );
        }
    }
}
