//! The host's public face: load guests, and serve requests on long-lived instances.
//!
//! A [`Host`] owns one wasmtime engine, the WASI preview1 linker and the epoch ticker that
//! enforces deadlines. [`Host::load`] checks a module's shape and compiles it (through
//! wasmtime's on-disk cache when one is configured) into a [`GuestModule`]. A [`Guest`] is a
//! handle on a live instance of it (`instance.rs`), which answers [`Guest::call`] after
//! [`Guest::call`]. After a trap, an exit, a missed deadline or a memory bomb the instance is
//! dropped, and the next call transparently gets a fresh one. [`GuestModule::async_guest`] makes
//! a guest for an async runtime, whose [`Guest::call_async`] gives the thread back while the
//! guest waits.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::{Cache, CacheConfig, Config, Engine, Linker, Module};

use crate::error::{Error, GuestError, HostError, Rule, Violation};
use crate::fetch::{Outbound, Upstream};
use crate::inspect::{self, ModuleInfo};
use crate::instance::{self, Live, Mode, State};
use crate::profile::Profile;
use crate::request::Request;
use crate::response::Response;

/// The feature bit a guest sets in `gomode_abi_features` when it writes response slot 3.
pub const FEATURE_RESPONSE_HEADERS: i32 = 1;
/// The only ABI version this host speaks.
pub const ABI_VERSION: i32 = 1;

/// How often the epoch ticker advances; deadlines are counted in these ticks.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits and knobs of a [`Host`]. [`HostConfig::new`] gives a profile's documented values;
/// `Default` is `HostConfig::new(Profile::Gomode)`, because GoMode is what users deploy to.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// Which contract guests are run and judged by.
    pub profile: Profile,
    /// How long one call into the guest may run before it is interrupted.
    pub deadline: Duration,
    /// The most linear memory a guest may grow to, in bytes.
    pub memory_limit: usize,
    /// How many bytes of stdout and of stderr are kept per call.
    pub output_limit: usize,
    /// Where wasmtime caches compiled modules; `None` compiles every time.
    pub cache_dir: Option<PathBuf>,
    /// How many outbound fetches one request may ask for before it breaks `fetch.cap`.
    pub max_fetches: u32,
    /// What answers the guests' outbound fetches and binding operations.
    pub upstream: Arc<dyn Upstream>,
}

impl HostConfig {
    /// The values `conformance/ABI.md` documents for `profile`.
    pub fn new(profile: Profile) -> HostConfig {
        HostConfig {
            profile,
            deadline: Duration::from_secs(5),
            memory_limit: profile.default_memory_limit(),
            output_limit: 64 * 1024,
            cache_dir: None,
            max_fetches: 64,
            upstream: Arc::new(Outbound::default()),
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig::new(Profile::default())
    }
}

/// The engine, linkers and limits shared by every guest a host loads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) engine: Engine,
    /// WASI preview1 with synchronous host functions, for [`Mode::Sync`] instances.
    pub(crate) linker: Linker<State>,
    /// WASI preview1 with asynchronous host functions, for [`Mode::Async`] instances.
    pub(crate) async_linker: Linker<State>,
    pub(crate) config: HostConfig,
}

/// A wasmtime host for zerobuf guests. Cheap to clone; clones share the engine.
#[derive(Clone, Debug)]
pub struct Host {
    shared: Arc<Shared>,
}

impl Host {
    /// Creates the engine and starts the epoch ticker that enforces deadlines.
    pub fn new(config: HostConfig) -> Result<Host, HostError> {
        let engine_error = |err: wasmtime::Error| HostError::Engine(format!("cannot start wasmtime: {err:#}"));
        let mut wasm = Config::new();
        wasm.epoch_interruption(true);
        if let Some(dir) = &config.cache_dir {
            let mut cache = CacheConfig::new();
            cache.with_directory(dir);
            wasm.cache(Some(Cache::new(cache).map_err(engine_error)?));
        }
        let engine = Engine::new(&wasm).map_err(engine_error)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut State| &mut state.wasi)
            .map_err(engine_error)?;
        let mut async_linker = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_async(&mut async_linker, |state: &mut State| &mut state.wasi)
            .map_err(engine_error)?;
        let weak = engine.weak();
        std::thread::Builder::new()
            .name("gomode-epoch".into())
            .spawn(move || {
                while let Some(engine) = weak.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|err| HostError::Engine(format!("cannot start the epoch ticker: {err}")))?;
        Ok(Host { shared: Arc::new(Shared { engine, linker, async_linker, config }) })
    }

    /// The limits this host enforces.
    pub fn config(&self) -> &HostConfig {
        &self.shared.config
    }

    /// Loads a guest from a `.wasm` (or `.wat`) file, naming it after the file stem.
    pub fn load(&self, path: &Path) -> Result<GuestModule, Error> {
        let name = path.file_stem().map_or_else(|| "guest".into(), |s| s.to_string_lossy().into_owned());
        let bytes = std::fs::read(path).map_err(|reason| HostError::Read { path: path.to_owned(), reason })?;
        Ok(self.load_bytes(&name, &bytes)?)
    }

    /// Checks a module's shape, compiles it, and returns it ready to instantiate.
    pub fn load_bytes(&self, name: &str, bytes: &[u8]) -> Result<GuestModule, GuestError> {
        let fail = |violation| GuestError::new(name, violation);
        let binary = wat::parse_bytes(bytes)
            .map_err(|err| fail(Violation::new(Rule::ModuleWasm, format!("not WebAssembly: {err}"))))?;
        let info = inspect::inspect(&binary).map_err(fail)?;
        if let Some(violation) = info.violations_under(self.shared.config.profile).into_iter().next() {
            return Err(fail(violation));
        }
        let module = Module::new(&self.shared.engine, &binary)
            .map_err(|err| fail(Violation::new(Rule::ModuleWasm, format!("does not compile: {err:#}"))))?;
        Ok(GuestModule { shared: self.shared.clone(), name: name.to_owned(), module, info: Arc::new(info) })
    }
}

/// A compiled guest module. Instantiate it with [`GuestModule::guest`].
#[derive(Clone, Debug)]
pub struct GuestModule {
    pub(crate) shared: Arc<Shared>,
    pub(crate) name: String,
    pub(crate) module: Module,
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

    /// A guest handle that instantiates lazily, on the first call. Its calls run on the
    /// caller's stack: the fastest way to call a guest outside an async runtime.
    pub fn guest(&self) -> Guest {
        self.guest_in(Mode::Sync)
    }

    /// A guest handle for an async runtime (tokio), to be called with [`Guest::call_async`]: the
    /// guest runs on a wasmtime fiber, and gives the thread back to the runtime while it waits on
    /// WASI or an outbound fetch and at every epoch tick (10 ms) of a long run.
    pub fn async_guest(&self) -> Guest {
        self.guest_in(Mode::Async)
    }

    fn guest_in(&self, mode: Mode) -> Guest {
        let upstream = self.shared.config.upstream.clone();
        Guest { module: self.clone(), mode, live: None, stale: false, instances: 0, upstream }
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

    /// Whether the guest asks for outbound fetches with status -1 under `abi`.
    pub fn outbound_fetch(self) -> bool {
        self.features & crate::fetch::FEATURE_OUTBOUND_FETCH != 0
    }
}

/// A long-lived guest instance that is replaced after it breaks.
#[derive(Debug)]
pub struct Guest {
    module: GuestModule,
    mode: Mode,
    live: Option<Live>,
    /// Set while a call is in progress, and after a call that broke the instance; still set at
    /// the next call when the caller dropped an async call before it finished, which leaves the
    /// instance stopped midway. The next call replaces a stale instance.
    stale: bool,
    instances: u32,
    upstream: Arc<dyn Upstream>,
}

impl Guest {
    /// The guest's name.
    pub fn name(&self) -> &str {
        &self.module.name
    }

    /// This guest with its own upstream instead of the host's, for example its own KV store.
    /// It takes effect from the next instance.
    pub fn with_upstream(mut self, upstream: Arc<dyn Upstream>) -> Guest {
        self.upstream = upstream;
        self
    }

    /// How many instances this guest has created so far (more than 1 after a replacement).
    pub fn instances(&self) -> u32 {
        self.instances
    }

    /// Instantiates and initializes the guest now, if it is not live, and reports what it declared.
    /// On an [`GuestModule::async_guest`], this must not be called on an async runtime's thread.
    pub fn start(&mut self) -> Result<Declared, GuestError> {
        self.block_on(|guest| guest.start_async())
    }

    /// [`Guest::start`] for an async runtime.
    pub async fn start_async(&mut self) -> Result<Declared, GuestError> {
        let made = self.make_live().await;
        self.stale = false;
        made.map(|()| self.live.as_ref().expect("the instance was just made").declared)
    }

    /// The current size of the live instance's linear memory in bytes.
    pub fn memory_size(&mut self) -> Option<usize> {
        // A stale instance is as good as gone: the next call replaces it.
        self.live.as_mut().filter(|_| !self.stale).map(Live::memory_size)
    }

    /// Serves one request on the live instance, creating one first when there is none, and
    /// returns the response with its own copy of the body. On an
    /// [`GuestModule::async_guest`], this must not be called on an async runtime's thread.
    pub fn call(&mut self, request: &Request) -> Result<Response<'static>, Error> {
        let response = self.answer(request).map(Response::into_owned);
        self.drop_stale();
        response
    }

    /// [`Guest::call`] for an async runtime. If the future is dropped before it finishes, the
    /// instance it stopped in is dropped too, at the next call.
    pub async fn call_async(&mut self, request: &Request) -> Result<Response<'static>, Error> {
        let response = self.answer_async(request).await.map(Response::into_owned);
        self.drop_stale();
        response
    }

    /// Serves one request like [`Guest::call`], but reads the response in place: its content
    /// type and body borrow the guest's memory until the next call, which saves copying them
    /// when the caller copies them anyway, as a server does into its HTTP response. An instance
    /// that the call broke is dropped at the next call.
    pub fn answer(&mut self, request: &Request) -> Result<Response<'_>, Error> {
        if self.mode == Mode::Async {
            return self.block_on(|guest| guest.answer_async(request));
        }
        // A synchronous instance is served on this stack, without a future (`Live::serve_now`).
        if self.stale || self.live.is_none() {
            let made = instance::now(std::pin::pin!(self.make_live()));
            made.map_err(|error| self.unmade(error, request))?;
        } else {
            self.stale = true;
        }
        let live = self.live.as_mut().expect("the instance was just made");
        live.serve_now(request, &mut self.stale)
    }

    /// [`Guest::answer`] for an async runtime. If the future is dropped before it finishes, the
    /// instance it stopped in is dropped too, at the next call.
    pub async fn answer_async(&mut self, request: &Request) -> Result<Response<'_>, Error> {
        // Awaited only when there is an instance to make, so that a call's future is small.
        if self.stale || self.live.is_none() {
            let made = self.make_live().await;
            made.map_err(|error| self.unmade(error, request))?;
        } else {
            self.stale = true;
        }
        // The field itself, not a method's borrow of all of `self`, so that the flag can be set
        // while the response borrows the instance.
        let live = self.live.as_mut().expect("the instance was just made");
        live.serve(request, &mut self.stale).await
    }

    /// The error of a call that could not make its instance; the next call tries again.
    fn unmade(&mut self, mut error: GuestError, request: &Request) -> Error {
        self.stale = false;
        error.request = Some(request.summary());
        Error::Guest(error)
    }

    /// Drops an instance that the last call broke, now that nothing borrows it.
    fn drop_stale(&mut self) {
        if self.stale {
            self.live = None;
        }
    }

    /// Runs `call` to the end on this thread: a synchronous guest's futures are ready at once,
    /// and an async guest's run on wasmtime-wasi's own runtime.
    fn block_on<'g, F: Future>(&'g mut self, call: impl FnOnce(&'g mut Guest) -> F) -> F::Output {
        match self.mode {
            // Pinned where it is made: a call's future is large, and moving it costs a copy.
            Mode::Sync => instance::now(std::pin::pin!(call(self))),
            Mode::Async => wasmtime_wasi::runtime::in_tokio(call(self)),
        }
    }

    /// Makes an instance when there is none, or when the last one is stale.
    async fn make_live(&mut self) -> Result<(), GuestError> {
        // Stale: the last call broke the instance, or was dropped midway and left it stopped
        // wherever it was. The caller clears the flag once its call has finished.
        if std::mem::replace(&mut self.stale, true) {
            self.live = None;
        }
        if self.live.is_none() {
            self.instances += 1;
            // Boxed, because starting an instance is a large future, which a call would otherwise
            // carry, and copy on each move, on every request.
            self.live = Some(Box::pin(Live::start(&self.module, self.upstream.clone(), self.mode)).await?);
        }
        Ok(())
    }
}
