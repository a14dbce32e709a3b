//! Static inspection of a guest module, without instantiating or compiling it.
//!
//! `gomode-host inspect` and the loader use this to say what a guest module looks like and
//! which static rules it breaks before wasmtime ever sees it: the ABI's (`module.wasm`,
//! `module.imports`, `module.exports`, `module.declarations`) with
//! [`ModuleInfo::violations`], and under a [`Profile`](crate::Profile) with
//! [`ModuleInfo::violations_under`], which for `gomode` adds GoMode's (`gomode.imports`,
//! `gomode.start`). Everything here comes from parsing the binary with wasmparser: exports and
//! imports with their types, memories, whether any function uses simd128 instructions, the ABI
//! declaration and init exports, custom sections and the `producers` section (which names the
//! toolchain: rustc, TinyGo or Go), and whether GoMode's Worker (`wasi.ts` at commit `d4b7f8f`)
//! can instantiate the module: it provides exactly the 25 WASI functions of
//! [`GOMODE_WASI`](crate::GOMODE_WASI), with no fallback, so any other import makes its
//! `WebAssembly.instantiate` reject the module.
//!
//! The parser reads every section and every instruction, but it does not type-check function
//! bodies; wasmtime validates the module fully when it compiles it. The work is split by job:
//! `parse.rs` walks the sections, `simd.rs` counts SIMD instructions, `rules.rs` checks the
//! static rules, and `display.rs` writes the text `gomode-host inspect` prints.

use std::fmt;

use crate::error::{Rule, Violation};
use serde::Serialize;
use wasmparser::{Encoding, Parser, Payload};

/// The only import module the ABI allows.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The export names of the ABI declarations.
pub(crate) const DECLARATIONS: [&str; 2] = ["gomode_abi_version", "gomode_abi_features"];

/// The type both required function exports must have.
pub(crate) const I32_TO_I32: &str = "(i32) -> i32";

/// The type both declaration exports must have.
pub(crate) const UNIT_TO_I32: &str = "() -> i32";

/// The kind of an import or export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExternKind {
    /// A function (including an exact-typed function import).
    Func,
    /// A table.
    Table,
    /// A linear memory.
    Memory,
    /// A global.
    Global,
    /// An exception tag.
    Tag,
}

impl ExternKind {
    /// The lowercase name used in the report.
    pub fn name(self) -> &'static str {
        match self {
            ExternKind::Func => "func",
            ExternKind::Table => "table",
            ExternKind::Memory => "memory",
            ExternKind::Global => "global",
            ExternKind::Tag => "tag",
        }
    }
}

impl fmt::Display for ExternKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One export.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExportInfo {
    /// The export name.
    pub name: String,
    /// What is exported.
    pub kind: ExternKind,
    /// The type as text: `(i32) -> i32` for a function, and a short description otherwise.
    pub ty: String,
}

/// One import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportInfo {
    /// The module name, normally `wasi_snapshot_preview1`.
    pub module: String,
    /// The item name.
    pub name: String,
    /// What is imported.
    pub kind: ExternKind,
    /// The type as text, like [`ExportInfo::ty`].
    pub ty: String,
}

/// One linear memory, defined or imported.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryInfo {
    /// Whether the memory is imported rather than defined by the module.
    pub imported: bool,
    /// The initial size in pages.
    pub initial_pages: u64,
    /// The maximum size in pages, if declared.
    pub maximum_pages: Option<u64>,
    /// The page size in bytes (65536 unless the custom-page-sizes proposal is used).
    pub page_size: u64,
    /// Whether the memory uses 64-bit addresses.
    pub memory64: bool,
    /// Whether the memory is shared between threads.
    pub shared: bool,
}

/// Which init export the module has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InitExport {
    /// Neither `_initialize` nor `_start`.
    None,
    /// Only `_initialize`.
    Initialize,
    /// Only `_start`.
    Start,
    /// Both; under `abi` the host runs `_initialize` and never calls `_start`, while GoMode's
    /// Worker (profile `gomode`) runs `_start` only.
    Both,
}

impl InitExport {
    /// The export the host calls under `abi`, if any (GoMode's Worker only ever calls `_start`).
    pub fn export_to_run(self) -> Option<&'static str> {
        match self {
            InitExport::None => None,
            InitExport::Initialize | InitExport::Both => Some("_initialize"),
            InitExport::Start => Some("_start"),
        }
    }
}

/// One `name version` pair of a producers field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProducerValue {
    /// The tool or language name, like `rustc` or `Rust`.
    pub name: String,
    /// The version, possibly empty.
    pub version: String,
}

/// One field of the `producers` custom section, like `language` or `processed-by`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProducerField {
    /// The field name.
    pub name: String,
    /// Its values, in stored order.
    pub values: Vec<ProducerValue>,
}

/// Everything `inspect` found out about a module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ModuleInfo {
    /// Whether the binary is a component rather than a core module. A component is not
    /// looked into; every other field is empty and [`ModuleInfo::violations`] reports it.
    pub component: bool,
    /// The size of the binary in bytes.
    pub size: usize,
    /// The exports, in order.
    pub exports: Vec<ExportInfo>,
    /// The imports, in order.
    pub imports: Vec<ImportInfo>,
    /// The memories: imported ones first, then defined ones, as in the memory index space.
    pub memories: Vec<MemoryInfo>,
    /// The number of functions the module defines (imports not counted).
    pub defined_functions: u32,
    /// The size of the code section's contents in bytes.
    pub code_size: u64,
    /// Whether any function body or global initializer contains a simd128 instruction.
    pub simd: bool,
    /// How many simd128 (and relaxed-simd) instructions the module contains.
    pub simd_instructions: u64,
    /// The ABI declaration exports present (`gomode_abi_version`, `gomode_abi_features`), with
    /// their kinds and types; their values are read by the runtime, not here.
    pub declarations: Vec<ExportInfo>,
    /// Which init export exists.
    pub init: InitExport,
    /// The names of all custom sections, in order.
    pub custom_sections: Vec<String>,
    /// The fields of the `producers` section, empty when there is none.
    pub producers: Vec<ProducerField>,
    /// Whether GoMode's Worker (its `wasi.ts` at commit `d4b7f8f`) can instantiate the module:
    /// every import is one of the 25 WASI functions of [`GOMODE_WASI`](crate::GOMODE_WASI).
    pub worker_compatible: bool,
    /// The imports outside GoMode's 25 WASI functions, as `module::name`: any one of them makes
    /// the `WebAssembly.instantiate` of GoMode's Worker (`wasi.ts` at `d4b7f8f`) reject the module.
    pub worker_unsupported: Vec<String>,
    /// Exports that wasm-ld wrapped as a command's (the name section calls the function
    /// `<name>.command_export`): each call also runs the constructors and `__wasm_call_dtors`,
    /// so the module is not a true reactor. Empty when there is no name section.
    pub command_exports: Vec<String>,
}

mod display;
mod parse;
mod rules;
mod simd;

/// Parses a binary module (not the text format) and collects its [`ModuleInfo`].
///
/// A component is not an error: it returns a [`ModuleInfo`] with `component` set, whose
/// violations name the `module.wasm` rule, so that the CLI and the loader report it the same
/// way as any other shape problem. Bytes that are not WebAssembly, or a malformed module,
/// break `module.wasm` too.
pub fn inspect(wasm: &[u8]) -> Result<ModuleInfo, Violation> {
    if !wasm.starts_with(b"\0asm") {
        return Err(Violation::new(
            Rule::ModuleWasm,
            "not a WebAssembly binary (it does not start with the `\\0asm` magic number)",
        ));
    }
    let malformed = |err: wasmparser::BinaryReaderError| {
        Violation::new(Rule::ModuleWasm, format!("malformed WebAssembly module: {err}"))
    };
    let mut collector = parse::Collector::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(malformed)?;
        if let Payload::Version { encoding: Encoding::Component, .. } = payload {
            return Ok(ModuleInfo::component(wasm.len()));
        }
        collector.payload(payload).map_err(malformed)?;
    }
    Ok(collector.finish(wasm.len()))
}

impl ModuleInfo {
    pub(crate) fn component(size: usize) -> ModuleInfo {
        ModuleInfo {
            component: true,
            size,
            exports: Vec::new(),
            imports: Vec::new(),
            memories: Vec::new(),
            defined_functions: 0,
            code_size: 0,
            simd: false,
            simd_instructions: 0,
            declarations: Vec::new(),
            init: InitExport::None,
            custom_sections: Vec::new(),
            producers: Vec::new(),
            worker_compatible: false,
            worker_unsupported: Vec::new(),
            command_exports: Vec::new(),
        }
    }

    /// The export called `name`, if any.
    pub fn export(&self, name: &str) -> Option<&ExportInfo> {
        self.exports.iter().find(|export| export.name == name)
    }

    /// The values of the producers field `field` (like `processed-by`), as `name version`.
    pub fn producer(&self, field: &str) -> Vec<String> {
        self.producers
            .iter()
            .filter(|f| f.name == field)
            .flat_map(|f| &f.values)
            .map(|value| format!("{} {}", value.name, value.version).trim_end().to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests;
