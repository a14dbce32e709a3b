//! Property test: the wasm build of the kernels, run inside each built guest through the host,
//! agrees with the native kernels-rust build on random inputs.
//!
//! The corpus checks fixed vectors; this checks arbitrary bit patterns (NaN payloads, both
//! zeros, infinities, subnormals) against the oracle, for every kernel and every guest in the
//! manifest. Any NaN matches any NaN (ABI.md, `kernel.nan`); every other bit must agree.
//!
//! The generator's seed is fixed and printed, so a failure replays exactly on any machine.

use conformance::{SimdInput, VectorSpec, simd};
use host::{Host, HostConfig, Request};
use kernels_rust::Kernel;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// The seed of the random inputs, the same on every run.
const SEED: [u8; 32] = *b"gomode kernels_wasm seed 2026-11";

fn hex_f64(values: &[f64]) -> Vec<String> {
    values.iter().map(|v| format!("{:016x}", v.to_bits())).collect()
}

/// Any f64 bit pattern, with the special values made common.
fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => proptest::num::f64::ANY,
        1 => Just(0.0),
        1 => Just(-0.0),
        1 => Just(f64::INFINITY),
        1 => Just(f64::NEG_INFINITY),
        1 => Just(f64::NAN),
        1 => Just(f64::MIN_POSITIVE / 4.0),
        1 => -1e3..1e3f64,
    ]
}

/// A kernel with inputs that it accepts: equal-length `a` and `b`, and its scalars.
fn input() -> impl Strategy<Value = (Kernel, SimdInput)> {
    let kernel = proptest::sample::select(Kernel::ALL.to_vec());
    (kernel, 0..40usize).prop_flat_map(|(kernel, len)| {
        let vec = || proptest::collection::vec(any_f64(), len);
        let ints = proptest::collection::vec(any::<i32>(), len);
        (Just(kernel), vec(), vec(), ints, any_f64(), any_f64()).prop_map(|(kernel, a, b, ints, s, t)| {
            let (mut input, hex) = (SimdInput::default(), |x: f64| format!("{:016x}", x.to_bits()));
            input.a = Some(VectorSpec::Literal(match kernel {
                Kernel::SumI32 => ints.iter().map(|i| format!("{:08x}", *i as u32)).collect(),
                _ => hex_f64(&a),
            }));
            if matches!(kernel, Kernel::DotF64 | Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64) {
                input.b = Some(VectorSpec::Literal(hex_f64(&b)));
            }
            if matches!(kernel, Kernel::ScaleF64 | Kernel::ClampF64 | Kernel::MapLinearF64) {
                input.s = Some(hex(s));
            }
            if matches!(kernel, Kernel::ClampF64 | Kernel::MapLinearF64) {
                input.t = Some(hex(t));
            }
            (kernel, input)
        })
    })
}

#[test]
fn wasm_kernels_agree_with_the_native_oracle() {
    let manifest = conformance::manifest().expect("the guest manifest");
    let host = Host::new(HostConfig::default()).expect("wasmtime starts");
    for built in &manifest.guests {
        let module = host.load(&conformance::guests_dir().join(&built.path)).expect("the guest loads");
        // The runner takes an `Fn`, and one long-lived instance serves every input.
        let guest = std::cell::RefCell::new(module.guest());
        let config = Config { cases: 300, failure_persistence: None, ..Config::default() };
        let mut runner = TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &SEED));
        eprintln!("kernels_wasm: {} with proptest seed {:?}", built.name, String::from_utf8_lossy(&SEED));
        let result = runner.run(&input(), |(kernel, input)| {
            let path = format!("/simd/{}", kernel.name());
            let mut request = Request::new("POST", &path);
            request.body = simd::simd_body(&path, &input).unwrap().into_bytes();
            let response = guest.borrow_mut().call(&request).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let body = String::from_utf8_lossy(response.body.as_bytes()).into_owned();
            prop_assert_eq!(response.status, 200, "{}", body);
            let expected = simd::oracle(kernel, &input).unwrap();
            simd::compare_simd(kernel, &expected, &body).map_err(TestCaseError::fail)?;
            Ok(())
        });
        if let Err(err) = result {
            let seed = String::from_utf8_lossy(&SEED);
            panic!("{}: the wasm kernels disagree with the native oracle (seed {seed:?}): {err}", built.name);
        }
    }
}
