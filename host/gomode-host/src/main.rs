//! `gomode-host`: run a zerobuf guest locally, inspect it, or check it against the corpus.
//!
//! This is the tool a guest author uses before deploying: `call` sends one request like curl
//! would, `inspect` shows what the module imports, exports and declares, and `check` runs the
//! whole conformance corpus against any `.wasm` and says exactly which rule it breaks.
//!
//! The corpus is built into the binary (`build.rs`), so an installed `gomode-host` needs no
//! checkout; `check --corpus DIR` reads another one. The exit code is 0 when the guest kept the
//! rules (whatever HTTP status it answered), 1 when it broke one, and 2 when the host or the
//! command line was at fault (an unreadable file, a bad flag), which never names a guest rule.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use conformance::{CaseFile, Corpus, Mode, Outcome, Report, Status};
use host::{Error, GuestError, Host, HostConfig, Request, inspect};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/corpus.rs"));
}

/// Runs, inspects and checks GoMode zerobuf guests (WebAssembly handler modules).
#[derive(Parser, Debug)]
#[command(name = "gomode-host", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sends one request to a guest and prints the response, like `curl -i`.
    Call(CallArgs),
    /// Lists a module's exports, imports, memory, SIMD use, ABI declaration and Worker fit.
    Inspect(InspectArgs),
    /// Runs the conformance corpus against a guest and prints a table of results.
    Check(CheckArgs),
}

/// Limits every command applies to the guest.
#[derive(Args, Debug)]
struct Limits {
    /// Seconds one call may run before it is interrupted.
    #[arg(long, default_value_t = 5.0)]
    deadline: f64,
    /// The most linear memory the guest may use, in MiB.
    #[arg(long, default_value_t = 1024)]
    memory_limit_mib: usize,
    /// Compile every time instead of using the on-disk cache of compiled modules.
    #[arg(long)]
    no_cache: bool,
}

#[derive(Args, Debug)]
struct CallArgs {
    /// The guest module (`.wasm`, or `.wat` text).
    guest: PathBuf,
    /// The path with its query, such as `/json?x=1`.
    path: String,
    /// The request method.
    #[arg(short = 'X', long, default_value = "GET")]
    method: String,
    /// The request body.
    #[arg(short = 'd', long, conflicts_with = "data_file")]
    data: Option<String>,
    /// Reads the request body from a file.
    #[arg(long)]
    data_file: Option<PathBuf>,
    /// A request header, `Name: value`; may be repeated.
    #[arg(short = 'H', long = "header")]
    headers: Vec<String>,
    /// Prints one JSON object instead of the curl-like text.
    #[arg(long)]
    json: bool,
    /// Sends the request this many times to the same instance and prints every response.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    #[command(flatten)]
    limits: Limits,
}

#[derive(Args, Debug)]
struct InspectArgs {
    /// The guest module.
    guest: PathBuf,
    /// Prints JSON instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    limits: Limits,
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// The guest module.
    guest: PathBuf,
    /// The allocator mode the guest was built in; it selects the mode-specific cases.
    #[arg(long, default_value = "conservative", value_parser = ["leaking", "conservative"])]
    mode: String,
    /// A corpus folder to use instead of the corpus built into this binary.
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Writes the results as JSON to this file, and as Markdown next to it (`.md`).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Runs only the cases whose ID (`area::name`) contains this text.
    #[arg(long)]
    case: Option<String>,
    #[command(flatten)]
    limits: Limits,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Call(args) => call(args),
        Command::Inspect(args) => inspect_command(args),
        Command::Check(args) => check(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn host(limits: &Limits) -> anyhow::Result<Host> {
    let cache_dir = (!limits.no_cache).then(cache_dir).flatten();
    let config = HostConfig {
        deadline: Duration::try_from_secs_f64(limits.deadline)
            .context("--deadline must be a positive number of seconds")?,
        memory_limit: limits.memory_limit_mib << 20,
        cache_dir,
        ..HostConfig::default()
    };
    Ok(Host::new(config)?)
}

/// `$GOMODE_CACHE_DIR`, else `$XDG_CACHE_HOME/gomode-host`, else `~/.cache/gomode-host`.
fn cache_dir() -> Option<PathBuf> {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("GOMODE_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("gomode-host")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/gomode-host")))
}

fn guest_failed(error: &GuestError) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// Exits 1 for a broken rule; a host error goes up to `main`, which exits 2.
fn failed(error: Error) -> anyhow::Result<ExitCode> {
    match error {
        Error::Guest(error) => Ok(guest_failed(&error)),
        Error::Host(error) => Err(error.into()),
    }
}

fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    let body = match (&args.data, &args.data_file) {
        (Some(data), _) => data.clone().into_bytes(),
        (None, Some(file)) => std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?,
        (None, None) => Vec::new(),
    };
    let headers = args
        .headers
        .iter()
        .map(|h| {
            let (name, value) = h.split_once(':').with_context(|| format!("header {h:?} is not `Name: value`"))?;
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        })
        .collect::<anyhow::Result<_>>()?;
    let request = Request { method: args.method.clone(), path: args.path.clone(), headers, body };
    let host = host(&args.limits)?;
    let module = match host.load(&args.guest) {
        Ok(module) => module,
        Err(error) => return failed(error),
    };
    let mut guest = module.guest();
    let mut stdout = std::io::stdout().lock();
    for _ in 0..args.repeat {
        let response = match guest.call(&request) {
            Ok(response) => response,
            Err(error) => return failed(error),
        };
        for (name, text) in [("stdout", &response.stdout), ("stderr", &response.stderr)] {
            if !text.is_empty() {
                eprintln!("--- guest {name} ---\n{}", text.trim_end());
            }
        }
        if args.json {
            writeln!(stdout, "{}", conformance::response_json(&response))?;
        } else {
            writeln!(stdout, "HTTP/1.1 {}", response.status)?;
            writeln!(stdout, "content-type: {}", response.content_type)?;
            for (name, value) in &response.headers {
                writeln!(stdout, "{name}: {value}")?;
            }
            writeln!(stdout)?;
            stdout.write_all(response.body.as_bytes())?;
            writeln!(stdout)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect_command(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.guest).with_context(|| format!("cannot read {}", args.guest.display()))?;
    let binary = wat::parse_bytes(&bytes).context("not WebAssembly")?;
    let info = match inspect::inspect(&binary) {
        Ok(info) => info,
        Err(violation) => return Ok(guest_failed(&GuestError::new(&guest_name(&args.guest), violation))),
    };
    let violations = info.violations();
    // The declared ABI version and features are values, so reading them needs a running instance.
    let declared = if violations.is_empty() {
        let host = host(&args.limits)?;
        host.load_bytes(&guest_name(&args.guest), &binary)
            .and_then(|module| module.guest().start())
            .map_err(|err| err.to_string())
    } else {
        Err("not started, because the module breaks a module rule".to_owned())
    };
    if args.json {
        let mut value = serde_json::to_value(&info)?;
        value["declared"] = match &declared {
            Ok(d) => {
                serde_json::json!({"version": d.version, "features": d.features, "response_headers": d.response_headers()})
            }
            Err(err) => serde_json::json!({"error": err}),
        };
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{info}");
        match &declared {
            Ok(d) => println!(
                "ABI declared at run time: version {}, features {:#x} (response headers: {})",
                d.version,
                d.features,
                if d.response_headers() { "yes" } else { "no" }
            ),
            Err(err) => println!("ABI declared at run time: unknown, {err}"),
        }
    }
    Ok(if violations.is_empty() && declared.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn guest_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned())
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mode = Mode::from_name(&args.mode).expect("clap checked the mode");
    let (corpus, source) = match &args.corpus {
        Some(dir) => (Corpus::load(dir)?, dir.display().to_string()),
        None => {
            let files = embedded::CASE_FILES.iter().map(|&(area, name, text)| CaseFile { area, name, text });
            (Corpus::from_files(files)?, "the corpus built into gomode-host".to_owned())
        }
    };
    let host = host(&args.limits)?;
    let module = match host.load(&args.guest) {
        Ok(module) => module,
        Err(error) => return failed(error),
    };
    let entries: Vec<_> = corpus
        .entries
        .iter()
        .filter(|e| e.applies_to(mode))
        .filter(|e| args.case.as_ref().is_none_or(|filter| e.id().contains(filter.as_str())))
        .collect();
    println!("checking {} ({} mode) against {} cases from {}", module.name(), mode.name(), entries.len(), source);
    let scratch = std::env::temp_dir().join("gomode-host-check");
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some(entry) = entries.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = conformance::run_case(&module, &entry.case);
                    let outcome = Outcome {
                        guest: module.name().to_owned(),
                        mode: mode.name().to_owned(),
                        area: entry.area.clone(),
                        case: entry.case.name.clone(),
                        status: if result.is_ok() { Status::Passed } else { Status::Failed },
                        reproduce: result.is_err().then(|| conformance::reproduce(&entry.case, &args.guest, &scratch)),
                        message: result.unwrap_or_else(|failure| Some(failure.to_string())),
                    };
                    outcomes.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    outcomes.sort_by(|a, b| (&a.area, &a.case).cmp(&(&b.area, &b.case)));
    for outcome in outcomes.iter().filter(|o| o.status == Status::Failed) {
        println!(
            "FAIL {}::{}\n  {}",
            outcome.area,
            outcome.case,
            outcome.message.as_deref().unwrap_or("").replace('\n', "\n  ")
        );
        if let Some(command) = &outcome.reproduce {
            println!("  reproduce: {command}");
        }
    }
    let report = Report { outcomes };
    let markdown = report.markdown();
    println!("\n{}", markdown.split("\n## ").next().unwrap_or_default().trim_end());
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)?;
        std::fs::write(path.with_extension("md"), &markdown)?;
        std::fs::write(path.with_extension("junit.xml"), report.junit())?;
    }
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
