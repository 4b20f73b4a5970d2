//! Sandbox policy beyond hostile guests: allocator fall-back, the compile
//! cache within a process, source exports, describe and validate.

use sluice::sandbox::{
    Allocator, Category, ComponentSource, Limits, LoadedFrom, Outcome, SandboxBuilder,
};
use sluice_tests::{Workspace, builtin, fixture, fixtures};

#[tokio::test]
async fn pooling_falls_back_to_on_demand_when_the_reservation_fails() {
    // A pool this large cannot be reserved in a 47-bit address space.
    let sandbox = SandboxBuilder::new()
        .max_instances(50_000_000)
        .build()
        .unwrap();
    let Allocator::OnDemand {
        reason: Some(reason),
    } = sandbox.allocator()
    else {
        panic!(
            "expected the on-demand fall-back, got {:?}",
            sandbox.allocator()
        );
    };
    assert!(!reason.is_empty());
    let noop = sluice::providers::ProviderRef::Builtin("noop".into())
        .component()
        .unwrap();
    let (provider, from) = sandbox.load(&noop).unwrap();
    assert_eq!(from, LoadedFrom::Compiled);
    let ws = Workspace::new(&[]);
    let (report, _) = ws.run(&provider, &Limits::default()).await;
    assert!(matches!(report.outcome, Outcome::Succeeded { .. }));
}

#[tokio::test]
async fn the_default_sandbox_uses_the_pooling_allocator() {
    let sandbox = SandboxBuilder::new().build().unwrap();
    assert_eq!(sandbox.allocator(), &Allocator::Pooling);
}

#[tokio::test]
async fn a_component_is_loaded_once_per_sandbox_and_from_the_cache_after_that() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = SandboxBuilder::new().cache_dir(dir.path()).build().unwrap();
    let source = ComponentSource::from_file(std::path::Path::new(fixtures::HOSTILE)).unwrap();
    assert_eq!(sandbox.load(&source).unwrap().1, LoadedFrom::Compiled);
    assert_eq!(sandbox.load(&source).unwrap().1, LoadedFrom::Memory);
    sandbox.forget_loaded();
    assert_eq!(sandbox.load(&source).unwrap().1, LoadedFrom::CompileCache);

    // A corrupt entry is dropped and the component compiled again. (Loaded
    // code maps its entry; entries are only ever replaced by renaming a new
    // file over them, as this does, never rewritten in place.)
    sandbox.forget_loaded();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let corrupt = path.with_extension("tmp");
        std::fs::write(&corrupt, b"not native code").unwrap();
        std::fs::rename(&corrupt, &path).unwrap();
    }
    assert_eq!(sandbox.load(&source).unwrap().1, LoadedFrom::Compiled);
}

#[tokio::test]
async fn describe_and_validate_speak_for_the_provider() {
    let copy = builtin("copy");
    let descriptor = copy.describe().await.unwrap();
    assert_eq!(descriptor.action_type.category, Category::Build);
    assert_eq!(descriptor.action_type.owner, "sluice");
    assert!(!copy.is_source());
    let problems = copy
        .validate(&[
            ("Merge".into(), "perhaps".into()),
            ("Subfolder".into(), "../up".into()),
        ])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        problems,
        [
            "configuration property `Merge` must be true or false, not `perhaps`",
            "configuration property `Subfolder` must be a relative path inside the artifact, not `../up`",
        ]
    );
    assert!(
        copy.validate(&[("Merge".into(), "true".into())])
            .await
            .unwrap()
            .is_ok()
    );
}

#[tokio::test]
async fn a_crash_in_describe_is_an_error_naming_the_function() {
    let hostile = fixture(fixtures::HOSTILE);
    // Validation with a missing required property is the provider's answer, not a crash.
    let problems = hostile.validate(&[]).await.unwrap().unwrap_err();
    assert_eq!(problems, ["missing required configuration property `Do`"]);
    let source = hostile
        .latest_revision(
            &[],
            &Limits::default(),
            &sluice::sandbox::ActionLog::discard(),
        )
        .await;
    assert_eq!(
        source.unwrap_err().to_string(),
        format!(
            "provider `{}` is not a source provider: it does not export `sluice:provider/source@0.1.0`",
            fixtures::HOSTILE
        )
    );
}
