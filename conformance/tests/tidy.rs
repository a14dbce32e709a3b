//! Checks of the codebase itself, run by `cargo test` like any other test.
//!
//! They keep the promises that are easy to break silently: every source file says what it is,
//! every ABI rule and every reference route is exercised by the corpus, the codemap in
//! ARCHITECTURE.md names every folder, and the hand-worked golden SIMD results agree with the
//! kernels-rust oracle (so the oracle itself is checked).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use conformance::{Corpus, SimdExpect, simd, workspace_root};
use host::Rule;

fn corpus() -> Corpus {
    Corpus::load(&Corpus::workspace_dir()).expect("the corpus loads")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// Every file under `dir`, skipping build output, hidden folders and the toolchain folder.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "target" || (name.starts_with('.') && name != ".ci") {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_starts_with_a_header_comment() {
    let root = workspace_root();
    let mut all = Vec::new();
    files(&root, &mut all);
    let mut missing = Vec::new();
    for path in all {
        let ext = path.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
        let prefix = match ext.as_str() {
            "rs" => "//!",
            "mjs" | "js" | "go" | "zig" | "h" | "c" => "//",
            "wat" => ";;",
            "sh" | "py" => "#",
            _ if path.ends_with(".ci/run") => "#",
            _ => continue,
        };
        let text = read(&path);
        let first = text.lines().find(|l| !l.starts_with("#!")).unwrap_or_default();
        if !first.starts_with(prefix) || first.trim_start_matches(prefix).trim().is_empty() {
            missing.push(path.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    assert!(missing.is_empty(), "these files do not start with a comment saying what they are: {missing:#?}");
}

/// The rule IDs ABI.md defines, written like `[module.exports]`.
fn abi_rules() -> BTreeSet<String> {
    let text = read(&workspace_root().join("conformance/ABI.md"));
    text.split("`[")
        .skip(1)
        .filter_map(|rest| rest.split_once("]`").map(|(id, _)| id.to_owned()))
        .filter(|id| {
            id.contains('.') && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '_')
        })
        .collect()
}

/// Rule IDs named by bad guests' `;; abi:` and `;; gomode:` lines (a line may instead give the
/// status the guest is answered with, which names no rule).
fn bad_guest_rules() -> BTreeSet<String> {
    let dir = workspace_root().join("conformance/bad-guests");
    let texts: Vec<String> = std::fs::read_dir(dir).unwrap().map(|e| read(&e.unwrap().path())).collect();
    texts
        .iter()
        .flat_map(|text| text.lines())
        .filter_map(|l| l.strip_prefix(";; abi:").or_else(|| l.strip_prefix(";; gomode:")))
        .map(str::trim)
        .filter(|r| !r.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_abi_rule_is_exercised_and_every_named_rule_exists() {
    let rules = abi_rules();
    assert!(rules.len() >= 20, "ABI.md should define its rules as `[id]`; found {rules:?}");
    let mut used: BTreeSet<String> = corpus().entries.iter().flat_map(|e| e.case.rules.clone()).collect();
    used.extend(bad_guest_rules());
    let unexercised: Vec<_> = rules.difference(&used).collect();
    assert!(unexercised.is_empty(), "no case or bad guest exercises these ABI.md rules: {unexercised:?}");
    let unknown: Vec<_> = used.difference(&rules).collect();
    assert!(unknown.is_empty(), "cases or bad guests name rules that ABI.md does not define: {unknown:?}");
    for rule in Rule::ALL {
        assert!(rules.contains(rule.id()), "the host enforces `{rule}`, which ABI.md does not define");
    }
}

#[test]
fn every_rule_the_host_enforces_has_a_bad_guest_or_a_case() {
    let bad = bad_guest_rules();
    let cases: BTreeSet<String> = corpus().entries.iter().flat_map(|e| e.case.rules.clone()).collect();
    // `Rule::ALL` is generated from the enum's own variants, so no rule can be left out here.
    let untested: Vec<_> = Rule::ALL.iter().filter(|r| !bad.contains(r.id()) && !cases.contains(r.id())).collect();
    assert!(untested.is_empty(), "no bad guest or case exercises these rules: {untested:?}");
}

#[test]
fn every_reference_route_and_kernel_has_a_case() {
    let corpus = corpus();
    let requests = corpus
        .entries
        .iter()
        .flat_map(|e| std::iter::once(&e.case.request).chain(e.case.then.iter().map(|s| &s.request)));
    let paths: Vec<&str> = requests.map(|request| request.path.as_str()).collect();
    let text = read(&workspace_root().join("conformance/ABI.md"));
    let routes: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(|route| route.trim_start_matches("POST ").split(['<', '?']).next().unwrap().to_owned())
        .filter(|route| route.starts_with('/'))
        .collect();
    assert!(routes.len() >= 10, "found only {routes:?} in ABI.md's route table");
    for route in routes {
        let covered = paths.iter().any(|p| {
            let path = p.split('?').next().unwrap();
            if route.ends_with('/') { path.starts_with(&route) } else { path == route }
        });
        assert!(covered, "no case requests the route `{route}`");
    }
    for kernel in kernels_rust::Kernel::ALL {
        let path = format!("/simd/{}", kernel.name());
        assert!(paths.contains(&path.as_str()), "no case calls the kernel route {path}");
    }
}

#[test]
fn golden_simd_results_agree_with_the_oracle() {
    let mut checked = 0;
    for entry in corpus().entries {
        let (Some(SimdExpect::Golden(golden)), Some(input)) = (&entry.case.expect.simd, &entry.case.request.simd)
        else {
            continue;
        };
        let kernel = simd::simd_kernel(&entry.case.request.path).expect("a kernel path");
        let oracle = simd::oracle(kernel, input).unwrap();
        let golden: Vec<u64> = golden.iter().map(|h| u64::from_str_radix(h, 16).unwrap()).collect();
        let f64_values = kernel != kernels_rust::Kernel::SumI32;
        assert!(
            golden.len() == oracle.len()
                && golden.iter().zip(&oracle).all(|(g, o)| simd::same_bits(*g, *o, f64_values)),
            "{}: the hand-worked result {golden:x?} differs from the oracle's {oracle:x?}",
            entry.id()
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} golden SIMD cases");
}

#[test]
fn the_corpus_is_large_enough_and_covers_every_area() {
    let corpus = corpus();
    let areas: BTreeSet<&str> = corpus.entries.iter().map(|e| e.area.as_str()).collect();
    assert_eq!(areas, BTreeSet::from(["encoding", "fetch", "gomode", "lifecycle", "memory", "routing", "simd"]));
    assert!(corpus.entries.len() >= 60, "{} cases", corpus.entries.len());
}

#[test]
fn the_codemap_names_every_folder() {
    let root = workspace_root();
    let text = read(&root.join("ARCHITECTURE.md"));
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() && name != "target" && (!name.starts_with('.') || name == ".ci") {
            folders.push(name.clone());
            if name == "guests" || name == "conformance" || name == "host" {
                for sub in std::fs::read_dir(&path).unwrap() {
                    let sub = sub.unwrap().path();
                    if sub.is_dir() {
                        folders.push(format!("{name}/{}", sub.file_name().unwrap().to_string_lossy()));
                    }
                }
            }
        }
    }
    let missing: Vec<_> = folders.iter().filter(|f| !text.contains(&format!("`{f}/`"))).collect();
    assert!(missing.is_empty(), "ARCHITECTURE.md's codemap does not name these folders: {missing:?}");
}
