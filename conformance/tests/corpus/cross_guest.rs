//! The cross-guest SIMD check: the same random inputs go to every built guest, and every guest
//! must answer with the same bits (any NaN matching any NaN, `[kernel.nan]`).
//!
//! The inputs come from a fixed seed, so a failure is repeatable: it prints the seed, the index
//! of the vector, the request body and both answers. The canaries in the manifest (guests with a
//! kernel broken on purpose) must fail this check, which shows that it can.

use std::path::PathBuf;

use host::corpus::{self, SplitMix};
use host::{Host, Request};
use kernels_rust::Kernel;

/// The seed of every run, printed with every failure.
pub const SEED: u64 = 0x5eed_0000_2026_0001;

/// Random inputs per kernel; each one goes to every guest.
pub const VECTORS: usize = 1000;

/// A random f64: mostly finite values whose products and sums round, sometimes a special value.
fn random_f64(rng: &mut SplitMix) -> f64 {
    const SPECIALS: [f64; 9] =
        [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 5e-324, -2.2e-308, 1.7e308, -1.7e308];
    match rng.next_u64() % 20 {
        0 => SPECIALS[(rng.next_u64() % SPECIALS.len() as u64) as usize],
        1 => f64::from_bits(rng.next_u64()),
        _ => (rng.unit() - 0.5) * 2000.0,
    }
}

/// The request body of input `index` for `kernel`: a length from 0 to 40, then `a`, `b`, `s`
/// and `t` as the kernel takes them.
pub fn body(kernel: Kernel, seed: u64, index: usize) -> String {
    let mut rng = SplitMix(seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ kernel as u64);
    let len = (rng.next_u64() % 41) as usize;
    let vector = |rng: &mut SplitMix| {
        let values: Vec<String> = (0..len)
            .map(|_| match kernel {
                Kernel::SumI32 => format!("{:08x}", rng.next_u64() as u32),
                _ => format!("{:016x}", random_f64(rng).to_bits()),
            })
            .collect();
        if values.is_empty() { String::new() } else { format!(" {}", values.join(",")) }
    };
    let mut body = format!("a{}\n", vector(&mut rng));
    if matches!(kernel, Kernel::DotF64 | Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64) {
        body += &format!("b{}\n", vector(&mut rng));
    }
    if matches!(kernel, Kernel::ScaleF64 | Kernel::ClampF64 | Kernel::MapLinearF64) {
        body += &format!("s {:016x}\n", random_f64(&mut rng).to_bits());
    }
    if matches!(kernel, Kernel::ClampF64 | Kernel::MapLinearF64) {
        body += &format!("t {:016x}\n", random_f64(&mut rng).to_bits());
    }
    body
}

/// Sends [`VECTORS`] inputs for `kernel` to every guest and requires the first guest's bits
/// from all of them.
pub fn check(host: &Host, guests: &[(String, PathBuf)], kernel: Kernel, seed: u64) -> Result<(), String> {
    let mut instances = Vec::new();
    for (name, path) in guests {
        let module = host.load(path).map_err(|e| e.to_string())?;
        instances.push((name, path, module.guest()));
    }
    let route = format!("/simd/{}", kernel.name());
    for index in 0..VECTORS {
        let body = body(kernel, seed, index);
        let mut request = Request::new("POST", &route);
        request.body = body.clone().into_bytes();
        let mut first: Option<(&String, Vec<u64>, String)> = None;
        for (name, path, guest) in &mut instances {
            let response = guest.call(&request).map_err(|e| e.to_string())?;
            let answer = String::from_utf8_lossy(response.body.as_bytes()).into_owned();
            let failure = |why: String| {
                format!(
                    "seed {seed:#x}, vector {index} of {}: {why}\nrequest body:\n{body}reproduce: gomode-host call {} -X POST {route} -d $'{}'",
                    kernel.name(),
                    path.display(),
                    body.trim_end().replace('\n', "\\n")
                )
            };
            if response.status != 200 {
                return Err(failure(format!("`{name}` answered {}: {answer}", response.status)));
            }
            match &first {
                None => first = Some((name, corpus::simd_result(&answer).map_err(failure)?, answer)),
                Some((first_name, bits, first_answer)) => {
                    corpus::compare_simd(kernel, bits, &answer).map_err(|why| {
                        failure(format!(
                            "`{first_name}` answered `{first_answer}` but `{name}` answered `{answer}` ({why})"
                        ))
                    })?
                }
            }
        }
    }
    Ok(())
}
