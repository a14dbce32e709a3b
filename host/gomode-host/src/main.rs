//! `gomode-host`: run a zerobuf guest locally, inspect it, or check it against the corpus.
//!
//! This is the tool a guest author uses before deploying: `call` sends one request like curl
//! would, `inspect` shows what the module imports, exports and declares, and `check` runs the
//! whole conformance corpus against any `.wasm` and says exactly which rule it breaks; `kv` looks
//! inside the KV store that `call --kv PATH` keeps; `serve` puts the guest behind an HTTP server
//! (`serve.rs`). Every
//! command runs a guest under a profile (conformance/ABI.md): `gomode`, GoMode's Worker as
//! deployed, by default, or `abi`, the portable ABI; `check` runs both unless told one, and
//! `check --engine v8` runs the `gomode` corpus on Node's V8 through the model of GoMode's glue.
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
use host::{Declared, Error, GuestError, Host, HostConfig, Kv, NetPolicy, Outbound, Profile, Request, inspect};

mod serve;

/// mimalloc rather than glibc's malloc: every HTTP request that `serve` answers allocates and frees
/// hyper's read buffer, its headers and the guest's request, and glibc spent a seventh of the
/// server's time on them, consolidating its free lists on most reads.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Looks inside, or changes, a KV store that `call --kv PATH` uses.
    Kv(KvArgs),
    /// Serves a guest over HTTP/1.1, like `wrangler dev`, until Ctrl-C.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The guest module (`.wasm`, or `.wat` text).
    guest: PathBuf,
    /// The address to listen on; 8787 is the port `wrangler dev` uses.
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: std::net::SocketAddr,
    /// How many instances serve requests, like warm isolates [default: one per core].
    #[arg(long)]
    instances: Option<usize>,
    /// The host to run as: `gomode` (GoMode's Worker as deployed) or `abi` (the portable ABI).
    #[arg(long, default_value = "gomode")]
    profile: Profile,
    /// Sends every path to one instance, one request at a time, as a Durable Object.
    #[arg(long)]
    single: bool,
    /// Prints no access-log line per request.
    #[arg(long)]
    quiet: bool,
    /// Reloads the module when its file changes.
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    limits: Limits,
    #[command(flatten)]
    net: NetArgs,
}

/// What a guest's outbound fetches may reach, and its KV binding.
#[derive(Args, Debug)]
struct NetArgs {
    /// Allows fetches to HOST (every port) or HOST:PORT (IPv6 in brackets); may be repeated.
    /// Without it, every fetch gets a 502 that names this flag.
    #[arg(long = "allow-net", value_name = "HOST[:PORT]")]
    allow_net: Vec<String>,
    /// Milliseconds a fetch may take, redirects and body included.
    #[arg(long, default_value_t = 30_000)]
    fetch_timeout_ms: u64,
    /// The most bytes a fetch's response body may hold.
    #[arg(long, default_value_t = 16 << 20)]
    fetch_max_bytes: u64,
    /// Keeps KV in this file (redb), across runs [default: a fresh temporary store per process].
    #[arg(long, value_name = "PATH", conflicts_with = "no_kv")]
    kv: Option<PathBuf>,
    /// Runs without a KV binding: every `__KV_*` answers 500 `KV binding not configured`.
    #[arg(long)]
    no_kv: bool,
}

impl NetArgs {
    fn outbound(&self) -> anyhow::Result<Outbound> {
        let policy = NetPolicy {
            allow: self.allow_net.clone(),
            timeout: Duration::from_millis(self.fetch_timeout_ms),
            max_body: self.fetch_max_bytes,
        };
        let kv = match (&self.kv, self.no_kv) {
            (_, true) => None,
            (Some(path), false) => Some(Kv::open(path)?),
            (None, false) => Some(Kv::temporary()?),
        };
        Ok(Outbound::new(policy, kv))
    }
}

#[derive(Args, Debug)]
struct KvArgs {
    #[command(subcommand)]
    op: KvOp,
}

/// The KV store a `kv` command works on.
#[derive(Args, Debug)]
struct KvStore {
    /// The store's file, as given to `call --kv`.
    #[arg(long, value_name = "PATH")]
    kv: PathBuf,
}

#[derive(Subcommand, Debug)]
enum KvOp {
    /// Prints the value of KEY; exits 1 when there is none.
    Get {
        key: String,
        #[command(flatten)]
        store: KvStore,
    },
    /// Sets KEY to VALUE.
    Put {
        key: String,
        value: String,
        #[command(flatten)]
        store: KvStore,
    },
    /// Removes KEY.
    Delete {
        key: String,
        #[command(flatten)]
        store: KvStore,
    },
    /// Prints the keys that start with PREFIX, one per line, in byte order.
    List {
        prefix: Option<String>,
        #[command(flatten)]
        store: KvStore,
    },
}

/// Limits every command applies to the guest.
#[derive(Args, Debug)]
struct Limits {
    /// Seconds one call may run before it is interrupted.
    #[arg(long, default_value_t = 5.0)]
    deadline: f64,
    /// The most linear memory the guest may use, in MiB [default: 128 under gomode, the memory
    /// of a Workers isolate; 1024 under abi].
    #[arg(long)]
    memory_limit_mib: Option<usize>,
    /// Compile every time instead of using the on-disk cache of compiled modules.
    #[arg(long)]
    no_cache: bool,
    /// How many outbound fetches (status -1 answers) one request may ask for.
    #[arg(long, default_value_t = 64)]
    max_fetches: u32,
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
    /// The host to run as: `gomode` (GoMode's Worker as deployed) or `abi` (the portable ABI).
    #[arg(long, default_value = "gomode")]
    profile: Profile,
    #[command(flatten)]
    limits: Limits,
    #[command(flatten)]
    net: NetArgs,
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
    /// Runs under this profile only; both by default.
    #[arg(long)]
    profile: Option<Profile>,
    /// The engine: `wasmtime`, or `v8` (Node's, through the model of GoMode's Worker glue,
    /// under `gomode` only).
    #[arg(long, default_value = "wasmtime", value_parser = ["wasmtime", "v8"])]
    engine: String,
    #[command(flatten)]
    limits: Limits,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Call(args) => call(args),
        Command::Inspect(args) => inspect_command(args),
        Command::Check(args) => check(args),
        Command::Kv(args) => kv(args),
        Command::Serve(args) => serve_command(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn config(limits: &Limits, profile: Profile) -> anyhow::Result<HostConfig> {
    let defaults = HostConfig::new(profile);
    Ok(HostConfig {
        deadline: Duration::try_from_secs_f64(limits.deadline)
            .context("--deadline must be a positive number of seconds")?,
        memory_limit: limits.memory_limit_mib.map_or(defaults.memory_limit, |mib| mib << 20),
        cache_dir: (!limits.no_cache).then(cache_dir).flatten(),
        max_fetches: limits.max_fetches,
        ..defaults
    })
}

fn host(limits: &Limits, profile: Profile) -> anyhow::Result<Host> {
    Ok(Host::new(config(limits, profile)?)?)
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
    let host = Host::new(HostConfig {
        upstream: std::sync::Arc::new(args.net.outbound()?),
        ..config(&args.limits, args.profile)?
    })?;
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
        if response.fetches > 0 {
            eprintln!(
                "note: the guest asked for {} outbound fetches, so it was called {} times",
                response.fetches,
                response.fetches + 1
            );
        }
        if let Some(panic) = &response.panic {
            eprintln!("note: the guest broke {panic}; GoMode's Worker answers 500 and keeps the instance");
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

fn serve_command(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let host = Host::new(HostConfig {
        upstream: std::sync::Arc::new(args.net.outbound()?),
        ..config(&args.limits, args.profile)?
    })?;
    let options = serve::Options {
        guest: args.guest,
        listen: args.listen,
        instances: args.instances.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1),
        profile: args.profile,
        single: args.single,
        quiet: args.quiet,
        watch: args.watch,
    };
    serve::run(options, host)?;
    Ok(ExitCode::SUCCESS)
}

fn kv(args: KvArgs) -> anyhow::Result<ExitCode> {
    let (KvOp::Get { store, .. } | KvOp::Put { store, .. } | KvOp::Delete { store, .. } | KvOp::List { store, .. }) =
        &args.op;
    let path = store.kv.clone();
    let store = Kv::open(&path)?;
    match args.op {
        KvOp::Get { key, .. } => match store.get(&key)? {
            Some(value) => println!("{value}"),
            None => {
                eprintln!("no key {key:?} in {}", path.display());
                return Ok(ExitCode::FAILURE);
            }
        },
        KvOp::Put { key, value, .. } => store.put(&key, &value)?,
        KvOp::Delete { key, .. } => store.delete(&key)?,
        KvOp::List { prefix, .. } => {
            for name in store.list(prefix.as_deref().unwrap_or_default(), usize::MAX)? {
                println!("{name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect_command(args: InspectArgs) -> anyhow::Result<ExitCode> {
    let bytes = std::fs::read(&args.guest).with_context(|| format!("cannot read {}", args.guest.display()))?;
    let binary = wat::parse_bytes(&bytes).context("not WebAssembly")?;
    let name = guest_name(&args.guest);
    let info = match inspect::inspect(&binary) {
        Ok(info) => info,
        Err(violation) => return Ok(guest_failed(&GuestError::new(&name, violation))),
    };
    // Whether the module loads and starts under each profile; starting needs a running
    // instance, which also reads the declared ABI version and features.
    let profiles: Vec<(Profile, Result<Declared, String>)> = Profile::ALL
        .into_iter()
        .map(|profile| {
            let started = match info.violations_under(profile).first() {
                Some(violation) => Err(format!("does not load: {violation}")),
                None => host(&args.limits, profile)?
                    .load_bytes(&name, &binary)
                    .and_then(|module| module.guest().start())
                    .map_err(|err| format!("does not start: {err}")),
            };
            Ok((profile, started))
        })
        .collect::<anyhow::Result<_>>()?;
    let declared = profiles.iter().find(|(p, _)| *p == Profile::Abi).and_then(|(_, d)| d.as_ref().ok());
    if args.json {
        let mut value = serde_json::to_value(&info)?;
        value["declared"] = match declared {
            Some(d) => {
                serde_json::json!({
                    "version": d.version,
                    "features": d.features,
                    "response_headers": d.response_headers(),
                    "outbound_fetch": d.outbound_fetch(),
                })
            }
            None => serde_json::Value::Null,
        };
        for (profile, started) in &profiles {
            value["profiles"][profile.name()] = match started {
                Ok(_) => serde_json::json!({"loads": true}),
                Err(err) => serde_json::json!({"loads": false, "error": err}),
            };
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{info}");
        match declared {
            Some(d) => println!(
                "\nABI declared at run time: version {}, features {:#x} (response headers: {}, outbound fetch: {})",
                d.version,
                d.features,
                if d.response_headers() { "yes" } else { "no" },
                if d.outbound_fetch() { "yes" } else { "no" }
            ),
            None => println!("\nABI declared at run time: unknown, the module does not start under `abi`"),
        }
        println!("\nProfiles:");
        for (profile, started) in &profiles {
            match started {
                Ok(_) => println!("  {profile}: loads and starts"),
                Err(err) => println!("  {profile}: {}", err.replace('\n', "\n    ")),
            }
        }
    }
    Ok(if profiles.iter().all(|(_, started)| started.is_ok()) { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn guest_name(path: &Path) -> String {
    path.file_stem().map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned())
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let mode = Mode::from_name(&args.mode).expect("clap checked the mode");
    let v8 = args.engine == "v8";
    let profiles = match (args.profile, v8) {
        (Some(Profile::Abi), true) => anyhow::bail!("--engine v8 runs the `gomode` profile only"),
        (Some(profile), _) => vec![profile],
        (None, true) => vec![Profile::Gomode],
        (None, false) => Profile::ALL.to_vec(),
    };
    let (corpus, source) = match &args.corpus {
        Some(dir) => (Corpus::load(dir)?, dir.display().to_string()),
        None => {
            let files = embedded::CASE_FILES.iter().map(|&(area, name, text)| CaseFile { area, name, text });
            (Corpus::from_files(files)?, "the corpus built into gomode-host".to_owned())
        }
    };
    let name = guest_name(&args.guest);
    let engine = if v8 {
        let node = conformance::v8::V8::spawn().context("--engine v8 needs Node.js (`node` on PATH)")?;
        Engine::V8(node)
    } else {
        Engine::Wasmtime
    };
    let mut outcomes = Vec::new();
    let mut work = Vec::new();
    for &profile in &profiles {
        let config = config(&args.limits, profile)?;
        let target = match &engine {
            Engine::Wasmtime => match Host::new(config.clone())?.load(&args.guest) {
                Ok(module) => Target::Wasmtime(module),
                Err(Error::Host(error)) => return Err(error.into()),
                Err(Error::Guest(error)) => {
                    outcomes.push(Outcome {
                        guest: name.clone(),
                        mode: mode.name().to_owned(),
                        profile: profile.name().to_owned(),
                        area: "module".into(),
                        case: "load".into(),
                        status: Status::Failed,
                        message: Some(error.to_string()),
                        reproduce: None,
                    });
                    continue;
                }
            },
            Engine::V8(node) => Target::V8(node.clone(), config),
        };
        let entries = corpus
            .entries
            .iter()
            .filter(|e| e.applies_to(mode) && e.runs_under(profile))
            .filter(|e| args.case.as_ref().is_none_or(|filter| e.id().contains(filter.as_str())));
        let target = std::sync::Arc::new(target);
        work.extend(entries.map(|entry| (profile, target.clone(), entry)));
    }
    let profile_names: Vec<_> = profiles.iter().map(|p| p.name()).collect();
    println!(
        "checking {name} ({} mode) under {} on {} against {} case runs from {source}",
        mode.name(),
        profile_names.join(" and "),
        args.engine,
        work.len()
    );
    let scratch = std::env::temp_dir().join("gomode-host-check");
    let next = AtomicUsize::new(0);
    let outcomes = Mutex::new(outcomes);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while let Some((profile, target, entry)) = work.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = match &**target {
                        Target::Wasmtime(module) => {
                            let mut guest =
                                module.guest().with_upstream(conformance::upstream::case_upstream(&entry.case));
                            conformance::run_case(&mut guest, &entry.case, *profile).result
                        }
                        Target::V8(node, config) => {
                            match node.open(
                                &args.guest,
                                &name,
                                config.memory_limit,
                                config.deadline,
                                &conformance::upstream::case_v8_outbound(&entry.case, config.max_fetches),
                            ) {
                                Ok(mut guest) => conformance::run_case(&mut guest, &entry.case, *profile).result,
                                Err(error) => Err(conformance::Failure::Error(error)),
                            }
                        }
                    };
                    let profile_name = match &**target {
                        Target::Wasmtime(_) => profile.name().to_owned(),
                        Target::V8(..) => format!("{profile} on v8"),
                    };
                    let outcome = Outcome {
                        guest: name.clone(),
                        mode: mode.name().to_owned(),
                        profile: profile_name,
                        area: entry.area.clone(),
                        case: entry.case.name.clone(),
                        status: if result.is_ok() { Status::Passed } else { Status::Failed },
                        reproduce: result
                            .is_err()
                            .then(|| conformance::reproduce(&entry.case, &args.guest, &scratch, *profile)),
                        message: result.unwrap_or_else(|failure| Some(failure.to_string())),
                    };
                    outcomes.lock().unwrap_or_else(|e| e.into_inner()).push(outcome);
                }
            });
        }
    });
    let mut outcomes = outcomes.into_inner().unwrap_or_else(|e| e.into_inner());
    outcomes.sort_by(|a, b| (&a.profile, &a.area, &a.case).cmp(&(&b.profile, &b.area, &b.case)));
    for outcome in outcomes.iter().filter(|o| o.status == Status::Failed) {
        println!(
            "FAIL [{}] {}::{}\n  {}",
            outcome.profile,
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

/// The engine `check` runs on.
enum Engine {
    Wasmtime,
    V8(conformance::v8::V8),
}

/// A loaded guest under one profile: compiled for wasmtime, or a path and limits for V8, which
/// opens a fresh instance per case.
enum Target {
    Wasmtime(host::GuestModule),
    V8(conformance::v8::V8, HostConfig),
}
