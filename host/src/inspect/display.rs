//! The text `gomode-host inspect` prints for a module: exports, imports, memory, SIMD, ABI
//! declarations, producers, Worker fit and violations.

use super::parse::memory_info_text;
use super::*;

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
