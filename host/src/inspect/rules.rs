//! The static rules of `inspect`: what a module's shape breaks before wasmtime ever sees it
//! (`module.wasm`, `module.imports`, `module.exports`, `module.declarations`).

use super::*;
use crate::profile::{GOMODE_WASI, Profile};

impl ModuleInfo {
    /// The static ABI rules the module breaks, in rule order; empty for a conforming module.
    pub fn violations(&self) -> Vec<Violation> {
        let mut found = Vec::new();
        let mut violation = |rule: Rule, message: String| {
            found.push(Violation { rule, message });
        };
        if self.component {
            violation(
                Rule::ModuleWasm,
                "the file is a WebAssembly component, not a core module; the host runs core \
                 wasm32 modules only"
                    .to_owned(),
            );
            return found;
        }

        match self.memories.len() {
            1 => {}
            0 => violation(
                Rule::ModuleWasm,
                "the module has no memory; exactly one 32-bit memory is required".to_owned(),
            ),
            count => violation(Rule::ModuleWasm, format!("the module has {count} memories; exactly one is required")),
        }
        for (index, memory) in self.memories.iter().enumerate() {
            if memory.memory64 {
                violation(Rule::ModuleWasm, format!("memory {index} is a 64-bit memory (memory64); the ABI is wasm32"));
            }
        }

        for import in &self.imports {
            if import.module != WASI_MODULE {
                violation(
                    Rule::ModuleImports,
                    format!(
                        "import `{}::{}` ({}) is not from `{WASI_MODULE}`",
                        import.module, import.name, import.kind
                    ),
                );
            } else if import.kind != ExternKind::Func {
                violation(
                    Rule::ModuleImports,
                    format!("import `{}::{}` is a {}, not a function", import.module, import.name, import.kind),
                );
            }
        }

        match self.export("memory") {
            None => violation(Rule::ModuleExports, "missing export `memory` (a memory)".to_owned()),
            Some(export) if export.kind != ExternKind::Memory => {
                violation(Rule::ModuleExports, format!("export `memory` is a {}, expected a memory", export.kind))
            }
            Some(_) => {}
        }
        for name in ["handle_zerobuf", "malloc"] {
            if let Some(message) = self.function_export_problem(name, I32_TO_I32, true) {
                violation(Rule::ModuleExports, message);
            }
        }

        for name in DECLARATIONS {
            if let Some(message) = self.function_export_problem(name, UNIT_TO_I32, false) {
                violation(Rule::ModuleDeclarations, message);
            }
        }
        found
    }

    /// The static rules the module breaks under `profile`, in rule order. Under `gomode` an
    /// import is checked against GoMode's 25 WASI functions (`gomode.imports`, which replaces
    /// `module.imports`), and `_start` must be exported (`gomode.start`).
    pub fn violations_under(&self, profile: Profile) -> Vec<Violation> {
        let mut found = self.violations();
        if profile == Profile::Abi || self.component {
            return found;
        }
        found.retain(|violation| violation.rule != Rule::ModuleImports);
        for import in &self.imports {
            let offered = import.module == WASI_MODULE
                && import.kind == ExternKind::Func
                && GOMODE_WASI.contains(&import.name.as_str());
            if !offered {
                found.push(Violation::new(
                    Rule::GomodeImports,
                    format!(
                        "import `{}::{}` ({}) is not one of the 25 WASI functions GoMode's Worker provides, so its \
                         `WebAssembly.instantiate` rejects the module",
                        import.module, import.name, import.kind
                    ),
                ));
            }
        }
        if let Some(message) = self.function_export_problem("_start", "() -> ()", true) {
            found.push(Violation::new(
                Rule::GomodeStart,
                format!("{message}: GoMode's Worker initializes a guest by calling `_start` and nothing else"),
            ));
        }
        found.sort_by_key(|violation| violation.rule);
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
