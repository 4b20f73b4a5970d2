//! Fuzzing parse and validate: arbitrary text, and arbitrary structures
//! built from the definition's own field names, never make them panic; nor
//! do arbitrary source-hook bodies and the branch and path filters they
//! meet.
//!
//! The suite runs 3,000 cases of each; `SLUICE_FUZZ_CASES=N` runs N (see
//! `docs/testing.md` for the long run and what it found).

use proptest::prelude::*;
use sluice::model::{Format, Report, SourceMap, parse::parse, validate::validate};

fn check(text: &str) {
    for format in [Format::Yaml, Format::Json] {
        let map = SourceMap::of(text);
        match parse(text, format) {
            Ok(pipeline) => {
                let diagnostics = validate(&pipeline);
                let report = Report::new("fuzz.yaml", diagnostics, &map);
                let _ = report.to_string();
            }
            Err(diagnostic) => {
                let report = Report::new("fuzz.yaml", vec![diagnostic], &map);
                assert!(report.has_errors());
            }
        }
    }
}

/// A YAML value made from the vocabulary of pipeline definitions.
fn value() -> impl Strategy<Value = String> {
    let words = prop::sample::select(vec![
        "name",
        "stages",
        "actions",
        "provider",
        "run_order",
        "inputs",
        "outputs",
        "namespace",
        "timeout",
        "memory",
        "configuration",
        "variables",
        "default",
        "execution_mode",
        "grants",
        "paths",
        "path",
        "access",
        "builtin:copy",
        "builtin:noop",
        "builtin:directory",
        "queued",
        "parallel",
        "read-write",
        "#{variables.x}",
        "#{A.b}",
        "#{execution.id}",
        "#{",
        "10m",
        "1GiB",
        "0",
        "-1",
        "999999999999",
        "A",
        "B",
        "Src",
        "..",
        "",
        "~",
        "null",
        "[",
        "{",
    ]);
    let leaf = prop_oneof![
        words.clone().prop_map(|w| format!("{w:?}")),
        any::<i64>().prop_map(|i| i.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-zA-Z0-9#{}.:_ -]{0,12}".prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5)
                .prop_map(|items| format!("[{}]", items.join(", "))),
            prop::collection::vec((words.clone(), inner), 0..6).prop_map(|pairs| {
                let body: Vec<String> = pairs
                    .into_iter()
                    .map(|(k, v)| format!("{k:?}: {v}"))
                    .collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

/// Cases per property: `SLUICE_FUZZ_CASES`, else 3,000.
fn cases() -> u32 {
    std::env::var("SLUICE_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_hook_bodies_and_filters_never_panic(
        body in prop_oneof![
            ".{0,300}",
            ("[a-z/]{0,40}", "[0-9a-f]{0,40}", "[0-9a-f]{0,40}").prop_map(|(r, b, a)| {
                format!(r#"{{"ref": "{r}", "before": "{b}", "after": "{a}"}}"#)
            }),
        ],
        globs in proptest::collection::vec("[a-z*?/\\[\\]{}!.-]{0,12}", 0..4),
        text in ".{0,60}",
    ) {
        if let Ok(hook) = serde_json::from_str::<sluice::triggers::HookBody>(&body) {
            let filter = sluice::model::Filter { include: globs.clone(), exclude: globs };
            let branch = hook.ref_name.as_deref().unwrap_or(&text);
            let _ = filter.passes(branch.trim_start_matches("refs/heads/"));
        }
        let filter = sluice::model::Filter { include: vec![text.clone()], exclude: vec![] };
        let _ = filter.passes(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,400}") {
        check(&text);
    }

    #[test]
    fn arbitrary_definitions_never_panic(v in value()) {
        check(&v);
        check(&format!("name: p\nstages: {v}\n"));
        check(&format!("name: p\nstages:\n  - name: S\n    actions: [{{ name: a, provider: 'builtin:noop', configuration: {v} }}]\n  - name: T\n    actions: {v}\n"));
    }

    #[test]
    fn deep_nesting_never_panics(depth in prop_oneof![1usize..200, 20_000usize..20_001]) {
        check(&"[".repeat(depth));
        check(&format!("{}{}", "{a: ".repeat(depth), "}".repeat(depth)));
    }
}
