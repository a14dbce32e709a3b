//! SIMD detection for `inspect`: counts the simd128 and relaxed-simd instructions of a body.

use wasmparser::{OperatorsReader, VisitOperator, VisitSimdOperator};

/// Counts the simd128 and relaxed-simd instructions in one expression.
///
/// SIMD-ness is decided by wasmparser's own instruction table rather than by opcodes listed
/// here: wasmparser dispatches every instruction of its `simd` and `relaxed_simd` groups
/// (all `0xfd`-prefixed instructions: v128 loads and stores, `v128.const`, shuffles, lane
/// operations and arithmetic) to the [`VisitSimdOperator`] half of a visitor, and every other
/// instruction to [`VisitOperator`]. [`SimdProbe`] answers `true` in the first and `false` in
/// the second, so the classification follows the parser exactly, including instructions added
/// by future wasmparser versions.
pub(super) fn count_simd(mut reader: OperatorsReader<'_>) -> wasmparser::Result<u64> {
    let mut count = 0;
    while !reader.eof() {
        if reader.visit_operator(&mut SimdProbe)? {
            count += 1;
        }
    }
    reader.finish()?;
    Ok(count)
}

/// An operator visitor that returns whether the visited instruction is a SIMD instruction.
struct SimdProbe;

macro_rules! answer_every_operator {
    ($answer:literal; $(@$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
        $(
            fn $visit(&mut self $($(, _: $argty)*)?) -> bool {
                $answer
            }
        )*
    };
}

macro_rules! not_simd {
    ($($input:tt)*) => {
        answer_every_operator!(false; $($input)*);
    };
}

macro_rules! is_simd {
    ($($input:tt)*) => {
        answer_every_operator!(true; $($input)*);
    };
}

impl<'a> VisitOperator<'a> for SimdProbe {
    type Output = bool;

    fn simd_visitor(&mut self) -> Option<&mut dyn VisitSimdOperator<'a, Output = bool>> {
        Some(self)
    }

    wasmparser::for_each_visit_operator!(not_simd);
}

impl VisitSimdOperator<'_> for SimdProbe {
    wasmparser::for_each_visit_simd_operator!(is_simd);
}
