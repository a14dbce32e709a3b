//! `cargo xtask build-guests`: builds every guest whose toolchain is present and writes
//! `target/guests/manifest.json`, which the conformance runner reads, through the types of the
//! `guest-manifest` crate.
//!
//! The manifest lists each built module with its family, language, mode, path (relative to the
//! manifest), size, toolchain versions and sources (the family's inputs and their fingerprint),
//! and each guest not built with the reason. Guests left out by `--guests` are listed as skipped
//! too, so a report never hides them. It also lists the kernel objects built (with their
//! toolchain) and the canaries: deliberately broken guests that the cross-guest SIMD check must
//! reject. The Zig kernel object and the canary are built once per run, before the first family
//! that links the object.
//!
//! With `--stale` it builds only the selected families that the manifest does not list as built
//! from their current sources, and keeps the manifest's entries for every other family. The
//! conformance runner uses it to rebuild what an edit made stale without losing the rest.

use anyhow::{Context as _, bail};
use guest_manifest::{BuiltGuest, Canary, FILE_NAME, KernelObject, Manifest, NOT_SELECTED, SkippedGuest, Sources};
use xshell::Shell;

use crate::guests::{FAMILIES, Family, MODES, RUST_ZIG_INPUTS, Toolchain};
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
    let root = sh.current_dir();
    let dir = root.join("target/guests");
    sh.create_dir(&dir)?;
    let path = dir.join(FILE_NAME);
    let old = if flags.stale { Manifest::read(&path).ok() } else { None };
    let stale = old.as_ref().map(|old| old.stale_families(&root, &dir)).unwrap_or_default();
    let mut manifest = Manifest::default();
    let (mut missing_required, mut unbuildable) = (Vec::new(), Vec::new());
    let mut zig_built = false;
    for family in FAMILIES {
        let selected = flags.guests.is_empty() || flags.guests.iter().any(|name| name == family.name);
        // With --stale, a selected family is kept when every mode is built from its current
        // sources, and one not selected whenever the manifest lists it at all.
        let kept = old.as_ref().filter(|old| {
            let ours = |guest: &str| guest == family.name;
            if selected {
                let built = |mode: &str| old.guests.iter().any(|g| ours(&g.guest) && g.mode == mode);
                !stale.iter().any(|name| ours(name)) && MODES.iter().all(|mode| built(mode))
            } else {
                old.guests.iter().any(|g| ours(&g.guest)) || old.skipped.iter().any(|g| ours(&g.guest))
            }
        });
        if let Some(old) = kept {
            println!("build-guests: keeping {}: {}", family.name, if selected { "up to date" } else { "not selected" });
            manifest.guests.extend(old.guests.iter().filter(|g| g.guest == family.name).cloned());
            manifest.skipped.extend(old.skipped.iter().filter(|g| g.guest == family.name).cloned());
            continue;
        }
        let skip = |reason: &str, skipped: &mut Vec<SkippedGuest>| {
            for mode in MODES {
                let name = format!("{}-{mode}", family.name);
                println!("build-guests: skipping {name}: {reason}");
                let (guest, language) = (family.name.into(), family.language.into());
                skipped.push(SkippedGuest { name, guest, language, mode: mode.into(), reason: reason.into() });
            }
        };
        if !selected {
            skip(NOT_SELECTED, &mut manifest.skipped);
            continue;
        }
        let toolchain = match (family.toolchain)(sh, flags.dry_run) {
            Ok(toolchain) => toolchain,
            Err(reason) => {
                skip(&reason, &mut manifest.skipped);
                unbuildable.push((family.name.to_string(), reason.clone()));
                if family.required {
                    missing_required.push((family.name.to_string(), reason));
                }
                if flags.dry_run {
                    println!("build-guests: with its toolchain, {} would be built with:", family.name);
                    let toolchain = Toolchain::assumed(family.tools);
                    build_zig(sh, family, &toolchain, &mut zig_built, &mut manifest, true)?;
                    for mode in MODES {
                        let out = dir.join(format!("{}-{mode}.wasm", family.name));
                        (family.build)(sh, &toolchain, mode, &out, true)?;
                    }
                }
                continue;
            }
        };
        build_zig(sh, family, &toolchain, &mut zig_built, &mut manifest, flags.dry_run)?;
        // Taken before the build: an edit made while it runs leaves the module stale.
        let sources = Sources::new(&root, family.inputs).context("cannot read the guest's sources")?;
        for mode in MODES {
            let name = format!("{}-{mode}", family.name);
            let file = format!("{name}.wasm");
            let out = dir.join(&file);
            println!("build-guests: building {name}");
            (family.build)(sh, &toolchain, mode, &out, flags.dry_run)?;
            manifest.guests.push(BuiltGuest {
                name,
                guest: family.name.into(),
                language: family.language.into(),
                kernels: family.kernels.into(),
                mode: mode.into(),
                path: file.into(),
                size: if flags.dry_run { 0 } else { std::fs::metadata(&out)?.len() },
                toolchain: toolchain.versions.iter().cloned().collect(),
                sources: sources.clone(),
            });
        }
    }
    if let Some(old) = old.filter(|_| !zig_built) {
        (manifest.objects, manifest.canaries) = (old.objects, old.canaries);
    }
    if !flags.dry_run {
        manifest.write(&path).with_context(|| format!("cannot write {}", path.display()))?;
        let (built, skipped) = (manifest.guests.len(), manifest.skipped.len());
        println!("build-guests: wrote target/guests/manifest.json ({built} built, {skipped} skipped)");
    }
    Ok(Outcome { missing_required, unbuildable })
}

/// Builds the Zig kernel object and the canary before the first family that links the object.
fn build_zig(
    sh: &Shell,
    family: &Family,
    toolchain: &Toolchain,
    zig_built: &mut bool,
    manifest: &mut Manifest,
    dry_run: bool,
) -> anyhow::Result<()> {
    if *zig_built || !family.tools.contains(&"zig") {
        return Ok(());
    }
    *zig_built = true;
    let zig = toolchain.path("zig")?;
    let versions = toolchain.versions.iter().filter(|(tool, _)| tool == "zig").cloned();
    println!("build-guests: building the Zig kernel object");
    kernels_zig::build(sh, zig, dry_run)?;
    manifest.objects.push(KernelObject {
        name: "kernels-zig".into(),
        path: "kernels-zig.o".into(),
        header: "zig_simd.h".into(),
        toolchain: versions.collect(),
    });
    println!("build-guests: building the canary rust-zig-fma-dot");
    let sources = Sources::new(&sh.current_dir(), RUST_ZIG_INPUTS).context("cannot read its sources")?;
    let path = kernels_zig::build_canary(sh, zig, dry_run)?;
    manifest.canaries.push(Canary {
        name: "rust-zig-fma-dot".into(),
        guest: "rust-zig".into(),
        mode: "leaking".into(),
        path,
        broken_kernel: "dot_f64".into(),
        what: "dot_f64 uses a fused multiply-add, which the kernel ABI forbids".into(),
        sources,
    });
    Ok(())
}
