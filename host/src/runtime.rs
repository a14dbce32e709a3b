//! Runs zerobuf guests under wasmtime: load, initialize once, then serve many requests.
//!
//! A [`Host`] owns one wasmtime engine, the WASI preview1 linker and the epoch ticker that
//! enforces deadlines. [`Host::load`] checks a module's shape and compiles it (through
//! wasmtime's on-disk cache when one is configured) into a [`GuestModule`]. A [`Guest`] is a
//! live instance of it: it runs init once, allocates the request scratch area through the
//! guest's `malloc`, and then answers [`Guest::call`] after [`Guest::call`] on that same
//! instance. Every response is validated against `conformance/ABI.md`; anything the guest does
//! wrong becomes a [`GuestError`] naming the rule. After a trap, an exit, a missed deadline or a
//! memory bomb the instance is dropped, and the next call transparently gets a fresh one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{
    Cache, CacheConfig, Config, Engine, Instance, Linker, Memory, Module, ResourceLimiter, Store, Trap, TypedFunc,
    WasmBacktrace,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::capture::Capture;
use crate::error::{GuestError, Rule};
use crate::inspect::{self, ModuleInfo};
use crate::zerobuf::{self, Encoder, Tag, Value, ZbError};

/// Request slots the host writes: method, path, body, headers, and two reserved nulls.
pub const REQUEST_SLOTS: u32 = 6;
/// The size of the first scratch area the host asks the guest's `malloc` for.
pub const INITIAL_SCRATCH: u32 = 64 * 1024;
/// The feature bit a guest sets in `gomode_abi_features` when it writes response slot 3.
pub const FEATURE_RESPONSE_HEADERS: i32 = 1;
/// The only ABI version this host speaks.
pub const ABI_VERSION: i32 = 1;

const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits and knobs of a [`Host`]. `Default` gives the values `conformance/ABI.md` documents.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// How long one call into the guest may run before it is interrupted.
    pub deadline: Duration,
    /// The most linear memory a guest may grow to, in bytes.
    pub memory_limit: usize,
    /// How many bytes of stdout and of stderr are kept per call.
    pub output_limit: usize,
    /// Where wasmtime caches compiled modules; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig { deadline: Duration::from_secs(5), memory_limit: 1 << 30, output_limit: 64 * 1024, cache_dir: None }
    }
}

/// One HTTP request, as the host will encode it into request slots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// The method, such as `GET`.
    pub method: String,
    /// The path with its query, such as `/json?x=1`.
    pub path: String,
    /// Header names and values, in the order they were given.
    pub headers: Vec<(String, String)>,
    /// The body; bytes that are not UTF-8 are replaced, as the Worker's `request.text()` does.
    pub body: Vec<u8>,
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: &str, path: &str) -> Request {
        Request { method: method.to_owned(), path: path.to_owned(), ..Request::default() }
    }

    /// `METHOD PATH`, the way errors and reports name a request.
    pub fn summary(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The headers slot's text: names lowercased and sorted, repeated names joined with ", ",
    /// one `name: value\n` line each, exactly as the Fetch `Headers` object iterates them.
    pub fn header_lines(&self) -> String {
        let mut headers: Vec<(String, &str)> =
            self.headers.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.as_str())).collect();
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut text = String::new();
        let mut previous: Option<&str> = None;
        for (name, value) in &headers {
            if previous == Some(name.as_str()) {
                text.pop();
                text.push_str(", ");
            } else {
                text.push_str(name);
                text.push_str(": ");
            }
            text.push_str(value);
            text.push('\n');
            previous = Some(name);
        }
        text
    }
}

/// A response body, keeping the tag the guest chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// Tag 4: UTF-8 text.
    Text(String),
    /// Tag 8: raw bytes.
    Bytes(Vec<u8>),
}

impl Body {
    /// The body's bytes, whatever the tag.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Body::Text(text) => text.as_bytes(),
            Body::Bytes(bytes) => bytes,
        }
    }
}

/// A validated response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status, 100..=599.
    pub status: u16,
    /// The content type from slot 1.
    pub content_type: String,
    /// Headers from slot 3, empty when the guest does not declare them.
    pub headers: Vec<(String, String)>,
    /// The body from slot 2.
    pub body: Body,
    /// What the guest printed to stdout during this call.
    pub stdout: String,
    /// What the guest printed to stderr during this call.
    pub stderr: String,
}

impl Response {
    /// The response as `gomode-host call --json` prints it: `status`, `content_type`, `headers`
    /// (an object, repeated names joined by `, `), and `body` when the body is UTF-8 or
    /// `body_base64` when it is not.
    pub fn to_json(&self) -> serde_json::Value {
        use base64::Engine as _;
        let mut headers = serde_json::Map::new();
        for (name, value) in &self.headers {
            let joined = match headers.get(name) {
                Some(serde_json::Value::String(previous)) => format!("{previous}, {value}"),
                _ => value.clone(),
            };
            headers.insert(name.clone(), joined.into());
        }
        let mut object =
            serde_json::json!({"status": self.status, "content_type": self.content_type, "headers": headers});
        match std::str::from_utf8(self.body.as_bytes()) {
            Ok(text) => object["body"] = text.into(),
            Err(_) => {
                object["body_base64"] = base64::engine::general_purpose::STANDARD.encode(self.body.as_bytes()).into()
            }
        }
        object
    }
}

/// The engine, linker and limits shared by every guest a host loads.
#[derive(Debug)]
struct Shared {
    engine: Engine,
    linker: Linker<State>,
    config: HostConfig,
}

/// A wasmtime host for zerobuf guests. Cheap to clone; clones share the engine.
#[derive(Clone, Debug)]
pub struct Host {
    shared: Arc<Shared>,
}

impl Host {
    /// Creates the engine and starts the epoch ticker that enforces deadlines.
    pub fn new(config: HostConfig) -> wasmtime::Result<Host> {
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        if let Some(dir) = &config.cache_dir {
            let mut cache = CacheConfig::new();
            cache.with_directory(dir);
            wasm.cache(Some(Cache::new(cache)?));
        }
        let engine = Engine::new(&wasm)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut State| &mut state.wasi)?;
        let weak = engine.weak();
        std::thread::Builder::new().name("gomode-epoch".into()).spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })?;
        Ok(Host { shared: Arc::new(Shared { engine, linker, config }) })
    }

    /// The limits this host enforces.
    pub fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// Loads a guest from a `.wasm` (or `.wat`) file, naming it after the file stem.
    pub fn load(&self, path: &Path) -> Result<GuestModule, GuestError> {
        let name = path.file_stem().map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned());
        let bytes = std::fs::read(path).map_err(|err| {
            GuestError::new(&name, Rule::ModuleWasm, format!("cannot read {}: {err}", path.display()))
        })?;
        self.load_bytes(&name, &bytes)
    }

    /// Checks a module's shape, compiles it, and returns it ready to instantiate.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<GuestModule, GuestError> {
        let binary = wat::parse_bytes(bytes)
            .map_err(|err| GuestError::new(name, Rule::ModuleWasm, format!("not WebAssembly: {err}")))?;
        let info =
            inspect::inspect(&binary).map_err(|err| GuestError::new(name, Rule::ModuleWasm, format!("{err:#}")))?;
        if let Some(violation) = info.violations().into_iter().next() {
            let rule = Rule::from_id(violation.rule).unwrap_or(Rule::ModuleWasm);
            return Err(GuestError::new(name, rule, violation.message));
        }
        let module = Module::new(&self.shared.engine, &binary)
            .map_err(|err| GuestError::new(name, Rule::ModuleWasm, format!("does not compile: {err:#}")))?;
        Ok(GuestModule { shared: self.shared.clone(), name: name.to_owned(), module, info: Arc::new(info) })
    }
}

/// A compiled guest module. Instantiate it with [`GuestModule::guest`].
#[derive(Clone, Debug)]
pub struct GuestModule {
    shared: Arc<Shared>,
    name: String,
    module: Module,
    info: Arc<ModuleInfo>,
}

impl GuestModule {
    /// The guest's name, used in every error.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What static inspection found in the module.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// A guest handle that instantiates lazily, on the first call.
    pub fn guest(&self) -> Guest {
        Guest { module: self.clone(), live: None, instances: 0 }
    }
}

/// What a guest declared through its optional `gomode_abi_*` exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declared {
    /// The ABI version (1 when the guest exports no `gomode_abi_version`).
    pub version: i32,
    /// The feature bits (0 when the guest exports no `gomode_abi_features`).
    pub features: i32,
}

impl Declared {
    /// Whether the guest writes response slot 3.
    pub fn response_headers(self) -> bool {
        self.features & FEATURE_RESPONSE_HEADERS != 0
    }
}

/// A long-lived guest instance that is replaced after it breaks.
#[derive(Debug)]
pub struct Guest {
    module: GuestModule,
    live: Option<Live>,
    instances: u32,
}

impl Guest {
    /// The guest's name.
    pub fn name(&self) -> &str {
        &self.module.name
    }

    /// How many instances this guest has created so far (more than 1 after a replacement).
    pub fn instances(&self) -> u32 {
        self.instances
    }

    /// Instantiates and initializes the guest now, if it is not live, and reports what it declared.
    pub fn start(&mut self) -> Result<Declared, GuestError> {
        Ok(self.live()?.declared)
    }

    /// The current size of the live instance's linear memory in bytes.
    pub fn memory_size(&mut self) -> Option<usize> {
        self.live.as_mut().map(|live| live.memory.data_size(&live.store))
    }

    /// Serves one request on the live instance, creating one first when there is none.
    pub fn call(&mut self, request: &Request) -> Result<Response, GuestError> {
        let result = self.live().and_then(|live| live.serve(request));
        result.map_err(|mut error| {
            if error.rule.poisons_instance() {
                self.live = None;
            }
            error.request = Some(request.summary());
            error
        })
    }

    fn live(&mut self) -> Result<&mut Live, GuestError> {
        if self.live.is_none() {
            self.instances += 1;
            self.live = Some(Live::start(&self.module)?);
        }
        Ok(self.live.as_mut().expect("the instance was just created"))
    }
}

/// Per-store state: WASI, the memory limiter and the captured output.
struct State {
    wasi: WasiP1Ctx,
    limiter: Limiter,
    stdout: Capture,
    stderr: Capture,
}

/// Refuses memory growth past the host's limit and remembers that it did.
#[derive(Debug)]
struct Limiter {
    limit: usize,
    refused: Option<usize>,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.refused = Some(desired);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _max: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

/// Where in the instance's life an error happened; it decides which rule a trap breaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Init,
    Malloc,
    Call,
}

/// One instantiated, initialized guest.
struct Live {
    name: String,
    store: Store<State>,
    memory: Memory,
    handle: TypedFunc<i32, i32>,
    malloc: TypedFunc<i32, i32>,
    declared: Declared,
    scratch: u32,
    scratch_len: u32,
    deadline_ticks: u64,
    deadline: Duration,
    memory_limit: usize,
}

impl std::fmt::Debug for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live").field("name", &self.name).field("declared", &self.declared).finish_non_exhaustive()
    }
}

impl Live {
    fn start(module: &GuestModule) -> Result<Live, GuestError> {
        let shared = &module.shared;
        let config = &shared.config;
        let (stdout, stderr) = (Capture::new(config.output_limit), Capture::new(config.output_limit));
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .arg(&module.name)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let limiter = Limiter { limit: config.memory_limit, refused: None };
        let mut store = Store::new(&shared.engine, State { wasi, limiter, stdout, stderr });
        store.limiter(|state| &mut state.limiter);
        store.epoch_deadline_trap();
        let deadline_ticks = config.deadline.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64 + 1;
        store.set_epoch_deadline(deadline_ticks);

        let name = module.name.clone();
        let fail = |store: &mut Store<State>, rule: Rule, message: String| {
            let mut error = GuestError::new(&name, rule, message);
            error.stdout = store.data().stdout.take();
            error.stderr = store.data().stderr.take();
            error
        };
        let instance = match shared.linker.instantiate(&mut store, &module.module) {
            Ok(instance) => instance,
            Err(err) => {
                let (rule, message) = classify(&mut store, err, Phase::Init, config);
                return Err(fail(&mut store, rule, message));
            }
        };
        let exports =
            Exports::get(&mut store, &instance).map_err(|message| fail(&mut store, Rule::ModuleExports, message))?;
        if let Some(init) = &exports.init
            && let Err(err) = init.call(&mut store, ())
        {
            let exited_cleanly = matches!(err.downcast_ref::<I32Exit>(), Some(I32Exit(0)));
            if !exited_cleanly {
                let (rule, message) = classify(&mut store, err, Phase::Init, config);
                return Err(fail(&mut store, rule, message));
            }
        }
        let declared = match read_declarations(&mut store, &exports) {
            Ok(declared) => declared,
            Err((rule, message)) => return Err(fail(&mut store, rule, message)),
        };
        let mut live = Live {
            name: name.clone(),
            store,
            memory: exports.memory,
            handle: exports.handle,
            malloc: exports.malloc,
            declared,
            scratch: 0,
            scratch_len: 0,
            deadline_ticks,
            deadline: config.deadline,
            memory_limit: config.memory_limit,
        };
        live.grow_scratch(INITIAL_SCRATCH)?;
        // Init output is not part of any request; it is dropped once init succeeded.
        live.store.data().stdout.take();
        live.store.data().stderr.take();
        Ok(live)
    }

    fn error(&mut self, rule: Rule, message: String) -> GuestError {
        let mut error = GuestError::new(&self.name, rule, message);
        error.stdout = self.store.data().stdout.take();
        error.stderr = self.store.data().stderr.take();
        error
    }

    fn config(&self) -> HostConfig {
        HostConfig { deadline: self.deadline, memory_limit: self.memory_limit, ..HostConfig::default() }
    }

    /// Asks the guest's `malloc` for a scratch area of at least `len` bytes and checks it.
    fn grow_scratch(&mut self, len: u32) -> Result<(), GuestError> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        let ptr = match self.malloc.call(&mut self.store, len as i32) {
            Ok(ptr) => ptr as u32,
            Err(err) => {
                let config = self.config();
                let (rule, message) = classify(&mut self.store, err, Phase::Malloc, &config);
                return Err(self.error(rule, message));
            }
        };
        let memory_len = self.memory.data_size(&self.store) as u64;
        if ptr == 0 {
            return Err(self.error(Rule::InitMalloc, format!("malloc({len}) returned null")));
        }
        if ptr % 8 != 0 {
            return Err(
                self.error(Rule::InitMalloc, format!("malloc({len}) returned {ptr:#x}, which is not 8-byte aligned"))
            );
        }
        if u64::from(ptr) + u64::from(len) > memory_len {
            return Err(self.error(
                Rule::InitMalloc,
                format!("malloc({len}) returned {ptr:#x}, but the region ends past the {memory_len}-byte memory"),
            ));
        }
        self.scratch = ptr;
        self.scratch_len = len;
        Ok(())
    }

    fn encode(&mut self, request: &Request) -> Result<Vec<u8>, GuestError> {
        let body = String::from_utf8_lossy(&request.body);
        let headers = request.header_lines();
        let slots = [
            Value::String(&request.method),
            Value::String(&request.path),
            Value::String(&body),
            Value::String(&headers),
            Value::Null,
            Value::Null,
        ];
        let encoded = Encoder::new(self.scratch, REQUEST_SLOTS).and_then(|mut encoder| {
            for (i, value) in (0..).zip(&slots) {
                encoder.set(i, value)?;
            }
            Ok(encoder.finish())
        });
        encoded.map_err(|err| {
            self.error(Rule::InitMalloc, format!("the request cannot be laid out in the scratch area: {err}"))
        })
    }

    fn serve(&mut self, request: &Request) -> Result<Response, GuestError> {
        self.store.data().stdout.take();
        self.store.data().stderr.take();
        let mut encoded = self.encode(request)?;
        if encoded.len() > self.scratch_len as usize {
            let wanted =
                u32::try_from(encoded.len()).ok().and_then(u32::checked_next_power_of_two).ok_or_else(|| {
                    self.error(Rule::InitMalloc, format!("a {}-byte request does not fit in wasm32", encoded.len()))
                })?;
            self.grow_scratch(wanted)?;
            encoded = self.encode(request)?;
        }
        self.memory.write(&mut self.store, self.scratch as usize, &encoded).map_err(|err| {
            self.error(Rule::InitMalloc, format!("the scratch area is no longer inside memory: {err}"))
        })?;
        self.store.set_epoch_deadline(self.deadline_ticks);
        let response_ptr = match self.handle.call(&mut self.store, self.scratch as i32) {
            Ok(ptr) => ptr as u32,
            Err(err) => {
                let config = self.config();
                let (rule, message) = classify(&mut self.store, err, Phase::Call, &config);
                return Err(self.error(rule, message));
            }
        };
        let memory = self.memory.data(&self.store);
        match read_response(memory, response_ptr, self.declared) {
            Ok((status, content_type, headers, body)) => Ok(Response {
                status,
                content_type,
                headers,
                body,
                stdout: self.store.data().stdout.take(),
                stderr: self.store.data().stderr.take(),
            }),
            Err((rule, message)) => Err(self.error(rule, message)),
        }
    }
}

/// The exports the host calls, looked up once per instance.
struct Exports {
    memory: Memory,
    handle: TypedFunc<i32, i32>,
    malloc: TypedFunc<i32, i32>,
    init: Option<TypedFunc<(), ()>>,
    version: Option<TypedFunc<(), i32>>,
    features: Option<TypedFunc<(), i32>>,
}

impl Exports {
    fn get(store: &mut Store<State>, instance: &Instance) -> Result<Exports, String> {
        let memory = instance.get_memory(&mut *store, "memory").ok_or("`memory` is not an exported memory")?;
        let handle = typed(store, instance, "handle_zerobuf")?.ok_or("`handle_zerobuf` is not exported")?;
        let malloc = typed(store, instance, "malloc")?.ok_or("`malloc` is not exported")?;
        // `_initialize` wins when both are exported; `_start` is then never called.
        let init = match typed(store, instance, "_initialize")? {
            Some(init) => Some(init),
            None => typed(store, instance, "_start")?,
        };
        Ok(Exports {
            memory,
            handle,
            malloc,
            init,
            version: typed(store, instance, "gomode_abi_version")?,
            features: typed(store, instance, "gomode_abi_features")?,
        })
    }
}

/// Looks up an exported function with the given type; `Ok(None)` when it is not exported.
fn typed<P: wasmtime::WasmParams, R: wasmtime::WasmResults>(
    store: &mut Store<State>,
    instance: &Instance,
    name: &str,
) -> Result<Option<TypedFunc<P, R>>, String> {
    match instance.get_func(&mut *store, name) {
        Some(func) => func.typed(&*store).map(Some).map_err(|err| format!("`{name}` has the wrong type: {err}")),
        None => Ok(None),
    }
}

fn read_declarations(store: &mut Store<State>, exports: &Exports) -> Result<Declared, (Rule, String)> {
    let mut call = |func: &Option<TypedFunc<(), i32>>, default: i32| match func {
        Some(func) => func
            .call(&mut *store, ())
            .map_err(|err| (Rule::ModuleDeclarations, format!("calling a `gomode_abi_*` export failed: {err}"))),
        None => Ok(default),
    };
    let version = call(&exports.version, ABI_VERSION)?;
    let features = call(&exports.features, 0)?;
    if version != ABI_VERSION {
        return Err((
            Rule::ModuleDeclarations,
            format!("gomode_abi_version() returned {version}; this host speaks version {ABI_VERSION}"),
        ));
    }
    if features & !FEATURE_RESPONSE_HEADERS != 0 {
        return Err((
            Rule::ModuleDeclarations,
            format!("gomode_abi_features() returned {features:#x}; only bit 0 (response headers) is defined"),
        ));
    }
    Ok(Declared { version, features })
}

/// Turns a wasmtime error from a call into the guest into the rule it broke.
fn classify(store: &mut Store<State>, err: wasmtime::Error, phase: Phase, config: &HostConfig) -> (Rule, String) {
    if let Some(desired) = store.data_mut().limiter.refused.take() {
        return (
            Rule::CallMemory,
            format!(
                "tried to grow linear memory to {desired} bytes, over the host's limit of {} bytes",
                config.memory_limit
            ),
        );
    }
    if let Some(I32Exit(code)) = err.downcast_ref::<I32Exit>() {
        return match phase {
            Phase::Init => (Rule::InitStart, format!("init called proc_exit({code}); only 0 counts as success")),
            Phase::Malloc | Phase::Call => {
                (Rule::CallExit, format!("called proc_exit({code}) while serving; exit is only allowed during init"))
            }
        };
    }
    let backtrace = err.downcast_ref::<WasmBacktrace>().map(|bt| format!("\n{bt}")).unwrap_or_default();
    let trap = match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return (
                Rule::CallDeadline,
                format!("did not return within the {:?} deadline{backtrace}", config.deadline),
            );
        }
        Some(Trap::StackOverflow) => "stack overflow (call stack exhausted)".to_owned(),
        Some(trap) => format!("trap: {trap}"),
        None => format!("{err:#}"),
    };
    let rule = match phase {
        Phase::Init => Rule::InitStart,
        Phase::Malloc => Rule::InitMalloc,
        Phase::Call => Rule::CallTrap,
    };
    (rule, format!("{trap}{backtrace}"))
}

type Parts = (u16, String, Vec<(String, String)>, Body);

/// Reads and validates the response slots at `base`; the error names the broken rule.
pub fn read_response(memory: &[u8], base: u32, declared: Declared) -> Result<Parts, (Rule, String)> {
    let slots: u32 = if declared.response_headers() { 4 } else { 3 };
    let end = u64::from(base) + u64::from(slots * zerobuf::SLOT_SIZE);
    if end > memory.len() as u64 {
        return Err((
            Rule::ResponsePointer,
            format!(
                "the response at {base:#x} needs {slots} slots up to {end:#x}, but memory is {} bytes",
                memory.len()
            ),
        ));
    }
    let slot = |i: u32| base + i * zerobuf::SLOT_SIZE;
    let wrong = |rule: Rule, what: &str, i: u32, expected: &str, found: u8| {
        let found = Tag::from_u8(found)
            .map_or_else(|| format!("unknown tag {found}"), |t| format!("tag {found} ({})", t.name()));
        (rule, format!("slot {i} ({what}) has {found}; expected {expected}"))
    };
    let payload_error = |err: ZbError| match err {
        ZbError::InvalidUtf8 { .. } => (Rule::ResponseUtf8, err.to_string()),
        _ => (Rule::ResponseBounds, err.to_string()),
    };

    let status = zerobuf::read_slot(memory, slot(0)).map_err(payload_error)?;
    if status.tag != Tag::I32 as u8 {
        return Err(wrong(Rule::ResponseStatus, "status", 0, "tag 2 (i32)", status.tag));
    }
    let code = status.a as i32;
    if !(100..=599).contains(&code) {
        let why =
            if code == -1 { " (-1 asks for an outbound fetch, which ABI version 1 hosts do not offer)" } else { "" };
        return Err((Rule::ResponseStatus, format!("status {code} is outside 100..=599{why}")));
    }

    let content_type = zerobuf::read_slot(memory, slot(1)).map_err(payload_error)?;
    if content_type.tag != Tag::String as u8 {
        return Err(wrong(Rule::ResponseContentType, "content type", 1, "tag 4 (string)", content_type.tag));
    }
    let content_type = zerobuf::read_string(memory, slot(1)).map_err(payload_error)?.to_owned();

    let body_slot = zerobuf::read_slot(memory, slot(2)).map_err(payload_error)?;
    let body = match Tag::from_u8(body_slot.tag) {
        Some(Tag::String) => Body::Text(zerobuf::read_string(memory, slot(2)).map_err(payload_error)?.to_owned()),
        Some(Tag::Bytes) => {
            Body::Bytes(zerobuf::read_bytes_or_string(memory, slot(2)).map_err(payload_error)?.1.to_vec())
        }
        _ => return Err(wrong(Rule::ResponseBody, "body", 2, "tag 4 (string) or 8 (bytes)", body_slot.tag)),
    };

    let mut headers = Vec::new();
    if declared.response_headers() {
        let header_slot = zerobuf::read_slot(memory, slot(3)).map_err(payload_error)?;
        match Tag::from_u8(header_slot.tag) {
            Some(Tag::Null) => {}
            Some(Tag::String) => {
                let text = zerobuf::read_string(memory, slot(3)).map_err(payload_error)?;
                headers = parse_header_lines(text).map_err(|message| (Rule::ResponseHeaders, message))?;
            }
            _ => return Err(wrong(Rule::ResponseHeaders, "headers", 3, "tag 0 (null) or 4 (string)", header_slot.tag)),
        }
    }
    Ok((code as u16, content_type, headers, body))
}

/// Parses `name: value\n` lines; every line ends in `\n` and every name is an HTTP token.
pub fn parse_header_lines(text: &str) -> Result<Vec<(String, String)>, String> {
    let Some(body) = text.strip_suffix('\n').or(if text.is_empty() { Some("") } else { None }) else {
        return Err(format!("the header text does not end with a newline: {text:?}"));
    };
    if body.is_empty() {
        return Ok(Vec::new());
    }
    body.split('\n')
        .map(|line| {
            let (name, value) = line.split_once(": ").ok_or_else(|| format!("header line {line:?} has no \": \""))?;
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if name.is_empty() || !name.chars().all(token) {
                return Err(format!("header name {name:?} is not an HTTP token"));
            }
            if value.contains('\r') {
                return Err(format!("header value {value:?} contains a carriage return"));
            }
            Ok((name.to_owned(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines_are_lowercased_sorted_and_combined() {
        let mut request = Request::new("GET", "/");
        request.headers = vec![("X-B".into(), "2".into()), ("accept".into(), "*/*".into()), ("x-b".into(), "3".into())];
        assert_eq!(request.header_lines(), "accept: */*\nx-b: 2, 3\n");
        assert_eq!(Request::new("GET", "/").header_lines(), "");
    }

    #[test]
    fn header_parsing_accepts_only_well_formed_lines() {
        assert_eq!(
            parse_header_lines("a: 1\nb-c: x y\n").unwrap(),
            vec![("a".into(), "1".into()), ("b-c".into(), "x y".into())]
        );
        assert_eq!(parse_header_lines("").unwrap(), vec![]);
        assert!(parse_header_lines("a: 1").is_err());
        assert!(parse_header_lines("a 1\n").is_err());
        assert!(parse_header_lines("bad name: 1\n").is_err());
        assert!(parse_header_lines(": 1\n").is_err());
    }
}
