//! The types the host defines (AWS-owned ones it maps, built-ins,
//! plugins) and the custom ones the store keeps, found by id.

use super::*;

/// A configuration property of an AWS-owned type, as AWS documents it:
/// name, required, key, secret, type, description.
pub(super) type AwsProperty = (&'static str, bool, bool, bool, &'static str, &'static str);

/// An AWS-owned type: its name (`Category/Owner/Provider/Version`), its
/// properties, and its fewest and most inputs and outputs.
pub(super) type AwsType = (&'static str, &'static [AwsProperty], [u8; 2], [u8; 2]);

/// Each AWS-owned type of [`crate::aws_types::SUPPORTED`].
/// CodeBuild's properties, the same for builds and tests.
#[rustfmt::skip]
const CODEBUILD: &[AwsProperty] = &[
        ("ProjectName", true, true, false, "String", "The name of the build project."),
        ("PrimarySource", false, false, false, "String", "The input artifact the buildspec is read from, when there are several."),
        ("EnvironmentVariables", false, false, false, "String", "A JSON array of environment variables for the build."),
        ("BatchEnabled", false, false, false, "Boolean", "Whether the build runs as a batch."),
        ("CombineArtifacts", false, false, false, "Boolean", "Whether a batch's artifacts are combined into one."),
];

#[rustfmt::skip]
pub(super) const AWS_TYPES: &[AwsType] = &[
    ("Source/AWS/CodeCommit/1", &[
        ("RepositoryName", true, true, false, "String", "The name of the repository where source changes are to be detected."),
        ("BranchName", true, true, false, "String", "The name of the branch where source changes are to be detected."),
        ("PollForSourceChanges", false, false, false, "Boolean", "Whether CodePipeline polls the repository for source changes."),
        ("OutputArtifactFormat", false, false, false, "String", "CODE_ZIP (the default) or CODEBUILD_CLONE_REF."),
    ], [0, 0], [1, 1]),
    ("Source/AWS/CodeStarSourceConnection/1", &[
        ("ConnectionArn", true, true, false, "String", "The ARN of the connection to the repository's provider."),
        ("FullRepositoryId", true, true, false, "String", "The owner and name of the repository, as owner/name."),
        ("BranchName", true, true, false, "String", "The name of the branch where source changes are to be detected."),
        ("OutputArtifactFormat", false, false, false, "String", "CODE_ZIP (the default) or CODEBUILD_CLONE_REF."),
        ("DetectChanges", false, false, false, "Boolean", "Whether a change on the branch starts the pipeline."),
    ], [0, 0], [1, 1]),
    ("Source/ThirdParty/GitHub/1", &[
        ("Owner", true, true, false, "String", "The GitHub user or organization that owns the repository."),
        ("Repo", true, true, false, "String", "The name of the repository."),
        ("Branch", true, true, false, "String", "The name of the branch where source changes are to be detected."),
        ("OAuthToken", true, false, true, "String", "The token that authenticates CodePipeline to GitHub."),
        ("PollForSourceChanges", false, false, false, "Boolean", "Whether CodePipeline polls the repository for source changes."),
    ], [0, 0], [1, 1]),
    ("Approval/AWS/Manual/1", &[
        ("NotificationArn", false, false, false, "String", "The ARN of the SNS topic told that approval is needed."),
        ("CustomData", false, false, false, "String", "Comments shown to the reviewer."),
        ("ExternalEntityLink", false, false, false, "String", "A URL the reviewer is asked to look at."),
    ], [0, 0], [0, 0]),
    ("Build/AWS/CodeBuild/1", CODEBUILD, [1, 5], [0, 5]),
    ("Test/AWS/CodeBuild/1", CODEBUILD, [1, 5], [0, 5]),
    ("Invoke/AWS/Lambda/1", &[
        ("FunctionName", true, true, false, "String", "The name of the function to invoke."),
        ("UserParameters", false, false, false, "String", "A string given to the function as its parameters."),
    ], [0, 5], [0, 5]),
];

/// The AWS-owned types the host runs, as definitions.
pub(super) fn aws_types() -> Vec<Definition> {
    crate::aws_types::SUPPORTED
        .iter()
        .filter_map(|(name, runs_on)| {
            let parts: Vec<&str> = name.split('/').collect();
            let [category, owner, provider, version] = parts[..] else {
                return None;
            };
            let known = AWS_TYPES.iter().find(|(n, ..)| n == name);
            // A type the table lacks is still listed, with its category's
            // usual artifacts and no properties.
            let (properties, inputs, outputs) = match known {
                Some((_, properties, inputs, outputs)) => (*properties, *inputs, *outputs),
                None if category == "Source" => (&[][..], [0, 0], [1, 1]),
                None => (&[][..], [0, 5], [0, 5]),
            };
            Some(Definition {
                id: Id {
                    category: category.into(),
                    owner: owner.into(),
                    provider: provider.into(),
                    version: version.into(),
                },
                settings: Settings::default(),
                action_configuration_properties: properties
                    .iter()
                    .map(
                        |&(name, required, key, secret, kind, description)| Property {
                            name: name.into(),
                            required,
                            key,
                            secret,
                            queryable: false,
                            description: Some(description.into()),
                            kind: Some(kind.into()),
                        },
                    )
                    .collect(),
                input_artifact_details: Counts::new(inputs[0], inputs[1]),
                output_artifact_details: Counts::new(outputs[0], outputs[1]),
                description: Some(format!("Runs on {runs_on}.")),
                executor: None,
                permissions: None,
            })
        })
        .collect()
}

/// A provider of the host (a built-in or an installed plugin) as an
/// action type.
pub(super) fn host_type(
    reference: String,
    descriptor_category: crate::contract::Category,
    description: &str,
    properties: &[crate::contract::Property],
    inputs: [u8; 2],
    outputs: [u8; 2],
) -> Definition {
    Definition {
        id: Id {
            category: crate::model::codepipeline::category_name(descriptor_category).into(),
            owner: "Custom".into(),
            provider: reference,
            version: "1".into(),
        },
        settings: Settings::default(),
        action_configuration_properties: properties
            .iter()
            .map(|p| Property {
                name: p.name.clone(),
                required: p.required,
                key: false,
                secret: p.secret,
                queryable: false,
                description: (!p.description.is_empty()).then(|| p.description.clone()),
                kind: None,
            })
            .collect(),
        input_artifact_details: Counts::new(inputs[0], inputs[1]),
        output_artifact_details: Counts::new(outputs[0], outputs[1]),
        description: (!description.is_empty()).then(|| description.to_string()),
        executor: None,
        permissions: None,
    }
}

/// The built-in providers as action types. Describing them loads
/// (compiles) each component, so it is done once per process.
pub(super) async fn builtins(state: &AppState) -> Result<&'static [Definition], AwsError> {
    static BUILTINS: tokio::sync::OnceCell<Vec<Definition>> = tokio::sync::OnceCell::const_new();
    let described = BUILTINS
        .get_or_try_init(|| async {
            let started = std::time::Instant::now();
            let base = state.state_dir().to_path_buf();
            let sandbox = state
                .catalog(&base)
                .map_err(|e| AwsError::internal(e.message))?
                .sandbox()
                .clone();
            // No component store: listing keeps nothing.
            let catalog = crate::providers::Catalog::new(sandbox, &base, None);
            let resolving = crate::providers::builtins().iter().map(|builtin| {
                let reference = format!("builtin:{}", builtin.name);
                let catalog = &catalog;
                async move {
                    let resolved = catalog.resolve(&reference).await.map_err(|e| {
                        AwsError::internal(format!("cannot describe {reference}: {e}"))
                    })?;
                    let d = &resolved.descriptor;
                    Ok::<_, AwsError>(host_type(
                        reference,
                        d.action_type.category,
                        &d.description,
                        &d.properties,
                        [d.min_inputs, d.max_inputs],
                        [d.min_outputs, d.max_outputs],
                    ))
                }
            });
            let described = futures_util::future::try_join_all(resolving).await?;
            tracing::info!(
                providers = described.len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "described the built-in providers for ListActionTypes"
            );
            Ok(described)
        })
        .await?;
    Ok(described)
}

/// The installed plugins as action types, each version its own
/// (`owner/name@=VERSION`), from its install record.
pub(super) async fn plugins(state: &AppState) -> Result<Vec<Definition>, AwsError> {
    let registry = crate::packages::PluginRegistry::new(state.state_dir());
    let installed = tokio::task::spawn_blocking(move || registry.list())
        .await
        .map_err(|e| AwsError::internal(format!("listing the plugins failed: {e}")))?
        .map_err(|e| AwsError::internal(e.to_string()))?;
    Ok(installed
        .iter()
        .map(|i| {
            let m = &i.manifest;
            host_type(
                format!("{}@={}", i.name, i.version),
                m.action_type.category,
                &m.description,
                &m.properties,
                m.inputs,
                m.outputs,
            )
        })
        .collect())
}

pub(super) fn corrupt(text: &str, e: serde_json::Error) -> AwsError {
    AwsError::internal(format!(
        "a stored custom action type cannot be read ({e}): {}",
        crate::text::line(text)
    ))
}

/// Every custom action type the store keeps.
pub(super) async fn custom_types(state: &AppState) -> Result<Vec<Definition>, AwsError> {
    let texts = state
        .read(|s| s.action_types().map_err(crate::queries::OpError::internal))
        .await
        .map_err(read_error)?;
    texts
        .iter()
        .map(|t| serde_json::from_str(t).map_err(|e| corrupt(t, e)))
        .collect()
}

/// The custom action type `id` names, if the store keeps it.
pub(super) async fn custom_type(state: &AppState, id: &Id) -> Result<Option<Definition>, AwsError> {
    let wanted = id.clone();
    let text = state
        .read(move |s| {
            s.action_type(
                &wanted.category,
                &wanted.owner,
                &wanted.provider,
                &wanted.version,
            )
            .map_err(crate::queries::OpError::internal)
        })
        .await
        .map_err(read_error)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(&t, e)))
        .transpose()
}

/// Whether a provider's name is a Sluice provider reference, which no
/// custom action type's name (`[0-9A-Za-z_-]+`) is.
pub(super) fn is_reference(provider: &str) -> bool {
    provider.contains(':') || provider.contains('/') || provider.ends_with(".wasm")
}

/// The action type `id` names, and whether the host defines it.
pub(super) async fn find(
    state: &AppState,
    id: &Id,
) -> Result<Option<(Definition, bool)>, AwsError> {
    let host = match (id.owner.as_str(), id.provider.as_str()) {
        ("Custom", p) if p.starts_with("builtin:") => builtins(state).await?.to_vec(),
        ("Custom", p) if is_reference(p) => plugins(state).await?,
        ("Custom", _) => return Ok(custom_type(state, id).await?.map(|d| (d, false))),
        _ => aws_types(),
    };
    Ok(host.into_iter().find(|d| d.id == *id).map(|d| (d, true)))
}

/// Whether the store keeps the custom action type an ARN's
/// `Owner/Category/Provider/Version` names (for its tags).
pub(crate) async fn is_kept(state: &AppState, name: &str) -> Result<bool, AwsError> {
    let parts: Vec<&str> = name.split('/').collect();
    let [owner, category, provider, version] = parts[..] else {
        return Ok(false);
    };
    let id = Id {
        category: category.into(),
        owner: owner.into(),
        provider: provider.into(),
        version: version.into(),
    };
    Ok(owner == "Custom" && custom_type(state, &id).await?.is_some())
}
