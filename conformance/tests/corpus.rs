//! The conformance runner: one named test per (guest, case), and one per bad guest.
//!
//! `cross-guest::<kernel>` sends the same random SIMD inputs to every built guest and requires
//! the same bits from all (`corpus/cross_guest.rs`); `cross-guest::canary::<name>` requires that
//! check to fail on each deliberately broken guest in the manifest, with differing bits, and
//! `canary::<name>::corpus` requires the corpus's golden SIMD cases to catch it too.
//!
//! Besides the cases, each built guest gets `<guest>::module::reference_shape` (a true reactor
//! with simd128 kernels and Worker-only imports) and `worker-host::<guest>::<request>` tests,
//! which run the same `.wasm` under `conformance/worker-host/worker-host.mjs` on Node and require
//! the answer wasmtime gives; without Node they are ignored with the reason.
//!
//! Guests come from `target/guests/manifest.json` (the Rust guests are built first when
//! missing); a guest the manifest lists as skipped shows up as an ignored test whose kind is
//! the reason. Cases come from `conformance/cases`, bad guests from `conformance/bad-guests`.
//! Known failures are data (`conformance/known-failures.json`): a listed pair that fails
//! passes, and a listed pair that passes fails. When `GOMODE_REPORT_DIR` is set the run also
//! writes `report.json` and `report.md` there. Filter as usual, for example
//! `cargo test -p conformance --test corpus -- rust-leaking::simd::dot_f64`.

#[path = "corpus/cross_guest.rs"]
mod cross_guest;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};

use conformance::{
    Check, Corpus, Entry, Failure, KnownFailure, Mode, Outcome, Report, SimdExpect, Status, workspace_root,
};
use host::{GuestModule, Host, HostConfig, Request, Rule};
use libtest_mimic::{Arguments, Failed, Trial};

type Outcomes = Arc<Mutex<Vec<Outcome>>>;

fn record(outcomes: &Outcomes, outcome: Outcome) {
    outcomes.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let trials = match trials() {
        Ok(trials) => trials,
        Err(err) => {
            eprintln!("conformance: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let (trials, outcomes) = trials;
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(dir) = std::env::var_os("GOMODE_REPORT_DIR") {
        let report = Report { outcomes: outcomes.lock().unwrap_or_else(|e| e.into_inner()).clone() };
        // A relative folder is taken from the workspace root, not from this crate's folder.
        let dir = workspace_root().join(dir);
        if let Err(err) = report.write(&dir) {
            eprintln!("conformance: cannot write the report to {}: {err}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    conclusion.exit_code()
}

fn trials() -> anyhow::Result<(Vec<Trial>, Outcomes)> {
    let root = workspace_root();
    let manifest = conformance::manifest()?;
    let corpus = Corpus::load(&Corpus::workspace_dir())?;
    let known = Arc::new(conformance::known_failures()?);
    for failure in known.iter() {
        let built = manifest.guests.iter().any(|g| g.name == failure.guest);
        if built && !corpus.entries.iter().any(|e| e.id() == failure.case) {
            anyhow::bail!("known-failures.json lists `{}`, which is not a case", failure.case);
        }
    }
    let host = Host::new(HostConfig { cache_dir: Some(root.join("target/wasmtime-cache")), ..HostConfig::default() })?;
    let outcomes: Outcomes = Arc::default();
    let scratch = root.join("target/conformance/bodies");
    let mut trials = Vec::new();

    for skipped in &manifest.skipped {
        record(
            &outcomes,
            Outcome {
                guest: skipped.name.clone(),
                mode: skipped.mode.clone(),
                area: "-".into(),
                case: "-".into(),
                status: Status::Skipped,
                message: Some(skipped.reason.clone()),
                reproduce: None,
            },
        );
        trials.push(
            Trial::test(format!("{}::skipped", skipped.name), || Ok(()))
                .with_kind(skipped.reason.clone())
                .with_ignored_flag(true),
        );
    }

    let mut first_good: Option<PathBuf> = None;
    for guest in &manifest.guests {
        let Some(mode) = Mode::from_name(&guest.mode) else {
            anyhow::bail!("guest `{}` has an unknown mode `{}`", guest.name, guest.mode);
        };
        let path = conformance::guests_dir().join(&guest.path);
        first_good.get_or_insert(path.clone());
        let (shape_path, language, kernels) = (path.clone(), guest.language.clone(), guest.kernels.clone());
        trials.push(Trial::test(format!("{}::module::reference_shape", guest.name), move || {
            reference_shape(&shape_path, &language, &kernels).map_err(Failed::from)
        }));
        let module: Arc<OnceLock<Result<GuestModule, String>>> = Arc::default();
        for entry in corpus.entries.iter().filter(|e| e.applies_to(mode)) {
            let (host, module, path, outcomes, known, scratch) =
                (host.clone(), module.clone(), path.clone(), outcomes.clone(), known.clone(), scratch.clone());
            let (entry, guest_name, guest_mode) = (entry.clone(), guest.name.clone(), guest.mode.clone());
            let name = format!("{}::{}", guest.name, entry.id());
            trials.push(Trial::test(name, move || {
                let module = module.get_or_init(|| host.load(&path).map_err(|err| err.to_string()));
                let result = module
                    .as_ref()
                    .map_err(Clone::clone)
                    .and_then(|m| conformance::run_case(m, &entry.case).map_err(|failure| failure.to_string()));
                let listed = known.iter().find(|k: &&KnownFailure| k.guest == guest_name && k.case == entry.id());
                let (status, message) = match (&result, listed) {
                    (Ok(note), None) => (Status::Passed, note.clone()),
                    (Err(message), None) => (Status::Failed, Some(message.clone())),
                    (Err(_), Some(known)) => (Status::KnownFailure, Some(known.reason.clone())),
                    (Ok(_), Some(known)) => (
                        Status::Failed,
                        Some(format!(
                            "listed in known-failures.json ({}) but it passes now; remove the entry",
                            known.reason
                        )),
                    ),
                };
                let reproduce =
                    (status == Status::Failed).then(|| conformance::reproduce(&entry.case, &path, &scratch));
                record(
                    &outcomes,
                    Outcome {
                        guest: guest_name.clone(),
                        mode: guest_mode.clone(),
                        area: entry.area.clone(),
                        case: entry.case.name.clone(),
                        status,
                        message: message.clone(),
                        reproduce: reproduce.clone(),
                    },
                );
                match status {
                    Status::Failed => Err(Failed::from(format!(
                        "{}\nreproduce: {}",
                        message.unwrap_or_default(),
                        reproduce.unwrap_or_default()
                    ))),
                    _ => Ok(()),
                }
            }));
        }
    }

    let node = node_version();
    for guest in &manifest.guests {
        let path = conformance::guests_dir().join(&guest.path);
        for (method, target, body, headers) in WORKER_REQUESTS {
            let name = format!("worker-host::{}::{method} {target}", guest.name);
            let trial = match &node {
                Ok(_) => {
                    let (host, path) = (host.clone(), path.clone());
                    let mut request = Request::new(method, target);
                    request.body = body.as_bytes().to_vec();
                    request.headers = headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
                    Trial::test(name, move || same_in_worker_host(&host, &path, &request).map_err(Failed::from))
                }
                Err(reason) => Trial::test(name, || Ok(())).with_kind(reason.clone()).with_ignored_flag(true),
            };
            trials.push(trial);
        }
    }

    let built: Vec<(String, PathBuf)> =
        manifest.guests.iter().map(|g| (g.name.clone(), conformance::guests_dir().join(&g.path))).collect();
    for kernel in kernels_rust::Kernel::ALL {
        let name = format!("cross-guest::{}", kernel.name());
        let trial = if built.len() < 2 {
            Trial::test(name, || Ok(())).with_kind("needs two built guests").with_ignored_flag(true)
        } else {
            let (host, built) = (host.clone(), built.clone());
            Trial::test(name, move || {
                cross_guest::check(&host, &built, kernel, cross_guest::SEED).map_err(Failed::from)
            })
        };
        trials.push(trial);
    }
    for canary in &manifest.canaries {
        let path = conformance::guests_dir().join(&canary.path);
        let Some(kernel) = kernels_rust::Kernel::from_name(&canary.broken_kernel) else {
            anyhow::bail!("canary `{}` breaks an unknown kernel `{}`", canary.name, canary.broken_kernel);
        };
        let (cross_host, reference) = (host.clone(), built.first().cloned());
        let (name, what, canary_path) = (canary.name.clone(), canary.what.clone(), path.clone());
        trials.push(Trial::test(format!("cross-guest::canary::{name}"), move || {
            let reference = reference.ok_or("no built guest to compare the canary with")?;
            match cross_guest::check(&cross_host, &[reference, (name.clone(), canary_path)], kernel, cross_guest::SEED)
            {
                Ok(()) => Err(format!("the cross-guest check passed the canary `{name}`, in which {what}").into()),
                Err(cross_guest::Mismatch::Bits(_)) => Ok(()),
                Err(other) => Err(format!("the canary failed, but not by a SIMD difference: {other}").into()),
            }
        }));
        let golden: Vec<Entry> = corpus
            .entries
            .iter()
            .filter(|e| e.case.request.path == format!("/simd/{}", kernel.name()))
            .filter(|e| matches!(e.case.expect.simd, Some(SimdExpect::Golden(_))))
            .cloned()
            .collect();
        let (host, name, what) = (host.clone(), canary.name.clone(), canary.what.clone());
        trials.push(Trial::test(format!("canary::{name}::corpus"), move || {
            canary_fails_golden_cases(&host, &path, &golden)
                .map_err(|why| format!("canary `{name}`, in which {what}: {why}").into())
        }));
    }

    let good = first_good.ok_or_else(|| anyhow::anyhow!("the manifest lists no built guest"))?;
    for fixture in bad_guests(&root.join("conformance/bad-guests"))? {
        let host = host.clone();
        let good = good.clone();
        let name = format!("bad-guests::{}", fixture.name);
        trials.push(Trial::test(name, move || check_bad_guest(&host, &fixture, &good).map_err(Failed::from)));
    }
    Ok((trials, outcomes))
}

/// The canary must fail at least one golden SIMD case of its broken kernel by a SIMD difference,
/// and fail no case in any other way.
fn canary_fails_golden_cases(host: &Host, canary: &Path, golden: &[Entry]) -> Result<(), String> {
    let module = host.load(canary).map_err(|e| e.to_string())?;
    let mut caught = Vec::new();
    for entry in golden {
        match conformance::run_case(&module, &entry.case) {
            Ok(_) => {}
            Err(Failure::Differs { check: Check::Simd, .. }) => caught.push(entry.id()),
            Err(other) => return Err(format!("{} failed, but not by a SIMD difference: {other}", entry.id())),
        }
    }
    if caught.is_empty() {
        return Err(format!("all {} golden cases of its kernel passed", golden.len()));
    }
    Ok(())
}

/// The imports standard Go's wasip1 runtime always has, outside the Worker's subset (ABI.md,
/// "Worker compatibility"): its scheduler idles with `poll_oneoff` and `sched_yield`, and a build
/// that links package `os` (the leaking one, through `runtime/debug`) sets stdio flags at start.
/// They are never called while a handler runs, so the Worker-like host answers them with ENOSYS.
const GO_RUNTIME_IMPORTS: &[&str] = &["sched_yield", "poll_oneoff", "fd_fdstat_set_flags"];

/// What every reference guest's module must look like beyond the ABI's own rules: a true
/// reactor (`_initialize`, no command-export wrappers), simd128 code when its kernels are SIMD
/// kernels (standard Go's are scalar), and only imports a Worker offers.
fn reference_shape(path: &Path, language: &str, kernels: &str) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let info = host::inspect::inspect(&bytes).map_err(|violation| violation.to_string())?;
    let mut problems = Vec::new();
    if let Some(violation) = info.violations().first() {
        problems.push(format!("breaks {violation}"));
    }
    if info.init.export_to_run() != Some("_initialize") {
        problems.push("does not export `_initialize`".to_string());
    }
    if !info.command_exports.is_empty() {
        problems.push(format!("has command-export wrappers: {}", info.command_exports.join(", ")));
    }
    if !info.simd && kernels != "go" {
        problems.push(format!("contains no simd128 instruction, though its kernels are {kernels}"));
    }
    let allowed: &[&str] = if language == "go" { GO_RUNTIME_IMPORTS } else { &[] };
    let lacking: Vec<_> = info
        .worker_unsupported
        .iter()
        .filter(|import| !allowed.iter().any(|a| import.ends_with(&format!("::{a}"))))
        .collect();
    if !lacking.is_empty() {
        problems.push(format!("imports what a Worker lacks: {lacking:?}"));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// A module under `conformance/bad-guests` that breaks exactly one rule.
#[derive(Clone, Debug)]
struct BadGuest {
    name: String,
    path: PathBuf,
    rule: Rule,
    request: Request,
}

/// Reads every `.wat` fixture and its `;; expect-rule:` and `;; request:` header lines.
fn bad_guests(dir: &Path) -> anyhow::Result<Vec<BadGuest>> {
    let mut fixtures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths.into_iter().filter(|p| p.extension().is_some_and(|x| x == "wat")) {
        let text = std::fs::read_to_string(&path)?;
        let header = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
        let rule = header(";; expect-rule:").and_then(Rule::from_id);
        let request = header(";; request:").and_then(|r| r.split_once(' '));
        let (Some(rule), Some((method, target))) = (rule, request) else {
            anyhow::bail!("{} needs `;; expect-rule: <rule>` and `;; request: METHOD PATH` lines", path.display());
        };
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        fixtures.push(BadGuest { name, path, rule, request: Request::new(method, target) });
    }
    Ok(fixtures)
}

/// The bad guest must fail with its rule, fail the same way on a replaced instance, and leave
/// the host able to serve a good guest afterwards.
fn check_bad_guest(host: &Host, fixture: &BadGuest, good: &Path) -> Result<(), String> {
    let expect = |result: Result<String, host::Error>, attempt: &str| match result {
        Ok(what) => Err(format!("{attempt}: expected a `{}` error, but {what}", fixture.rule)),
        Err(error) if error.rule() == Some(fixture.rule) && error.to_string().contains(fixture.rule.id()) => Ok(()),
        Err(error) => Err(format!("{attempt}: expected rule `{}`, got: {error}", fixture.rule)),
    };
    match host.load(&fixture.path) {
        Err(error) => expect(Err(error), "loading")?,
        Ok(module) => {
            let mut guest = module.guest();
            let answered = |r: host::Response| format!("the guest answered {}", r.status);
            expect(guest.call(&fixture.request).map(answered), "first call")?;
            if fixture.rule.poisons_instance() {
                expect(guest.call(&fixture.request).map(answered), "call on the replacement instance")?;
                if guest.instances() != 2 {
                    return Err(format!("expected 2 instances after the failure, found {}", guest.instances()));
                }
            }
        }
    }
    let module = host.load(good).map_err(|e| e.to_string())?;
    let response =
        module.guest().call(&Request::new("GET", "/")).map_err(|e| format!("the good guest failed afterwards: {e}"))?;
    if response.status != 200 {
        return Err(format!("the good guest answered {} afterwards", response.status));
    }
    Ok(())
}

/// Header names and values of a request.
type Headers = &'static [(&'static str, &'static str)];

/// Requests that `conformance/worker-host/worker-host.mjs` and the wasmtime host must answer
/// identically: (method, path, body, headers).
const WORKER_REQUESTS: &[(&str, &str, &str, Headers)] = &[
    ("GET", "/", "", &[]),
    ("GET", "/json?x=1", "", &[]),
    ("GET", "/simd", "", &[]),
    (
        "POST",
        "/simd/dot_f64",
        "a 3ff0000000000000,4000000000000000,4008000000000000\nb 4000000000000000,3fe0000000000000,c000000000000000\n",
        &[],
    ),
    ("POST", "/echo", "Grüß 🌍", &[("X-Test", "1"), ("Accept", "text/html")]),
    ("GET", "/bytes/300", "", &[]),
    ("GET", "/utf8", "", &[]),
    ("GET", "/headers", "", &[]),
    ("GET", "/counter", "", &[]),
    ("GET", "/nope?x=1", "", &[]),
];

/// Node's version, or why the Worker-like host cannot run.
fn node_version() -> Result<String, String> {
    let output =
        std::process::Command::new("node").arg("--version").output().map_err(|_| "node not found".to_string())?;
    if !output.status.success() {
        return Err("node --version failed".into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// The guest must give the same JSON under the Worker-like host as under wasmtime.
fn same_in_worker_host(host: &Host, guest: &Path, request: &Request) -> Result<(), String> {
    let module = host.load(guest).map_err(|e| e.to_string())?;
    let expected = conformance::response_json(&module.guest().call(request).map_err(|e| e.to_string())?);
    let script = workspace_root().join("conformance/worker-host/worker-host.mjs");
    let mut node = std::process::Command::new("node");
    node.arg(script).arg(guest).args(["-X", &request.method, &request.path]);
    node.arg("-d").arg(String::from_utf8_lossy(&request.body).as_ref());
    for (name, value) in &request.headers {
        node.arg("-H").arg(format!("{name}: {value}"));
    }
    let output = node.output().map_err(|e| format!("cannot run node: {e}"))?;
    if !output.status.success() {
        return Err(format!("worker-host.mjs failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    let actual: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("worker-host.mjs printed no JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))?;
    if actual != expected {
        return Err(format!("the Worker-like host answered\n  {actual}\nbut wasmtime answered\n  {expected}"));
    }
    Ok(())
}
