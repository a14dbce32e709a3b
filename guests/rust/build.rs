//! Exports wasi-libc's `malloc` from the guest, since the ABI requires it and rustc's cdylib
//! exports only the crate's own `#[no_mangle]` functions.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo:rustc-cdylib-link-arg=--export=malloc");
    }
}
