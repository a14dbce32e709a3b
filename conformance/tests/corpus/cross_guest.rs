//! The cross-guest SIMD check: the same random inputs go to every built guest, and every guest
//! must answer with the same bits (any NaN matching any NaN, `[kernel.nan]`).
//!
//! The inputs come from a fixed seed (`conformance::simd::random_body`), so a failure is
//! repeatable: it prints the seed, the index of the vector, the request body and both answers.
//! The canaries in the manifest (guests with a kernel broken on purpose) must fail this check
//! with [`Mismatch::Bits`], which shows that it can.

use std::fmt;
use std::path::PathBuf;

use conformance::simd;
use host::{Host, Request};
use kernels_rust::Kernel;

/// The seed of every run, printed with every failure.
pub const SEED: u64 = 0x5eed_0000_2026_0001;

/// Random inputs per kernel; each one goes to every guest.
pub const VECTORS: usize = 1000;

/// Why the guests did not all give the same answer.
#[derive(Debug)]
pub enum Mismatch {
    /// A guest could not be loaded, broke a rule, or did not answer 200 with a result line.
    Failed(String),
    /// Two guests answered with different result bits.
    Bits(String),
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Failed(message) | Mismatch::Bits(message) => f.write_str(message),
        }
    }
}

/// Sends [`VECTORS`] inputs for `kernel` to every guest and requires the first guest's bits
/// from all of them.
pub fn check(host: &Host, guests: &[(String, PathBuf)], kernel: Kernel, seed: u64) -> Result<(), Mismatch> {
    let mut instances = Vec::new();
    for (name, path) in guests {
        let module = host.load(path).map_err(|e| Mismatch::Failed(e.to_string()))?;
        instances.push((name, path, module.guest()));
    }
    let route = format!("/simd/{}", kernel.name());
    for index in 0..VECTORS {
        let body = simd::random_body(kernel, seed, index);
        let mut request = Request::new("POST", &route);
        request.body = body.clone().into_bytes();
        let mut first: Option<(&String, Vec<u64>, String)> = None;
        for (name, path, guest) in &mut instances {
            let context = |why: String| {
                format!(
                    "seed {seed:#x}, vector {index} of {}: {why}\nrequest body:\n{body}reproduce: gomode-host call {} -X POST {route} -d $'{}'",
                    kernel.name(),
                    path.display(),
                    body.trim_end().replace('\n', "\\n")
                )
            };
            let response = guest.call(&request).map_err(|e| Mismatch::Failed(context(e.to_string())))?;
            let answer = String::from_utf8_lossy(response.body.as_bytes()).into_owned();
            if response.status != 200 {
                return Err(Mismatch::Failed(context(format!("`{name}` answered {}: {answer}", response.status))));
            }
            match &first {
                None => {
                    let bits = simd::simd_result(&answer).map_err(|why| Mismatch::Failed(context(why)))?;
                    first = Some((name, bits, answer));
                }
                Some((first_name, bits, first_answer)) => simd::compare_simd(kernel, bits, &answer).map_err(|why| {
                    Mismatch::Bits(context(format!(
                        "`{first_name}` answered `{first_answer}` but `{name}` answered `{answer}` ({why})"
                    )))
                })?,
            }
        }
    }
    Ok(())
}
