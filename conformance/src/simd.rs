//! SIMD request bodies and their expected results: the vector generators, the line format of
//! ABI.md §9, the native kernels-rust oracle, and the bit-exact comparison of answers.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{LazyLock, Mutex};

use anyhow::{Context as _, bail};
use kernels_rust::Kernel;

use crate::case::{Case, Fill, Generator, OracleTag, SimdExpect, SimdInput, VectorSpec};

/// The kernel a `/simd/<kernel>` path names.
pub fn simd_kernel(path: &str) -> Option<Kernel> {
    Kernel::from_name(path.split('?').next()?.strip_prefix("/simd/")?)
}

/// Whether the kernel's `a` vector holds i32 values.
fn takes_i32(kernel: Option<Kernel>) -> bool {
    kernel == Some(Kernel::SumI32)
}

/// A vector of decoded values; f64 values are kept as bits so that NaN payloads survive.
#[derive(Clone, Debug, PartialEq)]
enum Values {
    F64(Vec<f64>),
    I32(Vec<i32>),
}

fn parse_hex_f64(text: &str) -> anyhow::Result<f64> {
    if text.len() != 16 {
        bail!("`{text}` is not 16 hex digits");
    }
    Ok(f64::from_bits(u64::from_str_radix(text, 16).with_context(|| format!("`{text}` is not hex"))?))
}

fn parse_hex_i32(text: &str) -> anyhow::Result<i32> {
    if text.len() != 8 {
        bail!("`{text}` is not 8 hex digits");
    }
    Ok(u32::from_str_radix(text, 16).with_context(|| format!("`{text}` is not hex"))? as i32)
}

/// splitmix64: a tiny, well-known generator; the corpus and the cross-guest check only need
/// repeatable values.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    /// The next 64 random bits.
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform f64 in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn generate(generator: &Generator, default_seed: u64, i32_values: bool) -> anyhow::Result<Values> {
    let n = generator.len;
    let mut rng = SplitMix(generator.seed.unwrap_or(default_seed));
    if i32_values {
        let values = (0..n)
            .map(|i| match generator.fill {
                Fill::Finite => Ok(rng.next_u64() as i32),
                Fill::Huge => Ok(if i % 2 == 0 { i32::MAX } else { i32::MIN + (rng.next_u64() % 3) as i32 }),
                other => bail!("the fill `{}` has no meaning for i32 vectors", other.name()),
            })
            .collect::<anyhow::Result<_>>()?;
        return Ok(Values::I32(values));
    }
    let sign = |rng: &mut SplitMix| if rng.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
    let mut values: Vec<f64> = (0..n)
        .map(|_| match generator.fill {
            Fill::Zero => sign(&mut rng) * 0.0,
            Fill::Subnormal => f64::from_bits(rng.next_u64() & 0x000f_ffff_ffff_ffff | 1) * sign(&mut rng),
            Fill::Huge => (1e300 + rng.unit() * 1.7e308) * sign(&mut rng),
            _ => rng.unit() * 2000.0 - 1000.0,
        })
        .collect();
    if n > 0 {
        match generator.fill {
            Fill::Nan => {
                values[n / 2] = f64::NAN;
                values[n - 1] = f64::NAN;
            }
            Fill::NanFirst => {
                values[0] = f64::NAN;
                values[n / 2] = f64::NAN;
            }
            Fill::Inf => {
                values[n / 3] = f64::INFINITY;
                values[2 * n / 3] = f64::NEG_INFINITY;
            }
            _ => {}
        }
    }
    Ok(Values::F64(values))
}

fn vector(spec: &VectorSpec, default_seed: u64, i32_values: bool) -> anyhow::Result<Values> {
    match spec {
        VectorSpec::Literal(items) if i32_values => {
            Ok(Values::I32(items.iter().map(|x| parse_hex_i32(x)).collect::<anyhow::Result<_>>()?))
        }
        VectorSpec::Literal(items) => {
            Ok(Values::F64(items.iter().map(|x| parse_hex_f64(x)).collect::<anyhow::Result<_>>()?))
        }
        VectorSpec::Generated(generator) => generated(generator, default_seed, i32_values),
    }
}

/// What [`generate`] makes, made once per process for each generator and then copied: the
/// loader's check, the request body and the oracle each ask for the same vector, and a corpus
/// names the same few vectors in many cases.
fn generated(generator: &Generator, default_seed: u64, i32_values: bool) -> anyhow::Result<Values> {
    type Made = Mutex<HashMap<(usize, Fill, u64, bool), Values>>;
    static MADE: LazyLock<Made> = LazyLock::new(Made::default);
    let key = (generator.len, generator.fill, generator.seed.unwrap_or(default_seed), i32_values);
    if let Some(values) = MADE.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(values.clone());
    }
    let values = generate(generator, default_seed, i32_values)?;
    MADE.lock().unwrap_or_else(|e| e.into_inner()).insert(key, values.clone());
    Ok(values)
}

/// The decoded inputs of a SIMD request.
struct Inputs {
    a: Option<Values>,
    b: Option<Values>,
    s: Option<f64>,
    t: Option<f64>,
}

fn inputs(kernel: Option<Kernel>, simd: &SimdInput) -> anyhow::Result<Inputs> {
    let i32_values = takes_i32(kernel);
    Ok(Inputs {
        a: simd.a.as_ref().map(|spec| vector(spec, 1, i32_values)).transpose()?,
        b: simd.b.as_ref().map(|spec| vector(spec, 2, false)).transpose()?,
        s: simd.s.as_deref().map(parse_hex_f64).transpose()?,
        t: simd.t.as_deref().map(parse_hex_f64).transpose()?,
    })
}

/// Writes `name`, then the values as comma-separated hex of their bits, then a newline. The
/// digits are written by hand, as bytes, because `format!`, and then pushing them one `char` at a
/// time, took a fifth of a `check` on the long vectors.
fn write_vector(out: &mut String, name: &str, values: &Values) {
    /// Appends a separator and the low `N - 1` hex digits of `bits`, most significant first, in
    /// one copy of a known size, which needs no call to `memcpy`.
    fn hex<const N: usize>(out: &mut Vec<u8>, separator: &mut u8, bits: u64) {
        let mut text = [*separator; N];
        for (i, digit) in text[1..].iter_mut().enumerate() {
            *digit = b"0123456789abcdef"[(bits >> (4 * (N - 2 - i))) as usize & 0xf];
        }
        out.extend_from_slice(&text);
        *separator = b',';
    }
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.extend_from_slice(name.as_bytes());
    let mut separator = b' ';
    match values {
        Values::F64(values) => {
            bytes.reserve(values.len() * 17 + 1);
            values.iter().for_each(|v| hex::<17>(&mut bytes, &mut separator, v.to_bits()));
        }
        Values::I32(values) => {
            bytes.reserve(values.len() * 9 + 1);
            values.iter().for_each(|v| hex::<9>(&mut bytes, &mut separator, u64::from(*v as u32)));
        }
    }
    bytes.push(b'\n');
    *out = String::from_utf8(bytes).expect("a name and hex digits are text");
}

/// The request body for a SIMD input, in the line format of `ABI.md`.
pub fn simd_body(path: &str, simd: &SimdInput) -> anyhow::Result<String> {
    let inputs = inputs(simd_kernel(path), simd)?;
    let mut body = String::new();
    if let Some(a) = &inputs.a {
        write_vector(&mut body, "a", a);
    }
    if let Some(b) = &inputs.b {
        write_vector(&mut body, "b", b);
    }
    for (name, scalar) in [("s", inputs.s), ("t", inputs.t)] {
        if let Some(value) = scalar {
            let _ = writeln!(body, "{name} {:016x}", value.to_bits());
        }
    }
    for line in &simd.extra_lines {
        body.push_str(line);
        body.push('\n');
    }
    Ok(body)
}

/// The result the native kernels-rust oracle gives, as raw 64-bit patterns.
pub fn oracle(kernel: Kernel, simd: &SimdInput) -> anyhow::Result<Vec<u64>> {
    let inputs = inputs(Some(kernel), simd)?;
    let f64s = |values: &Option<Values>, name: &str| match values {
        Some(Values::F64(values)) => Ok(values.clone()),
        _ => bail!("kernel `{}` needs an f64 vector `{name}`", kernel.name()),
    };
    let scalar = |value: Option<f64>, name: &str| {
        value.with_context(|| format!("kernel `{}` needs scalar `{name}`", kernel.name()))
    };
    let bits = |values: Vec<f64>| values.into_iter().map(f64::to_bits).collect();
    let pair = || -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
        let (a, b) = (f64s(&inputs.a, "a")?, f64s(&inputs.b, "b")?);
        if a.len() != b.len() {
            bail!("kernel `{}` needs `a` and `b` of equal length", kernel.name());
        }
        Ok((a, b))
    };
    Ok(match kernel {
        Kernel::SumF64 => vec![kernels_rust::sum_f64(&f64s(&inputs.a, "a")?).to_bits()],
        Kernel::SumI32 => match &inputs.a {
            Some(Values::I32(values)) => vec![kernels_rust::sum_i32(values) as u64],
            _ => bail!("kernel `sum_i32` needs an i32 vector `a`"),
        },
        Kernel::DotF64 => {
            let (a, b) = pair()?;
            vec![kernels_rust::dot_f64(&a, &b).to_bits()]
        }
        Kernel::ScaleF64 => {
            let mut a = f64s(&inputs.a, "a")?;
            kernels_rust::scale_f64(&mut a, scalar(inputs.s, "s")?);
            bits(a)
        }
        Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64 => {
            let (a, b) = pair()?;
            let mut dst = vec![0.0; a.len()];
            match kernel {
                Kernel::AddF64 => kernels_rust::add_f64(&mut dst, &a, &b),
                Kernel::SubF64 => kernels_rust::sub_f64(&mut dst, &a, &b),
                _ => kernels_rust::mul_f64(&mut dst, &a, &b),
            }
            bits(dst)
        }
        Kernel::MinmaxF64 => {
            let (min, max) = kernels_rust::minmax_f64(&f64s(&inputs.a, "a")?).unwrap_or((f64::NAN, f64::NAN));
            vec![min.to_bits(), max.to_bits()]
        }
        Kernel::ClampF64 => {
            let mut a = f64s(&inputs.a, "a")?;
            kernels_rust::clamp_f64(&mut a, scalar(inputs.s, "s")?, scalar(inputs.t, "t")?);
            bits(a)
        }
        Kernel::MapLinearF64 => {
            let mut a = f64s(&inputs.a, "a")?;
            kernels_rust::map_linear_f64(&mut a, scalar(inputs.s, "s")?, scalar(inputs.t, "t")?);
            bits(a)
        }
    })
}

/// The expected result of a SIMD case: its golden values, or else the oracle's.
pub fn expected_simd(case: &Case) -> anyhow::Result<Option<Vec<u64>>> {
    let Some(expect) = &case.expect.simd else { return Ok(None) };
    let kernel = simd_kernel(&case.request.path).context("not a /simd/<kernel> path")?;
    Ok(Some(match expect {
        SimdExpect::Golden(values) => {
            values.iter().map(|v| parse_hex_f64(v).map(f64::to_bits)).collect::<anyhow::Result<_>>()?
        }
        SimdExpect::Oracle(OracleTag::Oracle) => {
            oracle(kernel, case.request.simd.as_ref().context("no request.simd")?)?
        }
    }))
}

/// Compares result bits; when the values are f64, any NaN matches any NaN.
pub fn same_bits(expected: u64, actual: u64, f64_values: bool) -> bool {
    expected == actual || (f64_values && f64::from_bits(expected).is_nan() && f64::from_bits(actual).is_nan())
}

/// Parses a SIMD response line, `r <hex>[,<hex>...]`, into raw 64-bit patterns.
pub fn simd_result(body: &str) -> Result<Vec<u64>, String> {
    let rest = body.strip_prefix('r').ok_or_else(|| format!("the SIMD body does not start with `r`: {body:?}"))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let list = rest.strip_prefix(' ').ok_or_else(|| format!("no space after `r`: {body:?}"))?;
    list.split(',')
        .map(|hex| match hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            true => Ok(u64::from_str_radix(hex, 16).expect("checked hex")),
            false => Err(format!("`{hex}` is not 16 lowercase hex digits")),
        })
        .collect()
}

/// Compares a SIMD response line with the expected bits; `Err` names the first difference.
pub fn compare_simd(kernel: Kernel, expected: &[u64], body: &str) -> Result<(), String> {
    let f64_values = kernel != Kernel::SumI32;
    let actual = simd_result(body)?;
    if actual.len() != expected.len() {
        return Err(format!("the result has {} values (expected {})", actual.len(), expected.len()));
    }
    if let Some(i) = (0..actual.len()).find(|&i| !same_bits(expected[i], actual[i], f64_values)) {
        return Err(format!(
            "value {i} is {:016x} ({}) but the expected bits are {:016x} ({})",
            actual[i],
            f64::from_bits(actual[i]),
            expected[i],
            f64::from_bits(expected[i])
        ));
    }
    Ok(())
}

/// A random f64 for the cross-guest check: mostly finite values whose products and sums round,
/// sometimes a special value or an arbitrary bit pattern.
fn random_f64(rng: &mut SplitMix) -> f64 {
    const SPECIALS: [f64; 9] =
        [0.0, -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN, 5e-324, -2.2e-308, 1.7e308, -1.7e308];
    match rng.next_u64() % 20 {
        0 => SPECIALS[(rng.next_u64() % SPECIALS.len() as u64) as usize],
        1 => f64::from_bits(rng.next_u64()),
        _ => (rng.unit() - 0.5) * 2000.0,
    }
}

/// The request body of random input `index` for `kernel` from `seed`: a length from 0 to 40,
/// then `a`, `b`, `s` and `t` as the kernel takes them. The same arguments give the same body.
pub fn random_body(kernel: Kernel, seed: u64, index: usize) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_written_as_the_hex_of_their_bits() {
        let mut out = String::new();
        write_vector(&mut out, "a", &Values::F64(vec![1.0, -0.0, f64::NAN, 0.1]));
        write_vector(&mut out, "b", &Values::I32(vec![0, -1, i32::MIN, 0x1234_abcd]));
        let expected = format!(
            "a {:016x},{:016x},{:016x},{:016x}\nb 00000000,ffffffff,80000000,1234abcd\n",
            1.0f64.to_bits(),
            (-0.0f64).to_bits(),
            f64::NAN.to_bits(),
            0.1f64.to_bits()
        );
        assert_eq!(out, expected);
    }

    fn gen_spec(len: usize, fill: Fill) -> Generator {
        Generator { len, fill, seed: None }
    }

    #[test]
    fn generators_are_repeatable_and_place_specials() {
        let a = generate(&gen_spec(7, Fill::Nan), 1, false).unwrap();
        // NaN != NaN, so the repeat is compared through the printed bits.
        assert_eq!(format!("{a:?}"), format!("{:?}", generate(&gen_spec(7, Fill::Nan), 1, false).unwrap()));
        let Values::F64(values) = a else { panic!("f64 expected") };
        assert!(values[3].is_nan() && values[6].is_nan());
        assert!(values.iter().filter(|v| !v.is_nan()).all(|v| (-1000.0..=1000.0).contains(v)));
        let Values::F64(zeros) = generate(&gen_spec(64, Fill::Zero), 1, false).unwrap() else { panic!() };
        assert!(zeros.iter().all(|z| *z == 0.0));
        assert!(zeros.iter().any(|z| z.is_sign_negative()) && zeros.iter().any(|z| z.is_sign_positive()));
        let Values::F64(subnormals) = generate(&gen_spec(64, Fill::Subnormal), 1, false).unwrap() else { panic!() };
        assert!(subnormals.iter().all(|v| v.is_subnormal()));
        assert!(generate(&gen_spec(3, Fill::Nan), 1, true).is_err());
    }

    #[test]
    fn simd_bodies_follow_the_line_format() {
        let simd = SimdInput {
            a: Some(VectorSpec::Literal(vec!["3ff0000000000000".into(), "4000000000000000".into()])),
            s: Some("4000000000000000".into()),
            ..SimdInput::default()
        };
        assert_eq!(
            simd_body("/simd/scale_f64", &simd).unwrap(),
            "a 3ff0000000000000,4000000000000000\ns 4000000000000000\n"
        );
        let empty = SimdInput { a: Some(VectorSpec::Literal(vec![])), ..SimdInput::default() };
        assert_eq!(simd_body("/simd/sum_f64", &empty).unwrap(), "a\n");
        let ints = SimdInput { a: Some(VectorSpec::Literal(vec!["ffffffff".into()])), ..SimdInput::default() };
        assert_eq!(simd_body("/simd/sum_i32", &ints).unwrap(), "a ffffffff\n");
        assert_eq!(oracle(Kernel::SumI32, &ints).unwrap(), vec![u64::MAX]);
    }

    #[test]
    fn nan_matches_nan_only_for_f64_results() {
        assert!(same_bits(0x7ff8_0000_0000_0000, 0xfff8_0000_0000_0001, true));
        assert!(!same_bits(0x7ff8_0000_0000_0000, 0xfff8_0000_0000_0001, false));
        assert!(!same_bits(0x8000_0000_0000_0000, 0, true));
    }

    #[test]
    fn random_bodies_are_repeatable_and_fit_the_kernel() {
        assert_eq!(random_body(Kernel::ClampF64, 7, 3), random_body(Kernel::ClampF64, 7, 3));
        assert_ne!(random_body(Kernel::ClampF64, 7, 3), random_body(Kernel::ClampF64, 7, 4));
        let body = random_body(Kernel::DotF64, 7, 3);
        assert!(body.starts_with('a') && body.contains("\nb") && !body.contains("\ns "), "{body}");
    }
}
