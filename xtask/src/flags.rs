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
    /// Load-tests `gomode-host serve`, native Go and the V8 model with wrk, side by side, and
    /// writes `target/bench/report.{md,json}`.
    Bench(Bench),
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

#[derive(Debug, Args)]
pub struct Bench {
    /// Short runs, about 3 s per server and route after a 1 s warm-up, as CI wants; without it,
    /// 10 s after a 3 s warm-up.
    #[arg(long)]
    pub quick: bool,
    /// Serve only these built guests, by module (`rust-leaking`, `go-conservative`),
    /// comma-separated; by default every built guest in the conservative mode.
    #[arg(long, value_delimiter = ',')]
    pub guests: Vec<String>,
    /// How many instances of the guest `gomode-host serve` and the V8 model each run. Native Go
    /// always serializes its calls into the handler, as one instance does.
    #[arg(long, default_value_t = 1)]
    pub instances: u32,
}
