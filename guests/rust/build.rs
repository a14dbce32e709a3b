//! Link arguments for the wasm guest: exports wasi-libc's `malloc`, which the ABI requires and
//! rustc's cdylib does not export, and, with the `kernels-zig` feature, links the Zig kernel
//! object named by `GOMODE_KERNELS_ZIG_OBJ`.

use std::env;

fn main() {
    println!("cargo:rerun-if-env-changed=GOMODE_KERNELS_ZIG_OBJ");
    if env::var("CARGO_CFG_TARGET_ARCH").as_deref() != Ok("wasm32") {
        return;
    }
    println!("cargo:rustc-cdylib-link-arg=--export=malloc");
    if env::var_os("CARGO_FEATURE_KERNELS_ZIG").is_some() {
        let Some(object) = env::var_os("GOMODE_KERNELS_ZIG_OBJ") else {
            panic!(
                "the kernels-zig feature needs GOMODE_KERNELS_ZIG_OBJ, the path of the Zig kernel object; `cargo xtask build-guests` builds it and sets it"
            );
        };
        let object = std::path::PathBuf::from(object);
        assert!(object.is_file(), "GOMODE_KERNELS_ZIG_OBJ={} is not a file", object.display());
        println!("cargo:rerun-if-changed={}", object.display());
        println!("cargo:rustc-cdylib-link-arg={}", object.display());
    }
}
