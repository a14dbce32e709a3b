//! `cargo xtask build-guests`: builds every guest whose toolchain is present and writes
//! `target/guests/manifest.json`, which the conformance runner reads.
//!
//! The manifest (schema 1) lists each built module with its family, language, mode, path
//! (relative to the manifest), size and toolchain versions, and each guest not built with the
//! reason. Guests left out by `--guests` are listed as skipped too, so a report never hides them.
//! It also lists the kernel objects built (with their toolchain) and the canaries: deliberately
//! broken guests that the cross-guest SIMD check must reject.

use anyhow::bail;
use serde_json::{Value, json};
use xshell::Shell;

use crate::guests::{FAMILIES, MODES, Toolchain};
use crate::{flags, kernels_zig};

/// What a build could not do, for `cargo xtask ci` to judge.
#[derive(Debug)]
pub struct Outcome {
    /// Families that were required on every machine but were skipped, with the reason.
    pub missing_required: Vec<(String, String)>,
    /// Every family whose toolchain was missing, with the reason.
    pub unbuildable: Vec<(String, String)>,
}

pub fn run(sh: &Shell, flags: &flags::BuildGuests) -> anyhow::Result<Outcome> {
    for name in &flags.guests {
        if !FAMILIES.iter().any(|family| family.name == name) {
            let known: Vec<_> = FAMILIES.iter().map(|family| family.name).collect();
            bail!("unknown guest `{name}`; the guests are {}", known.join(", "));
        }
    }
    let dir = sh.current_dir().join("target/guests");
    sh.create_dir(&dir)?;
    let (mut built, mut skipped, mut missing_required, mut unbuildable) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut objects, mut canaries) = (Vec::new(), Vec::new());
    for family in FAMILIES {
        let skip = |reason: &str, skipped: &mut Vec<Value>| {
            for mode in MODES {
                let name = format!("{}-{mode}", family.name);
                println!("build-guests: skipping {name}: {reason}");
                skipped.push(json!({"name": name, "guest": family.name, "language": family.language, "mode": mode, "reason": reason}));
            }
        };
        if !flags.guests.is_empty() && !flags.guests.iter().any(|name| name == family.name) {
            // The conformance crate reads this exact reason (`conformance::NOT_SELECTED`).
            skip("not selected by --guests", &mut skipped);
            continue;
        }
        let toolchain = match (family.toolchain)(sh, flags.dry_run) {
            Ok(toolchain) => toolchain,
            Err(reason) => {
                skip(&reason, &mut skipped);
                unbuildable.push((family.name.to_string(), reason.clone()));
                if family.required {
                    missing_required.push((family.name.to_string(), reason));
                }
                if flags.dry_run {
                    println!("build-guests: with its toolchain, {} would be built with:", family.name);
                    for mode in MODES {
                        let out = dir.join(format!("{}-{mode}.wasm", family.name));
                        (family.build)(sh, &Toolchain::assumed(family.tools), mode, &out, true)?;
                    }
                }
                continue;
            }
        };
        if let Ok(zig) = toolchain.path("zig")
            && canaries.is_empty()
        {
            let version = toolchain.versions.iter().find(|(tool, _)| tool == "zig").map(|(_, v)| v.clone());
            objects.push(json!({"name": "kernels-zig", "path": "kernels-zig.o", "header": "zig_simd.h", "toolchain": {"zig": version}}));
            println!("build-guests: building the canary rust-zig-fma-dot");
            let path = kernels_zig::build_canary(sh, zig, flags.dry_run)?;
            canaries
                .push(json!({"name": "rust-zig-fma-dot", "path": path, "mode": "leaking", "broken_kernel": "dot_f64",
                "what": "dot_f64 uses a fused multiply-add, which the kernel ABI forbids"}));
        }
        for mode in MODES {
            let name = format!("{}-{mode}", family.name);
            let file = format!("{name}.wasm");
            let out = dir.join(&file);
            println!("build-guests: building {name}");
            (family.build)(sh, &toolchain, mode, &out, flags.dry_run)?;
            let size = if flags.dry_run { 0 } else { std::fs::metadata(&out)?.len() };
            let versions: serde_json::Map<_, _> =
                toolchain.versions.iter().map(|(tool, version)| (tool.clone(), Value::from(version.clone()))).collect();
            built.push(json!({"name": name, "guest": family.name, "language": family.language, "kernels": family.kernels, "mode": mode, "path": file, "size": size, "toolchain": versions}));
        }
    }
    if !flags.dry_run {
        let manifest =
            json!({"schema": 1, "guests": built, "skipped": skipped, "objects": objects, "canaries": canaries});
        sh.write_file(dir.join("manifest.json"), serde_json::to_string_pretty(&manifest)? + "\n")?;
        println!("build-guests: wrote target/guests/manifest.json ({} built, {} skipped)", built.len(), skipped.len());
    }
    Ok(Outcome { missing_required, unbuildable })
}
