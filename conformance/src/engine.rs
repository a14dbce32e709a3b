//! Where a case runs: on wasmtime, through the host library, or on V8, through the model of
//! GoMode's Worker glue (`v8.rs`). Both are a [`Serve`], so `check.rs` runs a case the same way
//! on either.

use host::{Request, Response};

/// One guest instance that serves requests: a [`host::Guest`] on wasmtime, or a
/// [`crate::v8::V8Guest`] on V8. Like `host::Guest`, it replaces its instance after a rule that
/// poisons it, so the next call gets a fresh one.
pub trait Serve {
    /// Instantiates and initializes the guest now, when it is not live.
    fn start(&mut self) -> Result<(), host::Error>;
    /// Serves one request. The response may borrow the instance until the next call.
    fn call(&mut self, request: &Request) -> Result<Response<'_>, host::Error>;
    /// The live instance's linear memory in bytes, when there is one.
    fn memory_size(&mut self) -> Option<usize>;
}

impl Serve for host::Guest {
    fn start(&mut self) -> Result<(), host::Error> {
        host::Guest::start(self).map(drop).map_err(host::Error::from)
    }

    fn call(&mut self, request: &Request) -> Result<Response<'_>, host::Error> {
        host::Guest::answer(self, request)
    }

    fn memory_size(&mut self) -> Option<usize> {
        host::Guest::memory_size(self)
    }
}
