//! How `sluice plugin` shows packages, manifests and installed plugins,
//! for people and as JSON. Manifest text comes from a package: escaped.

use super::*;

pub(super) fn pretty<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

pub(super) fn package_json(package: &Package) -> serde_json::Value {
    serde_json::json!({
        "path": package.path,
        "form": if package.form == Form::Tar { "tar" } else { "dir" },
        "reference": package.provider.reference(),
        "manifest_digest": package.digest(),
        "index": package.index,
        "manifest": package.manifest,
        "config": package.config,
        "provider": package.provider,
    })
}

pub(super) fn signatures_json(checks: &[sign::SignatureCheck]) -> serde_json::Value {
    checks
        .iter()
        .map(|c| {
            serde_json::json!({
                "key_id": c.key_id,
                "valid": c.verified.is_ok(),
                "problem": c.verified.as_ref().err(),
            })
        })
        .collect()
}

fn print_manifest(manifest: &packages::ProviderManifest) {
    let t = &manifest.action_type;
    say_lines!("  {} {}/{} {}", t.category, t.owner, t.provider, t.version);
    if !manifest.description.is_empty() {
        say_lines!("  {}", manifest.description);
    }
    say_lines!("  contract: {}", manifest.contract);
    say_lines!(
        "  grants it may ask for: {}",
        if manifest.grants.is_empty() {
            "none".to_string()
        } else {
            manifest.grants.join(", ")
        }
    );
    if manifest.properties.is_empty() {
        say_lines!("  configuration: none");
    } else {
        say_lines!("  configuration:");
        for p in &manifest.properties {
            let mut flags = vec![if p.required { "required" } else { "optional" }];
            if p.secret {
                flags.push("secret");
            }
            say_lines!("    {} ({}): {}", p.name, flags.join(", "), p.description);
        }
    }
}

pub(super) fn print_installed(i: &Installed) {
    say_lines!("{} {}", i.name, i.version);
    print_manifest(&i.manifest);
    say_lines!("  component: sha256:{}", i.component_sha256);
    say_lines!("  manifest:  {}", i.manifest_digest);
    say_lines!("  installed: {}", i.installed_at);
    say_lines!(
        "  signed by:  {}",
        if i.signed_by.is_empty() {
            "no trusted key".to_string()
        } else {
            i.signed_by.join(", ")
        }
    );
    say_lines!("  imports: {}", i.imports.join(", "));
}

pub(super) fn print_package(package: &Package, checks: &[sign::SignatureCheck]) {
    say_lines!(
        "{} (package {})",
        package.provider.reference(),
        package.path.display()
    );
    print_manifest(&package.provider);
    say_lines!("  manifest {} ({})", package.digest(), oci::MEDIA_MANIFEST);
    say_lines!(
        "  config   {} ({})",
        package.manifest.config.digest,
        package.manifest.config.media_type
    );
    for layer in &package.manifest.layers {
        say_lines!(
            "  layer    {} ({}, {})",
            layer.digest,
            layer.media_type,
            format_bytes(layer.size)
        );
    }
    if checks.is_empty() {
        say_lines!("  signatures: none");
    }
    for check in checks {
        match &check.verified {
            Ok(()) => say_lines!("  signature by key {}: valid", check.key_id),
            Err(why) => say_lines!("  signature by key {}: BAD: {why}", check.key_id),
        }
    }
}
