//! The SIMD routes: the seed's `/simd` demo and `POST /simd/<kernel>` with the hex body format of
//! `conformance/ABI.md` §9. The kernels are called only through the `zig_simd_*` symbols; from
//! kernels-rust the guest takes only the kernel names (`Kernel`).

use crate::zerobuf::Response;
pub use kernels_rust::Kernel;

unsafe extern "C" {
    fn zig_simd_sum_f64(ptr: *const f64, count: usize) -> f64;
    fn zig_simd_sum_i32(ptr: *const i32, count: usize) -> i64;
    fn zig_simd_dot_f64(a: *const f64, b: *const f64, count: usize) -> f64;
    fn zig_simd_scale_f64(ptr: *mut f64, count: usize, s: f64);
    fn zig_simd_add_f64(dst: *mut f64, a: *const f64, b: *const f64, count: usize);
    fn zig_simd_sub_f64(dst: *mut f64, a: *const f64, b: *const f64, count: usize);
    fn zig_simd_mul_f64(dst: *mut f64, a: *const f64, b: *const f64, count: usize);
    fn zig_simd_minmax_f64(ptr: *const f64, count: usize, out: *mut f64);
    fn zig_simd_clamp_f64(ptr: *mut f64, count: usize, lo: f64, hi: f64);
    fn zig_simd_map_linear_f64(ptr: *mut f64, count: usize, a: f64, b: f64);
}

/// The fields a kernel takes, in the order `a`, `b`, `s`, `t`.
fn fields(kernel: Kernel) -> &'static [u8] {
    match kernel {
        Kernel::SumF64 | Kernel::SumI32 | Kernel::MinmaxF64 => b"a",
        Kernel::DotF64 | Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64 => b"ab",
        Kernel::ScaleF64 => b"as",
        Kernel::ClampF64 | Kernel::MapLinearF64 => b"ast",
    }
}

/// `/simd`: the seed page's demo on 1..8.
pub fn demo() -> Response {
    let a: Vec<f64> = (1..=8).map(f64::from).collect();
    let mut scaled = a.clone();
    let mut minmax = [f64::NAN; 2];
    // SAFETY: every pointer covers the 8 elements passed, and `minmax` holds two.
    let (sum, dot, scaled_sum) = unsafe {
        zig_simd_scale_f64(scaled.as_mut_ptr(), 8, 2.0);
        zig_simd_minmax_f64(a.as_ptr(), 8, minmax.as_mut_ptr());
        (
            zig_simd_sum_f64(a.as_ptr(), 8),
            zig_simd_dot_f64(a.as_ptr(), a.as_ptr(), 8),
            zig_simd_sum_f64(scaled.as_ptr(), 8),
        )
    };
    let [min, max] = minmax;
    Response::json(format!(r#"{{"sum":{sum},"dot":{dot},"scaled_sum":{scaled_sum},"min":{min},"max":{max}}}"#))
}

/// `POST /simd/<kernel>`: parses the body, runs the kernel, answers `r <hex>,...` or 400.
pub fn run(kernel: Kernel, body: &str) -> Response {
    match Input::parse(kernel, body).and_then(|input| input.run(kernel)) {
        Ok(bits) => {
            let mut line = String::with_capacity(1 + 17 * bits.len());
            line.push('r');
            for (i, &word) in bits.iter().enumerate() {
                line.push(if i == 0 { ' ' } else { ',' });
                push_hex(&mut line, word);
            }
            Response::text(200, line)
        }
        Err(message) => Response::text(400, message),
    }
}

/// The parsed fields of a SIMD body.
#[derive(Debug, Default)]
struct Input {
    a_f64: Vec<f64>,
    a_i32: Vec<i32>,
    b: Vec<f64>,
    s: f64,
    t: f64,
}

impl Input {
    fn parse(kernel: Kernel, body: &str) -> Result<Input, String> {
        let mut input = Input::default();
        let mut seen = Vec::new();
        for line in body.strip_suffix('\n').unwrap_or(body).split('\n') {
            let (name, values) = line.split_once(' ').unwrap_or((line, ""));
            let field = match name.as_bytes() {
                [field @ (b'a' | b'b' | b's' | b't')] => *field,
                _ => return Err(format!("unknown field {name:?}")),
            };
            if !fields(kernel).contains(&field) {
                return Err(format!("kernel does not take field {name:?}"));
            }
            if seen.contains(&field) {
                return Err(format!("field {name:?} given twice"));
            }
            seen.push(field);
            let values: Vec<&str> = if values.is_empty() { Vec::new() } else { values.split(',').collect() };
            match field {
                b'a' if kernel == Kernel::SumI32 => {
                    input.a_i32 =
                        values.iter().map(|v| hex(v, 8).map(|bits| bits as u32 as i32)).collect::<Result<_, _>>()?
                }
                b'a' => input.a_f64 = f64s(&values)?,
                b'b' => input.b = f64s(&values)?,
                _ => {
                    let [value] = f64s(&values)?[..] else {
                        return Err(format!("scalar {name:?} needs exactly one value"));
                    };
                    if field == b's' { input.s = value } else { input.t = value }
                }
            }
        }
        if let Some(missing) = fields(kernel).iter().find(|field| !seen.contains(field)) {
            return Err(format!("missing field {:?}", char::from(*missing)));
        }
        if fields(kernel).contains(&b'b') && input.a_f64.len() != input.b.len() {
            return Err(format!("a has {} values but b has {}", input.a_f64.len(), input.b.len()));
        }
        Ok(input)
    }

    /// Runs the kernel and returns the result's bits.
    fn run(mut self, kernel: Kernel) -> Result<Vec<u64>, String> {
        let bits = |values: Vec<f64>| values.into_iter().map(f64::to_bits).collect();
        let (a, n) = (self.a_f64.as_mut_ptr(), self.a_f64.len());
        // SAFETY: every pointer covers `n` elements (`b` has the length of `a`, and `dst` is made
        // that long), `minmax` holds two, and `a_i32` is passed with its own length.
        Ok(unsafe {
            match kernel {
                Kernel::SumF64 => vec![zig_simd_sum_f64(a, n).to_bits()],
                Kernel::SumI32 => vec![zig_simd_sum_i32(self.a_i32.as_ptr(), self.a_i32.len()) as u64],
                Kernel::DotF64 => vec![zig_simd_dot_f64(a, self.b.as_ptr(), n).to_bits()],
                Kernel::ScaleF64 => {
                    zig_simd_scale_f64(a, n, self.s);
                    bits(self.a_f64)
                }
                Kernel::AddF64 | Kernel::SubF64 | Kernel::MulF64 => {
                    let mut dst = vec![0.0; n];
                    let op = match kernel {
                        Kernel::AddF64 => zig_simd_add_f64,
                        Kernel::SubF64 => zig_simd_sub_f64,
                        _ => zig_simd_mul_f64,
                    };
                    op(dst.as_mut_ptr(), a, self.b.as_ptr(), n);
                    bits(dst)
                }
                Kernel::MinmaxF64 => {
                    let mut out = [f64::NAN; 2];
                    zig_simd_minmax_f64(a, n, out.as_mut_ptr());
                    bits(out.to_vec())
                }
                Kernel::ClampF64 => {
                    zig_simd_clamp_f64(a, n, self.s, self.t);
                    bits(self.a_f64)
                }
                Kernel::MapLinearF64 => {
                    zig_simd_map_linear_f64(a, n, self.s, self.t);
                    bits(self.a_f64)
                }
            }
        })
    }
}

fn f64s(values: &[&str]) -> Result<Vec<f64>, String> {
    values.iter().map(|v| hex(v, 16).map(f64::from_bits)).collect()
}

/// Parses exactly `digits` (at most 16) lowercase hex digits. It is written out, rather than
/// `u64::from_str_radix`, because bodies of a hundred thousand values make it one of the guest's
/// hottest loops.
fn hex(value: &str, digits: usize) -> Result<u64, String> {
    let bad = || format!("bad value {value:?}: want {digits} lowercase hex digits");
    if value.len() != digits {
        return Err(bad());
    }
    let mut bits = 0;
    for b in value.bytes() {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            _ => return Err(bad()),
        };
        bits = bits << 4 | u64::from(digit);
    }
    Ok(bits)
}

/// Appends the 16 lowercase hex digits of `word`, as `{word:016x}` would, without the formatting
/// machinery, which costs more than the kernels on long vectors.
fn push_hex(out: &mut String, word: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for shift in (0..16).rev() {
        out.push(char::from(DIGITS[(word >> (4 * shift)) as usize & 15]));
    }
}
