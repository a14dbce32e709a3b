//! The Rust reference guest: the exports of the zerobuf handler ABI around the reference app.
//!
//! The module is a reactor. rustc links a wasm32-wasip1 cdylib without `_initialize`, and wasm-ld
//! then treats the module as a command: it wraps every export so that each call ends in
//! `__wasm_call_dtors`, which runs libc's exit-time work after every request. Defining
//! `_initialize` here, as wasi-libc's `crt1-reactor.o` does, makes wasm-ld link a reactor: the
//! constructors run once, in init, and the exports are the plain functions below. `_start` is
//! exported too and does the same, because GoMode's Worker calls only `_start` (the `gomode`
//! profile) while the `abi` profile calls `_initialize`; a host calls one of them, and a flag makes
//! the constructors run once even if both are called. `malloc` is wasi-libc's, exported
//! by `build.rs`. The allocator mode is a cargo feature (`alloc.rs`); the kernels are the
//! `zig_simd_*` symbols (`simd.rs`), from kernels-rust (feature `kernels-rust`, the default) or
//! from the Zig kernel object (feature `kernels-zig`); the code is the same either way.

mod alloc;
mod app;
mod fetch;
mod simd;
mod zerobuf;

#[cfg(all(feature = "kernels-rust", feature = "kernels-zig"))]
compile_error!("choose one source of kernels: `kernels-rust` or `kernels-zig`, not both");

use std::cell::RefCell;

use zerobuf::ResponseBlock;

/// Bit 0 of `gomode_abi_features`: this guest writes response slot 3 on every response.
const FEATURE_RESPONSE_HEADERS: i32 = 1;
/// Bit 1 of `gomode_abi_features`: this guest asks for outbound fetches with status -1.
const FEATURE_OUTBOUND_FETCH: i32 = 2;

thread_local! {
    /// The block responses are laid out in, which keeps the last response valid until the next
    /// call, as ABI.md §5 ("Lifetimes") requires, and serves the next responses while they fit.
    static RESPONSE_BLOCK: RefCell<ResponseBlock> = const { RefCell::new(ResponseBlock::new()) };
}

#[cfg(target_arch = "wasm32")]
unsafe extern "C" {
    /// The constructors of every linked object, synthesized by wasm-ld.
    fn __wasm_call_ctors();
}

/// Whether the constructors have run; `_initialize` and `_start` both run them, once between them.
#[cfg(target_arch = "wasm32")]
static STARTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs the constructors unless they have already run.
#[cfg(target_arch = "wasm32")]
fn start_once() {
    // wasm32-wasip1 guests are single-threaded, so a swap is enough to run them exactly once.
    if !STARTED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        // SAFETY: runs once per instance, before the host calls any other export, as wasi-libc's
        // reactor does.
        unsafe { __wasm_call_ctors() }
    }
}

/// Runs the constructors once; the `abi` profile calls it before anything else (`[init.start]`).
/// Its definition also makes wasm-ld link a reactor (see the module comment).
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    start_once();
}

/// The same as `_initialize`, for GoMode's Worker, which calls only `_start`. It returns normally
/// (no `proc_exit`), and the instance then serves requests.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn _start() {
    start_once();
}

/// Serves one request: decodes the request slots at `req_base`, routes, and returns the address
/// of the response slots.
#[unsafe(no_mangle)]
pub extern "C" fn handle_zerobuf(req_base: i32) -> i32 {
    // The previous response is no longer needed: let go of its block if it is too large to keep.
    RESPONSE_BLOCK.with_borrow_mut(ResponseBlock::release);
    // SAFETY: the host wrote six request slots and their payloads at `req_base` and leaves them
    // unchanged until this call returns, and the request, which borrows them, is dropped before.
    let mut request = unsafe { zerobuf::Request::read(req_base as usize as *const u8) };
    if let Some((call_index, result)) = request.replay.take() {
        fetch::keep(call_index, result);
    }
    let mut fetcher = fetch::Fetcher::default();
    let mut response = app::handle(&request, &mut fetcher);
    if let Some(asking) = fetcher.finish() {
        response = asking;
    }
    // The block is taken out only around the layout, never across the handler: under `gomode` a
    // trap does not end the instance, and one inside the layout (memory running out) then leaves
    // an empty cell, which the next call refills, rather than a borrow that is never returned.
    let mut block = RESPONSE_BLOCK.take();
    let base = block.encode(&response);
    RESPONSE_BLOCK.set(block);
    response.recycle();
    base as i32
}

/// Declares ABI version 1 (`[module.declarations]`).
#[unsafe(no_mangle)]
pub extern "C" fn gomode_abi_version() -> i32 {
    1
}

/// Declares the response-headers and outbound-fetch features.
#[unsafe(no_mangle)]
pub extern "C" fn gomode_abi_features() -> i32 {
    FEATURE_RESPONSE_HEADERS | FEATURE_OUTBOUND_FETCH
}
