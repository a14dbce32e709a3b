//! The text `gomode-host inspect` prints for a module: exports, imports, memory, SIMD, ABI
//! declarations and init export, producers, the imports GoMode's Worker does not provide, and
//! the violations of the ABI's static rules. The CLI prints each profile's result after it.

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
            match self.init {
                InitExport::None => writeln!(f, "  init export: none")?,
                InitExport::Initialize => writeln!(
                    f,
                    "  init export: _initialize (GoMode never calls _initialize, only _start: [{}])",
                    Rule::GomodeStart
                )?,
                InitExport::Start => writeln!(f, "  init export: _start")?,
                InitExport::Both => {
                    writeln!(f, "  init export: _initialize and _start (abi runs _initialize; gomode runs _start)")?
                }
            }

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

            writeln!(f, "\nGoMode's Worker (its 25 WASI functions):")?;
            if self.worker_compatible {
                writeln!(f, "  every import is one of them")?;
            } else {
                writeln!(
                    f,
                    "  imports outside them, so GoMode's `WebAssembly.instantiate` rejects the module ([{}]):",
                    Rule::GomodeImports
                )?;
                for name in &self.worker_unsupported {
                    writeln!(f, "    {name}")?;
                }
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

        // The ABI's static rules only; `gomode-host inspect` prints each profile's result itself.
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
