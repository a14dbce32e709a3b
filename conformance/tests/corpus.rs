//! The conformance runner: one named test per (guest, profile, case), and per bad guest and
//! profile.
//!
//! Every case runs on wasmtime under each profile it names (`<guest>::abi::<area>::<case>`,
//! `<guest>::gomode::<area>::<case>`), and under `gomode` also on V8 (`<guest>::v8::…`), through
//! `conformance/worker-host/worker-host.mjs`, the model of GoMode's Worker glue: there every
//! answer must equal wasmtime's, and a difference shows both. Without Node the V8 trials are
//! ignored with the reason.
//!
//! `cross-guest::<kernel>` sends the same random SIMD inputs to every built guest and requires
//! the same bits from all (`corpus/cross_guest.rs`); `cross-guest::canary::<name>` requires that
//! check to fail on each deliberately broken guest in the manifest, with differing bits, and
//! `canary::<name>::corpus` requires the corpus's golden SIMD cases to catch it too. Each built
//! guest also gets `<guest>::module::reference_shape`: it loads under both profiles, is a true
//! reactor and has simd128 kernels.
//!
//! Guests come from `target/guests/manifest.json` (the Rust guests are built first when
//! missing); a guest the manifest lists as skipped shows up as an ignored test whose kind is
//! the reason. Cases come from `conformance/cases`, bad guests from `conformance/bad-guests`.
//! Known failures are data (`conformance/known-failures.json`): a listed pair that fails
//! passes, and a listed pair that passes fails. When `GOMODE_REPORT_DIR` is set the run also
//! writes `report.json` and `report.md` there. Filter as usual, for example
//! `cargo test -p conformance --test corpus -- rust-leaking::gomode::simd::dot_f64`.

#[path = "corpus/cross_guest.rs"]
mod cross_guest;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex, OnceLock};

use conformance::v8::V8;
use conformance::{
    Check, Corpus, Entry, Failure, KnownFailure, Mode, Outcome, Report, SimdExpect, Status, workspace_root,
};
use host::{GuestModule, Host, HostConfig, Profile, Request, Rule};
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
    let cache_dir = Some(root.join("target/wasmtime-cache"));
    let hosts: Vec<(Profile, Host)> = Profile::ALL
        .into_iter()
        .map(|profile| {
            Ok((profile, Host::new(HostConfig { cache_dir: cache_dir.clone(), ..HostConfig::new(profile) })?))
        })
        .collect::<anyhow::Result<_>>()?;
    // The cross-guest checks and canaries compare kernels, which no profile changes.
    let host = hosts[0].1.clone();
    let outcomes: Outcomes = Arc::default();
    let scratch = root.join("target/conformance/bodies");
    let mut trials = Vec::new();

    for skipped in &manifest.skipped {
        record(
            &outcomes,
            Outcome {
                guest: skipped.name.clone(),
                mode: skipped.mode.clone(),
                profile: "-".into(),
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

    let node = conformance::v8::node_version().and_then(|_| V8::spawn().map_err(|err| format!("{err:#}")));
    let mut first_good: Option<PathBuf> = None;
    for guest in &manifest.guests {
        let Some(mode) = Mode::from_name(&guest.mode) else {
            anyhow::bail!("guest `{}` has an unknown mode `{}`", guest.name, guest.mode);
        };
        let path = conformance::guests_dir().join(&guest.path);
        first_good.get_or_insert(path.clone());
        let (shape_path, kernels) = (path.clone(), guest.kernels.clone());
        trials.push(Trial::test(format!("{}::module::reference_shape", guest.name), move || {
            reference_shape(&shape_path, &kernels).map_err(Failed::from)
        }));
        // One compiled module per profile, shared by the guest's trials under that profile.
        let modules: Arc<[OnceLock<Result<GuestModule, String>>; 2]> = Arc::default();
        for entry in corpus.entries.iter().filter(|e| e.applies_to(mode)) {
            for (slot, (profile, host)) in hosts.iter().enumerate() {
                let profile = *profile;
                if !entry.runs_under(profile) {
                    continue;
                }
                let run = Arc::new(Run {
                    guest: guest.name.clone(),
                    mode: guest.mode.clone(),
                    path: path.clone(),
                    entry: entry.clone(),
                    known: known.clone(),
                    outcomes: outcomes.clone(),
                    scratch: scratch.clone(),
                });
                let load = {
                    let (host, modules, path) = (host.clone(), modules.clone(), path.clone());
                    move || modules[slot].get_or_init(|| host.load(&path).map_err(|e| e.to_string())).clone()
                };
                // The case's run on wasmtime, done once and shared with the V8 trial, which
                // compares its answers with it.
                let on_wasmtime: Arc<OnceLock<WasmtimeRun>> = Arc::default();
                let wasmtime = {
                    let (run, on_wasmtime) = (run.clone(), on_wasmtime.clone());
                    move || {
                        on_wasmtime
                            .get_or_init(|| match load() {
                                Ok(module) => {
                                    let mut guest = module
                                        .guest()
                                        .with_upstream(conformance::upstream::case_upstream(&run.entry.case));
                                    let done = conformance::run_case(&mut guest, &run.entry.case, profile);
                                    (done.answers, done.result.map_err(|failure| failure.to_string()))
                                }
                                Err(message) => (Vec::new(), Err(message)),
                            })
                            .clone()
                    }
                };
                let (wasmtime_run, wasmtime_result) = (run.clone(), wasmtime.clone());
                trials.push(Trial::test(format!("{}::{profile}::{}", guest.name, entry.id()), move || {
                    wasmtime_run.finish(Under::Profile(profile), wasmtime_result().1)
                }));
                if profile != Profile::Gomode {
                    continue;
                }
                let name = format!("{}::v8::{}", guest.name, entry.id());
                trials.push(match &node {
                    Ok(v8) => {
                        let v8 = v8.clone();
                        let limits = host.config().clone();
                        Trial::test(name, move || {
                            let result = same_on_v8(&v8, &limits, &run, &wasmtime().0);
                            run.finish(Under::V8, result)
                        })
                    }
                    Err(reason) => Trial::test(name, || Ok(())).with_kind(reason.clone()).with_ignored_flag(true),
                });
            }
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
        for (profile, expect) in &fixture.expect {
            let host = hosts.iter().find(|(p, _)| p == profile).map(|(_, h)| h.clone()).expect("a host per profile");
            let (fixture, expect, good) = (fixture.clone(), expect.clone(), good.clone());
            let name = format!("bad-guests::{}::{profile}", fixture.name);
            trials.push(Trial::test(name, move || {
                check_bad_guest(&host, &fixture, &expect, &good).map_err(Failed::from)
            }));
        }
    }
    Ok((trials, outcomes))
}

/// The canary must fail at least one golden SIMD case of its broken kernel by a SIMD difference,
/// and fail no case in any other way.
fn canary_fails_golden_cases(host: &Host, canary: &Path, golden: &[Entry]) -> Result<(), String> {
    let module = host.load(canary).map_err(|e| e.to_string())?;
    let mut caught = Vec::new();
    for entry in golden {
        match conformance::run_case(&mut module.guest(), &entry.case, Profile::Abi).result {
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

/// What every reference guest's module must look like beyond the ABI's own rules: it loads
/// under both profiles (so it exports `_start` and imports only GoMode's 25 WASI functions), it
/// is a true reactor (no command-export wrappers), and it has simd128 code when its kernels are
/// SIMD kernels (standard Go's are scalar).
fn reference_shape(path: &Path, kernels: &str) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let info = host::inspect::inspect(&bytes).map_err(|violation| violation.to_string())?;
    let mut problems = Vec::new();
    for profile in Profile::ALL {
        if let Some(violation) = info.violations_under(profile).first() {
            problems.push(format!("breaks {violation} under {profile}"));
        }
    }
    if !info.command_exports.is_empty() {
        problems.push(format!("has command-export wrappers: {}", info.command_exports.join(", ")));
    }
    if !info.simd && kernels != "go" {
        problems.push(format!("contains no simd128 instruction, though its kernels are {kernels}"));
    }
    if problems.is_empty() { Ok(()) } else { Err(problems.join("; ")) }
}

/// Where a trial ran: under a profile on wasmtime, or under `gomode` on V8.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Under {
    Profile(Profile),
    V8,
}

impl Under {
    /// The name known failures and the report use: `abi`, `gomode` or `v8`.
    fn name(self) -> &'static str {
        match self {
            Under::Profile(profile) => profile.name(),
            Under::V8 => "v8",
        }
    }
}

/// One (guest, case) pair and where its outcome goes.
struct Run {
    guest: String,
    mode: String,
    path: PathBuf,
    entry: Entry,
    known: Arc<Vec<KnownFailure>>,
    outcomes: Outcomes,
    scratch: PathBuf,
}

impl Run {
    /// Judges a result against the known failures, records the outcome, and gives the trial's
    /// verdict.
    fn finish(&self, under: Under, result: Result<Option<String>, String>) -> Result<(), Failed> {
        let id = self.entry.id();
        let listed = self
            .known
            .iter()
            .find(|k| k.guest == self.guest && k.case == id && k.under.as_deref().is_none_or(|u| u == under.name()));
        let (status, message) = match (&result, listed) {
            (Ok(note), None) => (Status::Passed, note.clone()),
            (Err(message), None) => (Status::Failed, Some(message.clone())),
            (Err(_), Some(known)) => (Status::KnownFailure, Some(known.reason.clone())),
            (Ok(_), Some(known)) => (
                Status::Failed,
                Some(format!("listed in known-failures.json ({}) but it passes now; remove the entry", known.reason)),
            ),
        };
        let profile = match under {
            Under::Profile(profile) => profile,
            Under::V8 => Profile::Gomode,
        };
        let reproduce = (status == Status::Failed)
            .then(|| conformance::reproduce(&self.entry.case, &self.path, &self.scratch, profile));
        record(
            &self.outcomes,
            Outcome {
                guest: self.guest.clone(),
                mode: self.mode.clone(),
                profile: if under == Under::V8 { "gomode on v8".into() } else { profile.name().into() },
                area: self.entry.area.clone(),
                case: self.entry.case.name.clone(),
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
    }
}

/// What a case gave on wasmtime: its answers and its verdict.
type WasmtimeRun = (Vec<conformance::Answer>, Result<Option<String>, String>);

/// Runs the case under `gomode` on V8: every answer must be the same as on wasmtime, and V8's
/// must meet the case.
fn same_on_v8(
    v8: &V8,
    limits: &HostConfig,
    run: &Run,
    on_wasmtime: &[conformance::Answer],
) -> Result<Option<String>, String> {
    let mut guest = v8
        .open(
            &run.path,
            &run.guest,
            limits.memory_limit,
            limits.deadline,
            &conformance::upstream::case_v8_outbound(&run.entry.case, limits.max_fetches),
        )
        .map_err(|e| e.to_string())?;
    let on_v8 = conformance::run_case(&mut guest, &run.entry.case, Profile::Gomode);
    if let Some(i) =
        (0..on_v8.answers.len().max(on_wasmtime.len())).find(|&i| on_v8.answers.get(i) != on_wasmtime.get(i))
    {
        fn show(answer: Option<&conformance::Answer>) -> &str {
            answer.map_or("(no answer)", |a| a.shown.as_str())
        }
        return Err(format!(
            "answer {} differs between the engines\n  v8:       {}\n  wasmtime: {}",
            i + 1,
            show(on_v8.answers.get(i)),
            show(on_wasmtime.get(i))
        ));
    }
    on_v8.result.map_err(|failure| failure.to_string())
}

/// What a bad guest must do under one profile.
#[derive(Clone, Debug)]
enum BadExpect {
    /// Loading or the request fails with this rule.
    Breaks(Rule),
    /// The request is answered with this status and, when given, this body, again and again
    /// on the same instance (GoMode's 500 `panic: …` after a trap).
    Serves { status: u16, body: Option<String> },
}

/// A module under `conformance/bad-guests` that breaks one rule, with what it must do under
/// each profile it names.
#[derive(Clone, Debug)]
struct BadGuest {
    name: String,
    path: PathBuf,
    request: Request,
    expect: Vec<(Profile, BadExpect)>,
}

/// Reads every `.wat` fixture and its header lines: `;; request: METHOD PATH`, and for each
/// profile it runs under, `;; abi:` or `;; gomode:` followed by a rule ID, or by a status and
/// an optional body that the guest is answered with.
fn bad_guests(dir: &Path) -> anyhow::Result<Vec<BadGuest>> {
    let mut fixtures = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    paths.sort();
    for path in paths.into_iter().filter(|p| p.extension().is_some_and(|x| x == "wat")) {
        let text = std::fs::read_to_string(&path)?;
        let header = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
        let Some((method, target)) = header(";; request:").and_then(|r| r.split_once(' ')) else {
            anyhow::bail!("{} needs a `;; request: METHOD PATH` line", path.display());
        };
        let mut expect = Vec::new();
        for profile in Profile::ALL {
            let Some(line) = header(&format!(";; {profile}:")) else { continue };
            let parsed = match line.split_once(' ').unwrap_or((line, "")) {
                (status, body) if status.parse::<u16>().is_ok() => {
                    BadExpect::Serves { status: status.parse()?, body: (!body.is_empty()).then(|| body.to_owned()) }
                }
                _ => BadExpect::Breaks(
                    Rule::from_id(line).ok_or_else(|| anyhow::anyhow!("{}: unknown rule `{line}`", path.display()))?,
                ),
            };
            expect.push((profile, parsed));
        }
        if expect.is_empty() {
            anyhow::bail!("{} needs an `;; abi:` or a `;; gomode:` line", path.display());
        }
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        fixtures.push(BadGuest { name, path, request: Request::new(method, target), expect });
    }
    Ok(fixtures)
}

/// The bad guest must do what its header says under `profile`: fail with its rule, again on a
/// replaced instance when the rule poisons it, or keep answering as GoMode does; and the host
/// must serve a good guest afterwards.
fn check_bad_guest(host: &Host, fixture: &BadGuest, expect: &BadExpect, good: &Path) -> Result<(), String> {
    match expect {
        BadExpect::Breaks(rule) => {
            let expect = |result: Result<String, host::Error>, attempt: &str| match result {
                Ok(what) => Err(format!("{attempt}: expected a `{rule}` error, but {what}")),
                Err(error) if error.rule() == Some(*rule) && error.to_string().contains(rule.id()) => Ok(()),
                Err(error) => Err(format!("{attempt}: expected rule `{rule}`, got: {error}")),
            };
            match host.load(&fixture.path) {
                Err(error) => expect(Err(error), "loading")?,
                Ok(module) => {
                    let mut guest = module.guest();
                    let answered = |r: host::Response<'_>| format!("the guest answered {}", r.status);
                    expect(guest.call(&fixture.request).map(answered), "first call")?;
                    if rule.poisons_instance() {
                        expect(guest.call(&fixture.request).map(answered), "call on the replacement instance")?;
                        if guest.instances() != 2 {
                            return Err(format!("expected 2 instances after the failure, found {}", guest.instances()));
                        }
                    }
                }
            }
        }
        BadExpect::Serves { status, body } => {
            let module = host.load(&fixture.path).map_err(|e| e.to_string())?;
            let mut guest = module.guest();
            for attempt in ["first call", "second call, on the same instance"] {
                let response = guest.call(&fixture.request).map_err(|e| format!("{attempt}: {e}"))?;
                let text = String::from_utf8_lossy(response.body.as_bytes());
                if response.status != *status || body.as_ref().is_some_and(|b| *b != text) {
                    return Err(format!(
                        "{attempt}: answered {} {text:?}; expected {status} {body:?}",
                        response.status
                    ));
                }
            }
            if guest.instances() != 1 {
                return Err(format!("expected the instance to be kept, found {} instances", guest.instances()));
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
