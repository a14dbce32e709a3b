//! Runs guests on V8: the client of `conformance/worker-host/worker-host.mjs`, a persistent Node
//! process that models GoMode's Worker glue (ABI.md §11) and speaks JSON lines.
//!
//! The corpus requires the same answers from wasmtime and from V8, the engine GoMode runs on, so
//! every `gomode` case also runs here. The script is embedded in this crate and passed to
//! `node --input-type=module --eval`, so an installed `gomode-host` needs no checkout. [`V8`] is
//! one Node process, shared by every thread that holds a clone: requests carry an `id`, a reader
//! thread hands each reply to the caller waiting for it, and the script serves different guests
//! concurrently (each instance lives in a Worker thread of its own, which is also how it enforces
//! deadlines). [`V8Guest`] is one opened guest and a [`Serve`], like `host::Guest`: it instantiates
//! lazily and is replaced after a rule that poisons it.
//!
//! The model offers GoMode's two-phase outbound fetch (ABI.md §12) as the wasmtime host does:
//! [`Outbound`] carries the network policy, the KV switch and the cap on fetches, and each guest
//! opened gets a KV store of its own that starts empty.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use base64::Engine as _;
use host::{Body, GuestError, HostError, Request, Response, Rule, Violation};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::engine::Serve;

/// The model of GoMode's Worker glue, run by Node.
const SCRIPT: &str = include_str!("../worker-host/worker-host.mjs");

/// The oldest Node whose Fetch classes and WebAssembly API the model relies on.
const MIN_NODE_MAJOR: u32 = 18;

/// How long the script may take to answer a `ping` after Node starts.
const STARTUP: Duration = Duration::from_secs(30);

/// How long an `open` may take: reading and compiling a module of several megabytes.
const OPEN: Duration = Duration::from_secs(300);

/// How much longer than the guest's deadlines (and its fetches' timeouts) the client waits for a
/// start or a call before it gives up on the process. The script enforces the deadline itself;
/// this only guards against a wedged process.
const GRACE: Duration = Duration::from_secs(60);

/// How much of Node's stderr is kept to explain an unexpected exit.
const STDERR_TAIL: usize = 4096;

/// What a guest opened on V8 may do with outbound fetches (ABI.md §12), as `gomode-host`'s
/// `--allow-net`, `--fetch-timeout-ms`, `--fetch-max-bytes`, `--no-kv` and `--max-fetches` say on
/// wasmtime.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// The hosts an HTTP fetch may reach, on the URL and on every redirect hop: `HOST` allows
    /// every port of HOST and `HOST:PORT` one port (IPv6 in brackets). Empty allows none, and
    /// every HTTP fetch then gets the synthetic 502 that says the host is not allowed.
    pub allow_net: Vec<String>,
    /// How long one fetch may take, redirects and reading the body included, before it fails
    /// with a 502. It is not counted against the guest's deadline.
    pub fetch_timeout: Duration,
    /// The most bytes an upstream's response body may hold; a longer one fails with a 502.
    pub fetch_max_bytes: u64,
    /// Whether the guest has a KV binding. Each opened guest's store is in memory and starts
    /// empty; without the binding every `__KV_*` operation answers 500 `KV binding not
    /// configured`.
    pub kv: bool,
    /// How many fetches one request may ask for; one more breaks `fetch.cap`.
    pub max_fetches: u32,
}

impl Default for Outbound {
    /// No host allowed, 30 seconds, 16 MiB, a KV binding and 64 fetches per request: the
    /// wasmtime host's defaults.
    fn default() -> Self {
        Outbound {
            allow_net: Vec::new(),
            fetch_timeout: Duration::from_secs(30),
            fetch_max_bytes: 16 << 20,
            kv: true,
            max_fetches: 64,
        }
    }
}

/// The version of `node` on PATH (`v20.20.2`), or why it cannot be run.
pub fn node_version() -> Result<String, String> {
    let output = Command::new("node").arg("--version").output().map_err(|err| node_missing(&err))?;
    if !output.status.success() {
        return Err(format!(
            "`node --version` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Explains a failure to run `node`.
fn node_missing(err: &std::io::Error) -> String {
    if err.kind() == std::io::ErrorKind::NotFound {
        format!(
            "Node.js (`node`) is not on PATH; the V8 engine needs Node {MIN_NODE_MAJOR} or newer (20 is what GoMode was measured on)"
        )
    } else {
        format!("cannot run `node`: {err}")
    }
}

/// One Node process running `worker-host.mjs`, shared by all its clones.
#[derive(Clone)]
pub struct V8 {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for V8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V8").field("node", &self.node()).finish_non_exhaustive()
    }
}

struct Inner {
    /// Where requests are written, one line each; `None` once the process is being shut down.
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    /// Node's version, as its `ping` reported it.
    node: OnceLock<String>,
}

/// What the reader threads share with the callers.
#[derive(Default)]
struct Shared {
    waiting: Mutex<Waiting>,
    stderr: Mutex<String>,
}

#[derive(Default)]
struct Waiting {
    /// The callers waiting for a reply, by request `id`.
    replies: HashMap<u64, mpsc::Sender<Reply>>,
    /// Why no more replies will come, once the process's stdout has closed.
    gone: Option<String>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One reply line. Every field but `id` belongs to some replies only.
#[derive(Debug, Default, Deserialize)]
struct Reply {
    id: Option<u64>,
    #[serde(default)]
    handle: Option<u64>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    response: Option<WireResponse>,
    #[serde(default)]
    error: Option<WireError>,
    #[serde(default)]
    host_error: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    memory: Option<u64>,
    #[serde(default)]
    instances: Option<u32>,
}

#[derive(Debug, Deserialize)]
struct WireResponse {
    status: u16,
    content_type: String,
    headers: Vec<(String, String)>,
    body_base64: String,
    body_tag: String,
    panic: Option<String>,
    #[serde(default)]
    stderr: String,
    /// How many outbound fetches the guest asked for before it answered.
    #[serde(default)]
    fetches: u32,
}

#[derive(Debug, Deserialize)]
struct WireError {
    rule: String,
    message: String,
    #[serde(default)]
    stderr: String,
}

impl V8 {
    /// Starts Node with the model and checks that it answers. The error says clearly when
    /// `node` is missing or too old, so callers can show it as the reason for a skip.
    pub fn spawn() -> anyhow::Result<V8> {
        let mut child = Command::new("node")
            .args(["--no-warnings", "--input-type=module", "--eval", SCRIPT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|err| anyhow!(node_missing(&err)))?;
        let shared = Arc::new(Shared::default());
        let stdout = child.stdout.take().context("node's stdout was not piped")?;
        let stderr = child.stderr.take().context("node's stderr was not piped")?;
        spawn_stderr_reader(stderr, shared.clone())?;
        spawn_reply_reader(stdout, shared.clone())?;
        let stdin = child.stdin.take();
        let v8 = V8 {
            inner: Arc::new(Inner {
                stdin: Mutex::new(stdin),
                child: Mutex::new(child),
                shared,
                next_id: AtomicU64::new(1),
                node: OnceLock::new(),
            }),
        };
        let reply = v8
            .request(json!({"op": "ping"}), STARTUP)
            .map_err(|why| anyhow!("worker-host.mjs did not start under Node: {why}"))?;
        let version = reply.node.unwrap_or_default();
        let major = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse::<u32>().ok());
        if major.is_none_or(|major| major < MIN_NODE_MAJOR) {
            anyhow::bail!("Node {version} is too old for the V8 engine; it needs Node {MIN_NODE_MAJOR} or newer");
        }
        let _ = v8.inner.node.set(version);
        Ok(v8)
    }

    /// Node's version, such as `v20.20.2`.
    pub fn node(&self) -> &str {
        self.inner.node.get().map_or("", String::as_str)
    }

    /// Opens a guest: the script compiles the module (once per file) and checks its shape; the
    /// instance is created on the first start or call. A `.wat` file is translated here first.
    /// A shape error (`gomode.imports`, `gomode.start`, …) is reported by every start and call.
    /// `outbound` governs the guest's outbound fetches, and the guest gets a fresh KV store.
    pub fn open(
        &self,
        path: &Path,
        name: &str,
        memory_limit: usize,
        deadline: Duration,
        outbound: &Outbound,
    ) -> Result<V8Guest, host::Error> {
        let unreadable = |reason: std::io::Error| HostError::Read { path: path.to_owned(), reason };
        let absolute = std::fs::canonicalize(path).map_err(unreadable)?;
        let Some(text_path) = absolute.to_str() else {
            return Err(unreadable(std::io::Error::other("the path is not valid UTF-8")).into());
        };
        let mut magic = [0u8; 4];
        let binary = std::fs::File::open(&absolute)
            .and_then(|mut file| file.read_exact(&mut magic))
            .is_ok_and(|()| magic == *b"\0asm");
        let deadline_ms = u64::try_from(deadline.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut message = json!({
            "op": "open",
            "path": text_path,
            "name": name,
            "memory_limit": memory_limit,
            "deadline_ms": deadline_ms,
            "allow_net": outbound.allow_net,
            "fetch_timeout_ms": u64::try_from(outbound.fetch_timeout.as_millis()).unwrap_or(u64::MAX),
            "fetch_max_bytes": outbound.fetch_max_bytes,
            "kv": outbound.kv,
            "max_fetches": outbound.max_fetches,
        });
        if !binary {
            // WebAssembly text, as `gomode-host` accepts it on wasmtime; anything that is not
            // text either goes to V8 as it is, which then names `module.wasm`.
            let bytes = std::fs::read(&absolute).map_err(unreadable)?;
            if let Ok(wasm) = wat::parse_bytes(&bytes) {
                message["wasm_base64"] = base64::engine::general_purpose::STANDARD.encode(&wasm).into();
            }
        }
        let reply = self.request(message, OPEN).map_err(engine)?;
        if let Some(reason) = reply.host_error {
            return Err(match reply.kind.as_deref() {
                Some("read") => HostError::Read { path: path.to_owned(), reason: std::io::Error::other(reason) }.into(),
                _ => engine(reason),
            });
        }
        let handle = reply.handle.ok_or_else(|| engine("the reply to `open` has no handle".into()))?;
        // A call may run the handler and a record's `malloc` once per fetch, each under the
        // deadline, and wait for every fetch up to its timeout.
        let fetches = outbound.max_fetches;
        let call_patience = deadline
            .saturating_mul(fetches.saturating_mul(2).saturating_add(1))
            .saturating_add(outbound.fetch_timeout.saturating_mul(fetches))
            .saturating_add(GRACE);
        Ok(V8Guest {
            v8: self.clone(),
            handle,
            name: name.to_owned(),
            start_patience: deadline.saturating_add(GRACE),
            call_patience,
            memory: None,
            instances: 0,
        })
    }

    /// Sends one request and waits up to `timeout` for its reply.
    fn request(&self, mut message: Value, timeout: Duration) -> Result<Reply, String> {
        let (sender, receiver) = mpsc::channel();
        let id = self.send(&mut message, Some(sender))?;
        match receiver.recv_timeout(timeout) {
            Ok(reply) => Ok(reply),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                lock(&self.inner.shared.waiting).replies.remove(&id);
                Err(format!("worker-host.mjs did not answer within {timeout:?}"))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(self.gone()),
        }
    }

    /// Writes one request line and returns its `id`; the reply goes to `reply` when given, and
    /// is dropped otherwise.
    fn send(&self, message: &mut Value, reply: Option<mpsc::Sender<Reply>>) -> Result<u64, String> {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        message["id"] = id.into();
        if let Some(sender) = reply {
            let mut waiting = lock(&self.inner.shared.waiting);
            if let Some(gone) = &waiting.gone {
                return Err(gone.clone());
            }
            waiting.replies.insert(id, sender);
        }
        let mut line = message.to_string();
        line.push('\n');
        let written = match &mut *lock(&self.inner.stdin) {
            Some(stdin) => stdin.write_all(line.as_bytes()).and_then(|()| stdin.flush()),
            None => Err(std::io::Error::other("the Node process is shutting down")),
        };
        if let Err(err) = written {
            lock(&self.inner.shared.waiting).replies.remove(&id);
            let gone = lock(&self.inner.shared.waiting).gone.clone();
            return Err(gone.unwrap_or_else(|| format!("cannot write to the Node process: {err}")));
        }
        Ok(id)
    }

    /// Why the process no longer answers.
    fn gone(&self) -> String {
        let waiting = lock(&self.inner.shared.waiting);
        waiting.gone.clone().unwrap_or_else(|| "the Node process stopped answering".to_owned())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing stdin ends the script; a process that does not exit promptly is killed.
        drop(lock(&self.stdin).take());
        let mut child = lock(&self.child);
        for _ in 0..100 {
            if !matches!(child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Reads reply lines and hands each to the caller waiting for its `id`. When stdout closes,
/// every waiting caller learns why.
fn spawn_reply_reader(stdout: std::process::ChildStdout, shared: Arc<Shared>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("v8-replies".into())
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(reply) = serde_json::from_str::<Reply>(&line) else {
                    let mut tail = lock(&shared.stderr);
                    tail.push_str(&format!(
                        "[an unreadable reply line: {}]\n",
                        line.chars().take(200).collect::<String>()
                    ));
                    continue;
                };
                let Some(id) = reply.id else { continue };
                if let Some(sender) = lock(&shared.waiting).replies.remove(&id) {
                    let _ = sender.send(reply);
                }
            }
            // Give the stderr reader a moment to collect Node's last words.
            std::thread::sleep(Duration::from_millis(50));
            let tail = lock(&shared.stderr).trim().to_owned();
            let mut waiting = lock(&shared.waiting);
            waiting.gone = Some(if tail.is_empty() {
                "the Node process running worker-host.mjs exited".to_owned()
            } else {
                format!("the Node process running worker-host.mjs exited; its stderr ended with:\n{tail}")
            });
            waiting.replies.clear();
        })
        .map(drop)
        .context("cannot start the thread that reads V8's replies")
}

/// Keeps the last few kilobytes of Node's stderr, to explain an unexpected exit.
fn spawn_stderr_reader(mut stderr: std::process::ChildStderr, shared: Arc<Shared>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("v8-stderr".into())
        .spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                let mut tail = lock(&shared.stderr);
                tail.push_str(&String::from_utf8_lossy(&buffer[..n]));
                if tail.len() > STDERR_TAIL {
                    let cut = tail.ceil_char_boundary(tail.len() - STDERR_TAIL);
                    tail.drain(..cut);
                }
            }
        })
        .map(drop)
        .context("cannot start the thread that reads Node's stderr")
}

/// A failure of the model or of Node, never the guest's.
fn engine(message: String) -> host::Error {
    HostError::Engine(format!("V8 (worker-host.mjs on Node): {message}")).into()
}

/// One guest opened on V8. Like `host::Guest`, it instantiates on the first start or call, keeps
/// its instance across calls, and gets a fresh one after a rule that drops it.
#[derive(Debug)]
pub struct V8Guest {
    v8: V8,
    handle: u64,
    name: String,
    /// How long the client waits for the reply to a start, and to a call, before it gives up
    /// on the process. The script enforces the deadline and the fetch timeout itself; these only
    /// guard against a wedged process.
    start_patience: Duration,
    call_patience: Duration,
    /// The live instance's memory, as the last reply reported it.
    memory: Option<usize>,
    /// How many instances the script has created for this guest.
    instances: u32,
}

impl V8Guest {
    /// The guest's name, used in every error.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many instances this guest has created so far (more than 1 after a replacement).
    pub fn instances(&self) -> u32 {
        self.instances
    }

    /// Sends a start or call and turns the reply into a response, or into the error it names.
    fn exchange(
        &mut self,
        message: Value,
        request: Option<&Request>,
    ) -> Result<Option<Response<'static>>, host::Error> {
        let patience = if request.is_some() { self.call_patience } else { self.start_patience };
        let reply = self.v8.request(message, patience).map_err(engine)?;
        self.memory = reply.memory.and_then(|memory| usize::try_from(memory).ok());
        if let Some(instances) = reply.instances {
            self.instances = instances;
        }
        let summary = || request.map(Request::summary).unwrap_or_default();
        if let Some(error) = reply.error {
            let rule = Rule::from_id(&error.rule)
                .ok_or_else(|| engine(format!("the model named an unknown rule `{}`", error.rule)))?;
            let mut guest = GuestError::new(&self.name, Violation::new(rule, error.message));
            guest.request = request.map(Request::summary);
            guest.stderr = error.stderr;
            return Err(guest.into());
        }
        if let Some(reason) = reply.host_error {
            return Err(match reply.kind.as_deref() {
                Some("bad_request") => HostError::BadRequest { request: summary(), reason }.into(),
                _ => engine(reason),
            });
        }
        let Some(wire) = reply.response else { return Ok(None) };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&wire.body_base64)
            .map_err(|err| engine(format!("the response body is not base64: {err}")))?;
        let body = match wire.body_tag.as_str() {
            "string" => String::from_utf8(bytes)
                .map_or_else(|err| Body::Bytes(err.into_bytes().into()), |text| Body::Text(text.into())),
            _ => Body::Bytes(bytes.into()),
        };
        let panic = wire.panic.map(|message| {
            let rule = if message.starts_with("exit code:") { Rule::CallExit } else { Rule::CallTrap };
            Violation::new(rule, message)
        });
        Ok(Some(Response {
            status: wire.status,
            content_type: wire.content_type.into(),
            headers: wire.headers,
            body,
            stdout: String::new(),
            stderr: wire.stderr,
            panic,
            fetches: wire.fetches,
        }))
    }
}

impl Serve for V8Guest {
    fn start(&mut self) -> Result<(), host::Error> {
        self.exchange(json!({"op": "start", "handle": self.handle}), None).map(drop)
    }

    fn call(&mut self, request: &Request) -> Result<Response<'_>, host::Error> {
        let message = json!({
            "op": "call",
            "handle": self.handle,
            "method": request.method,
            "target": request.path,
            "headers": request.headers,
            "body_base64": base64::engine::general_purpose::STANDARD.encode(&request.body),
        });
        self.exchange(message, Some(request))?.ok_or_else(|| engine("the reply to `call` has no response".into()))
    }

    fn memory_size(&mut self) -> Option<usize> {
        self.memory
    }
}

impl Drop for V8Guest {
    fn drop(&mut self) {
        // Nobody waits for the reply; the script frees the instance and reuses its thread.
        let _ = self.v8.send(&mut json!({"op": "close", "handle": self.handle}), None);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;

    /// One Node process shared by every test, which also exercises concurrent use; `None`, with
    /// the reason printed, when Node is missing.
    fn v8() -> Option<&'static V8> {
        static V8: OnceLock<Result<V8, String>> = OnceLock::new();
        match V8.get_or_init(|| V8::spawn().map_err(|err| format!("{err:#}"))) {
            Ok(v8) => Some(v8),
            Err(reason) => {
                eprintln!("skipped: {reason}");
                None
            }
        }
    }

    /// A module file in the temporary directory, removed again when dropped.
    struct TempModule(PathBuf);

    impl std::ops::Deref for TempModule {
        type Target = Path;

        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempModule {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Writes `text` to a file of its own, named after this process and `name`.
    fn write(name: &str, text: impl AsRef<[u8]>) -> TempModule {
        let path = std::env::temp_dir().join(format!("gomode-v8-test-{}-{name}", std::process::id()));
        std::fs::write(&path, text).expect("cannot write a test module");
        TempModule(path)
    }

    /// A WAT `data` segment holding `[len u32][bytes]` at `addr`.
    fn string_at(addr: u32, bytes: &[u8]) -> String {
        let mut escaped: String = (bytes.len() as u32).to_le_bytes().iter().map(|b| format!("\\{b:02x}")).collect();
        escaped.extend(bytes.iter().map(|b| format!("\\{b:02x}")));
        format!("(data (i32.const {addr}) \"{escaped}\")")
    }

    /// A WAT `data` segment holding one slot with `tag` and payload A at `addr`.
    fn slot_at(addr: u32, tag: u8, a: u32) -> String {
        let a: String = a.to_le_bytes().iter().map(|b| format!("\\{b:02x}")).collect();
        format!("(data (i32.const {addr}) \"\\{tag:02x}\\00\\00\\00{a}\\00\\00\\00\\00\\00\\00\\00\\00\")")
    }

    /// A guest with `_start` (unless `start` is false), a bump `malloc` from 64 KiB, and a
    /// handler `handler` that leaves the response address on the stack. The response at 256 has
    /// status `status`, content type `text/plain` (at 512) and body `ok` (at 528); `extra` adds
    /// items, such as a slot 3 at 304.
    fn wat_guest(status: i32, handler: &str, extra: &str, start: bool) -> String {
        let start = if start { "(func (export \"_start\"))" } else { "" };
        format!(
            r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 2)
  {start}
  (global $next (mut i32) (i32.const 65536))
  (global $n (mut i32) (i32.const 0))
  (func (export "malloc") (param $n i32) (result i32)
    (local $p i32)
    (local.set $p (global.get $next))
    (global.set $next (i32.add (local.get $p) (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8))))
    (local.get $p))
  (func (export "handle_zerobuf") (param $req i32) (result i32)
    {handler})
  {slot0}
  {slot1}
  {slot2}
  {content_type}
  {body}
  {extra}
)"#,
            slot0 = slot_at(256, 2, status as u32),
            slot1 = slot_at(272, 4, 512),
            slot2 = slot_at(288, 4, 528),
            content_type = string_at(512, b"text/plain"),
            body = string_at(528, b"ok"),
        )
    }

    fn open(v8: &V8, name: &str, wat: &str) -> V8Guest {
        let path = write(&format!("{name}.wat"), wat);
        v8.open(&path, name, 128 << 20, Duration::from_secs(5), &Outbound::default()).expect("the test guest opens")
    }

    fn rule(result: Result<impl std::fmt::Debug, host::Error>) -> Rule {
        match result {
            Err(host::Error::Guest(error)) => error.rule(),
            other => panic!("expected a broken rule, got {other:?}"),
        }
    }

    fn text(response: &Response<'_>) -> String {
        String::from_utf8_lossy(response.body.as_bytes()).into_owned()
    }

    #[test]
    fn the_script_fits_in_one_command_line_argument() {
        // Linux refuses a single argument over 128 KiB (MAX_ARG_STRLEN).
        assert!(SCRIPT.len() < 120 * 1024, "worker-host.mjs is {} bytes", SCRIPT.len());
    }

    #[test]
    fn serves_headers_from_slot_3_as_gomode_parses_them() {
        let Some(v8) = v8() else { return };
        let lines = b"X-Upper: A\r\nnospace:1\ncontent-type: text/html\nlast: noline";
        let extra = format!("{}\n{}", slot_at(304, 4, 544), string_at(544, lines));
        let mut guest = open(v8, "headers", &wat_guest(200, "(i32.const 256)", &extra, true));
        let response = guest.call(&Request::new("GET", "/")).unwrap();
        assert_eq!((response.status, &*response.content_type), (200, "text/plain"));
        assert_eq!(response.body, Body::Text("ok".into()));
        assert_eq!(response.headers, vec![("x-upper".into(), "A".into()), ("last".into(), "noline".into())]);
        assert!(guest.memory_size().is_some_and(|m| m == 2 << 16));
        // A bad counted line is GoMode's uncaught TypeError.
        let extra = format!("{}\n{}", slot_at(304, 4, 544), string_at(544, b"bad name: 1\n"));
        let mut bad = open(v8, "bad-header", &wat_guest(200, "(i32.const 256)", &extra, true));
        assert_eq!(rule(bad.call(&Request::new("GET", "/"))), Rule::GomodeHeaders);
        // So is a stray slot 3 from a guest that declares no response headers.
        let extra = format!(
            "{}\n{}\n(func (export \"gomode_abi_features\") (result i32) (i32.const 0))",
            slot_at(304, 4, 544),
            string_at(544, b"x-injected: yes")
        );
        let mut stray = open(v8, "stray", &wat_guest(200, "(i32.const 256)", &extra, true));
        assert_eq!(rule(stray.call(&Request::new("GET", "/"))), Rule::GomodeHeaders);
    }

    #[test]
    fn a_trap_is_a_500_panic_and_the_instance_is_kept() {
        let Some(v8) = v8() else { return };
        // Counts calls, writes the count as the body, traps on the second call, and prints
        // `oops` on stderr every time.
        let handler = r#"
    (drop (call $fd_write (i32.const 2) (i32.const 600) (i32.const 1) (i32.const 640)))
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (if (i32.eq (global.get $n) (i32.const 2)) (then unreachable))
    (i32.store (i32.const 528) (i32.const 1))
    (i32.store8 (i32.const 532) (i32.add (i32.const 48) (global.get $n)))
    (i32.const 256)"#;
        let extra = "(data (i32.const 600) \"\\74\\02\\00\\00\\05\\00\\00\\00\")\n(data (i32.const 628) \"oops\\0a\")";
        let binary = wat::parse_str(wat_guest(200, handler, extra, true)).unwrap();
        let path = write("counter.wasm", binary);
        let mut guest = v8.open(&path, "counter", 128 << 20, Duration::from_secs(5), &Outbound::default()).unwrap();
        let request = Request::new("GET", "/counter");
        let first = guest.call(&request).unwrap();
        assert_eq!((first.status, text(&first).as_str(), first.stderr.as_str()), (200, "1", "oops\n"));
        let second = guest.call(&request).unwrap();
        assert_eq!((second.status, text(&second).as_str()), (500, "panic: unreachable"));
        assert_eq!(second.content_type, "text/plain; charset=utf-8");
        assert_eq!(second.panic, Some(Violation::new(Rule::CallTrap, "unreachable")));
        assert_eq!(text(&guest.call(&request).unwrap()), "3");
        assert_eq!(guest.instances(), 1);
    }

    #[test]
    fn exit_while_serving_is_a_500_panic_too() {
        let Some(v8) = v8() else { return };
        let mut guest = open(v8, "exits", &wat_guest(200, "(call $proc_exit (i32.const 0)) (i32.const 256)", "", true));
        let response = guest.call(&Request::new("GET", "/")).unwrap();
        assert_eq!((response.status, text(&response).as_str()), (500, "panic: exit code: 0"));
        assert_eq!(response.panic.map(|p| p.rule), Some(Rule::CallExit));
    }

    #[test]
    fn the_module_shape_is_checked_before_any_instance() {
        let Some(v8) = v8() else { return };
        let mut no_start = open(v8, "no-start", &wat_guest(200, "(i32.const 256)", "", false));
        assert_eq!(rule(no_start.start()), Rule::GomodeStart);
        assert_eq!(rule(no_start.call(&Request::new("GET", "/"))), Rule::GomodeStart);
        assert_eq!(no_start.instances(), 0);
        let env = wat_guest(200, "(i32.const 256)", "", true).replacen(
            "(module",
            "(module\n  (import \"env\" \"x\" (func))",
            1,
        );
        let mut env = open(v8, "imports-env", &env);
        match env.start() {
            Err(host::Error::Guest(error)) => {
                assert_eq!(error.rule(), Rule::GomodeImports);
                assert!(error.violation.message.contains("env::x"), "{error}");
            }
            other => panic!("expected gomode.imports, got {other:?}"),
        }
        let wrong_malloc = wat_guest(200, "(i32.const 256)", "", true)
            .replace("(func (export \"malloc\") (param $n i32)", "(func (export \"malloc\") (param $n i64)")
            .replace("(local.get $n) (i32.const 7)", "(i32.wrap_i64 (local.get $n)) (i32.const 7)");
        assert_eq!(rule(open(v8, "malloc-i64", &wrong_malloc).start()), Rule::ModuleExports);
        let not_wasm = write("not-wasm.wasm", "this is not a module");
        let mut not_wasm =
            v8.open(&not_wasm, "not-wasm", 128 << 20, Duration::from_secs(5), &Outbound::default()).unwrap();
        assert_eq!(rule(not_wasm.start()), Rule::ModuleWasm);
        match v8.open(
            Path::new("/nonexistent/guest.wasm"),
            "missing",
            128 << 20,
            Duration::from_secs(5),
            &Outbound::default(),
        ) {
            Err(host::Error::Host(HostError::Read { .. })) => {}
            other => panic!("expected a read error, got {other:?}"),
        }
    }

    #[test]
    fn init_failures_are_retried_on_a_fresh_instance() {
        let Some(v8) = v8() else { return };
        let exits =
            wat_guest(200, "(i32.const 256)", "(func (export \"_start\") (call $proc_exit (i32.const 1)))", false);
        let mut guest_one = open(v8, "init-exits", &exits);
        assert_eq!(rule(guest_one.call(&Request::new("GET", "/"))), Rule::InitStart);
        assert_eq!(rule(guest_one.call(&Request::new("GET", "/"))), Rule::InitStart);
        assert_eq!((guest_one.instances(), guest_one.memory_size()), (2, None));
        let exits_zero =
            wat_guest(200, "(i32.const 256)", "(func (export \"_start\") (call $proc_exit (i32.const 0)))", false);
        assert_eq!(open(v8, "init-exits-zero", &exits_zero).call(&Request::new("GET", "/")).unwrap().status, 200);
        let null = wat_guest(200, "(i32.const 256)", "", true).replace("(local.get $p))", "(i32.const 0))");
        assert_eq!(rule(open(v8, "malloc-null", &null).start()), Rule::InitMalloc);
    }

    #[test]
    fn requests_reach_the_guest_as_gomode_passes_them_on() {
        let Some(v8) = v8() else { return };
        // Answers with request slot 1 (the path) as the content type, slot 2 (the body) as the
        // body and slot 3 (the header lines) as response headers.
        let echo = wat_guest(
            200,
            "(memory.copy (i32.const 272) (i32.add (local.get $req) (i32.const 16)) (i32.const 48)) (i32.const 256)",
            "",
            true,
        );
        let mut echo = open(v8, "echo", &echo);
        let mut delete = Request::new("DELETE", "/x");
        delete.body = b"abc".to_vec();
        let response = echo.call(&delete).unwrap();
        assert_eq!((&*response.content_type, response.body.as_bytes()), ("/x", &b""[..]));
        let mut post = Request::new("post", "/a/../b?c=ü#top");
        post.body = b"\xef\xbb\xbfA\xffB".to_vec();
        post.headers = vec![("X-B".into(), " 2\t".into()), ("x-a".into(), "1".into()), ("X-A".into(), "3".into())];
        let response = echo.call(&post).unwrap();
        assert_eq!(response.content_type, "/b?c=%C3%BC");
        assert_eq!(response.body, Body::Text("A\u{fffd}B".into()));
        assert_eq!(response.headers, vec![("x-a".into(), "1, 3".into()), ("x-b".into(), "2".into())]);
        // Only exactly POST, PUT and PATCH carry a body; Fetch keeps `patch` as it is.
        let mut patch = Request::new("patch", "/");
        patch.body = b"dropped".to_vec();
        assert_eq!(echo.call(&patch).unwrap().body.as_bytes(), b"");
        for bad in [Request::new("GE T", "/"), Request::new("GET", "json")] {
            match echo.call(&bad) {
                Err(host::Error::Host(HostError::BadRequest { request, .. })) => assert_eq!(request, bad.summary()),
                other => panic!("expected a bad request, got {other:?}"),
            }
        }
        // A request past GoMode's 8,352-byte scratch is refused, and the instance is kept.
        let mut big = Request::new("POST", "/echo");
        big.body = vec![b'x'; 20_000];
        match echo.call(&big) {
            Err(host::Error::Guest(error)) => {
                assert_eq!(error.rule(), Rule::GomodeScratch);
                assert!(error.violation.message.contains("8352"), "{error}");
                assert_eq!(error.request.as_deref(), Some("POST /echo"));
            }
            other => panic!("expected gomode.scratch, got {other:?}"),
        }
        // 96 + 8 + 8 + (4 + 8188) + 4 + 43 = 8351: the largest body for POST /echo with one
        // 39-byte header line fits.
        let mut fits = Request::new("POST", "/echo");
        fits.body = vec![b'y'; 8188];
        fits.headers = vec![("x-a-header-name".into(), "012345678901234567891".into())];
        assert_eq!(echo.call(&fits).unwrap().body.as_bytes().len(), 8188);
        fits.body.push(b'y');
        assert_eq!(rule(echo.call(&fits)), Rule::GomodeScratch);
        assert_eq!(echo.instances(), 1);
    }

    #[test]
    fn statuses_are_read_as_gomode_reads_them() {
        let Some(v8) = v8() else { return };
        assert_eq!(
            rule(open(v8, "status-100", &wat_guest(100, "(i32.const 256)", "", true)).call(&Request::new("GET", "/"))),
            Rule::ResponseStatus
        );
        let mut no_content = open(v8, "status-204", &wat_guest(204, "(i32.const 256)", "", true));
        let no_content = no_content.call(&Request::new("GET", "/")).unwrap();
        assert_eq!((no_content.status, no_content.body.as_bytes()), (204, &b""[..]));
        // -1 asks for a fetch, always offered under `gomode`; this guest's slot 1 (`text/plain`)
        // has no newline, so the request it asks for is malformed, and the instance is kept.
        let mut fetch = open(v8, "status-fetch", &wat_guest(-1, "(i32.const 256)", "", true));
        match fetch.call(&Request::new("GET", "/x")) {
            Err(host::Error::Guest(error)) => {
                assert_eq!(error.rule(), Rule::FetchRequest);
                assert!(error.violation.message.contains("no newline"), "{error}");
                assert_eq!(error.request.as_deref(), Some("GET /x"));
            }
            other => panic!("expected fetch.request, got {other:?}"),
        }
        assert_eq!((fetch.instances(), fetch.memory_size()), (1, Some(2 << 16)));
        let mut out_of_bounds = open(v8, "response-oob", &wat_guest(200, "(i32.const 131070)", "", true));
        assert_eq!(rule(out_of_bounds.call(&Request::new("GET", "/"))), Rule::ResponsePointer);
    }

    /// A guest that asks for the fetch its request describes and answers with the fetch's
    /// record, which has the shape of a three-slot response. The request's path without its
    /// leading `/` is the method (`/GET`, `/__KV_PUT`), and its body is `URL\nBODY` (so the
    /// request is a POST). `replay` is what the handler does when slot 4 has tag 4: return the
    /// record, trap, or ask again. `extra` adds items, such as a slot 3 at 304.
    fn fetching_guest(replay: Replay, extra: &str) -> String {
        let replay = match replay {
            Replay::Record => "(return (i32.load offset=68 (local.get $req)))",
            Replay::Trap => "unreachable",
            Replay::AskAgain => "(nop)",
        };
        let handler = format!(
            r#"(local $path i32) (local $len i32)
    (if (i32.eq (i32.load8_u offset=64 (local.get $req)) (i32.const 4)) (then {replay}))
    ;; Slot 1 is the path's text after its `/`, then a newline, at 1024.
    (local.set $path (i32.load offset=20 (local.get $req)))
    (local.set $len (i32.sub (i32.load (local.get $path)) (i32.const 1)))
    (i32.store (i32.const 1024) (i32.add (local.get $len) (i32.const 1)))
    (memory.copy (i32.const 1028) (i32.add (local.get $path) (i32.const 5)) (local.get $len))
    (i32.store8 (i32.add (i32.const 1028) (local.get $len)) (i32.const 10))
    (i32.store (i32.const 276) (i32.const 1024))
    ;; Slot 2 is the request's body.
    (i32.store (i32.const 292) (i32.load offset=36 (local.get $req)))
    (i32.const 256)"#
        );
        wat_guest(-1, &handler, extra, true)
    }

    /// What [`fetching_guest`] does on a replay.
    #[derive(Clone, Copy)]
    enum Replay {
        Record,
        Trap,
        AskAgain,
    }

    /// `POST /<method>` with body `URL\nBODY`, which [`fetching_guest`] turns into that fetch.
    fn asks(method: &str, url_and_body: &str) -> Request {
        let mut request = Request::new("POST", &format!("/{method}"));
        request.body = url_and_body.as_bytes().to_vec();
        request
    }

    /// The port of a loopback HTTP/1.1 server shared by the fetch tests. It answers by path:
    /// `/x` with 201, `text/x-test` and `hello-fetch`; `/moved` with a 302 to `/x`; `/echo` with
    /// the method, the request's content type and its body; `/big` with 2,000 bytes; `/slow` as
    /// `/x`, after 700 ms; anything else with 404. Every answer closes the connection.
    fn upstream() -> u16 {
        static PORT: OnceLock<u16> = OnceLock::new();
        *PORT.get_or_init(|| {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
            let port = listener.local_addr().unwrap().port();
            std::thread::spawn(move || {
                for stream in listener.incoming().flatten() {
                    std::thread::spawn(move || answer(stream));
                }
            });
            port
        })
    }

    /// Reads one request from `stream` and answers it as [`upstream`] says.
    fn answer(mut stream: TcpStream) {
        let Ok(clone) = stream.try_clone() else { return };
        let mut reader = BufReader::new(clone);
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).is_err() {
            return;
        }
        let mut parts = request_line.split(' ');
        let (method, path) = (parts.next().unwrap_or("").to_owned(), parts.next().unwrap_or("/").to_owned());
        let (mut length, mut content_type) = (0, String::new());
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim_end().is_empty() {
                break;
            }
            if let Some((name, value)) = line.trim_end().split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, headers, body) = match path.as_str() {
            "/x" => ("201 Created", "Content-Type: text/x-test\r\nX-Dropped: 1\r\n", b"hello-fetch".to_vec()),
            "/moved" => ("302 Found", "Location: /x\r\n", b"moved".to_vec()),
            "/echo" => {
                let echo = format!("{method} {content_type} {}", String::from_utf8_lossy(&body));
                ("200 OK", "Content-Type: text/plain\r\n", echo.into_bytes())
            }
            "/big" => ("200 OK", "", vec![b'b'; 2000]),
            "/slow" => {
                std::thread::sleep(Duration::from_millis(700));
                ("201 Created", "Content-Type: text/x-test\r\n", b"hello-fetch".to_vec())
            }
            _ => ("404 Not Found", "", Vec::new()),
        };
        let head = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
    }

    /// Outbound fetch allowed to the test upstream only, with `change` applied.
    fn to_upstream(change: impl FnOnce(&mut Outbound)) -> Outbound {
        let mut outbound = Outbound { allow_net: vec![format!("127.0.0.1:{}", upstream())], ..Outbound::default() };
        change(&mut outbound);
        outbound
    }

    fn open_with(v8: &V8, name: &str, wat: &str, deadline: Duration, outbound: &Outbound) -> V8Guest {
        let path = write(&format!("{name}.wat"), wat);
        v8.open(&path, name, 128 << 20, deadline, outbound).expect("the test guest opens")
    }

    #[test]
    fn a_fetch_is_made_and_the_handler_replayed_with_the_record() {
        let Some(v8) = v8() else { return };
        let port = upstream();
        let mut guest =
            open_with(v8, "fetcher", &fetching_guest(Replay::Record, ""), Duration::from_secs(5), &to_upstream(|_| {}));
        // Only the status, the content type and the body reach the guest.
        let response = guest.call(&asks("GET", &format!("http://127.0.0.1:{port}/x\n"))).unwrap();
        assert_eq!(
            (response.status, &*response.content_type, text(&response).as_str()),
            (201, "text/x-test", "hello-fetch")
        );
        assert_eq!((response.fetches, response.headers.len()), (1, 0));
        // A redirect is followed; a POST sends its body, with the content type.
        let moved = guest.call(&asks("get", &format!(" http://127.0.0.1:{port}/moved \n"))).unwrap();
        assert_eq!((moved.status, text(&moved).as_str()), (201, "hello-fetch"));
        let echo = guest.call(&asks("POST", &format!("http://127.0.0.1:{port}/echo\npayload"))).unwrap();
        assert_eq!((echo.status, text(&echo).as_str()), (200, "POST  payload"));
        // A trap on the replay is GoMode's 500 panic, as on the first call.
        let mut traps = open_with(
            v8,
            "fetch-traps",
            &fetching_guest(Replay::Trap, ""),
            Duration::from_secs(5),
            &to_upstream(|_| {}),
        );
        let panic = traps.call(&asks("GET", &format!("http://127.0.0.1:{port}/x\n"))).unwrap();
        assert_eq!((panic.status, text(&panic).as_str(), panic.fetches), (500, "panic: unreachable", 1));
        assert_eq!(traps.instances(), 1);
    }

    #[test]
    fn failed_fetches_get_gomodes_synthetic_502() {
        let Some(v8) = v8() else { return };
        let port = upstream();
        let guest = |name: &str, outbound: &Outbound| {
            open_with(v8, name, &fetching_guest(Replay::Record, ""), Duration::from_secs(5), outbound)
        };
        let failed = |guest: &mut V8Guest, method: &str, url: &str| {
            let response = guest.call(&asks(method, &format!("{url}\n"))).unwrap();
            assert_eq!((response.status, &*response.content_type), (502, "text/plain"), "{url}");
            text(&response)
        };
        // No host is allowed unless told.
        let mut closed = guest("no-net", &Outbound::default());
        assert_eq!(
            failed(&mut closed, "GET", &format!("http://127.0.0.1:{port}/x")),
            format!(
                "TypeError: fetch denied: 127.0.0.1:{port} is not allowed; gomode-host allows outbound network only \
                 to hosts given with --allow-net HOST[:PORT]"
            )
        );
        assert_eq!(failed(&mut closed, "GET", "not a url"), "TypeError: Invalid URL: not a url");
        assert_eq!(failed(&mut closed, "GET", "ftp://a/"), "TypeError: fetch failed: unsupported scheme ftp:");
        assert_eq!(failed(&mut closed, "trace", "http://a/"), "TypeError: 'trace' HTTP method is unsupported.");
        // A host allowed on another port only is not allowed on this one.
        let mut other_port =
            guest("other-port", &Outbound { allow_net: vec!["127.0.0.1:1".into()], ..Outbound::default() });
        assert!(
            failed(&mut other_port, "GET", &format!("http://127.0.0.1:{port}/x"))
                .starts_with("TypeError: fetch denied")
        );
        // `HOST` allows every port; nothing listens on a port just freed.
        let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut any_port = guest("any-port", &Outbound { allow_net: vec!["127.0.0.1".into()], ..Outbound::default() });
        assert_eq!(
            failed(&mut any_port, "GET", &format!("http://127.0.0.1:{free}/")),
            format!("TypeError: fetch failed: cannot connect to 127.0.0.1:{free}")
        );
        // The time and the size of an answer are bounded.
        let mut limited = guest(
            "limited",
            &to_upstream(|o| {
                o.fetch_timeout = Duration::from_millis(200);
                o.fetch_max_bytes = 1999;
            }),
        );
        assert_eq!(
            failed(&mut limited, "GET", &format!("http://127.0.0.1:{port}/slow")),
            "TypeError: fetch failed: no complete answer within 200 ms"
        );
        assert_eq!(
            failed(&mut limited, "GET", &format!("http://127.0.0.1:{port}/big")),
            "TypeError: fetch failed: the response body is over 1999 bytes"
        );
        let mut exact = guest("exact", &to_upstream(|o| o.fetch_max_bytes = 2000));
        assert_eq!(
            exact.call(&asks("GET", &format!("http://127.0.0.1:{port}/big\n"))).unwrap().body.as_bytes().len(),
            2000
        );
    }

    #[test]
    fn the_deadline_does_not_count_the_time_a_fetch_takes() {
        let Some(v8) = v8() else { return };
        let port = upstream();
        // The upstream takes 700 ms; the guest's deadline is 300 ms.
        let mut guest = open_with(
            v8,
            "slow-fetch",
            &fetching_guest(Replay::Record, ""),
            Duration::from_millis(300),
            &to_upstream(|_| {}),
        );
        let response = guest.call(&asks("GET", &format!("http://127.0.0.1:{port}/slow\n"))).unwrap();
        assert_eq!((response.status, text(&response).as_str()), (201, "hello-fetch"));
        assert_eq!(guest.instances(), 1);
    }

    #[test]
    fn kv_answers_as_gomode_does() {
        let Some(v8) = v8() else { return };
        let wat = fetching_guest(Replay::Record, "");
        let mut guest = open_with(v8, "kv", &wat, Duration::from_secs(5), &Outbound::default());
        let mut op = |method: &str, key_and_value: &str| {
            let response = guest.call(&asks(method, key_and_value)).unwrap();
            (response.status, response.content_type.to_string(), text(&response))
        };
        let plain = |status: i32, body: &str| (status as u16, "text/plain;charset=UTF-8".to_owned(), body.to_owned());
        assert_eq!(op("__KV_GET", "a\n"), plain(404, ""));
        assert_eq!(op("__KV_PUT", " b \nvalue b"), plain(200, "ok"));
        assert_eq!(op("__KV_PUT", "a\nvalue a"), plain(200, "ok"));
        assert_eq!(op("__KV_PUT", "é\n"), plain(200, "ok"));
        assert_eq!(op("__KV_PUT", "z\n"), plain(200, "ok"));
        assert_eq!(op("__KV_GET", "b\n"), plain(200, "value b"));
        // Names in UTF-8 byte order, and only those with the prefix.
        let json = |body: &str| (200, "application/json".to_owned(), body.to_owned());
        assert_eq!(op("__KV_LIST", "\n"), json(r#"["a","b","z","é"]"#));
        assert_eq!(op("__KV_LIST", "a\n"), json(r#"["a"]"#));
        assert_eq!(op("__KV_DELETE", "a\n"), plain(200, "ok"));
        assert_eq!(op("__KV_DELETE", "a\n"), plain(200, "ok"));
        assert_eq!(op("__KV_GET", "a\n"), plain(404, ""));
        assert_eq!(op("__KV_GET", "\n"), plain(500, "TypeError: KV key must not be empty"));
        assert_eq!(op("__R2_GET", "a\n"), plain(400, "unknown binding op: __R2_GET"));
        // Every open starts with an empty store.
        let mut fresh = open_with(v8, "kv-fresh", &wat, Duration::from_secs(5), &Outbound::default());
        assert_eq!(fresh.call(&asks("__KV_GET", "b\n")).unwrap().status, 404);
        // Without the binding.
        let no_kv = Outbound { kv: false, ..Outbound::default() };
        let mut without = open_with(v8, "no-kv", &wat, Duration::from_secs(5), &no_kv);
        let response = without.call(&asks("__KV_LIST", "\n")).unwrap();
        assert_eq!((response.status, text(&response).as_str()), (500, "KV binding not configured"));
        assert_eq!(response.content_type, "text/plain;charset=UTF-8");
        assert_eq!(without.call(&asks("__X", "k\n")).unwrap().status, 400);
    }

    #[test]
    fn a_handler_that_fetches_forever_breaks_the_cap() {
        let Some(v8) = v8() else { return };
        let capped = Outbound { max_fetches: 3, ..Outbound::default() };
        let mut guest =
            open_with(v8, "forever", &fetching_guest(Replay::AskAgain, ""), Duration::from_secs(5), &capped);
        match guest.call(&asks("__KV_GET", "k\n")) {
            Err(host::Error::Guest(error)) => {
                assert_eq!(error.rule(), Rule::FetchCap);
                assert!(
                    error.violation.message.contains("4 times") && error.violation.message.contains("--max-fetches")
                );
            }
            other => panic!("expected fetch.cap, got {other:?}"),
        }
        // The rule keeps the instance, and the count starts again with the next request.
        assert_eq!(rule(guest.call(&asks("__KV_GET", "k\n"))), Rule::FetchCap);
        assert_eq!(guest.instances(), 1);
    }

    #[test]
    fn a_malformed_fetch_request_names_the_rule() {
        let Some(v8) = v8() else { return };
        let mut guest = open_with(
            v8,
            "malformed",
            &fetching_guest(Replay::Record, ""),
            Duration::from_secs(5),
            &Outbound::default(),
        );
        // No newline in slot 2, and an empty URL for an HTTP fetch; a binding's key may be empty.
        assert_eq!(rule(guest.call(&asks("GET", "http://a/"))), Rule::FetchRequest);
        assert_eq!(rule(guest.call(&asks("GET", " \nbody"))), Rule::FetchRequest);
        assert_eq!(guest.call(&asks("__KV_LIST", "\n")).unwrap().status, 200);
        // Slot 3 must start with a decimal call index, and hold header lines GoMode can append.
        for (i, (index, headers)) in
            [("one", ""), ("0", "Bad Name: 1\n"), ("0", "X-A: \u{100}\n")].into_iter().enumerate()
        {
            let slot3 =
                format!("{}\n{}", slot_at(304, 4, 1536), string_at(1536, format!("{index}\n{headers}").as_bytes()));
            let wat = fetching_guest(Replay::Record, &slot3);
            let mut guest =
                open_with(v8, &format!("malformed-slot3-{i}"), &wat, Duration::from_secs(5), &Outbound::default());
            assert_eq!(rule(guest.call(&asks("__KV_LIST", "\n"))), Rule::FetchRequest, "{index:?} {headers:?}");
        }
    }

    #[test]
    fn deadlines_and_the_memory_limit_drop_the_instance() {
        let Some(v8) = v8() else { return };
        let path = write("loops.wat", wat_guest(200, "(loop $forever (br $forever)) (i32.const 256)", "", true));
        let mut loops = v8.open(&path, "loops", 128 << 20, Duration::from_millis(300), &Outbound::default()).unwrap();
        let started = Instant::now();
        assert_eq!(rule(loops.call(&Request::new("GET", "/"))), Rule::CallDeadline);
        assert_eq!(rule(loops.call(&Request::new("GET", "/"))), Rule::CallDeadline);
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert_eq!((loops.instances(), loops.memory_size()), (2, None));
        let bomb = "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 256)) (i32.const -1)))) unreachable";
        let path = write("bomb.wat", wat_guest(200, bomb, "", true));
        let mut bomb = v8.open(&path, "bomb", 16 << 20, Duration::from_secs(5), &Outbound::default()).unwrap();
        assert_eq!(rule(bomb.call(&Request::new("GET", "/"))), Rule::CallMemory);
        assert_eq!(bomb.memory_size(), None);
    }

    #[test]
    fn guests_are_served_concurrently() {
        let Some(v8) = v8() else { return };
        let wat = wat_guest(200, "(i32.const 256)", "", true);
        std::thread::scope(|scope| {
            for i in 0..4 {
                let wat = &wat;
                scope.spawn(move || {
                    let mut guest = open(v8, &format!("concurrent-{i}"), wat);
                    for _ in 0..50 {
                        assert_eq!(guest.call(&Request::new("GET", "/")).unwrap().status, 200);
                    }
                });
            }
        });
    }

    /// Times `GET /` round trips on a real guest: `GOMODE_V8_BENCH_GUEST`, or the built
    /// `rust-leaking` guest. Run with `cargo test -p conformance v8::tests::round_trip --
    /// --ignored --nocapture`.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn round_trip() {
        let Some(v8) = v8() else { return };
        let path = std::env::var_os("GOMODE_V8_BENCH_GUEST")
            .map_or_else(|| crate::guests_dir().join("rust-leaking.wasm"), PathBuf::from);
        let mut guest = v8.open(&path, "bench", 128 << 20, Duration::from_secs(5), &Outbound::default()).unwrap();
        let started = Instant::now();
        guest.start().unwrap();
        println!("start: {:?}", started.elapsed());
        let request = Request::new("GET", "/");
        let started = Instant::now();
        for _ in 0..1000 {
            assert_eq!(guest.call(&request).unwrap().status, 200);
        }
        println!("1000 calls of GET / on {}: {:?}", path.display(), started.elapsed());
    }
}
