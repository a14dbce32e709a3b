//! Static inspection of a guest module, without instantiating or compiling it.
//!
//! `gomode-host inspect` and the loader use this to say what a guest module looks like and
//! which static ABI rules (`module.wasm`, `module.imports`, `module.exports`,
//! `module.declarations`) it breaks, before wasmtime ever sees it. Everything here comes from
//! parsing the binary with wasmparser: exports and imports with their types, memories, whether
//! any function uses simd128 instructions, the ABI declaration and init exports, custom sections
//! and the `producers` section (which names the toolchain: rustc, TinyGo or Go), and whether a
//! Cloudflare Worker could host the module with the WASI subset it offers.
//!
//! The parser reads every section and every instruction, but it does not type-check function
//! bodies; wasmtime validates the module fully when it compiles it.

use std::fmt;

use anyhow::{Context as _, bail};
use serde::Serialize;
use wasmparser::{
    Encoding, ExternalKind, FuncType, KnownCustom, MemoryType, Name, OperatorsReader, Parser, Payload, TypeRef,
    VisitOperator, VisitSimdOperator,
};

/// The only import module the ABI allows.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// The WASI preview1 functions that the GoMode Cloudflare Worker glue provides.
///
/// A Worker has no processes, environment, clocks worth exposing, or file system, so the glue
/// implements only what a guest needs to run and to log: `fd_write` (stdout and stderr go to
/// the Worker's console), `proc_exit` (TinyGo's `_start` ends with `proc_exit(0)`), and
/// `random_get` (Go's and Rust's runtimes seed hash maps from it). Everything else in this list
/// is a harmless stub, there only so that toolchain runtimes which import it at start-up can
/// instantiate: empty argument and environment lists (`args_*`, `environ_*`), fixed clocks
/// (`clock_*`), no preopened directories (`fd_prestat_*`), and a small in-memory file system
/// (`fd_close`, `fd_seek`, `fd_read`, `fd_fdstat_get`, `fd_filestat_get`, `path_open`,
/// `path_filestat_get`). A module importing anything outside this list (sockets, `poll_oneoff`,
/// `sched_yield`, directory operations and so on) fails to instantiate in a Worker.
pub const WORKER_WASI: &[&str] = &[
    "fd_write",
    "proc_exit",
    "random_get",
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_time_get",
    "clock_res_get",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_close",
    "fd_seek",
    "fd_read",
    "fd_fdstat_get",
    "fd_filestat_get",
    "path_open",
    "path_filestat_get",
];

/// The functions of [`WORKER_WASI`] that do real work in a Worker; the rest are stubs.
pub const WORKER_WASI_REAL: &[&str] = &["fd_write", "proc_exit", "random_get"];

/// The export names of the ABI declarations.
const DECLARATIONS: [&str; 2] = ["gomode_abi_version", "gomode_abi_features"];

/// The type both required function exports must have.
const I32_TO_I32: &str = "(i32) -> i32";

/// The type both declaration exports must have.
const UNIT_TO_I32: &str = "() -> i32";

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
    /// Both; the host runs `_initialize` and never calls `_start`.
    Both,
}

impl InitExport {
    /// The export the host calls, if any.
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
    /// Whether every import is a function of [`WORKER_WASI`].
    pub worker_compatible: bool,
    /// The imports a Worker does not provide, as `module::name`.
    pub worker_unsupported: Vec<String>,
    /// The imports a Worker provides only as stubs (see [`WORKER_WASI`]), as WASI names.
    pub worker_stubbed: Vec<String>,
    /// Exports that wasm-ld wrapped as a command's (the name section calls the function
    /// `<name>.command_export`): each call also runs the constructors and `__wasm_call_dtors`,
    /// so the module is not a true reactor. Empty when there is no name section.
    pub command_exports: Vec<String>,
}

/// A static ABI rule that the module breaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The rule ID, like `module.exports`.
    pub rule: &'static str,
    /// What exactly is wrong, naming the item.
    pub message: String,
}

/// Parses a binary module (not the text format) and collects its [`ModuleInfo`].
///
/// A component is not an error: it returns a [`ModuleInfo`] with `component` set, whose
/// violations name the `module.wasm` rule, so that the CLI and the loader report it the same
/// way as any other shape problem. Bytes that are not WebAssembly, or a malformed module,
/// return an error.
pub fn inspect(wasm: &[u8]) -> Result<ModuleInfo, anyhow::Error> {
    if !wasm.starts_with(b"\0asm") {
        bail!("not a WebAssembly binary (it does not start with the `\\0asm` magic number)");
    }
    let mut collector = Collector::default();
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.context("malformed WebAssembly binary")?;
        if let Payload::Version { encoding: Encoding::Component, .. } = payload {
            return Ok(ModuleInfo::component(wasm.len()));
        }
        collector.payload(payload).context("malformed WebAssembly module")?;
    }
    Ok(collector.finish(wasm.len()))
}

/// The function index space and type table as the module's sections are read.
#[derive(Default)]
struct Collector {
    /// Each type's text (`None` for a non-function type such as a GC struct).
    types: Vec<Option<String>>,
    /// The type index of each function, imported functions first.
    functions: Vec<u32>,
    defined_functions: u32,
    imports: Vec<ImportInfo>,
    memories: Vec<MemoryInfo>,
    exports: Vec<ExportInfo>,
    code_size: u64,
    simd_instructions: u64,
    custom_sections: Vec<String>,
    producers: Vec<ProducerField>,
    // Exports refer to tables, globals and tags by index, so their texts are kept too.
    tables: Vec<String>,
    globals: Vec<String>,
    tags: Vec<String>,
    /// Exported function indices by export name, and the functions the name section calls
    /// `*.command_export`.
    exported_functions: Vec<(String, u32)>,
    command_export_functions: Vec<u32>,
}

impl Collector {
    fn payload(&mut self, payload: Payload<'_>) -> wasmparser::Result<()> {
        match payload {
            Payload::TypeSection(reader) => {
                for group in reader {
                    for sub_type in group?.into_types() {
                        self.types.push(match &sub_type.composite_type.inner {
                            wasmparser::CompositeInnerType::Func(func) => Some(func_text(func)),
                            _ => None,
                        });
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    let (kind, ty) = match import.ty {
                        TypeRef::Func(index) | TypeRef::FuncExact(index) => {
                            self.functions.push(index);
                            (ExternKind::Func, self.type_text(index))
                        }
                        TypeRef::Table(table) => {
                            let text = table_text(&table);
                            self.tables.push(text.clone());
                            (ExternKind::Table, text)
                        }
                        TypeRef::Memory(memory) => {
                            self.memories.push(memory_info(&memory, true));
                            (ExternKind::Memory, memory_text(&memory))
                        }
                        TypeRef::Global(global) => {
                            let text = global_text(&global);
                            self.globals.push(text.clone());
                            (ExternKind::Global, text)
                        }
                        TypeRef::Tag(tag) => {
                            let text = self.type_text(tag.func_type_idx);
                            self.tags.push(text.clone());
                            (ExternKind::Tag, text)
                        }
                    };
                    self.imports.push(ImportInfo {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                        kind,
                        ty,
                    });
                }
            }
            Payload::FunctionSection(reader) => {
                for type_index in reader {
                    self.functions.push(type_index?);
                    self.defined_functions += 1;
                }
            }
            Payload::TableSection(reader) => {
                for table in reader {
                    self.tables.push(table_text(&table?.ty));
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader {
                    self.memories.push(memory_info(&memory?, false));
                }
            }
            Payload::TagSection(reader) => {
                for tag in reader {
                    let text = self.type_text(tag?.func_type_idx);
                    self.tags.push(text);
                }
            }
            Payload::GlobalSection(reader) => {
                for global in reader {
                    let global = global?;
                    self.globals.push(global_text(&global.ty));
                    self.simd_instructions += count_simd(global.init_expr.get_operators_reader())?;
                }
            }
            Payload::ExportSection(reader) => {
                for export in reader {
                    let export = export?;
                    let index = export.index as usize;
                    let (kind, ty) = match export.kind {
                        ExternalKind::Func | ExternalKind::FuncExact => {
                            self.exported_functions.push((export.name.to_owned(), export.index));
                            let ty = match self.functions.get(index) {
                                Some(type_index) => self.type_text(*type_index),
                                None => format!("<function {index} does not exist>"),
                            };
                            (ExternKind::Func, ty)
                        }
                        ExternalKind::Table => (ExternKind::Table, lookup(&self.tables, index)),
                        ExternalKind::Memory => {
                            let ty = match self.memories.get(index) {
                                Some(memory) => memory_info_text(memory),
                                None => format!("<memory {index} does not exist>"),
                            };
                            (ExternKind::Memory, ty)
                        }
                        ExternalKind::Global => (ExternKind::Global, lookup(&self.globals, index)),
                        ExternalKind::Tag => (ExternKind::Tag, lookup(&self.tags, index)),
                    };
                    self.exports.push(ExportInfo { name: export.name.to_owned(), kind, ty });
                }
            }
            Payload::CodeSectionStart { range, .. } => {
                self.code_size = (range.end - range.start) as u64;
            }
            Payload::CodeSectionEntry(body) => {
                self.simd_instructions += count_simd(body.get_operators_reader()?)?;
            }
            Payload::CustomSection(reader) => {
                self.custom_sections.push(reader.name().to_owned());
                if let KnownCustom::Name(names) = reader.as_known() {
                    for name in names {
                        if let Ok(Name::Function(map)) = name {
                            for naming in map {
                                let naming = naming?;
                                if naming.name.ends_with(".command_export") {
                                    self.command_export_functions.push(naming.index);
                                }
                            }
                        }
                    }
                }
                if let KnownCustom::Producers(fields) = reader.as_known() {
                    for field in fields {
                        let field = field?;
                        let mut values = Vec::new();
                        for value in field.values {
                            let value = value?;
                            values
                                .push(ProducerValue { name: value.name.to_owned(), version: value.version.to_owned() });
                        }
                        self.producers.push(ProducerField { name: field.name.to_owned(), values });
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The text of the function type at `index`, or a note when it is missing or not a function.
    fn type_text(&self, index: u32) -> String {
        match self.types.get(index as usize) {
            Some(Some(text)) => text.clone(),
            Some(None) => format!("<type {index} is not a function type>"),
            None => format!("<type {index} does not exist>"),
        }
    }

    fn finish(self, size: usize) -> ModuleInfo {
        let has = |name: &str| self.exports.iter().any(|export| export.name == name);
        let init = match (has("_initialize"), has("_start")) {
            (true, true) => InitExport::Both,
            (true, false) => InitExport::Initialize,
            (false, true) => InitExport::Start,
            (false, false) => InitExport::None,
        };
        let declarations =
            self.exports.iter().filter(|export| DECLARATIONS.contains(&export.name.as_str())).cloned().collect();
        let mut worker_unsupported = Vec::new();
        let mut worker_stubbed = Vec::new();
        for import in &self.imports {
            let offered = import.module == WASI_MODULE
                && import.kind == ExternKind::Func
                && WORKER_WASI.contains(&import.name.as_str());
            if !offered {
                worker_unsupported.push(format!("{}::{}", import.module, import.name));
            } else if !WORKER_WASI_REAL.contains(&import.name.as_str()) {
                worker_stubbed.push(import.name.clone());
            }
        }
        ModuleInfo {
            component: false,
            size,
            exports: self.exports,
            imports: self.imports,
            memories: self.memories,
            defined_functions: self.defined_functions,
            code_size: self.code_size,
            simd: self.simd_instructions > 0,
            simd_instructions: self.simd_instructions,
            declarations,
            init,
            custom_sections: self.custom_sections,
            producers: self.producers,
            worker_compatible: worker_unsupported.is_empty(),
            worker_unsupported,
            worker_stubbed,
            command_exports: self
                .exported_functions
                .iter()
                .filter(|(_, index)| self.command_export_functions.contains(index))
                .map(|(name, _)| name.clone())
                .collect(),
        }
    }
}

fn lookup(texts: &[String], index: usize) -> String {
    texts.get(index).cloned().unwrap_or_else(|| format!("<index {index} does not exist>"))
}

/// Formats a function type as `(i32, i32) -> i32`, `() -> ()` or `(f64) -> (i32, i64)`.
fn func_text(func: &FuncType) -> String {
    let join = |types: &[wasmparser::ValType]| types.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
    let params = join(func.params());
    match func.results() {
        [single] => format!("({params}) -> {single}"),
        results => format!("({params}) -> ({})", join(results)),
    }
}

fn table_text(table: &wasmparser::TableType) -> String {
    let maximum = table.maximum.map_or("no maximum".to_owned(), |max| format!("maximum {max}"));
    let index = if table.table64 { ", table64" } else { "" };
    format!("{}, {} initial, {maximum}{index}", table.element_type, table.initial)
}

fn global_text(global: &wasmparser::GlobalType) -> String {
    let mutable = if global.mutable { "mut " } else { "" };
    format!("{mutable}{}", global.content_type)
}

fn memory_info(memory: &MemoryType, imported: bool) -> MemoryInfo {
    MemoryInfo {
        imported,
        initial_pages: memory.initial,
        maximum_pages: memory.maximum,
        // The custom-page-sizes proposal allows only page sizes of 1 and 65536 bytes, so the
        // shift cannot overflow for a valid module; a larger value is clamped rather than
        // trusted.
        page_size: 1u64 << memory.page_size_log2.unwrap_or(16).min(32),
        memory64: memory.memory64,
        shared: memory.shared,
    }
}

fn memory_text(memory: &MemoryType) -> String {
    memory_info_text(&memory_info(memory, false))
}

fn memory_info_text(memory: &MemoryInfo) -> String {
    let mut text = format!("{} pages initial", memory.initial_pages);
    match memory.maximum_pages {
        Some(max) => text.push_str(&format!(", maximum {max}")),
        None => text.push_str(", no maximum"),
    }
    if memory.page_size != 65536 {
        text.push_str(&format!(", {}-byte pages", memory.page_size));
    }
    if memory.memory64 {
        text.push_str(", memory64");
    }
    if memory.shared {
        text.push_str(", shared");
    }
    text
}

/// Counts the simd128 and relaxed-simd instructions in one expression.
///
/// SIMD-ness is decided by wasmparser's own instruction table rather than by opcodes listed
/// here: wasmparser dispatches every instruction of its `simd` and `relaxed_simd` groups
/// (all `0xfd`-prefixed instructions: v128 loads and stores, `v128.const`, shuffles, lane
/// operations and arithmetic) to the [`VisitSimdOperator`] half of a visitor, and every other
/// instruction to [`VisitOperator`]. [`SimdProbe`] answers `true` in the first and `false` in
/// the second, so the classification follows the parser exactly, including instructions added
/// by future wasmparser versions.
fn count_simd(mut reader: OperatorsReader<'_>) -> wasmparser::Result<u64> {
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

impl ModuleInfo {
    fn component(size: usize) -> ModuleInfo {
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
            worker_stubbed: Vec::new(),
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

    /// The static ABI rules the module breaks, in rule order; empty for a conforming module.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut violation = |rule: &'static str, message: String| {
            found.push(Violation { rule, message });
        };
        if self.component {
            violation(
                "module.wasm",
                "the file is a WebAssembly component, not a core module; the host runs core \
                 wasm32 modules only"
                    .to_owned(),
            );
            return found;
        }

        match self.memories.len() {
            1 => {}
            0 => violation("module.wasm", "the module has no memory; exactly one 32-bit memory is required".to_owned()),
            count => violation("module.wasm", format!("the module has {count} memories; exactly one is required")),
        }
        for (index, memory) in self.memories.iter().enumerate() {
            if memory.memory64 {
                violation("module.wasm", format!("memory {index} is a 64-bit memory (memory64); the ABI is wasm32"));
            }
        }

        for import in &self.imports {
            if import.module != WASI_MODULE {
                violation(
                    "module.imports",
                    format!(
                        "import `{}::{}` ({}) is not from `{WASI_MODULE}`",
                        import.module, import.name, import.kind
                    ),
                );
            } else if import.kind != ExternKind::Func {
                violation(
                    "module.imports",
                    format!("import `{}::{}` is a {}, not a function", import.module, import.name, import.kind),
                );
            }
        }

        match self.export("memory") {
            None => violation("module.exports", "missing export `memory` (a memory)".to_owned()),
            Some(export) if export.kind != ExternKind::Memory => {
                violation("module.exports", format!("export `memory` is a {}, expected a memory", export.kind))
            }
            Some(_) => {}
        }
        for name in ["handle_zerobuf", "malloc"] {
            if let Some(message) = self.function_export_problem(name, I32_TO_I32, true) {
                violation("module.exports", message);
            }
        }

        for name in DECLARATIONS {
            if let Some(message) = self.function_export_problem(name, UNIT_TO_I32, false) {
                violation("module.declarations", message);
            }
        }
        found
    }

    /// Describes what is wrong with the function export `name` that must have type `expected`,
    /// or returns `None` when it is fine (or absent and optional).
    fn function_export_problem(&self, name: &str, expected: &str, required: bool) -> Option<String> {
        match self.export(name) {
            None if required => Some(format!("missing export `{name}` of type {expected}")),
            None => None,
            Some(export) if export.kind != ExternKind::Func => {
                Some(format!("export `{name}` is a {}, expected a function of type {expected}", export.kind))
            }
            Some(export) if export.ty != expected => {
                Some(format!("export `{name}` has type {}, expected {expected}", export.ty))
            }
            Some(_) => None,
        }
    }
}

impl fmt::Display for ModuleInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.component {
            writeln!(f, "Module: a WebAssembly component of {} bytes (not a core module)", self.size)?;
        } else {
            writeln!(
                f,
                "Module: core module of {} bytes, {} defined functions, code section {} bytes",
                self.size, self.defined_functions, self.code_size
            )?;

            writeln!(f, "\nExports:")?;
            let width = self.exports.iter().map(|e| e.name.len()).max().unwrap_or(0);
            for export in &self.exports {
                writeln!(f, "  {:width$}  {:6}  {}", export.name, export.kind.name(), export.ty)?;
            }
            if self.exports.is_empty() {
                writeln!(f, "  (none)")?;
            }

            writeln!(f, "\nImports:")?;
            let names: Vec<String> = self.imports.iter().map(|i| format!("{}::{}", i.module, i.name)).collect();
            let width = names.iter().map(String::len).max().unwrap_or(0);
            for (import, name) in self.imports.iter().zip(&names) {
                writeln!(f, "  {name:width$}  {:6}  {}", import.kind.name(), import.ty)?;
            }
            if self.imports.is_empty() {
                writeln!(f, "  (none)")?;
            }

            writeln!(f, "\nMemory:")?;
            for (index, memory) in self.memories.iter().enumerate() {
                let origin = if memory.imported { "imported" } else { "defined" };
                writeln!(f, "  memory {index} ({origin}): {}", memory_info_text(memory))?;
            }
            if self.memories.is_empty() {
                writeln!(f, "  (none)")?;
            }

            writeln!(f, "\nSIMD:")?;
            if self.simd {
                writeln!(f, "  yes, {} simd128 instructions", self.simd_instructions)?;
            } else {
                writeln!(f, "  no simd128 instructions")?;
            }

            writeln!(f, "\nABI declarations:")?;
            for (name, absent) in DECLARATIONS.iter().zip(["version 1 assumed", "features 0 assumed"]) {
                match self.declarations.iter().find(|d| d.name == *name) {
                    Some(export) => writeln!(f, "  {name}: {} {}", export.kind, export.ty)?,
                    None => writeln!(f, "  {name}: absent ({absent})")?,
                }
            }
            let init = match self.init {
                InitExport::None => "none",
                InitExport::Initialize => "_initialize",
                InitExport::Start => "_start",
                InitExport::Both => "_initialize and _start (only _initialize runs)",
            };
            writeln!(f, "  init export: {init}")?;

            writeln!(f, "\nCustom sections:")?;
            if self.custom_sections.is_empty() {
                writeln!(f, "  (none)")?;
            } else {
                writeln!(f, "  {}", self.custom_sections.join(", "))?;
            }
            for field in ["language", "processed-by", "sdk"] {
                let values = self.producer(field);
                if !values.is_empty() {
                    writeln!(f, "  producers {field}: {}", values.join(", "))?;
                }
            }

            writeln!(f, "\nWorker compatibility:")?;
            if self.worker_compatible {
                writeln!(f, "  compatible: every import is offered by the Worker WASI subset")?;
            } else {
                writeln!(f, "  NOT compatible; imports a Worker does not offer:")?;
                for name in &self.worker_unsupported {
                    writeln!(f, "    {name}")?;
                }
            }
            if !self.worker_stubbed.is_empty() {
                writeln!(f, "  stubs only in a Worker (no real behaviour): {}", self.worker_stubbed.join(", "))?;
            }
        }

        if !self.command_exports.is_empty() {
            writeln!(
                f,
                "\nNot a true reactor: wasm-ld wrapped these exports as a command's, so every call also runs \
                 the constructors and `__wasm_call_dtors` (export `_initialize` to link a reactor): {}",
                self.command_exports.join(", ")
            )?;
        }

        writeln!(f, "\nViolations:")?;
        let violations = self.violations();
        if violations.is_empty() {
            writeln!(f, "  none")?;
        }
        for violation in violations {
            writeln!(f, "  [{}] {}", violation.rule, violation.message)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    const FD_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write"
        (func (param i32 i32 i32 i32) (result i32)))"#;

    /// The body of a conforming module, without the surrounding `(module ...)`.
    const GOOD_BODY: &str = r#"
        (memory (export "memory") 2)
        (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
        (func (export "malloc") (param i32) (result i32) i32.const 1024)
        (func (export "_initialize"))
    "#;

    fn module(parts: &[&str]) -> Vec<u8> {
        wat::parse_str(format!("(module {})", parts.join("\n"))).unwrap()
    }

    fn rules(info: &ModuleInfo) -> Vec<&'static str> {
        info.violations().iter().map(|v| v.rule).collect()
    }

    #[test]
    fn good_module_is_described_and_conforms() {
        let wasm = module(&[FD_WRITE, GOOD_BODY]);
        let info = inspect(&wasm).unwrap();
        assert!(!info.component);
        assert_eq!(info.size, wasm.len());
        assert_eq!(info.violations(), []);
        let export = |name: &str, kind, ty: &str| ExportInfo { name: name.into(), kind, ty: ty.into() };
        assert_eq!(
            info.exports,
            [
                export("memory", ExternKind::Memory, "2 pages initial, no maximum"),
                export("handle_zerobuf", ExternKind::Func, "(i32) -> i32"),
                export("malloc", ExternKind::Func, "(i32) -> i32"),
                export("_initialize", ExternKind::Func, "() -> ()"),
            ]
        );
        assert_eq!(
            info.imports,
            [ImportInfo {
                module: WASI_MODULE.into(),
                name: "fd_write".into(),
                kind: ExternKind::Func,
                ty: "(i32, i32, i32, i32) -> i32".into(),
            }]
        );
        assert_eq!(
            info.memories,
            [MemoryInfo {
                imported: false,
                initial_pages: 2,
                maximum_pages: None,
                page_size: 65536,
                memory64: false,
                shared: false,
            }]
        );
        assert_eq!(info.defined_functions, 3);
        assert!(info.code_size > 0);
        assert!(!info.simd);
        assert_eq!(info.init, InitExport::Initialize);
        assert_eq!(info.declarations, []);
        assert!(info.worker_compatible);
        assert_eq!(info.worker_unsupported, Vec::<String>::new());
        assert_eq!(info.worker_stubbed, Vec::<String>::new());
    }

    #[rstest]
    #[case::no_simd("(func (param i32) (result i32) local.get 0 i32.const 1 i32.add)", false, 0)]
    #[case::v128_const_and_add(
        "(func (result i32) v128.const i32x4 1 2 3 4 v128.const i32x4 1 1 1 1 i32x4.add
         i32x4.extract_lane 0)",
        true,
        4
    )]
    #[case::f64x2_load("(func (param i32) (result f64) local.get 0 v128.load f64x2.extract_lane 1)", true, 2)]
    #[case::relaxed_simd(
        "(func (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.relaxed_swizzle)",
        true,
        1
    )]
    // A v128 parameter alone is a type, not a SIMD instruction.
    #[case::v128_type_only("(func (param v128))", false, 0)]
    #[case::v128_global("(global v128 (v128.const i64x2 0 0))", true, 1)]
    fn simd_detection(#[case] extra: &str, #[case] simd: bool, #[case] count: u64) {
        let info = inspect(&module(&[GOOD_BODY, extra])).unwrap();
        assert_eq!(info.simd, simd);
        assert_eq!(info.simd_instructions, count);
    }

    #[rstest]
    #[case::env_import(
        &[r#"(import "env" "log" (func (param i32)))"#, GOOD_BODY],
        &["module.imports"],
        "import `env::log` (func) is not from `wasi_snapshot_preview1`"
    )]
    #[case::wasi_global_import(
        &[r#"(import "wasi_snapshot_preview1" "g" (global i32))"#, GOOD_BODY],
        &["module.imports"],
        "import `wasi_snapshot_preview1::g` is a global, not a function"
    )]
    #[case::wrong_malloc_type(
        &[r#"(memory (export "memory") 1)
             (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
             (func (export "malloc") (param i64) (result i64) i64.const 8)"#],
        &["module.exports"],
        "export `malloc` has type (i64) -> i64, expected (i32) -> i32"
    )]
    #[case::missing_handler(
        &[r#"(memory (export "memory") 1)
             (func (export "malloc") (param i32) (result i32) i32.const 8)"#],
        &["module.exports"],
        "missing export `handle_zerobuf` of type (i32) -> i32"
    )]
    #[case::handler_is_a_global(
        &[r#"(memory (export "memory") 1)
             (global (export "handle_zerobuf") i32 (i32.const 0))
             (func (export "malloc") (param i32) (result i32) i32.const 8)"#],
        &["module.exports"],
        "export `handle_zerobuf` is a global, expected a function of type (i32) -> i32"
    )]
    #[case::memory_not_exported(
        &[r#"(memory 1)
             (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
             (func (export "malloc") (param i32) (result i32) i32.const 8)"#],
        &["module.exports"],
        "missing export `memory` (a memory)"
    )]
    #[case::missing_memory(
        &[r#"(func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
             (func (export "malloc") (param i32) (result i32) i32.const 8)"#],
        &["module.wasm", "module.exports"],
        "the module has no memory; exactly one 32-bit memory is required"
    )]
    #[case::memory64(
        &[r#"(memory (export "memory") i64 1)
             (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
             (func (export "malloc") (param i32) (result i32) i32.const 8)"#],
        &["module.wasm"],
        "memory 0 is a 64-bit memory (memory64); the ABI is wasm32"
    )]
    #[case::two_memories(
        &[GOOD_BODY, "(memory 1)"],
        &["module.wasm"],
        "the module has 2 memories; exactly one is required"
    )]
    #[case::imported_memory(
        &[r#"(import "env" "memory" (memory 1))
             (export "memory" (memory 0))
             (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
             (func (export "malloc") (param i32) (result i32) i32.const 8)"#],
        &["module.imports"],
        "import `env::memory` (memory) is not from `wasi_snapshot_preview1`"
    )]
    #[case::version_wrong_type(
        &[GOOD_BODY, r#"(func (export "gomode_abi_version") (param i32) (result i32) i32.const 1)"#],
        &["module.declarations"],
        "export `gomode_abi_version` has type (i32) -> i32, expected () -> i32"
    )]
    #[case::features_is_a_global(
        &[GOOD_BODY, r#"(global (export "gomode_abi_features") i32 (i32.const 1))"#],
        &["module.declarations"],
        "export `gomode_abi_features` is a global, expected a function of type () -> i32"
    )]
    fn violations_name_the_rule_and_the_item(
        #[case] parts: &[&str],
        #[case] expected_rules: &[&str],
        #[case] first_message: &str,
    ) {
        let info = inspect(&module(parts)).unwrap();
        assert_eq!(rules(&info), expected_rules);
        assert_eq!(info.violations()[0].message, first_message);
    }

    #[test]
    fn command_export_wrappers_are_found_by_name() {
        let info = inspect(&module(&[
            GOOD_BODY,
            r#"(func $gomode_abi_version.command_export (export "gomode_abi_version") (result i32) i32.const 1)"#,
        ]))
        .unwrap();
        assert_eq!(info.command_exports, ["gomode_abi_version"]);
        assert!(inspect(&module(&[GOOD_BODY])).unwrap().command_exports.is_empty());
    }

    #[test]
    fn well_typed_declarations_are_listed_and_accepted() {
        let info = inspect(&module(&[
            GOOD_BODY,
            r#"(func (export "gomode_abi_version") (result i32) i32.const 1)
               (func (export "gomode_abi_features") (result i32) i32.const 1)"#,
        ]))
        .unwrap();
        assert_eq!(info.violations(), []);
        let names: Vec<_> = info.declarations.iter().map(|d| (d.name.as_str(), d.ty.as_str())).collect();
        assert_eq!(names, [("gomode_abi_version", "() -> i32"), ("gomode_abi_features", "() -> i32")]);
    }

    #[rstest]
    #[case::initialize_only(r#"(func (export "_initialize"))"#, InitExport::Initialize, Some("_initialize"))]
    #[case::start_only(r#"(func (export "_start"))"#, InitExport::Start, Some("_start"))]
    #[case::both(r#"(func (export "_initialize")) (func (export "_start"))"#, InitExport::Both, Some("_initialize"))]
    #[case::none("", InitExport::None, None)]
    fn init_export(#[case] init: &str, #[case] expected: InitExport, #[case] runs: Option<&str>) {
        let info = inspect(&module(&[
            r#"(memory (export "memory") 1)
               (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
               (func (export "malloc") (param i32) (result i32) i32.const 8)"#,
            init,
        ]))
        .unwrap();
        assert_eq!(info.init, expected);
        assert_eq!(info.init.export_to_run(), runs);
        assert_eq!(info.violations(), []);
    }

    #[test]
    fn non_worker_imports_are_listed() {
        let info = inspect(&module(&[
            FD_WRITE,
            r#"(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
               (import "wasi_snapshot_preview1" "path_remove_directory"
                 (func (param i32 i32 i32) (result i32)))
               (import "wasi_snapshot_preview1" "clock_time_get"
                 (func (param i32 i64 i32) (result i32)))"#,
            GOOD_BODY,
        ]))
        .unwrap();
        // These are valid WASI imports, so the ABI itself is satisfied.
        assert_eq!(info.violations(), []);
        assert!(!info.worker_compatible);
        assert_eq!(
            info.worker_unsupported,
            ["wasi_snapshot_preview1::sock_accept", "wasi_snapshot_preview1::path_remove_directory"]
        );
        assert_eq!(info.worker_stubbed, ["clock_time_get"]);
    }

    #[test]
    fn env_imports_are_not_worker_compatible() {
        let info = inspect(&module(&[r#"(import "env" "f" (func))"#, GOOD_BODY])).unwrap();
        assert!(!info.worker_compatible);
        assert_eq!(info.worker_unsupported, ["env::f"]);
    }

    #[test]
    fn every_worker_function_is_compatible_and_only_three_are_real() {
        let imports: Vec<String> =
            WORKER_WASI.iter().map(|name| format!(r#"(import "wasi_snapshot_preview1" "{name}" (func))"#)).collect();
        let mut parts: Vec<&str> = imports.iter().map(String::as_str).collect();
        parts.push(GOOD_BODY);
        let info = inspect(&module(&parts)).unwrap();
        assert!(info.worker_compatible);
        assert_eq!(info.worker_stubbed.len(), WORKER_WASI.len() - 3);
        for real in WORKER_WASI_REAL {
            assert!(!info.worker_stubbed.iter().any(|name| name == real));
        }
    }

    #[test]
    fn component_is_a_module_wasm_violation() {
        let wasm = wat::parse_str("(component)").unwrap();
        let info = inspect(&wasm).unwrap();
        assert!(info.component);
        let violations = info.violations();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].rule, "module.wasm");
        assert!(violations[0].message.contains("component, not a core module"));
        assert!(info.to_string().contains("[module.wasm] the file is a WebAssembly component"));
    }

    #[test]
    fn non_wasm_and_truncated_input_are_errors() {
        let error = inspect(b"(module)").unwrap_err();
        assert!(error.to_string().contains("not a WebAssembly binary"), "{error:#}");
        let wasm = module(&[GOOD_BODY]);
        let error = inspect(&wasm[..wasm.len() - 3]).unwrap_err();
        assert!(error.to_string().contains("malformed"), "{error:#}");
    }

    #[test]
    fn custom_sections_and_producers_are_reported() {
        let info = inspect(&module(&[
            GOOD_BODY,
            r#"(@producers
                 (language "Rust" "")
                 (processed-by "rustc" "1.95.0")
                 (processed-by "clang" "20"))
               (@custom "gomode-note" "x")"#,
        ]))
        .unwrap();
        assert!(info.custom_sections.contains(&"producers".to_owned()));
        assert!(info.custom_sections.contains(&"gomode-note".to_owned()));
        assert_eq!(info.producer("language"), ["Rust"]);
        assert_eq!(info.producer("processed-by"), ["rustc 1.95.0", "clang 20"]);
        assert!(info.to_string().contains("producers processed-by: rustc 1.95.0, clang 20"));
    }

    #[test]
    fn display_has_every_section() {
        let info = inspect(&module(&[
            FD_WRITE,
            r#"(import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))"#,
            r#"(func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
               (func (export "malloc") (param i64) (result i64) i64.const 8)
               (func (export "simd") (result v128) v128.const i64x2 1 2)"#,
        ]))
        .unwrap();
        let text = info.to_string();
        for needle in [
            "\nExports:\n",
            "  handle_zerobuf  func    (i32) -> i32\n",
            "\nImports:\n",
            "  wasi_snapshot_preview1::fd_write     func    (i32, i32, i32, i32) -> i32\n",
            "\nMemory:\n  (none)\n",
            "\nSIMD:\n  yes, 1 simd128 instructions\n",
            "\nABI declarations:\n  gomode_abi_version: absent (version 1 assumed)\n",
            "  init export: none\n",
            "\nWorker compatibility:\n  NOT compatible",
            "    wasi_snapshot_preview1::sock_accept\n",
            "\nViolations:\n",
            "  [module.wasm] the module has no memory",
            "  [module.exports] export `malloc` has type (i64) -> i64, expected (i32) -> i32\n",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
        }
    }

    #[test]
    fn serializes_to_json() {
        let info = inspect(&module(&[FD_WRITE, GOOD_BODY])).unwrap();
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["init"], "initialize");
        assert_eq!(json["exports"][1]["kind"], "func");
        assert_eq!(json["exports"][1]["ty"], "(i32) -> i32");
        assert_eq!(json["memories"][0]["initial_pages"], 2);
        assert_eq!(json["worker_compatible"], true);
    }
}
