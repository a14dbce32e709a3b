//! The section walk of `inspect`: reads every payload with wasmparser and collects what
//! [`ModuleInfo`] reports, typing each import and export as text.

use wasmparser::{ExternalKind, FuncType, KnownCustom, MemoryType, Name, Payload, TypeRef};

use super::simd::count_simd;
use super::*;
use crate::profile::GOMODE_WASI;

/// The function index space and type table as the module's sections are read.
#[derive(Default)]
pub(super) struct Collector {
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
    pub(super) fn payload(&mut self, payload: Payload<'_>) -> wasmparser::Result<()> {
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

    pub(super) fn finish(self, size: usize) -> ModuleInfo {
        let has = |name: &str| self.exports.iter().any(|export| export.name == name);
        let init = match (has("_initialize"), has("_start")) {
            (true, true) => InitExport::Both,
            (true, false) => InitExport::Initialize,
            (false, true) => InitExport::Start,
            (false, false) => InitExport::None,
        };
        let declarations =
            self.exports.iter().filter(|export| DECLARATIONS.contains(&export.name.as_str())).cloned().collect();
        let worker_unsupported: Vec<String> = self
            .imports
            .iter()
            .filter(|import| {
                import.module != WASI_MODULE
                    || import.kind != ExternKind::Func
                    || !GOMODE_WASI.contains(&import.name.as_str())
            })
            .map(|import| format!("{}::{}", import.module, import.name))
            .collect();
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

pub(super) fn memory_info_text(memory: &MemoryInfo) -> String {
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
