//! One instantiated, initialized guest: init, the request scratch, and the call into the guest.
//!
//! [`Live::start`] instantiates the module with WASI preview1, runs its init once, reads its ABI
//! declarations and allocates the request scratch through the guest's `malloc`. [`Live::serve`]
//! (or [`Live::serve_now`], the same steps on the caller's stack) writes one request into the
//! scratch, calls `handle_zerobuf` under the deadline and the memory limit, and reads the
//! response. Every way the guest can fail is classified here into the rule it broke; what the
//! host cannot do (a request too large for any guest) is a [`HostError`].

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use wasmtime::{
    Instance, Memory, ResourceLimiter, Store, Trap, TypedFunc, UpdateDeadline, WasmBacktrace, WasmParams, WasmResults,
};
use wasmtime_wasi::I32Exit;
use wasmtime_wasi::p1::WasiP1Ctx;

use crate::capture::Capture;
use crate::error::{Error, GuestError, HostError, Rule, Violation};
use crate::fetch::{self, FEATURE_OUTBOUND_FETCH, Upstream};
use crate::profile::{GOMODE_SCRATCH, Profile};
use crate::request::{Layout, Request};
use crate::response::{self, Body, Response};
use crate::runtime::{ABI_VERSION, Declared, EPOCH_TICK, FEATURE_RESPONSE_HEADERS, GuestModule};
use crate::zerobuf::Tag;

/// The size of the first scratch area the host asks the guest's `malloc` for.
const INITIAL_SCRATCH: u32 = 64 * 1024;

/// Per-store state: WASI, the memory limiter and the captured output.
pub(crate) struct State {
    pub(crate) wasi: WasiP1Ctx,
    limiter: Limiter,
    stdout: Capture,
    stderr: Capture,
    /// When the current call into an [`Mode::Async`] instance runs out of time.
    call_deadline: Instant,
}

/// How an instance's exports are called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// On the caller's stack, with the synchronous WASI functions; nothing ever waits, so the
    /// instance's futures are ready on their first poll ([`now`]).
    Sync,
    /// On a wasmtime fiber, with the asynchronous WASI functions, for a caller on an async
    /// runtime (`gomode-host serve`): a guest that waits on WASI, runs past an epoch tick or asks
    /// for an outbound fetch gives its thread back to the runtime meanwhile.
    Async,
}

/// The output of a future that is ready on its first poll, which every future of a
/// [`Mode::Sync`] instance is: its calls into wasm return before the future does, and it never
/// awaits anything else.
pub(crate) fn now<F: Future>(future: Pin<&mut F>) -> F::Output {
    match future.poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => unreachable!("a synchronous instance waited, which it never does"),
    }
}

/// Calls `func` as `mode` says.
async fn invoke<P: WasmParams + Send + Sync, R: WasmResults + Send + Sync>(
    store: &mut Store<State>,
    mode: Mode,
    func: &TypedFunc<P, R>,
    params: P,
) -> wasmtime::Result<R> {
    match mode {
        Mode::Sync => func.call(store, params),
        Mode::Async => func.call_async(store, params).await,
    }
}

/// Refuses memory growth past the host's limit and remembers, for the current call only, that
/// it did.
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

/// What one call into `handle_zerobuf` came to ([`Live::returned`]).
enum Step {
    /// The request is answered.
    Ended(Ended),
    /// The guest asks for an outbound fetch; the handler runs again with its result.
    Fetch(Box<fetch::FetchRequest>),
}

/// How the last call into `handle_zerobuf` of a request ended.
enum Ended {
    /// The guest answered; its response slots are at this address.
    Answer(u32),
    /// The guest trapped or exited under `gomode`, which answers 500 `panic: …`.
    Panic(Box<Response<'static>>),
}

/// The error of a failed request, with the request named in it; `stale` is set when the error
/// broke the instance, so that the next call replaces it, and cleared otherwise. (Out of line, so
/// that the successful call's path stays short.)
#[cold]
fn failed(error: Error, request: &Request, stale: &mut bool) -> Error {
    match error {
        Error::Guest(mut error) => {
            *stale = error.rule().poisons_instance();
            error.request = Some(request.summary());
            Error::Guest(error)
        }
        Error::Host(error) => {
            *stale = false;
            Error::Host(error)
        }
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
pub(crate) struct Live {
    name: String,
    mode: Mode,
    store: Store<State>,
    memory: Memory,
    handle: TypedFunc<i32, i32>,
    malloc: TypedFunc<i32, i32>,
    pub(crate) declared: Declared,
    /// What `gomode_abi_features` returned, when the guest exports it.
    features_export: Option<i32>,
    profile: Profile,
    upstream: Arc<dyn Upstream>,
    max_fetches: u32,
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
    /// Instantiates `module`, runs its init, reads its declarations and allocates the scratch.
    pub(crate) async fn start(
        module: &GuestModule,
        upstream: Arc<dyn Upstream>,
        mode: Mode,
    ) -> Result<Live, GuestError> {
        let shared = &module.shared;
        let config = &shared.config;
        let (stdout, stderr) = (Capture::new(config.output_limit), Capture::new(config.output_limit));
        let wasi = wasmtime_wasi::WasiCtxBuilder::new()
            .arg(&module.name)
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .build_p1();
        let limiter = Limiter { limit: config.memory_limit, refused: None };
        let state = State { wasi, limiter, stdout, stderr, call_deadline: Instant::now() + config.deadline };
        let mut store = Store::new(&shared.engine, state);
        store.limiter(|state| &mut state.limiter);
        let deadline_ticks = match mode {
            Mode::Sync => {
                store.epoch_deadline_trap();
                config.deadline.as_millis().div_ceil(EPOCH_TICK.as_millis()) as u64 + 1
            }
            // An async guest yields to the runtime at every tick, and traps once its time is up.
            Mode::Async => {
                store.epoch_deadline_callback(|store| {
                    Ok(if Instant::now() >= store.data().call_deadline {
                        UpdateDeadline::Interrupt
                    } else {
                        UpdateDeadline::Yield(1)
                    })
                });
                1
            }
        };
        store.set_epoch_deadline(deadline_ticks);

        let fail = |store: &mut Store<State>, violation: Violation| {
            let mut error = GuestError::new(&module.name, violation);
            error.stdout = store.data().stdout.take();
            error.stderr = store.data().stderr.take();
            error
        };
        let instance = match mode {
            Mode::Sync => shared.linker.instantiate(&mut store, &module.module),
            Mode::Async => shared.async_linker.instantiate_async(&mut store, &module.module).await,
        };
        let instance = match instance {
            Ok(instance) => instance,
            Err(err) => {
                let violation = classify(&mut store, err, Phase::Init, config.deadline, config.memory_limit);
                return Err(fail(&mut store, violation));
            }
        };
        let profile = config.profile;
        let exports = Exports::get(&mut store, &instance, profile).map_err(|violation| fail(&mut store, violation))?;
        if let Some(init) = &exports.init
            && let Err(err) = invoke(&mut store, mode, init, ()).await
            && !matches!(err.downcast_ref::<I32Exit>(), Some(I32Exit(0)))
        {
            let violation = classify(&mut store, err, Phase::Init, config.deadline, config.memory_limit);
            return Err(fail(&mut store, violation));
        }
        let declared = read_declarations(&mut store, mode, &exports, profile)
            .await
            .map_err(|violation| fail(&mut store, violation))?;
        let mut live = Live {
            name: module.name.clone(),
            mode,
            store,
            memory: exports.memory,
            handle: exports.handle,
            malloc: exports.malloc,
            declared,
            features_export: exports.features.is_some().then_some(declared.features),
            profile,
            upstream,
            max_fetches: config.max_fetches,
            scratch: 0,
            scratch_len: 0,
            deadline_ticks,
            deadline: config.deadline,
            memory_limit: config.memory_limit,
        };
        live.grow_scratch(match profile {
            Profile::Abi => INITIAL_SCRATCH,
            Profile::Gomode => GOMODE_SCRATCH,
        })
        .await?;
        // Init output is not part of any request; it is dropped once init succeeded.
        live.store.data().stdout.take();
        live.store.data().stderr.take();
        Ok(live)
    }

    /// The current size of linear memory in bytes.
    pub(crate) fn memory_size(&mut self) -> usize {
        self.memory.data_size(&self.store)
    }

    fn error(&self, violation: Violation) -> GuestError {
        let mut error = GuestError::new(&self.name, violation);
        error.stdout = self.store.data().stdout.take();
        error.stderr = self.store.data().stderr.take();
        error
    }

    /// Arms the deadline and forgets any growth refused during an earlier call, before each call
    /// into the guest, so that a refusal is blamed only on the call it happened in.
    fn arm(&mut self) {
        self.store.set_epoch_deadline(self.deadline_ticks);
        let state = self.store.data_mut();
        state.limiter.refused = None;
        if self.mode == Mode::Async {
            state.call_deadline = Instant::now() + self.deadline;
        }
    }

    /// Turns a failed call into the violation it is, with the guest's output.
    fn failed(&mut self, err: wasmtime::Error, phase: Phase) -> GuestError {
        let violation = classify(&mut self.store, err, phase, self.deadline, self.memory_limit);
        self.error(violation)
    }

    /// Asks the guest's `malloc` for a scratch area of at least `len` bytes and checks it.
    async fn grow_scratch(&mut self, len: u32) -> Result<(), GuestError> {
        self.arm();
        let ptr = match invoke(&mut self.store, self.mode, &self.malloc, len as i32).await {
            Ok(ptr) => ptr as u32,
            Err(err) => return Err(self.failed(err, Phase::Malloc)),
        };
        let memory_len = self.memory.data_size(&self.store) as u64;
        let problem = if ptr == 0 {
            Some(format!("malloc({len}) returned null"))
        } else if ptr % 8 != 0 {
            Some(format!("malloc({len}) returned {ptr:#x}, which is not 8-byte aligned"))
        } else if u64::from(ptr) + u64::from(len) > memory_len {
            Some(format!("malloc({len}) returned {ptr:#x}, but the region ends past the {memory_len}-byte memory"))
        } else {
            None
        };
        if let Some(message) = problem {
            return Err(self.error(Violation::new(Rule::InitMalloc, message)));
        }
        self.scratch = ptr;
        self.scratch_len = len;
        Ok(())
    }

    /// Writes `request` into the scratch (under `abi`, growing it first when it is too small),
    /// calls `handle_zerobuf` and reads the response, as the profile says. `Guest::answer_async`
    /// drives a request through these steps; [`Live::serve_now`] takes the same ones for
    /// `Guest::answer`, and the two differ only in how they wait. `stale` is left set when the
    /// call broke the instance, and cleared otherwise.
    pub(crate) async fn serve(&mut self, request: &Request, stale: &mut bool) -> Result<Response<'_>, Error> {
        let ended = self.run(request).await;
        self.finish(request, ended, stale)
    }

    /// [`Live::serve`] up to the end of the last call into the guest: what it ended in, and how
    /// many fetches it took.
    async fn run(&mut self, request: &Request) -> Result<(Ended, u32), Error> {
        let layout = request.layout(self.profile)?;
        self.begin(request, &layout)?;
        if let Some(wanted) = self.scratch_wanted(&layout) {
            self.grow_scratch(wanted).await?;
        }
        let mut fetches = 0;
        // After a fetch: the record's address and the call index, for slots 4 and 5 of the replay.
        let mut replay = None;
        loop {
            self.write_request(request, &layout, replay)?;
            self.arm();
            let returned = invoke(&mut self.store, self.mode, &self.handle, self.scratch as i32).await;
            match self.returned(returned, fetches)? {
                Step::Ended(ended) => return Ok((ended, fetches)),
                Step::Fetch(wanted) => {
                    fetches += 1;
                    let call_index = wanted.call_index;
                    let result = match self.mode {
                        Mode::Sync => fetch::dispatch(&*self.upstream, &wanted),
                        // The upstream blocks, so it answers on a blocking thread while this one
                        // serves other requests. A panic there is the host's own bug, and goes on
                        // as one.
                        Mode::Async => {
                            let upstream = self.upstream.clone();
                            tokio::task::spawn_blocking(move || fetch::dispatch(&*upstream, &wanted))
                                .await
                                .unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()))
                        }
                    };
                    replay = Some((self.write_record(&result).await?, call_index));
                }
            }
        }
    }

    /// [`Live::serve`] for a [`Mode::Sync`] instance, on the caller's stack: the same steps, with
    /// nothing to wait for. Polling a future instead, with its state and the moves of its result,
    /// cost `GET /` about 150 of its 2,370 instructions.
    #[inline]
    pub(crate) fn serve_now(&mut self, request: &Request, stale: &mut bool) -> Result<Response<'_>, Error> {
        let ended = self.run_now(request);
        self.finish(request, ended, stale)
    }

    /// [`Live::run`] on the caller's stack.
    #[inline]
    fn run_now(&mut self, request: &Request) -> Result<(Ended, u32), Error> {
        debug_assert_eq!(self.mode, Mode::Sync, "only a synchronous instance is called on the caller's stack");
        let layout = request.layout(self.profile)?;
        self.begin(request, &layout)?;
        if let Some(wanted) = self.scratch_wanted(&layout) {
            now(pin!(self.grow_scratch(wanted)))?;
        }
        let mut fetches = 0;
        let mut replay = None;
        loop {
            self.write_request(request, &layout, replay)?;
            self.arm();
            let returned = self.handle.call(&mut self.store, self.scratch as i32);
            match self.returned(returned, fetches)? {
                Step::Ended(ended) => return Ok((ended, fetches)),
                Step::Fetch(wanted) => {
                    fetches += 1;
                    let result = fetch::dispatch(&*self.upstream, &wanted);
                    replay = Some((now(pin!(self.write_record(&result)))?, wanted.call_index));
                }
            }
        }
    }

    /// The last step of a request, after its last call into the guest: the response, made where
    /// the caller wants it rather than moved there, or the error with the request named in it.
    #[inline]
    fn finish(
        &self,
        request: &Request,
        ended: Result<(Ended, u32), Error>,
        stale: &mut bool,
    ) -> Result<Response<'_>, Error> {
        match ended {
            Ok((Ended::Answer(response_ptr), fetches)) => self.read(request, response_ptr, fetches, stale),
            Ok((Ended::Panic(response), fetches)) => {
                *stale = false;
                Ok(Response { fetches, ..*response })
            }
            Err(error) => Err(failed(error, request, stale)),
        }
    }

    /// The first step of a request, once it is laid out: forgets the output of earlier calls and
    /// checks that the layout fits the profile's scratch and the memory limit. (The layout is
    /// made by the caller, where it stays: moving it costs more than making it.)
    #[inline]
    fn begin(&self, request: &Request, layout: &Layout<'_>) -> Result<(), Error> {
        self.store.data().stdout.take();
        self.store.data().stderr.take();
        let needed = layout.len();
        if self.profile == Profile::Gomode {
            let written = layout.gomode_len();
            if written > u64::from(GOMODE_SCRATCH) {
                return Err(self
                    .error(Violation::new(
                        Rule::GomodeScratch,
                        format!(
                            "the request needs {written} bytes of request slots and payloads, but GoMode's Worker \
                             has a fixed request scratch of {GOMODE_SCRATCH} bytes; on GoMode it would overwrite \
                             {} bytes of guest memory past the scratch",
                            written - u64::from(GOMODE_SCRATCH)
                        ),
                    ))
                    .into());
            }
        }
        if needed >= self.memory_limit as u64 {
            let (request, limit) = (request.summary(), self.memory_limit as u64);
            return Err(HostError::RequestTooLarge { request, needed, limit }.into());
        }
        Ok(())
    }

    /// How large a scratch to ask for when `layout` does not fit the current one (only under
    /// `abi`: GoMode's scratch is fixed, and [`Live::begin`] refused what does not fit it).
    #[inline]
    fn scratch_wanted(&self, layout: &Layout<'_>) -> Option<u32> {
        // The layout is under the memory limit (`begin` checked), which is under 4 GiB on wasm32
        // hosts that keep it.
        (layout.len() > u64::from(self.scratch_len))
            .then(|| u32::try_from(layout.len()).ok().and_then(u32::checked_next_power_of_two).unwrap_or(u32::MAX))
    }

    /// What one call into `handle_zerobuf` came to: the response's address, GoMode's 500 for a
    /// trap or an exit, or the outbound fetch the guest asks for, the `fetches + 1`th.
    #[inline]
    fn returned(&mut self, returned: wasmtime::Result<i32>, fetches: u32) -> Result<Step, Error> {
        let response_ptr = match returned {
            Ok(ptr) => ptr as u32,
            Err(err) => {
                let error = self.failed(err, Phase::Call);
                return match (self.profile, error.rule()) {
                    (Profile::Gomode, Rule::CallTrap | Rule::CallExit) => {
                        Ok(Step::Ended(Ended::Panic(Box::new(panic_response(error)))))
                    }
                    _ => Err(error.into()),
                };
            }
        };
        let memory = self.memory.data(&self.store);
        if !(self.offers_fetch() && fetch::asks_for_fetch(memory, response_ptr)) {
            return Ok(Step::Ended(Ended::Answer(response_ptr)));
        }
        if fetches + 1 > self.max_fetches {
            let message = format!(
                "the handler asked for a fetch {} times in one request; this host allows {} (--max-fetches)",
                fetches + 1,
                self.max_fetches
            );
            return Err(self.error(Violation::new(Rule::FetchCap, message)).into());
        }
        Ok(Step::Fetch(Box::new(fetch::read_request(memory, response_ptr).map_err(|v| self.error(v))?)))
    }

    /// The last step of a request: reads the response at `response_ptr` in place, as the
    /// profile says. It borrows guest memory until the caller's next call.
    #[inline]
    fn read(
        &self,
        request: &Request,
        response_ptr: u32,
        fetches: u32,
        stale: &mut bool,
    ) -> Result<Response<'_>, Error> {
        let memory = self.memory.data(&self.store);
        // Each profile's arm makes its response in place: merged, the slots would be copied.
        let error = match self.profile {
            Profile::Gomode => match response::read_gomode_slots(memory, response_ptr, self.features_export) {
                Ok(Some(slots)) => return Ok(self.answered(slots, fetches, stale)),
                Ok(None) => HostError::FetchNotOffered { request: request.summary() }.into(),
                Err(violation) => self.error(violation).into(),
            },
            Profile::Abi => match response::read_slots(memory, response_ptr, self.declared.response_headers()) {
                Ok(slots) => return Ok(self.answered(slots, fetches, stale)),
                Err(violation) => self.error(violation).into(),
            },
        };
        Err(failed(error, request, stale))
    }

    /// The response that `slots` are, after a call that took `fetches` fetches.
    #[inline(always)]
    fn answered<'a>(&self, slots: response::Slots<'a>, fetches: u32, stale: &mut bool) -> Response<'a> {
        *stale = false;
        let state = self.store.data();
        // A response with nothing printed is made of constants and the slots alone, which the
        // compiler writes straight into place; merged with `take`'s strings, it was built on the
        // stack and copied, stalling on each copy.
        if state.stdout.is_empty() && state.stderr.is_empty() {
            return slots.response_with(String::new(), String::new(), fetches);
        }
        slots.response_with(state.stdout.take(), state.stderr.take(), fetches)
    }

    /// Lays `layout` out in the scratch, straight into guest memory, which the caller made large
    /// enough. A replay is the same request with the record in slot 4 and the call index in slot
    /// 5 (ABI.md §12), written afresh, since the guest may have changed the scratch.
    fn write_request(
        &mut self,
        request: &Request,
        layout: &Layout<'_>,
        replay: Option<(u32, i32)>,
    ) -> Result<(), Error> {
        let start = self.scratch as usize;
        let region = usize::try_from(layout.len())
            .ok()
            .and_then(|len| start.checked_add(len))
            .and_then(|end| self.memory.data_mut(&mut self.store).get_mut(start..end));
        // The scratch was checked to lie inside memory, and memory never shrinks.
        let Some(region) = region else {
            let message = "the scratch area is no longer inside memory: out of bounds memory access";
            return Err(self.error(Violation::new(Rule::InitMalloc, message)).into());
        };
        if layout.write(self.scratch, region).is_err() {
            let (request, needed, limit) = (request.summary(), layout.len(), self.memory_limit as u64);
            return Err(HostError::RequestTooLarge { request, needed, limit }.into());
        }
        if let Some((record, call_index)) = replay {
            region[64] = Tag::String as u8;
            region[68..72].copy_from_slice(&record.to_le_bytes());
            region[80] = Tag::I32 as u8;
            region[84..88].copy_from_slice(&call_index.to_le_bytes());
        }
        Ok(())
    }

    /// Whether this instance answers status -1 with a fetch: always under `gomode`, and under
    /// `abi` for a guest that declares the outbound-fetch feature.
    fn offers_fetch(&self) -> bool {
        self.profile == Profile::Gomode || self.declared.features & FEATURE_OUTBOUND_FETCH != 0
    }

    /// Writes the record of a fetch result through the guest's `malloc`, as GoMode does (it is
    /// never freed), and returns its address.
    async fn write_record(&mut self, result: &fetch::FetchResult) -> Result<u32, GuestError> {
        let len = fetch::record_len(result);
        self.arm();
        let at = match invoke(&mut self.store, self.mode, &self.malloc, len as i32).await {
            Ok(ptr) => ptr as u32,
            Err(err) => return Err(self.failed(err, Phase::Malloc)),
        };
        let bytes = fetch::record(result, at);
        self.memory.write(&mut self.store, at as usize, &bytes).map_err(|_| {
            self.error(Violation::new(
                Rule::InitMalloc,
                format!("malloc({len}) returned {at:#x} for a fetch record, which does not lie inside memory"),
            ))
        })?;
        Ok(at)
    }
}

/// GoMode's answer to a trap or an exit while serving: 500 `panic: <V8's message>`, with the
/// host's own detail kept in [`Response::panic`]. The instance is kept, as GoMode keeps it.
fn panic_response(error: GuestError) -> Response<'static> {
    let message = v8_message(&error.violation);
    Response {
        status: 500,
        content_type: "text/plain; charset=utf-8".into(),
        headers: Vec::new(),
        body: Body::Text(format!("panic: {message}").into()),
        stdout: error.stdout,
        stderr: error.stderr,
        panic: Some(error.violation),
        fetches: 0,
    }
}

/// The message V8 gives for the trap or exit a violation describes (ABI.md §11), which is what
/// GoMode's Worker puts after `panic: `.
fn v8_message(violation: &Violation) -> String {
    let detail = &violation.message;
    if violation.rule == Rule::CallExit {
        let code = detail.split(['(', ')']).nth(1).unwrap_or("?");
        return format!("exit code: {code}");
    }
    const MESSAGES: [(&str, &str); 8] = [
        ("wasm `unreachable` instruction executed", "unreachable"),
        ("out of bounds memory access", "memory access out of bounds"),
        ("integer divide by zero", "divide by zero"),
        ("integer overflow", "divide result unrepresentable"),
        ("invalid conversion to integer", "float unrepresentable in integer range"),
        ("uninitialized element", "null function or function signature mismatch"),
        ("indirect call type mismatch", "null function or function signature mismatch"),
        ("undefined element: out of bounds table access", "table index is out of bounds"),
    ];
    if detail.starts_with("stack overflow") {
        return "Maximum call stack size exceeded".into();
    }
    MESSAGES
        .iter()
        .find(|(wasmtime, _)| detail.contains(wasmtime))
        .map_or_else(|| detail.lines().next().unwrap_or_default().to_owned(), |(_, v8)| (*v8).to_owned())
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
    fn get(store: &mut Store<State>, instance: &Instance, profile: Profile) -> Result<Exports, Violation> {
        let shape = |message: String| Violation::new(Rule::ModuleExports, message);
        let memory = instance
            .get_memory(&mut *store, "memory")
            .ok_or_else(|| shape("`memory` is not an exported memory".into()))?;
        let handle = typed(store, instance, "handle_zerobuf")
            .map_err(shape)?
            .ok_or_else(|| shape("`handle_zerobuf` is not exported".into()))?;
        let malloc =
            typed(store, instance, "malloc").map_err(shape)?.ok_or_else(|| shape("`malloc` is not exported".into()))?;
        let init = match profile {
            // `_initialize` wins when both are exported; `_start` is then never called.
            Profile::Abi => match typed(store, instance, "_initialize").map_err(shape)? {
                Some(init) => Some(init),
                None => typed(store, instance, "_start").map_err(shape)?,
            },
            // GoMode calls `_start` and nothing else; `inspect` already required it.
            Profile::Gomode => {
                let start = typed(store, instance, "_start").map_err(|m| Violation::new(Rule::GomodeStart, m))?;
                Some(start.ok_or_else(|| Violation::new(Rule::GomodeStart, "`_start` is not exported"))?)
            }
        };
        Ok(Exports {
            memory,
            handle,
            malloc,
            init,
            version: typed(store, instance, "gomode_abi_version").map_err(shape)?,
            features: typed(store, instance, "gomode_abi_features").map_err(shape)?,
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

/// Calls the declaration exports. Under `gomode` only the features are read, and not judged:
/// GoMode never calls either export, and the host uses the features only to tell a stray
/// response slot 3 from headers.
async fn read_declarations(
    store: &mut Store<State>,
    mode: Mode,
    exports: &Exports,
    profile: Profile,
) -> Result<Declared, Violation> {
    async fn call(
        store: &mut Store<State>,
        mode: Mode,
        func: &Option<TypedFunc<(), i32>>,
        default: i32,
    ) -> Result<i32, Violation> {
        match func {
            Some(func) => invoke(store, mode, func, ()).await.map_err(|err| {
                Violation::new(Rule::ModuleDeclarations, format!("calling a `gomode_abi_*` export failed: {err}"))
            }),
            None => Ok(default),
        }
    }
    if profile == Profile::Gomode {
        return Ok(Declared { version: ABI_VERSION, features: call(store, mode, &exports.features, 0).await? });
    }
    let version = call(store, mode, &exports.version, ABI_VERSION).await?;
    let features = call(store, mode, &exports.features, 0).await?;
    if version != ABI_VERSION {
        return Err(Violation::new(
            Rule::ModuleDeclarations,
            format!("gomode_abi_version() returned {version}; this host speaks version {ABI_VERSION}"),
        ));
    }
    if features & !(FEATURE_RESPONSE_HEADERS | FEATURE_OUTBOUND_FETCH) != 0 {
        return Err(Violation::new(
            Rule::ModuleDeclarations,
            format!(
                "gomode_abi_features() returned {features:#x}; only bit 0 (response headers) and bit 1 \
                 (outbound fetch) are defined"
            ),
        ));
    }
    Ok(Declared { version, features })
}

/// Turns a wasmtime error from a call into the guest into the rule it broke.
fn classify(
    store: &mut Store<State>,
    err: wasmtime::Error,
    phase: Phase,
    deadline: Duration,
    memory_limit: usize,
) -> Violation {
    if let Some(desired) = store.data_mut().limiter.refused.take() {
        return Violation::new(
            Rule::CallMemory,
            format!("tried to grow linear memory to {desired} bytes, over the host's limit of {memory_limit} bytes"),
        );
    }
    if let Some(I32Exit(code)) = err.downcast_ref::<I32Exit>() {
        return match phase {
            Phase::Init => {
                Violation::new(Rule::InitStart, format!("init called proc_exit({code}); only 0 counts as success"))
            }
            Phase::Malloc | Phase::Call => Violation::new(
                Rule::CallExit,
                format!("called proc_exit({code}) while serving; exit is only allowed during init"),
            ),
        };
    }
    let backtrace = err.downcast_ref::<WasmBacktrace>().map(|bt| format!("\n{bt}")).unwrap_or_default();
    let trap = match err.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => {
            return Violation::new(
                Rule::CallDeadline,
                format!("did not return within the {deadline:?} deadline{backtrace}"),
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
    Violation::new(rule, format!("{trap}{backtrace}"))
}
