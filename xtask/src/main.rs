//! `cargo xtask`: the workspace's build tool, in the shape of rust-analyzer's.
//!
//! Flags are declared in `flags.rs`; each command is a module with a `run` function; guests and
//! their toolchains are described in `guests.rs`. Commands run programs through `xshell::cmd!`.

mod bench;
mod build_guests;
mod ci;
mod conformance;
mod doctor;
mod flags;
mod guests;
mod kernels_zig;
mod tools;

use std::path::{Path, PathBuf};

use clap::Parser as _;
use xshell::Shell;

fn main() -> anyhow::Result<()> {
    let flags = flags::Xtask::parse();
    let sh = Shell::new()?;
    sh.change_dir(project_root());
    match flags.command {
        flags::Command::BuildGuests(cmd) => build_guests::run(&sh, &cmd).map(drop),
        flags::Command::Conformance(cmd) => conformance::run(&sh, &cmd),
        flags::Command::Ci(cmd) => ci::run(&sh, &cmd),
        flags::Command::Doctor => doctor::run(&sh),
        flags::Command::Bench(cmd) => bench::run(&sh, &cmd),
    }
}

/// The workspace root, the parent of `xtask/`.
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask/ has a parent").to_path_buf()
}
