//! Every flag of every xtask command, declared in one place.

use clap::{Args, Parser, Subcommand};

/// The GoMode interop workspace's build tool.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
pub struct Xtask {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Builds every guest whose toolchain is present into `target/guests/` and writes its manifest.
    BuildGuests(BuildGuests),
    /// Runs the conformance corpus over every built guest and writes `target/conformance/`.
    Conformance(Conformance),
    /// Format check, clippy, build-guests, the workspace tests and conformance: what CI runs.
    Ci(Ci),
    /// Lists every toolchain the guests need, where it was found, and how to install it.
    Doctor,
}

#[derive(Debug, Args)]
pub struct BuildGuests {
    /// Build only these guests, by family (`rust`), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub guests: Vec<String>,
    /// Print the build commands without running them.
    #[arg(long)]
    pub dry_run: bool,
    /// Build only the selected guests that the manifest does not list as built from their
    /// current sources, and keep the manifest's entries for every other guest.
    #[arg(long)]
    pub stale: bool,
}

#[derive(Debug, Args)]
pub struct Conformance {
    /// Run only the (guest, case) tests whose names contain this text, such as `rust-leaking::simd`.
    pub filter: Option<String>,
}

#[derive(Debug, Args)]
pub struct Ci {
    /// Build and check only these guests, by family (`rust`, `rust-zig`, `go`, `tinygo`),
    /// comma-separated; a selected guest that cannot be built fails the run.
    #[arg(long, value_delimiter = ',')]
    pub guests: Vec<String>,
}
