//! `gomode-host serve`: a local HTTP/1.1 server in front of a guest, what `wrangler dev` is to
//! GoMode, so that a browser, `curl`, a load generator or GoMode's own test suite (which targets
//! `http://localhost:8787`) can talk to it.
//!
//! hyper serves connections on a tokio runtime. A request goes to one of a pool of long-lived
//! instances ([`Pool`]), like warm isolates: any idle instance serves any request, and per-instance
//! state (`/counter`) is per instance, as on Workers. Under `gomode`, paths under `/do/` go to one
//! singleton instance with `/do` stripped, one request at a time, as GoMode's Durable Object glue
//! does (`--single` sends every path there). Instances are [`GuestModule::async_guest`]s, called
//! on the connection's own worker thread: a guest gives the thread back while it waits on WASI or
//! an outbound fetch, and at every epoch tick of a long run. A guest error is answered and
//! logged, never fatal; an instance that broke a rule that poisons it is
//! replaced on its next request, and replacements are counted in the log. `--watch` swaps in a
//! new module when the file changes: requests in flight finish on the old one.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use bytes::Bytes;
use host::{Error, Guest, GuestModule, Host, HostError, Profile, Request, Response, Violation};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;

/// The largest request body `serve` reads, as a Workers request: 100 MB.
const MAX_BODY: usize = 100_000_000;

/// How long Ctrl-C waits for requests in flight before it exits anyway.
const DRAIN: Duration = Duration::from_secs(10);

/// How often `--watch` looks at the module's modification time.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// What `serve` was asked to do, from its command line.
#[derive(Debug)]
pub struct Options {
    pub guest: PathBuf,
    pub listen: SocketAddr,
    pub instances: usize,
    pub profile: Profile,
    pub single: bool,
    pub quiet: bool,
    pub watch: bool,
}

/// Instances of one module that serve requests in turn. Slots are boxed, so that taking one and
/// putting it back moves a pointer rather than the instance's handle.
struct Pool {
    #[expect(clippy::vec_box, reason = "a slot is large, and each request takes one out and puts it back")]
    idle: Mutex<Vec<Box<Slot>>>,
    available: tokio::sync::Semaphore,
}

/// A slot taken from the pool, which goes back when the lease is dropped, even when the request
/// is dropped midway because its client hung up (the guest then replaces the instance).
struct Lease<'p> {
    pool: &'p Pool,
    slot: Option<Box<Slot>>,
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(slot);
        }
    }
}

/// One instance of the pool, numbered for the access log.
struct Slot {
    id: usize,
    guest: Guest,
}

/// A loaded module and the instances that serve it.
struct Served {
    module: GuestModule,
    pool: Pool,
    /// The Durable Object: one instance, one request at a time.
    singleton: tokio::sync::Mutex<Slot>,
}

/// The server's state, shared by every connection.
struct State {
    options: Options,
    host: Host,
    served: RwLock<Arc<Served>>,
    replaced: AtomicU64,
}

/// Runs the server until Ctrl-C or SIGTERM, then drains requests in flight.
pub fn run(options: Options, host: Host) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(options.instances + 16)
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(options, host))
}

async fn serve(options: Options, host: Host) -> anyhow::Result<()> {
    let started = Instant::now();
    let cache_files = host.config().cache_dir.as_deref().map(count_files);
    let module = load(&host, &options.guest).await?;
    let how = match (cache_files, host.config().cache_dir.as_deref().map(count_files)) {
        (None, _) | (_, None) => "compiled (the cache is off)",
        (Some(before), Some(after)) if after > before => "compiled and cached",
        _ => "loaded from the cache",
    };
    let served = Served::new(module, &options).await?;
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let address = listener.local_addr()?;
    let name = served.module.name().to_owned();
    println!(
        "gomode-host: serving {name} under {} at http://{address} ({how} in {:.0?}; {} instances{})",
        options.profile,
        started.elapsed(),
        options.instances,
        match (options.single, options.profile) {
            (true, _) => ", every path to one Durable Object instance",
            (false, Profile::Gomode) => ", /do/ paths to one Durable Object instance",
            (false, Profile::Abi) => "",
        }
    );
    let state = Arc::new(State { options, host, served: RwLock::new(Arc::new(served)), replaced: AtomicU64::new(0) });
    if state.options.watch {
        tokio::spawn(watch(state.clone()));
    }
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                let service = service_fn(move |request| answer(state.clone(), request));
                // A response goes out as one buffer, its head and body copied together: a guest's
                // answer is usually small, and one plain write costs less than hyper's queue of
                // buffers (13,331 -> 12,905 instructions per `GET /`), at one more copy of a large body.
                let connection = http1::Builder::new().writev(false).serve_connection(TokioIo::new(stream), service);
                tokio::spawn(graceful.watch(connection));
            }
            () = &mut stop => break,
        }
    }
    drop(listener);
    eprintln!("gomode-host: stopping; waiting up to {DRAIN:?} for requests in flight");
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        eprintln!("gomode-host: some connections were still open after {DRAIN:?}");
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Loads and compiles the module on a blocking thread.
async fn load(host: &Host, path: &std::path::Path) -> anyhow::Result<GuestModule> {
    let (host, path) = (host.clone(), path.to_owned());
    tokio::task::spawn_blocking(move || host.load(&path)).await?.map_err(|err| anyhow::anyhow!("{err}"))
}

impl Served {
    /// Starts the pool's instances and the singleton, so that a guest that cannot start fails
    /// here rather than on the first request.
    async fn new(module: GuestModule, options: &Options) -> anyhow::Result<Served> {
        let mut slots = Vec::with_capacity(options.instances + 1);
        for id in 0..=options.instances {
            let mut guest = module.async_guest();
            guest.start_async().await.map_err(|err| anyhow::anyhow!("{err}"))?;
            slots.push(Box::new(Slot { id, guest }));
        }
        let singleton = slots.remove(0);
        Ok(Served {
            module,
            pool: Pool { available: tokio::sync::Semaphore::new(slots.len()), idle: Mutex::new(slots) },
            singleton: tokio::sync::Mutex::new(*singleton),
        })
    }
}

/// Serves one HTTP request.
async fn answer(
    state: Arc<State>,
    incoming: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, std::convert::Infallible> {
    // The clock is read only for the access log.
    let started = (!state.options.quiet).then(Instant::now);
    let (parts, body) = incoming.into_parts();
    let target = parts.uri.path_and_query().map_or_else(|| parts.uri.path(), |pq| pq.as_str());
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => body.to_bytes().to_vec(),
        Err(err) => return Ok(plain(413, format!("the request body cannot be read: {err}"))),
    };
    let headers =
        parts.headers.iter().map(|(name, value)| (name.as_str().to_owned(), text(value.as_bytes()))).collect();
    let served = state.served.read().unwrap_or_else(|e| e.into_inner()).clone();
    let durable = state.options.single
        || (state.options.profile == Profile::Gomode && (target == "/do" || target.starts_with("/do/")));
    let path = match target.strip_prefix("/do") {
        Some(rest) if durable && (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')) => {
            if rest.starts_with('/') { rest.to_owned() } else { format!("/{rest}") }
        }
        _ => target.to_owned(),
    };
    let request = Request { method: parts.method.as_str().to_owned(), path, headers, body };
    // The guest's response borrows its instance, so it becomes HTTP while the instance is held;
    // what the log says of it comes after.
    let ((response, trouble), instance) = if durable {
        let mut slot = served.singleton.lock().await;
        let answered = reply(slot.guest.answer_async(&request).await);
        (answered, Instance { durable: true, id: slot.id, generation: slot.guest.instances() })
    } else {
        let Ok(_permit) = served.pool.available.acquire().await else {
            return Ok(plain(503, "gomode-host: the instance pool is closed".into()));
        };
        let pool = &served.pool;
        let slot = pool.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut lease = Lease { pool, slot };
        let Some(slot) = lease.slot.as_mut() else {
            return Ok(plain(500, "gomode-host: no idle instance under a free permit".into()));
        };
        let answered = reply(slot.guest.answer_async(&request).await);
        (answered, Instance { durable: false, id: slot.id, generation: slot.guest.instances() })
    };
    match trouble {
        None => {}
        Some(Trouble::Panic(panic)) => {
            let first_line = panic.to_string();
            let first_line = first_line.lines().next().unwrap_or_default();
            eprintln!("gomode-host: {} {target} on {instance}: the guest broke {first_line}", parts.method);
        }
        Some(Trouble::Failed(Error::Guest(error))) if error.rule().poisons_instance() => {
            let replaced = state.replaced.fetch_add(1, Ordering::Relaxed) + 1;
            eprintln!("gomode-host: {error}; instance {instance} is replaced ({replaced} replacements so far)");
        }
        Some(Trouble::Failed(error)) => eprintln!("gomode-host: {error}"),
    }
    if let Some(started) = started {
        eprintln!(
            "{} {target} {} {}µs {instance}",
            parts.method,
            response.status().as_u16(),
            started.elapsed().as_micros()
        );
    }
    Ok(response)
}

/// A header value as text, with U+FFFD for what is not UTF-8. (`from_utf8` first: it checks
/// ASCII a word at a time, where `from_utf8_lossy` goes through its chunk iterator.)
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Which instance served a request, as the log names it: `#<slot>.<generation>` in the pool,
/// `do#<generation>` for the Durable Object; the generation counts the slot's replacements.
#[derive(Clone, Copy)]
struct Instance {
    durable: bool,
    id: usize,
    generation: u32,
}

impl std::fmt::Display for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.durable { write!(f, "do#{}", self.generation) } else { write!(f, "#{}.{}", self.id, self.generation) }
    }
}

/// A `text/plain` answer from `serve` itself.
fn plain(status: u16, text: String) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// What the log says of an answer besides its access line.
enum Trouble {
    /// Under `gomode`, the trap or exit that a 500 `panic: …` answer stands for.
    Panic(Violation),
    /// The call failed, and the client was told so.
    Failed(Error),
}

/// A call's outcome as HTTP, with what the log should say of it. A guest error answers 500, and
/// a host error 413, 400 or 500, as it is.
fn reply(outcome: Result<Response<'_>, Error>) -> (hyper::Response<Full<Bytes>>, Option<Trouble>) {
    match outcome {
        Ok(mut response) => {
            let trouble = response.panic.take().map(Trouble::Panic);
            (http_response(response), trouble)
        }
        Err(Error::Guest(error)) => (plain(500, format!("error: {error}")), Some(Trouble::Failed(error.into()))),
        Err(Error::Host(error)) => {
            let status = match &error {
                HostError::RequestTooLarge { .. } => 413,
                HostError::BadRequest { .. } => 400,
                _ => 500,
            };
            (plain(status, format!("error: {error}")), Some(Trouble::Failed(error.into())))
        }
    }
}

/// The guest's response as HTTP, with its body copied once out of guest memory. The host's
/// readers have already checked the status range and the header lines; anything hyper still
/// refuses is left out rather than failing the answer.
fn http_response(guest: Response<'_>) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::copy_from_slice(guest.body.as_bytes())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(guest.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&guest.content_type) {
        headers.insert(CONTENT_TYPE, value);
    }
    for (name, value) in &guest.headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            headers.append(name, value);
        }
    }
    response
}

/// Reloads the module when its file changes; a module that does not load is reported, and the
/// old one keeps serving.
async fn watch(state: Arc<State>) {
    let modified = |path: &std::path::Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let mut seen: Option<SystemTime> = modified(&state.options.guest);
    loop {
        tokio::time::sleep(WATCH_EVERY).await;
        let now = modified(&state.options.guest);
        if now == seen || now.is_none() {
            continue;
        }
        seen = now;
        // Let a writer finish the file before it is read.
        tokio::time::sleep(WATCH_EVERY).await;
        let started = Instant::now();
        let served = match load(&state.host, &state.options.guest).await {
            Ok(module) => Served::new(module, &state.options).await,
            Err(err) => Err(err),
        };
        match served {
            Ok(served) => {
                *state.served.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(served);
                eprintln!("gomode-host: reloaded {} in {:.0?}", state.options.guest.display(), started.elapsed());
            }
            Err(err) => eprintln!("gomode-host: kept the running module; the new one does not load: {err:#}"),
        }
    }
}

/// How many files a folder holds, recursively, to tell a cache hit from a compile.
fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => count_files(&entry.path()),
            _ => 1,
        })
        .sum()
}
