//! The ten SIMD kernels of the zerobuf kernel ABI, in Zig, as GoMode links them into guests.
//!
//! Built by `cargo xtask build-guests` with
//! `zig build-obj -target wasm32-wasi -mcpu=generic+simd128 -O ReleaseSmall` into a relocatable
//! object that a guest links, so every kernel call is a direct `call` inside one module. The
//! semantics are those of `conformance/ABI.md` §8, bit for bit the same as kernels-rust: two f64
//! lanes (lane 0 even indices, lane 1 odd), reductions add lane 0 and lane 1 and then an odd last
//! element, `<`/`>` selects, and no fused multiply-add. A null pointer or a zero count returns 0
//! or does nothing. `zig test kernels.zig` runs the edge-case tests at the bottom.

const std = @import("std");

const F64x2 = @Vector(2, f64);
const I64x4 = @Vector(4, i64);
const I32x4 = @Vector(4, i32);

fn load2(p: [*]const f64, i: usize) F64x2 {
    return .{ p[i], p[i + 1] };
}

fn store2(p: [*]f64, i: usize, v: F64x2) void {
    p[i] = v[0];
    p[i + 1] = v[1];
}

export fn zig_simd_sum_f64(ptr: ?[*]const f64, count: usize) f64 {
    const x = ptr orelse return 0;
    var acc: F64x2 = @splat(0.0);
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) acc += load2(x, i);
    var total = acc[0] + acc[1];
    if (count % 2 == 1) total += x[count - 1];
    return total;
}

export fn zig_simd_sum_i32(ptr: ?[*]const i32, count: usize) i64 {
    const x = ptr orelse return 0;
    var acc: I64x4 = @splat(0);
    var i: usize = 0;
    while (i + 4 <= count) : (i += 4) {
        const v: I32x4 = .{ x[i], x[i + 1], x[i + 2], x[i + 3] };
        acc +%= @as(I64x4, v);
    }
    var total: i64 = @reduce(.Add, acc);
    while (i < count) : (i += 1) total +%= x[i];
    return total;
}

export fn zig_simd_dot_f64(a_ptr: ?[*]const f64, b_ptr: ?[*]const f64, count: usize) f64 {
    const a = a_ptr orelse return 0;
    const b = b_ptr orelse return 0;
    var acc: F64x2 = @splat(0.0);
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) acc += load2(a, i) * load2(b, i);
    var total = acc[0] + acc[1];
    if (count % 2 == 1) total += a[count - 1] * b[count - 1];
    return total;
}

export fn zig_simd_scale_f64(ptr: ?[*]f64, count: usize, s: f64) void {
    const x = ptr orelse return;
    const sv: F64x2 = @splat(s);
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) store2(x, i, load2(x, i) * sv);
    if (i < count) x[i] *= s;
}

const Op = enum { add, sub, mul };

inline fn binary(comptime op: Op, dst_ptr: ?[*]f64, a_ptr: ?[*]const f64, b_ptr: ?[*]const f64, count: usize) void {
    const dst = dst_ptr orelse return;
    const a = a_ptr orelse return;
    const b = b_ptr orelse return;
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) {
        const x = load2(a, i);
        const y = load2(b, i);
        store2(dst, i, switch (op) {
            .add => x + y,
            .sub => x - y,
            .mul => x * y,
        });
    }
    if (i < count) dst[i] = switch (op) {
        .add => a[i] + b[i],
        .sub => a[i] - b[i],
        .mul => a[i] * b[i],
    };
}

export fn zig_simd_add_f64(dst: ?[*]f64, a: ?[*]const f64, b: ?[*]const f64, count: usize) void {
    binary(.add, dst, a, b, count);
}

export fn zig_simd_sub_f64(dst: ?[*]f64, a: ?[*]const f64, b: ?[*]const f64, count: usize) void {
    binary(.sub, dst, a, b, count);
}

export fn zig_simd_mul_f64(dst: ?[*]f64, a: ?[*]const f64, b: ?[*]const f64, count: usize) void {
    binary(.mul, dst, a, b, count);
}

export fn zig_simd_minmax_f64(ptr: ?[*]const f64, count: usize, out_ptr: ?[*]f64) void {
    const x = ptr orelse return;
    const out = out_ptr orelse return;
    if (count == 0) return;
    var min: F64x2 = @splat(x[0]);
    var max: F64x2 = @splat(x[0]);
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) {
        const v = load2(x, i);
        min = @select(f64, v < min, v, min);
        max = @select(f64, v > max, v, max);
    }
    var lo = x[0];
    var hi = x[0];
    for ([_]f64{ min[0], min[1] }) |v| lo = if (v < lo) v else lo;
    for ([_]f64{ max[0], max[1] }) |v| hi = if (v > hi) v else hi;
    if (i < count) {
        lo = if (x[i] < lo) x[i] else lo;
        hi = if (x[i] > hi) x[i] else hi;
    }
    out[0] = lo;
    out[1] = hi;
}

export fn zig_simd_clamp_f64(ptr: ?[*]f64, count: usize, lo: f64, hi: f64) void {
    const x = ptr orelse return;
    const lov: F64x2 = @splat(lo);
    const hiv: F64x2 = @splat(hi);
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) {
        var v = load2(x, i);
        v = @select(f64, v < lov, lov, v);
        v = @select(f64, v > hiv, hiv, v);
        store2(x, i, v);
    }
    if (i < count) {
        if (x[i] < lo) x[i] = lo;
        if (x[i] > hi) x[i] = hi;
    }
}

export fn zig_simd_map_linear_f64(ptr: ?[*]f64, count: usize, a: f64, b: f64) void {
    const x = ptr orelse return;
    const av: F64x2 = @splat(a);
    const bv: F64x2 = @splat(b);
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) store2(x, i, av * load2(x, i) + bv);
    if (i < count) x[i] = a * x[i] + b;
}

// Edge cases, the same as kernels-rust's tables. Results are compared by bits, any NaN
// matching any NaN.

const nan = std.math.nan(f64);
const inf = std.math.inf(f64);

fn bits(x: f64) u64 {
    return if (std.math.isNan(x)) @bitCast(nan) else @bitCast(x);
}

fn expectBits(expected: f64, actual: f64) !void {
    try std.testing.expectEqual(bits(expected), bits(actual));
}

test "sum_f64: empty, null, -0, lane order, odd tail, NaN" {
    try expectBits(0, zig_simd_sum_f64(null, 3));
    try expectBits(0, zig_simd_sum_f64(&[_]f64{1}, 0));
    try expectBits(0.0, zig_simd_sum_f64(&[_]f64{-0.0}, 1));
    try expectBits(0.0, zig_simd_sum_f64(&[_]f64{ -0.0, -0.0 }, 2));
    try expectBits(2.0, zig_simd_sum_f64(&[_]f64{ 1e16, 1, -1e16, 1 }, 4));
    try expectBits(1e16 + 2.0, zig_simd_sum_f64(&[_]f64{ 1, -1e16, 1, 1e16, 1e16 }, 5));
    try expectBits(nan, zig_simd_sum_f64(&[_]f64{ inf, -inf }, 2));
    try expectBits(36, zig_simd_sum_f64(&[_]f64{ 1, 2, 3, 4, 5, 6, 7, 8 }, 8));
}

test "sum_i32 widens" {
    const max = std.math.maxInt(i32);
    try std.testing.expectEqual(@as(i64, 5) * max, zig_simd_sum_i32(&[_]i32{ max, max, max, max, max }, 5));
    try std.testing.expectEqual(@as(i64, 0), zig_simd_sum_i32(null, 5));
}

test "dot_f64: odd tail and no FMA" {
    try expectBits(32, zig_simd_dot_f64(&[_]f64{ 1, 2, 3 }, &[_]f64{ 4, 5, 6 }, 3));
    try expectBits(0, zig_simd_dot_f64(&[_]f64{ 0.1, 0, -1 }, &[_]f64{ 10, 0, 1 }, 3));
    try expectBits(204, zig_simd_dot_f64(&[_]f64{ 1, 2, 3, 4, 5, 6, 7, 8 }, &[_]f64{ 1, 2, 3, 4, 5, 6, 7, 8 }, 8));
}

test "minmax_f64: NaN first wins, later NaN ignored, zeros by position, empty untouched" {
    var out = [2]f64{ nan, nan };
    zig_simd_minmax_f64(&[_]f64{ 1, nan, -1, nan, 7 }, 5, &out);
    try expectBits(-1, out[0]);
    try expectBits(7, out[1]);
    zig_simd_minmax_f64(&[_]f64{ nan, 1, 2 }, 3, &out);
    try expectBits(nan, out[0]);
    try expectBits(nan, out[1]);
    zig_simd_minmax_f64(&[_]f64{ -0.0, 0.0 }, 2, &out);
    try expectBits(-0.0, out[0]);
    try expectBits(-0.0, out[1]);
    out = .{ 5, 5 };
    zig_simd_minmax_f64(&[_]f64{1}, 0, &out);
    try expectBits(5, out[0]);
}

test "clamp_f64: NaN passes, lo > hi gives hi" {
    var x = [_]f64{ nan, -5, 0.5, 5 };
    zig_simd_clamp_f64(&x, 4, 1, -1);
    try expectBits(nan, x[0]);
    try expectBits(-1, x[1]);
    try expectBits(-1, x[2]);
    try expectBits(-1, x[3]);
}

test "element-wise kernels: odd tails, aliasing, no FMA" {
    var x = [_]f64{ 1, 2, 3 };
    zig_simd_add_f64(&x, &x, &[_]f64{ 10, 20, 30 }, 3);
    try std.testing.expectEqual([_]f64{ 11, 22, 33 }, x);
    zig_simd_scale_f64(&x, 3, -1);
    try std.testing.expectEqual([_]f64{ -11, -22, -33 }, x);
    var y = [_]f64{0.1};
    zig_simd_map_linear_f64(&y, 1, 10, -1);
    try expectBits(0, y[0]);
    var d = [_]f64{ 0, 0, 0 };
    zig_simd_sub_f64(&d, &[_]f64{ 1, -0.0, inf }, &[_]f64{ 2, 0, inf }, 3);
    try expectBits(-1, d[0]);
    try expectBits(-0.0, d[1]);
    try expectBits(nan, d[2]);
    zig_simd_mul_f64(&d, &[_]f64{ 1.5, -0.0, 0 }, &[_]f64{ 2, 3, inf }, 3);
    try expectBits(3, d[0]);
    try expectBits(-0.0, d[1]);
    try expectBits(nan, d[2]);
}
