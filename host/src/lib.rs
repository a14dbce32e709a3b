//! The GoMode host: runs zerobuf guests under wasmtime and checks them against the ABI.
//!
//! `runtime` loads and serves guests, `zerobuf` reads and writes the slot layout, `inspect`
//! looks at a module without running it, `corpus` defines and runs conformance cases, and
//! `report` turns their outcomes into JSON and Markdown. The `gomode-host` binary and the
//! `conformance` test runner are both thin layers over this library.

mod capture;
pub mod corpus;
mod error;
pub mod inspect;
pub mod report;
pub mod runtime;
pub mod zerobuf;

pub use error::{GuestError, Rule};
pub use runtime::{Body, Declared, Guest, GuestModule, Host, HostConfig, Request, Response};
