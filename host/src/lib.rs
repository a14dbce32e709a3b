//! The GoMode host: runs zerobuf guests under wasmtime and judges them by the ABI.
//!
//! An embedder needs only what is at the root: a [`Host`] loads a [`GuestModule`], whose
//! [`Guest`] serves a [`Request`] with a [`Response`] or fails with an [`Error`], which is either
//! a [`GuestError`] (a [`Violation`] of a [`Rule`], with context) or a [`HostError`]. `inspect`
//! looks at a module without running it; `zerobuf` is the slot layout; [`read_response`] is the
//! pure response reader, exposed for fuzzing and for hosts that manage memory themselves.

mod capture;
mod error;
mod fetch;
pub mod inspect;
mod instance;
mod kv;
mod net;
mod profile;
mod request;
mod response;
mod runtime;
pub mod zerobuf;

pub use error::{Error, GuestError, HostError, Rule, Violation};
pub use fetch::{FEATURE_OUTBOUND_FETCH, FetchRequest, FetchResult, Outbound, Upstream};
pub use kv::{Kv, KvError};
pub use net::NetPolicy;
pub use profile::{GOMODE_SCRATCH, GOMODE_WASI, Profile};
pub use request::Request;
pub use response::{
    Body, Response, parse_gomode_header_lines, parse_header_lines, read_gomode_response, read_response,
};
pub use runtime::{ABI_VERSION, Declared, FEATURE_RESPONSE_HEADERS, Guest, GuestModule, Host, HostConfig};
