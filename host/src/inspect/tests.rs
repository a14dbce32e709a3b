//! Unit tests of `inspect`, on small hand-written modules.

use super::*;
use crate::profile::{GOMODE_WASI, Profile};
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
    info.violations().iter().map(|v| v.rule.id()).collect()
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
#[case::relaxed_simd("(func (param v128 v128) (result v128) local.get 0 local.get 1 i8x16.relaxed_swizzle)", true, 1)]
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

/// A WASI function import of `name`; JS host functions accept any signature, so `(func)` will do.
fn wasi_import(name: &str) -> String {
    format!(r#"(import "wasi_snapshot_preview1" "{name}" (func))"#)
}

/// [`GOOD_BODY`] with `_start` instead of `_initialize`: what GoMode's Worker initializes.
const START_BODY: &str = r#"
    (memory (export "memory") 2)
    (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
    (func (export "malloc") (param i32) (result i32) i32.const 1024)
    (func (export "_start"))
"#;

/// A module of `body` importing every one of `imports`.
fn importing(imports: &[&str], body: &str) -> ModuleInfo {
    let imports: Vec<String> = imports.iter().map(|name| wasi_import(name)).collect();
    let mut parts: Vec<&str> = imports.iter().map(String::as_str).collect();
    parts.push(body);
    inspect(&module(&parts)).unwrap()
}

fn rules_under(info: &ModuleInfo, profile: Profile) -> Vec<&'static str> {
    info.violations_under(profile).iter().map(|v| v.rule.id()).collect()
}

#[test]
fn all_25_gomode_wasi_functions_are_worker_compatible() {
    let info = importing(&GOMODE_WASI, START_BODY);
    assert_eq!(info.imports.len(), 25);
    assert!(info.worker_compatible);
    assert_eq!(info.worker_unsupported, Vec::<String>::new());
    assert!(info.to_string().contains("\nGoMode's Worker (its 25 WASI functions):\n  every import is one of them\n"));
}

#[test]
fn imports_outside_gomode_wasi_are_listed() {
    let info = inspect(&module(&[
        FD_WRITE,
        r#"(import "wasi_snapshot_preview1" "clock_res_get" (func (param i32 i32) (result i32)))
           (import "wasi_snapshot_preview1" "sock_accept" (func (param i32 i32 i32) (result i32)))
           (import "wasi_snapshot_preview1" "path_remove_directory"
             (func (param i32 i32 i32) (result i32)))
           (import "wasi_snapshot_preview1" "poll_oneoff" (func (param i32 i32 i32 i32) (result i32)))"#,
        GOOD_BODY,
    ]))
    .unwrap();
    // These are valid WASI imports, so the ABI itself is satisfied.
    assert_eq!(info.violations(), []);
    assert!(!info.worker_compatible);
    assert_eq!(
        info.worker_unsupported,
        ["wasi_snapshot_preview1::clock_res_get", "wasi_snapshot_preview1::sock_accept"]
    );
}

#[test]
fn clock_res_get_is_not_worker_compatible() {
    let info = importing(&["clock_time_get", "clock_res_get"], START_BODY);
    assert!(!info.worker_compatible);
    assert_eq!(info.worker_unsupported, ["wasi_snapshot_preview1::clock_res_get"]);
}

#[test]
fn env_imports_are_not_worker_compatible() {
    let info = inspect(&module(&[r#"(import "env" "f" (func))"#, GOOD_BODY])).unwrap();
    assert!(!info.worker_compatible);
    assert_eq!(info.worker_unsupported, ["env::f"]);
}

#[test]
fn wasi_non_function_imports_are_not_worker_compatible() {
    let info = inspect(&module(&[r#"(import "wasi_snapshot_preview1" "fd_write" (global i32))"#, GOOD_BODY])).unwrap();
    assert!(!info.worker_compatible);
    assert_eq!(info.worker_unsupported, ["wasi_snapshot_preview1::fd_write"]);
}

#[test]
fn gomode_rejects_clock_res_get_and_abi_accepts_it() {
    let info = importing(&["fd_write", "clock_res_get"], START_BODY);
    assert_eq!(rules_under(&info, Profile::Abi), Vec::<&str>::new());
    let violations = info.violations_under(Profile::Gomode);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].rule, Rule::GomodeImports);
    assert!(violations[0].message.contains("`wasi_snapshot_preview1::clock_res_get`"), "{}", violations[0].message);
}

#[test]
fn gomode_rejects_env_imports_instead_of_module_imports() {
    let info = inspect(&module(&[r#"(import "env" "f" (func))"#, START_BODY])).unwrap();
    assert_eq!(rules_under(&info, Profile::Abi), ["module.imports"]);
    assert_eq!(rules_under(&info, Profile::Gomode), ["gomode.imports"]);
}

#[test]
fn gomode_requires_start_and_abi_does_not() {
    let info = importing(&["fd_write"], GOOD_BODY);
    assert_eq!(info.init, InitExport::Initialize);
    assert_eq!(rules_under(&info, Profile::Abi), Vec::<&str>::new());
    let violations = info.violations_under(Profile::Gomode);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].rule, Rule::GomodeStart);
    assert!(violations[0].message.contains("missing export `_start`"), "{}", violations[0].message);
}

#[test]
fn start_and_the_25_functions_break_no_gomode_rule() {
    let info = importing(&GOMODE_WASI, START_BODY);
    assert_eq!(info.init, InitExport::Start);
    assert_eq!(info.violations_under(Profile::Gomode), []);
    assert_eq!(info.violations_under(Profile::Abi), []);
}

#[rstest]
#[case::initialize_only(
    GOOD_BODY,
    "  init export: _initialize (GoMode never calls _initialize, only _start: [gomode.start])\n"
)]
#[case::start_only(START_BODY, "  init export: _start\n")]
#[case::both(
    r#"(memory (export "memory") 2)
       (func (export "handle_zerobuf") (param i32) (result i32) local.get 0)
       (func (export "malloc") (param i32) (result i32) i32.const 1024)
       (func (export "_initialize")) (func (export "_start"))"#,
    "  init export: _initialize and _start (abi runs _initialize; gomode runs _start)\n"
)]
fn display_says_which_init_each_profile_runs(#[case] body: &str, #[case] line: &str) {
    let text = inspect(&module(&[body])).unwrap().to_string();
    assert!(text.contains(line), "missing {line:?} in:\n{text}");
}

#[test]
fn component_is_a_module_wasm_violation() {
    let wasm = wat::parse_str("(component)").unwrap();
    let info = inspect(&wasm).unwrap();
    assert!(info.component);
    let violations = info.violations();
    assert_eq!(violations.len(), 1);
    assert_eq!(violations[0].rule, Rule::ModuleWasm);
    assert!(violations[0].message.contains("component, not a core module"));
    assert!(info.to_string().contains("[module.wasm] the file is a WebAssembly component"));
}

#[test]
fn non_wasm_and_truncated_input_are_errors() {
    let error = inspect(b"(module)").unwrap_err();
    assert_eq!(error.rule, Rule::ModuleWasm);
    assert!(error.message.contains("not a WebAssembly binary"), "{error}");
    let wasm = module(&[GOOD_BODY]);
    let error = inspect(&wasm[..wasm.len() - 3]).unwrap_err();
    assert_eq!(error.rule, Rule::ModuleWasm);
    assert!(error.message.contains("malformed"), "{error}");
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
        "\nGoMode's Worker (its 25 WASI functions):\n  imports outside them, so GoMode's \
         `WebAssembly.instantiate` rejects the module ([gomode.imports]):\n    wasi_snapshot_preview1::sock_accept\n",
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
