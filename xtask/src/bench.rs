//! `cargo xtask bench`: how fast the same reference handler serves HTTP on three servers,
//! measured with wrk in one run, on the same routes and the same machine, so that the ratios
//! between them mean something even where the absolute numbers do not.
//!
//! The servers, each started alone, loaded with wrk, and stopped before the next:
//!
//! - native Go: `Handle` of `guests/go/app.go` compiled for the machine behind Go's net/http
//!   (`guests/go/server_native.go`, built with `-tags gomodeserver` into `target/bench/`), the
//!   program a handler's author would deploy without GoMode, and the baseline of every ratio;
//! - `gomode-host serve` (built with `cargo build --release`), once per guest module;
//! - the V8 model, `conformance/worker-host/worker-host.mjs --http` behind Node's `http` server,
//!   once per guest module.
//!
//! The guests are the built modules of `target/guests/manifest.json` (every conservative one
//! unless `--guests` names others), rebuilt first when their sources changed. Every server is
//! given `--listen 127.0.0.1:<free port>` and is ready when it prints a line with its
//! `http://` URL. Each route (`GET /`, `GET /json`, `GET /simd`) gets a wrk warm-up, then the
//! measured `wrk -t2 -c64 -d<secs>s --latency` run. All of that happens in [`ROUNDS`] rounds, the
//! servers in turn, each round starting one server later, and each server and route reports its
//! best round. The table (server × route: req/s, p50, p99,
//! and req/s as a ratio of native Go's on that route) is printed and written to
//! `target/bench/report.md` and `report.json`, with the machine it ran on. Every reference route
//! answers 200, so a run that got other answers is given no ratio, and the command fails once the
//! report is written. A server that cannot be built or started is reported as skipped with the
//! reason; without wrk the command says how to install it and exits successfully, and it never
//! installs wrk itself.

use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use guest_manifest::{FILE_NAME, Manifest};
use xshell::{Cmd, Shell, cmd};

use crate::{build_guests, flags, tools};

/// The routes every server is loaded on, all `GET`.
const ROUTES: &[&str] = &["/", "/json", "/simd"];
/// How many times every server is started and measured; each route reports its best round.
/// A 2-core machine shared with wrk changes speed by up to 2.5× from one minute to the next, and
/// the best of interleaved rounds is what each server can do when the machine lets it.
const ROUNDS: u32 = 3;
/// wrk's threads and open connections.
const THREADS: u32 = 2;
const CONNECTIONS: u32 = 64;
/// How long a server may take from its start to the line with its URL.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub fn run(sh: &Shell, flags: &flags::Bench) -> anyhow::Result<()> {
    let Some(wrk) = tools::find(sh, tools::tool("wrk")) else {
        println!("skipped: wrk not found; install it with `sudo apt-get install wrk`");
        return Ok(());
    };
    let (warmup, duration) = if flags.quick { (1, 3) } else { (3, 10) };
    let root = sh.current_dir();
    let out = root.join("target/bench");
    sh.create_dir(&out)?;
    let mut skipped: Vec<(String, String)> = Vec::new();

    step("guests");
    build_guests::run(sh, &flags::BuildGuests { guests: Vec::new(), dry_run: false, stale: true })?;
    let guests = select_guests(&root.join("target/guests"), &flags.guests, &mut skipped)?;

    step("servers");
    let instances = flags.instances.to_string();
    let mut servers = Vec::new();
    match build_native_go(sh, &out) {
        Ok(binary) => servers.push(Server { kind: Kind::NativeGo, guest: "go (native)".into(), program: binary }),
        Err(reason) => skipped.push((Kind::NativeGo.name().into(), reason)),
    }
    let gomode_host = build_gomode_host(sh);
    let node = tools::find(sh, tools::tool("node")).map(|found| found.path).ok_or("node not found".to_string());
    for (name, wasm) in &guests {
        match &gomode_host {
            Ok(binary) => servers.push(Server {
                kind: Kind::GomodeHost(wasm.clone()),
                guest: name.clone(),
                program: binary.clone(),
            }),
            Err(reason) => skipped.push((format!("{} {name}", Kind::GOMODE_HOST), reason.clone())),
        }
        match &node {
            Ok(node) => {
                servers.push(Server { kind: Kind::V8Model(wasm.clone()), guest: name.clone(), program: node.clone() })
            }
            Err(reason) => skipped.push((format!("{} {name}", Kind::V8_MODEL), reason.clone())),
        }
    }

    // The date and the load average are the ones the measurements start with.
    let context = Context::gather(sh, &wrk.version, node.as_ref().ok(), flags, warmup, duration);
    // The best run of each server and route, by index; a run with error answers wins, so that
    // it is reported (and fails the command) rather than hidden by a good one.
    let mut best: Vec<Vec<Option<Measured>>> = servers.iter().map(|_| ROUTES.iter().map(|_| None).collect()).collect();
    let mut notes = Vec::new();
    let mut dead = vec![false; servers.len()];
    for round in 1..=ROUNDS {
        // Each round starts one server later, so that no server always runs first or last.
        for i in (0..servers.len()).map(|i| (i + round as usize - 1) % servers.len()) {
            let server = &servers[i];
            if dead[i] {
                continue;
            }
            let label = server.label();
            step(&format!("round {round} of {ROUNDS}: {label}"));
            let mut running = match Running::start(sh, server, &instances) {
                Ok(running) => running,
                Err(reason) => {
                    println!("bench: skipping {label}: {reason}");
                    skipped.push((label, reason));
                    dead[i] = true;
                    continue;
                }
            };
            for (r, route) in ROUTES.iter().enumerate() {
                let url = format!("{}{route}", running.url);
                let measured =
                    wrk_run(sh, &wrk.path, &url, warmup).and_then(|_| wrk_run(sh, &wrk.path, &url, duration));
                let what = format!("{label} GET {route} (round {round})");
                let measured = match measured {
                    Ok(measured) => measured,
                    Err(err) => {
                        notes.push(format!("{what}: not measured: {err:#}"));
                        continue;
                    }
                };
                println!(
                    "bench: {what}: {:.0} req/s, p50 {}, p99 {}",
                    measured.requests_per_sec,
                    ms(measured.p50_ms),
                    ms(measured.p99_ms)
                );
                if measured.bad_responses > 0 {
                    notes.push(format!("{what}: {} responses were not 2xx or 3xx", measured.bad_responses));
                }
                if let Some(errors) = &measured.socket_errors {
                    notes.push(format!("{what}: wrk's socket errors: {errors}"));
                }
                let slot = &mut best[i][r];
                let better = match slot {
                    None => true,
                    Some(kept) if kept.bad_responses > 0 => false,
                    Some(kept) => measured.bad_responses > 0 || measured.requests_per_sec > kept.requests_per_sec,
                };
                if better {
                    *slot = Some(measured);
                }
            }
            if let Some(note) = running.stop(sh) {
                notes.push(format!("{label} (round {round}): {note}"));
            }
        }
    }
    let rows = servers
        .iter()
        .zip(best)
        .flat_map(|(server, routes)| {
            ROUTES.iter().zip(routes).filter_map(move |(route, measured)| {
                Some(Row { server: server.kind.name(), guest: server.guest.clone(), route, measured: measured? })
            })
        })
        .collect();

    let report =
        Report { context, rows, skipped, notes, commands: servers.iter().map(|s| s.shown(sh, &instances)).collect() };
    let markdown = report.markdown();
    sh.write_file(out.join("report.md"), &markdown)?;
    sh.write_file(out.join("report.json"), report.json())?;
    println!("\n{markdown}");
    if let Ok(summary) = std::env::var("GITHUB_STEP_SUMMARY") {
        let mut file = std::fs::OpenOptions::new().append(true).create(true).open(summary)?;
        std::io::Write::write_all(&mut file, markdown.as_bytes())?;
    }
    println!("bench: report in {}", out.display());
    let failed = report.failed_runs();
    if failed > 0 {
        bail!("{failed} runs got answers that were not 2xx or 3xx; they have no ratio (see the notes)");
    }
    Ok(())
}

fn step(name: &str) {
    println!("\n==> bench: {name}");
}

/// The guest modules to serve, by name with their paths; the ones not built or missing go to
/// `skipped` with the reason.
fn select_guests(
    dir: &Path,
    wanted: &[String],
    skipped: &mut Vec<(String, String)>,
) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let manifest = Manifest::read(&dir.join(FILE_NAME)).with_context(|| {
        format!("cannot read target/guests/{FILE_NAME}; build the guests with `cargo xtask build-guests`")
    })?;
    let mut selected = Vec::new();
    if wanted.is_empty() {
        for guest in manifest.skipped.iter().filter(|g| g.mode == "conservative") {
            skipped.push((guest.name.clone(), format!("not built: {}", guest.reason)));
        }
        selected.extend(manifest.guests.iter().filter(|g| g.mode == "conservative"));
    } else {
        for name in wanted {
            if let Some(guest) = manifest.guests.iter().find(|g| &g.name == name) {
                selected.push(guest);
            } else if let Some(guest) = manifest.skipped.iter().find(|g| &g.name == name) {
                skipped.push((guest.name.clone(), format!("not built: {}", guest.reason)));
            } else {
                let known: Vec<_> = manifest.guests.iter().map(|g| g.name.as_str()).collect();
                bail!("no built guest `{name}`; the built guests are {}", known.join(", "));
            }
        }
    }
    let mut found = Vec::new();
    for guest in selected {
        let path = dir.join(&guest.path);
        if path.is_file() {
            found.push((guest.name.clone(), path));
        } else {
            skipped.push((guest.name.clone(), format!("{} is missing", path.display())));
        }
    }
    Ok(found)
}

/// Builds the native Go server into `out`, with Go from PATH or `.tools/` (installed from PyPI
/// when missing, as `build-guests` does).
fn build_native_go(sh: &Shell, out: &Path) -> Result<PathBuf, String> {
    let (go, _) = tools::ensure(sh, "go", false)?;
    let binary = out.join(format!("go-native-server{}", std::env::consts::EXE_SUFFIX));
    let _dir = sh.push_dir("guests/go");
    // Never fetch another Go toolchain because of go.mod.
    let _toolchain = sh.push_env("GOTOOLCHAIN", "local");
    cmd!(sh, "{go} build -tags gomodeserver -o {binary} .").run().map_err(|e| format!("go build failed: {e}"))?;
    Ok(binary)
}

/// Builds `gomode-host` in release mode.
fn build_gomode_host(sh: &Shell) -> Result<PathBuf, String> {
    cmd!(sh, "cargo build --release --package gomode-host").run().map_err(|e| format!("cargo build failed: {e}"))?;
    Ok(sh.current_dir().join(format!("target/release/gomode-host{}", std::env::consts::EXE_SUFFIX)))
}

/// One server to load: what it is, the guest it serves, and the program that runs it.
#[derive(Debug)]
struct Server {
    kind: Kind,
    /// The guest module's name, or `go (native)`.
    guest: String,
    /// The server binary, or `node`.
    program: PathBuf,
}

/// The three kinds of server, with the module the last two serve.
#[derive(Debug)]
enum Kind {
    NativeGo,
    GomodeHost(PathBuf),
    V8Model(PathBuf),
}

impl Kind {
    const NATIVE_GO: &'static str = "native Go";
    const GOMODE_HOST: &'static str = "gomode-host";
    const V8_MODEL: &'static str = "V8 model";

    fn name(&self) -> &'static str {
        match self {
            Kind::NativeGo => Kind::NATIVE_GO,
            Kind::GomodeHost(_) => Kind::GOMODE_HOST,
            Kind::V8Model(_) => Kind::V8_MODEL,
        }
    }
}

impl Server {
    /// The command that serves on `addr`.
    fn command<'a>(&self, sh: &'a Shell, addr: &str, instances: &str) -> Cmd<'a> {
        let program = &self.program;
        match &self.kind {
            Kind::NativeGo => cmd!(sh, "{program} -listen {addr}"),
            Kind::GomodeHost(wasm) => {
                cmd!(sh, "{program} serve {wasm} --listen {addr} --instances {instances} --profile gomode --quiet")
            }
            Kind::V8Model(wasm) => {
                let script = sh.current_dir().join("conformance/worker-host/worker-host.mjs");
                cmd!(sh, "{program} {script} --http {wasm} --listen {addr} --instances {instances}")
            }
        }
    }

    /// The server and its guest, as the log and the report name them: `V8 model rust-leaking`.
    fn label(&self) -> String {
        format!("{} {}", self.kind.name(), self.guest)
    }

    /// The command as the report shows it, relative to the workspace root.
    fn shown(&self, sh: &Shell, instances: &str) -> (String, String) {
        let text = self.command(sh, "127.0.0.1:PORT", instances).to_string();
        let root = format!("{}/", sh.current_dir().display());
        (self.label(), text.replace(&root, ""))
    }
}

/// A server that is listening.
struct Running {
    child: Child,
    /// `http://ADDR`, from the line the server printed.
    url: String,
}

impl Running {
    /// Starts `server` on a free port and waits for the line with its URL; `Err` says why it
    /// did not come.
    fn start(sh: &Shell, server: &Server, instances: &str) -> Result<Running, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut command: Command = server.command(sh, &addr, instances).into();
        command.stdin(Stdio::null()).stdout(Stdio::piped());
        let mut child = command.spawn().map_err(|e| format!("cannot start {}: {e}", server.program.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = mpsc::channel();
        // Reads the server's stdout to its end, so that it never blocks on a full pipe, and
        // sends the first URL it prints.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(at) = line.find("http://") {
                    let rest = &line[at + "http://".len()..];
                    let authority: String = rest.chars().take_while(|c| !c.is_whitespace() && *c != '/').collect();
                    sent = sender.send(format!("http://{authority}")).is_ok();
                }
            }
        });
        let started = Instant::now();
        let mut running = Running { child, url: String::new() };
        loop {
            match receiver.recv_timeout(Duration::from_millis(200)) {
                Ok(url) => {
                    running.url = url;
                    return Ok(running);
                }
                Err(mpsc::RecvTimeoutError::Timeout) if started.elapsed() < READY_TIMEOUT => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("printed no `http://` URL within {} s", READY_TIMEOUT.as_secs()));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = running.child.wait().map_err(|e| e.to_string())?;
                    return Err(format!("exited ({status}) before it printed an `http://` URL"));
                }
            }
            if let Ok(Some(status)) = running.child.try_wait() {
                return Err(format!("exited ({status}) before it printed an `http://` URL"));
            }
        }
    }

    /// Stops the server with SIGTERM and returns a note when it did not exit 0 in time, or had
    /// died before.
    fn stop(&mut self, sh: &Shell) -> Option<String> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(format!("had exited ({status}) before the end of its runs"));
        }
        let pid = self.child.id().to_string();
        if let Err(err) = cmd!(sh, "kill -TERM {pid}").quiet().run() {
            let _ = self.child.kill();
            return Some(format!("cannot send SIGTERM: {err}"));
        }
        let asked = Instant::now();
        while asked.elapsed() < STOP_TIMEOUT {
            match self.child.try_wait() {
                Ok(Some(status)) if status.success() => return None,
                Ok(Some(status)) => return Some(format!("exited ({status}) after SIGTERM, not 0")),
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                Err(err) => return Some(format!("cannot wait for it: {err}")),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Some(format!("did not exit within {} s of SIGTERM and was killed", STOP_TIMEOUT.as_secs()))
    }
}

impl Drop for Running {
    /// A server left running by an error is killed.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What one wrk run measured.
#[derive(Debug)]
struct Measured {
    requests_per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
    requests: u64,
    /// `Non-2xx or 3xx responses`.
    bad_responses: u64,
    /// wrk's `Socket errors` line, when there was one.
    socket_errors: Option<String>,
}

/// Runs wrk on `url` for `secs` seconds and reads what it measured.
fn wrk_run(sh: &Shell, wrk: &Path, url: &str, secs: u32) -> anyhow::Result<Measured> {
    let (threads, connections, duration) = (THREADS.to_string(), CONNECTIONS.to_string(), format!("{secs}s"));
    let output = cmd!(sh, "{wrk} -t{threads} -c{connections} -d{duration} --latency {url}").quiet().read()?;
    parse_wrk(&output).with_context(|| format!("cannot read wrk's output:\n{output}"))
}

/// Reads requests per second, the p50 and p99 latencies and the error counts from wrk's output.
fn parse_wrk(output: &str) -> anyhow::Result<Measured> {
    let (mut rps, mut p50, mut p99, mut requests) = (None, None, None, None);
    let (mut bad_responses, mut socket_errors) = (0, None);
    for line in output.lines().map(str::trim) {
        if let Some(value) = line.strip_prefix("Requests/sec:") {
            rps = value.trim().parse::<f64>().ok();
        } else if let Some(value) = line.strip_prefix("50%") {
            p50 = parse_duration_ms(value.trim());
        } else if let Some(value) = line.strip_prefix("99%") {
            p99 = parse_duration_ms(value.trim());
        } else if let Some((count, _)) = line.split_once(" requests in ") {
            requests = count.trim().parse::<u64>().ok();
        } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
            bad_responses = value.trim().parse::<u64>().unwrap_or(0);
        } else if let Some(value) = line.strip_prefix("Socket errors:") {
            socket_errors = Some(value.trim().to_string());
        }
    }
    Ok(Measured {
        requests_per_sec: rps.context("no `Requests/sec:` line")?,
        p50_ms: p50.context("no `50%` latency line")?,
        p99_ms: p99.context("no `99%` latency line")?,
        requests: requests.context("no `N requests in` line")?,
        bad_responses,
        socket_errors,
    })
}

/// A wrk duration, such as `812.00us`, `1.66ms`, `1.02s` or `2.00m`, in milliseconds.
fn parse_duration_ms(text: &str) -> Option<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic())?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let scale = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return None,
    };
    Some(number * scale)
}

/// One measured server and route.
#[derive(Debug)]
struct Row {
    server: &'static str,
    guest: String,
    route: &'static str,
    measured: Measured,
}

/// Where and how the run happened.
#[derive(Debug)]
struct Context {
    date: String,
    commit: String,
    cpus: usize,
    cpu_model: String,
    load_average: String,
    wrk: String,
    node: String,
    go: String,
    quick: bool,
    warmup: u32,
    duration: u32,
    instances: u32,
}

impl Context {
    fn gather(
        sh: &Shell,
        wrk: &str,
        node: Option<&PathBuf>,
        flags: &flags::Bench,
        warmup: u32,
        duration: u32,
    ) -> Context {
        let read = |cmd: Cmd<'_>| cmd.quiet().ignore_stderr().read().map(|s| s.trim().to_string()).unwrap_or_default();
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let mut cpu_model = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, m)| m.trim().to_string())
            })
            .unwrap_or_default();
        if cpu_model.is_empty() {
            cpu_model = read(cmd!(sh, "sysctl -n machdep.cpu.brand_string"));
        }
        let load_average = std::fs::read_to_string("/proc/loadavg")
            .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default();
        let mut commit = read(cmd!(sh, "git rev-parse --short HEAD"));
        if !read(cmd!(sh, "git status --porcelain --untracked-files=no")).is_empty() {
            commit.push_str(" with local changes");
        }
        let go = tools::find(sh, tools::tool("go")).map(|found| found.version).unwrap_or_default();
        Context {
            date: read(cmd!(sh, "date -u +%Y-%m-%dT%H:%MZ")),
            commit,
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: if cpu_model.is_empty() { "unknown".into() } else { cpu_model },
            load_average,
            wrk: wrk.to_string(),
            node: node.map(|node| read(cmd!(sh, "{node} --version"))).unwrap_or_default(),
            go,
            quick: flags.quick,
            warmup,
            duration,
            instances: flags.instances,
        }
    }
}

/// The whole run, as the report shows it.
#[derive(Debug)]
struct Report {
    context: Context,
    rows: Vec<Row>,
    /// Servers and guests not measured, with the reason.
    skipped: Vec<(String, String)>,
    /// Anything that makes a number less than it seems: error responses, socket errors, a server
    /// that did not stop cleanly.
    notes: Vec<String>,
    /// Each server and the command it ran with.
    commands: Vec<(String, String)>,
}

impl Report {
    /// Native Go's req/s on `route`, the denominator of every ratio.
    fn baseline(&self, route: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|row| row.server == Kind::NATIVE_GO && row.route == route)
            .map(|row| row.measured.requests_per_sec)
    }

    /// A row's req/s as a ratio of native Go's on its route; none for a row with error answers,
    /// whose speed says nothing (every reference route answers 200).
    fn ratio(&self, row: &Row) -> Option<f64> {
        if row.measured.bad_responses > 0 {
            return None;
        }
        self.baseline(row.route).filter(|base| *base > 0.0).map(|base| row.measured.requests_per_sec / base)
    }

    /// How many runs got answers that were not 2xx or 3xx.
    fn failed_runs(&self) -> usize {
        self.rows.iter().filter(|row| row.measured.bad_responses > 0).count()
    }

    /// The rows, grouped by route, in the order the servers ran.
    fn ordered(&self) -> Vec<&Row> {
        ROUTES.iter().flat_map(|route| self.rows.iter().filter(move |row| row.route == *route)).collect()
    }

    fn markdown(&self) -> String {
        let c = &self.context;
        let mut md = String::from("# GoMode HTTP benchmark\n\n");
        let _ = writeln!(
            md,
            "Measured {} at commit {}, on {} CPUs ({}), load average {} at the start. \
             Each server ran alone; each route got a {} s wrk warm-up, then \
             `wrk -t{THREADS} -c{CONNECTIONS} -d{}s --latency`{}. The servers took turns in {ROUNDS} \
             rounds, and each row is its best round. Instances per guest server: {}.\n",
            c.date,
            c.commit,
            c.cpus,
            c.cpu_model,
            c.load_average,
            c.warmup,
            c.duration,
            if c.quick { " (`--quick`)" } else { "" },
            c.instances,
        );
        md.push_str("| server | guest | route | req/s | p50 | p99 | not 2xx/3xx | req/s ÷ native Go |\n");
        md.push_str("|---|---|---|---:|---:|---:|---:|---:|\n");
        for row in self.ordered() {
            let m = &row.measured;
            let ratio = self.ratio(row).map_or("n/a".into(), |r| format!("{r:.2}"));
            let _ = writeln!(
                md,
                "| {} | {} | GET {} | {:.0} | {} | {} | {} | {ratio} |",
                row.server,
                row.guest,
                row.route,
                m.requests_per_sec,
                ms(m.p50_ms),
                ms(m.p99_ms),
                m.bad_responses,
            );
        }
        let _ = writeln!(
            md,
            "\nNative Go serializes its calls into `Handle`, whose package state a guest instance \
             holds too, as one instance does; net/http reads and writes connections in parallel. \
             The V8 model runs each instance in a worker thread and passes every request through \
             Node's Fetch classes and a message to that thread, so it bounds V8 from below rather \
             than measuring GoMode's Worker. A run with answers that were not 2xx or 3xx has no \
             ratio: every reference route answers 200, so its speed says nothing.\n\nTools: {}; node {}; {}.\n",
            c.wrk,
            if c.node.is_empty() { "not found" } else { &c.node },
            if c.go.is_empty() { "go not found" } else { &c.go },
        );
        md.push_str("Commands:\n\n");
        for (server, command) in &self.commands {
            let _ = writeln!(md, "- {server}: `{command}`");
        }
        if !self.skipped.is_empty() {
            md.push_str("\nSkipped:\n\n");
            for (what, why) in &self.skipped {
                let _ = writeln!(md, "- {what}: {why}");
            }
        }
        if !self.notes.is_empty() {
            md.push_str("\nNotes:\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }

    /// The same report as JSON, written by hand: the xtask keeps to its few dependencies.
    fn json(&self) -> String {
        let c = &self.context;
        let mut rows = Vec::new();
        for row in self.ordered() {
            let m = &row.measured;
            let ratio = self.ratio(row).map_or("null".into(), |r| format!("{r:.4}"));
            rows.push(format!(
                "    {{\"server\": {}, \"guest\": {}, \"route\": {}, \"requests_per_sec\": {:.2}, \"p50_ms\": {:.4}, \
                 \"p99_ms\": {:.4}, \"ratio_to_native_go\": {ratio}, \"requests\": {}, \"non_2xx_3xx\": {}, \
                 \"socket_errors\": {}}}",
                json_string(row.server),
                json_string(&row.guest),
                json_string(&format!("GET {}", row.route)),
                m.requests_per_sec,
                m.p50_ms,
                m.p99_ms,
                m.requests,
                m.bad_responses,
                m.socket_errors.as_deref().map_or("null".into(), json_string),
            ));
        }
        let pairs = |items: &[(String, String)], key: &str, value: &str| -> String {
            let items: Vec<String> = items
                .iter()
                .map(|(a, b)| format!("    {{\"{key}\": {}, \"{value}\": {}}}", json_string(a), json_string(b)))
                .collect();
            list(&items)
        };
        let notes: Vec<String> = self.notes.iter().map(|n| format!("    {}", json_string(n))).collect();
        format!(
            "{{\n  \"date\": {},\n  \"commit\": {},\n  \"machine\": {{\"cpus\": {}, \"cpu_model\": {}, \"load_average\": {}}},\n  \
             \"tools\": {{\"wrk\": {}, \"node\": {}, \"go\": {}}},\n  \
             \"wrk\": {{\"threads\": {THREADS}, \"connections\": {CONNECTIONS}, \"warmup_s\": {}, \"duration_s\": {}, \"quick\": {}, \"rounds\": {ROUNDS}}},\n  \
             \"instances\": {},\n  \"results\": {},\n  \"commands\": {},\n  \"skipped\": {},\n  \"notes\": {}\n}}\n",
            json_string(&c.date),
            json_string(&c.commit),
            c.cpus,
            json_string(&c.cpu_model),
            json_string(&c.load_average),
            json_string(&c.wrk),
            json_string(&c.node),
            json_string(&c.go),
            c.warmup,
            c.duration,
            c.quick,
            c.instances,
            list(&rows),
            pairs(&self.commands, "server", "command"),
            pairs(&self.skipped, "what", "reason"),
            list(&notes),
        )
    }
}

/// A JSON array of already formatted items, one per line.
fn list(items: &[String]) -> String {
    if items.is_empty() { "[]".into() } else { format!("[\n{}\n  ]", items.join(",\n")) }
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Milliseconds as the report shows them.
fn ms(value: f64) -> String {
    format!("{value:.2} ms")
}

#[cfg(test)]
mod tests {
    const WRK: &str = "Running 3s test @ http://127.0.0.1:18080/json
  2 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.44ms    4.89ms  40.14ms   89.65%
    Req/Sec    15.24k     5.53k   29.07k    73.33%
  Latency Distribution
     50%  812.00us
     75%    4.29ms
     90%    8.57ms
     99%    1.02s
  91995 requests in 3.09s, 14.91MB read
  Socket errors: connect 0, read 0, write 0, timeout 12
  Non-2xx or 3xx responses: 7
Requests/sec:  29788.12
Transfer/sec:      4.83MB
";

    #[test]
    fn reads_wrk_output() {
        let m = super::parse_wrk(WRK).unwrap();
        assert_eq!(m.requests_per_sec, 29788.12);
        assert!((m.p50_ms - 0.812).abs() < 1e-9);
        assert!((m.p99_ms - 1020.0).abs() < 1e-9);
        assert_eq!(m.requests, 91995);
        assert_eq!(m.bad_responses, 7);
        assert_eq!(m.socket_errors.as_deref(), Some("connect 0, read 0, write 0, timeout 12"));
        assert!(super::parse_wrk("unable to connect").is_err());
    }

    #[test]
    fn escapes_json() {
        assert_eq!(super::json_string("a \"b\"\\\n\u{1}"), r#""a \"b\"\\\n\u0001""#);
    }
}
