//! The ten SIMD kernels of the zerobuf kernel ABI, in Zig, as GoMode links them into guests.
//!
//! Built by `cargo xtask build-guests` with
//! `zig build-obj -target wasm32-wasi -mcpu=generic+simd128 -O ReleaseSmall` into a relocatable
//! object that a guest links, so every kernel call is a direct `call` inside one module. The
//! semantics are those of `conformance/ABI.md` §8, bit for bit the same as kernels-rust: two f64
//! lanes (lane 0 even indices, lane 1 odd), reductions add lane 0 and lane 1 and then an odd last
//! element, `<`/`>` selects (clamp takes both masks of a pair from the original element and
//! clamps an odd last element sequentially), and no fused multiply-add. A null pointer or a zero
//! count returns 0 or does nothing. `zig test kernels.zig` runs the tests at the bottom, which
//! read the edge cases of edge-cases.json.

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

/// Clamps in place as GoMode's kernel does (`[kernel.clamp]`). In each pair both masks come from
/// the original element, and lo is selected where it is below lo, then hi where it is above hi,
/// so hi wins where both hold. The odd last element is clamped sequentially. A NaN element passes
/// through, since every comparison with it is false. The two rules agree when lo <= hi; when
/// lo > hi a paired element <= hi becomes lo, and every other element but a NaN becomes hi.
export fn zig_simd_clamp_f64(ptr: ?[*]f64, count: usize, lo: f64, hi: f64) void {
    const x = ptr orelse return;
    const lov: F64x2 = @splat(lo);
    const hiv: F64x2 = @splat(hi);
    var i: usize = 0;
    while (i + 2 <= count) : (i += 2) {
        const v = load2(x, i);
        const lt = v < lov;
        const gt = v > hiv;
        store2(x, i, @select(f64, gt, hiv, @select(f64, lt, lov, v)));
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

// Tests. The edge cases come from edge-cases.json, next to this file, which kernels-rust and the
// Go guest also test against; its "about" field describes the format. A case fails when its
// result differs from r bit for bit, except that any NaN matches any NaN. The tests after it
// cover what a table cannot: clamp over a grid of bounds, null pointers and a destination that is
// also an input.

const Case = struct {
    kernel: []const u8,
    name: []const u8,
    purpose: []const u8,
    a: []const []const u8,
    b: ?[]const []const u8 = null,
    s: ?[]const u8 = null,
    t: ?[]const u8 = null,
    r: []const []const u8,
};

/// What outputs hold before a kernel runs: a number that no case expects and not a NaN, so an
/// output the kernel never writes cannot match a result, not even a NaN one.
const unwritten: f64 = 1234.5;

fn f64s(arena: std.mem.Allocator, values: []const []const u8) ![]f64 {
    const xs = try arena.alloc(f64, values.len);
    for (xs, values) |*x, v| x.* = try scalar(v);
    return xs;
}

fn scalar(value: ?[]const u8) !f64 {
    const v = value orelse return error.MissingField;
    if (v.len != 16) return error.BadHex;
    return @bitCast(try std.fmt.parseInt(u64, v, 16));
}

fn bitsOf(arena: std.mem.Allocator, xs: []const f64) ![]u64 {
    const out = try arena.alloc(u64, xs.len);
    for (out, xs) |*o, x| o.* = @bitCast(x);
    return out;
}

/// Runs the case's kernel through its C ABI and returns the result's bits, laid out as `r`.
fn run(arena: std.mem.Allocator, case: Case) ![]u64 {
    const k = case.kernel;
    if (std.mem.eql(u8, k, "sum_i32")) {
        const x = try arena.alloc(i32, case.a.len);
        for (x, case.a) |*v, hex| {
            if (hex.len != 8) return error.BadHex;
            v.* = @bitCast(try std.fmt.parseInt(u32, hex, 16));
        }
        return arena.dupe(u64, &.{@bitCast(zig_simd_sum_i32(x.ptr, x.len))});
    }
    const a = try f64s(arena, case.a);
    const b = try f64s(arena, case.b orelse &.{});
    const n = @min(a.len, b.len);
    if (std.mem.eql(u8, k, "sum_f64")) return arena.dupe(u64, &.{@bitCast(zig_simd_sum_f64(a.ptr, a.len))});
    if (std.mem.eql(u8, k, "dot_f64")) return arena.dupe(u64, &.{@bitCast(zig_simd_dot_f64(a.ptr, b.ptr, n))});
    if (std.mem.eql(u8, k, "minmax_f64")) {
        var out = [2]f64{ unwritten, unwritten };
        zig_simd_minmax_f64(a.ptr, a.len, &out);
        return bitsOf(arena, if (out[0] == unwritten and out[1] == unwritten) &.{} else &out);
    }
    if (std.mem.eql(u8, k, "scale_f64")) {
        zig_simd_scale_f64(a.ptr, a.len, try scalar(case.s));
        return bitsOf(arena, a);
    }
    if (std.mem.eql(u8, k, "clamp_f64")) {
        zig_simd_clamp_f64(a.ptr, a.len, try scalar(case.s), try scalar(case.t));
        return bitsOf(arena, a);
    }
    if (std.mem.eql(u8, k, "map_linear_f64")) {
        zig_simd_map_linear_f64(a.ptr, a.len, try scalar(case.s), try scalar(case.t));
        return bitsOf(arena, a);
    }
    const dst = try arena.alloc(f64, n);
    @memset(dst, unwritten);
    const ops = .{ .{ "add_f64", zig_simd_add_f64 }, .{ "sub_f64", zig_simd_sub_f64 }, .{ "mul_f64", zig_simd_mul_f64 } };
    inline for (ops) |op| if (std.mem.eql(u8, k, op[0])) {
        op[1](dst.ptr, a.ptr, b.ptr, n);
        return bitsOf(arena, dst);
    };
    return error.UnknownKernel;
}

/// Whether the result matches r: bit for bit, except that any NaN matches any NaN, and never
/// treating the i64 of sum_i32 as a NaN.
fn matches(case: Case, got: []const u64) !bool {
    if (got.len != case.r.len) return false;
    const f64_result = !std.mem.eql(u8, case.kernel, "sum_i32");
    for (got, case.r) |g, hex| {
        if (hex.len != 16) return error.BadHex;
        const want = try std.fmt.parseInt(u64, hex, 16);
        const both_nan = f64_result and std.math.isNan(@as(f64, @bitCast(g))) and std.math.isNan(@as(f64, @bitCast(want)));
        if (g != want and !both_nan) return false;
    }
    return true;
}

test "edge-cases.json" {
    const File = struct { about: []const u8, cases: []const Case };
    var arena_state = std.heap.ArenaAllocator.init(std.testing.allocator);
    defer arena_state.deinit();
    const arena = arena_state.allocator();
    const file = try std.json.parseFromSliceLeaky(File, arena, @embedFile("edge-cases.json"), .{});
    try std.testing.expect(file.cases.len > 0);
    var failed: usize = 0;
    for (file.cases) |case| {
        const got = run(arena, case) catch |err| {
            std.debug.print("\n{s}/{s}: {s}\n", .{ case.kernel, case.name, @errorName(err) });
            failed += 1;
            continue;
        };
        if (!try matches(case, got)) {
            std.debug.print("\n{s}/{s}: {s}\n    got ", .{ case.kernel, case.name, case.purpose });
            for (got) |g| std.debug.print(" {x:0>16}", .{g});
            std.debug.print("\n    want", .{});
            for (case.r) |want| std.debug.print(" {s}", .{want});
            std.debug.print("\n", .{});
            failed += 1;
        }
    }
    if (failed > 0) {
        std.debug.print("{d} of {d} edge cases failed\n", .{ failed, file.cases.len });
        return error.TestUnexpectedResult;
    }
}

test "clamp: a pair compares the original element, the tail is sequential" {
    // Every element and pair of bounds from a grid of special values, lo > hi among them, against
    // [kernel.clamp] written another way: a paired element is hi if above hi, else lo if below
    // lo, else itself; the odd last element is clamped sequentially. Each vector holds one value
    // three times, so lanes 0 and 1 and the tail see the same element.
    const inf = std.math.inf(f64);
    const grid = [_]f64{ std.math.nan(f64), -inf, -2, -1, -0.0, 0, 0.5, 1, 2, inf };
    for (grid) |lo| for (grid) |hi| for (grid) |v| {
        const paired = if (v > hi) hi else if (v < lo) lo else v;
        const below = if (v < lo) lo else v;
        const tail = if (below > hi) hi else below;
        var x = [3]f64{ v, v, v };
        zig_simd_clamp_f64(&x, x.len, lo, hi);
        const want = [3]u64{ @bitCast(paired), @bitCast(paired), @bitCast(tail) };
        const got = [3]u64{ @bitCast(x[0]), @bitCast(x[1]), @bitCast(x[2]) };
        std.testing.expectEqual(want, got) catch |err| {
            std.debug.print("clamp({d}, lo = {d}, hi = {d})\n", .{ v, lo, hi });
            return err;
        };
    };
}

test "null pointers: reductions return +0.0 or 0, the rest do nothing" {
    try std.testing.expectEqual(@as(u64, 0), @as(u64, @bitCast(zig_simd_sum_f64(null, 3))));
    try std.testing.expectEqual(@as(i64, 0), zig_simd_sum_i32(null, 5));
    try std.testing.expectEqual(@as(u64, 0), @as(u64, @bitCast(zig_simd_dot_f64(&[_]f64{ 1, 2 }, null, 2))));
    var out = [2]f64{ 5, 5 };
    zig_simd_minmax_f64(null, 2, &out);
    zig_simd_scale_f64(null, 3, 2);
    zig_simd_add_f64(null, &[_]f64{1}, &[_]f64{1}, 1);
    try std.testing.expectEqual([2]f64{ 5, 5 }, out);
}

test "dst may alias an input" {
    var x = [_]f64{ 1, 2, 3 };
    zig_simd_add_f64(&x, &x, &[_]f64{ 10, 20, 30 }, 3);
    try std.testing.expectEqual([_]f64{ 11, 22, 33 }, x);
}
