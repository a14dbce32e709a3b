//! Embeds the conformance corpus, `conformance/cases/<area>/*.json`, into the binary, so that an
//! installed `gomode-host check` works with the checkout moved or gone.
//!
//! It writes `$OUT_DIR/corpus.rs`, a table of (area, file name, `include_str!` of the file), and
//! asks cargo to rerun when anything under the cases folder changes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let cases = manifest_dir.join("../../conformance/cases");
    let cases = cases.canonicalize().unwrap_or_else(|err| panic!("cannot find {}: {err}", cases.display()));
    // A folder makes cargo look at every file under it for changes.
    println!("cargo::rerun-if-changed={}", cases.display());
    let mut table = String::from("/// Every case file of `conformance/cases`, as (area, file name, text).\n");
    table.push_str("pub static CASE_FILES: &[(&str, &str, &str)] = &[\n");
    for area in sorted(&cases).into_iter().filter(|path| path.is_dir()) {
        for file in sorted(&area).into_iter().filter(|path| path.extension().is_some_and(|x| x == "json")) {
            let name = |path: &Path| path.file_name().expect("a file name").to_string_lossy().into_owned();
            writeln!(
                table,
                "    ({:?}, {:?}, include_str!({:?})),",
                name(&area),
                name(&file),
                file.display().to_string()
            )
            .expect("writing to a String");
        }
    }
    table.push_str("];\n");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("corpus.rs");
    std::fs::write(&out, table).unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
}

/// The entries of `dir`, sorted by path.
fn sorted(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|err| panic!("cannot read {}: {err}", dir.display()));
    let mut paths: Vec<PathBuf> = entries.map(|entry| entry.expect("a folder entry").path()).collect();
    paths.sort();
    paths
}
