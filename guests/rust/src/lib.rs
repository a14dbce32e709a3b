//! The Rust reference guest: the exports of the zerobuf handler ABI around the reference app.
//!
//! The module is a reactor. rustc links a wasm32-wasip1 cdylib without `_initialize`, and wasm-ld
//! then treats the module as a command: it wraps every export so that each call ends in
//! `__wasm_call_dtors`, which runs libc's exit-time work after every request. Defining
//! `_initialize` here, as wasi-libc's `crt1-reactor.o` does, makes wasm-ld link a reactor: the
//! constructors run once, in init, and the exports are the plain functions below. `malloc` is wasi-libc's, exported
//! by `build.rs`. The allocator mode is a cargo feature (`alloc.rs`); the kernels are the
//! `zig_simd_*` symbols (`simd.rs`), from kernels-rust (feature `kernels-rust`, the default) or
//! from the Zig kernel object (feature `kernels-zig`); the code is the same either way.

mod alloc;
mod app;
mod simd;
mod zerobuf;

#[cfg(all(feature = "kernels-rust", feature = "kernels-zig"))]
compile_error!("choose one source of kernels: `kernels-rust` or `kernels-zig`, not both");

use std::cell::RefCell;

/// Bit 0 of `gomode_abi_features`: this guest writes response slot 3 on every response.
const FEATURE_RESPONSE_HEADERS: i32 = 1;

thread_local! {
    /// The last response, kept alive until the next call as `[response.lifetime]` requires.
    static LAST_RESPONSE: RefCell<Option<zerobuf::Encoded>> = const { RefCell::new(None) };
}

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The constructors of every linked object, synthesized by wasm-ld.
    fn __wasm_call_ctors();
}

/// Runs the constructors once; the host calls it before anything else (`[init.start]`).
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    // SAFETY: called once by the host, before any other export, as wasi-libc's reactor does.
    unsafe { __wasm_call_ctors() }
}

/// Serves one request: decodes the request slots at `req_base`, routes, and returns the address
/// of the response slots.
#[unsafe(no_mangle)]
pub extern "C" fn handle_zerobuf(req_base: i32) -> i32 {
    // Free (or, in leaking mode, abandon) the previous response before building the next one.
    LAST_RESPONSE.with_borrow_mut(|last| *last = None);
    // SAFETY: the host wrote six request slots and their payloads at `req_base`.
    let request = unsafe { zerobuf::Request::read(req_base as usize as *const u8) };
    let encoded = zerobuf::Encoded::new(&app::handle(&request));
    let base = encoded.base();
    LAST_RESPONSE.with_borrow_mut(|last| *last = Some(encoded));
    base as i32
}

/// Declares ABI version 1 (`[module.declarations]`).
#[unsafe(no_mangle)]
pub extern "C" fn gomode_abi_version() -> i32 {
    1
}

/// Declares the response-headers feature.
#[unsafe(no_mangle)]
pub extern "C" fn gomode_abi_features() -> i32 {
    FEATURE_RESPONSE_HEADERS
}
