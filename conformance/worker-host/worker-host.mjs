// worker-host.mjs: a model of GoMode's Worker glue (`worker/src/worker.ts` and `wasi.ts` at GoMode
// commit d4b7f8f) on Node's WebAssembly API, which is V8, the engine GoMode runs on. It applies
// the rules of the `gomode` profile (conformance/ABI.md §11): it does what GoMode's glue does,
// and where GoMode would corrupt memory or misread a response it names the rule instead. It
// exists so that the corpus can require the same answers from wasmtime and from V8.
//
// It is one persistent process that speaks JSON lines: one request object per line on stdin, one
// reply per line on stdout, each reply echoing the request's `id`. It exits when stdin closes.
// `conformance/src/v8.rs` embeds this text and runs it as `node --input-type=module --eval
// <text>`; `node worker-host.mjs` works too, because the script never looks at its own path.
// Given `--http GUEST.wasm`, it serves HTTP with Node's `http` server through the same model
// instead, for `cargo xtask bench` ("HTTP mode" at the end of this file); the JSON lines are
// spoken only without it.
//
//   {"id":1,"op":"open","path":"/abs/g.wasm","name":"g","memory_limit":134217728,"deadline_ms":5000,
//    "allow_net":["127.0.0.1:8000"],"fetch_timeout_ms":30000,"fetch_max_bytes":16777216,"kv":true,
//    "max_fetches":64}
//       → {"id":1,"handle":7}, or {"id":1,"host_error":"…","kind":"read"} when the file cannot be
//       read. `wasm_base64` may carry the module's bytes (the client sends it for a `.wat` file
//       that it translated); `path` still names the file, for the compile cache. The last five
//       fields govern the guest's outbound fetches (below); each may be left out, and then is
//       the value shown, except `allow_net`, which is empty (no host allowed).
//   {"id":2,"op":"start","handle":7}
//       → {"id":2,"ok":true,"memory":1114112,"instances":1}, or an error reply.
//   {"id":3,"op":"call","handle":7,"method":"POST","target":"/echo?x=1","headers":[["X-A","1"]],
//    "body_base64":"…"}
//       → {"id":3,"response":{"status":200,"content_type":"…","headers":[["name","value"]],
//          "body_base64":"…","body_tag":"string"|"bytes","panic":null|"unreachable","stderr":"…",
//          "fetches":0},"memory":1114112,"instances":1}
//       where `fetches` counts the outbound fetches the guest asked for before it answered.
//   {"id":4,"op":"close","handle":7} → {"id":4,"ok":true}
//   {"id":5,"op":"ping"} → {"id":5,"ok":true,"node":"v20.20.2"}
//
// An error reply is {"id":…,"error":{"rule":"gomode.scratch","message":"…","stderr":"…"},
// "memory":…|null,"instances":…} when the guest broke a rule, or {"id":…,"host_error":"…",
// "kind":"bad_request"|"read"|"other"} when the guest is not to blame.
// `memory` is the live instance's memory in bytes, or null when there is none (after a rule that
// drops the instance); `instances` counts the instances created for the handle so far.
//
// How a guest runs. A handle compiles its module once (modules are cached by path, size and
// modification time) and checks its shape before any instance exists: bytes V8 compiles, with
// exactly one 32-bit memory (`module.wasm`), the exports `memory`, `handle_zerobuf` and `malloc` with their types
// (`module.exports`), the types of `gomode_abi_*` (`module.declarations`), only GoMode's 25 WASI
// imports (`gomode.imports`) and `_start` (`gomode.start`). A shape error is reported by every
// start and call, and no instance is ever created. Otherwise the instance is created lazily, on
// the first start or call, in a `worker_threads` Worker that the handle holds until it closes
// (idle Workers are reused by later handles): `_start` is called (returning
// or `proc_exit(0)` is success), `gomode_abi_features` when exported (only to tell a stray
// response slot 3 from headers), then `malloc(8352)` once. Each request is normalized by Node's
// own Fetch classes (`Request`, `Headers`), refused with `gomode.scratch` when GoMode would write
// past its 8,352-byte scratch, written as six zeroed slots and their payloads, and answered by
// `handle_zerobuf`; a throw becomes GoMode's 500 `panic: <message>` and the instance is kept.
// Fetch's own refusals are the client's fault (`bad_request`): a method that is not a token or is
// CONNECT, TRACE or TRACK, a header value above U+00FF, a target that is not a path.
//
// Outbound fetch (ABI.md §12) is always offered, as on GoMode. While the handler answers status
// -1, the instance's thread reads the request it asks for from response slots 1 to 3, as the
// wasmtime host reads it (`fetch.request` when it is malformed; `fetch.cap` past `max_fetches`
// in one request; the instance is kept after both), and the main thread answers it: a method
// starting with `__` is a binding operation on the handle's KV store (an in-memory Map that
// starts empty with each `open`), anything else an HTTP fetch with Node's global `fetch` under
// the same network policy as the wasmtime host (an allow list checked on every redirect hop,
// redirects followed by hand, one timeout, a bounded body, and failures turned into GoMode's
// synthetic 502 with ABI.md's texts). The thread then writes the result's record through the
// guest's `malloc`, writes the same request at the scratch with the record in slot 4 and the call
// index in slot 5, and calls `handle_zerobuf` again; a throw there is the same 500 `panic:` as on
// the first call. The guest's stderr is collected over all the calls of the request.
//
// Deadlines ARE enforced: the main thread times every start and every call into the guest (each
// call of a fetch loop, and the `malloc` of each record, on its own; time spent on a fetch is not
// counted, as the deadline models GoMode's CPU limit), and past the deadline it terminates the
// instance's Worker (`call.deadline`; the next call gets a fresh instance). The
// memory limit is checked after every start and call, because V8 cannot refuse a growth: past it
// the rule is `call.memory` and the instance is dropped. (wasmtime refuses the growth itself, so
// a guest that survives a refused growth answers there and breaks `call.memory` here.)
//
// GoMode's WASI, simplified: the 25 functions exist with GoMode's signatures and errno values,
// but there is no in-memory file system. GoMode preopens `/tmp` (fd 3) and `/data` (fd 4) over
// an in-memory VFS; this model preopens nothing: `fd_prestat_get` answers EBADF for every fd,
// `path_*` answer ENOENT, and `fd_readdir`, `fd_seek` and every fd above 2 in `fd_read`,
// `fd_write`, `fd_fdstat_get` and `fd_filestat_get` answer EBADF. Everything else is GoMode's:
// fd 1 is discarded and fd 2 is captured (GoMode logs it), fd 0 reads end-of-file, `fd_close`
// always succeeds, `clock_time_get` writes `Date.now() * 1e6` for every clock, `poll_oneoff`
// writes nevents = 0 and returns at once, `random_get` is one `crypto.getRandomValues` call (so
// it throws above 65,536 bytes, as GoMode's does), and `proc_exit(N)` throws
// `Error("exit code: N")`. GoMode also treats an init error whose message merely contains
// "exit code: 0" or "proc_exit" as success; only its own `proc_exit(0)` produces such a message,
// so this model accepts exactly that.

import { Worker } from "node:worker_threads";
import { readFile, stat } from "node:fs/promises";
import { createInterface } from "node:readline";

// GoMode's request scratch, `malloc(10*16 + 8192)`, allocated once and never grown.
const SCRATCH = 10 * 16 + 8192;
const DEFAULT_MEMORY_LIMIT = 128 * 1024 * 1024;
const DEFAULT_DEADLINE_MS = 5000;
const WASI = "wasi_snapshot_preview1";

// The WASI preview1 functions GoMode's `wasi.ts` provides; any other import fails there.
const GOMODE_WASI = new Set([
  "args_get", "args_sizes_get", "environ_get", "environ_sizes_get", "clock_time_get", "fd_write",
  "fd_read", "fd_seek", "fd_close", "fd_fdstat_get", "fd_fdstat_set_flags", "fd_prestat_get",
  "fd_prestat_dir_name", "path_open", "path_filestat_get", "fd_filestat_get", "fd_readdir",
  "path_create_directory", "path_remove_directory", "path_unlink_file", "path_rename",
  "poll_oneoff", "proc_exit", "random_get", "sched_yield",
]);

// A worker whose instances reached more memory than this is not reused for another handle, so
// that a large memory is freed with its thread rather than waiting for a collection.
const POOL_MEMORY_CEILING = 64 * 1024 * 1024;
// How many idle workers are kept for reuse.
const POOL_SIZE = 8;
// How many compiled modules are kept.
const MODULE_CACHE_SIZE = 32;

const encoder = new TextEncoder();
const a4 = (n) => Math.ceil(n / 4) * 4;
const hex = (n) => `0x${n.toString(16)}`;
const violation = (rule, message) => ({ rule, message });
const messageOf = (err) => (err instanceof Error ? err.message : String(err));

// ---------------------------------------------------------------------------------------------
// The module's shape
// ---------------------------------------------------------------------------------------------

// Reads what the JS API does not show from a module's bytes: its memories (imported ones too)
// and the type of each function, as text such as `(i32) -> i32`. The bytes have already been
// validated by V8; anything this small reader does not understand (the GC proposal's types)
// gives `null`, and then only the checks that need no types are made.
function readShape(bytes) {
  let pos = 8;
  const byte = () => {
    if (pos >= bytes.length) throw new Error("truncated");
    return bytes[pos++];
  };
  const leb = () => {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = byte();
      result += (b & 0x7f) * scale;
      scale *= 128;
      if (!(b & 0x80)) return result;
    }
  };
  const skipName = () => {
    // Not `pos += leb()`, which would add to the position from before the length was read.
    const length = leb();
    pos += length;
  };
  const name = () => {
    const n = leb();
    const text = new TextDecoder().decode(bytes.subarray(pos, pos + n));
    pos += n;
    return text;
  };
  const VALTYPES = { 0x7f: "i32", 0x7e: "i64", 0x7d: "f32", 0x7c: "f64", 0x7b: "v128", 0x70: "funcref", 0x6f: "externref" };
  const valtype = () => {
    const b = byte();
    if (b in VALTYPES) return VALTYPES[b];
    if (b === 0x63 || b === 0x64) {
      leb();
      return "ref";
    }
    throw new Error(`unknown value type ${b}`);
  };
  const limits = () => {
    const flags = byte();
    leb();
    if (flags & 1) leb();
    return { memory64: (flags & 4) !== 0 };
  };
  const types = [];
  const functions = [];
  const memories = [];
  const exports = new Map();
  while (pos < bytes.length) {
    const id = byte();
    const size = leb();
    const end = pos + size;
    if (id === 1) {
      for (let n = leb(); n > 0; n--) {
        if (byte() !== 0x60) return null;
        const params = [];
        for (let k = leb(); k > 0; k--) params.push(valtype());
        const results = [];
        for (let k = leb(); k > 0; k--) results.push(valtype());
        const out = results.length === 1 ? results[0] : `(${results.join(", ")})`;
        types.push(`(${params.join(", ")}) -> ${out}`);
      }
    } else if (id === 2) {
      for (let n = leb(); n > 0; n--) {
        skipName();
        skipName();
        const kind = byte();
        if (kind === 0) functions.push(types[leb()]);
        else if (kind === 1) {
          valtype();
          limits();
        } else if (kind === 2) memories.push(limits());
        else if (kind === 3) {
          valtype();
          byte();
        } else if (kind === 4) {
          byte();
          leb();
        } else return null;
      }
    } else if (id === 3) {
      for (let n = leb(); n > 0; n--) functions.push(types[leb()]);
    } else if (id === 5) {
      for (let n = leb(); n > 0; n--) memories.push(limits());
    } else if (id === 7) {
      for (let n = leb(); n > 0; n--) {
        const exportName = name();
        const kind = byte();
        const index = leb();
        exports.set(exportName, kind === 0 ? functions[index] : null);
      }
    }
    pos = end;
  }
  return { memories, exportTypes: exports };
}

// The first rule the module's shape breaks under `gomode`, in the order of ABI.md's rule list
// (the order in which the wasmtime host reports them), or null.
function shapeProblem(module, bytes) {
  let shape = null;
  try {
    shape = readShape(bytes);
  } catch {
    shape = null;
  }
  const found = [];
  if (shape) {
    if (shape.memories.length === 0) {
      found.push(violation("module.wasm", "the module has no memory; exactly one 32-bit memory is required"));
    } else if (shape.memories.length > 1) {
      found.push(violation("module.wasm", `the module has ${shape.memories.length} memories; exactly one is required`));
    }
    shape.memories.forEach((memory, index) => {
      if (memory.memory64) {
        found.push(violation("module.wasm", `memory ${index} is a 64-bit memory (memory64); the ABI is wasm32`));
      }
    });
  }
  const KINDS = { function: "func", table: "table", memory: "memory", global: "global", tag: "tag" };
  const exported = new Map(WebAssembly.Module.exports(module).map((e) => [e.name, KINDS[e.kind] ?? e.kind]));
  const functionProblem = (name, expected, required) => {
    const kind = exported.get(name);
    if (kind === undefined) return required ? `missing export \`${name}\` of type ${expected}` : null;
    if (kind !== "func") return `export \`${name}\` is a ${kind}, expected a function of type ${expected}`;
    const type = shape?.exportTypes.get(name);
    if (type && type !== expected) return `export \`${name}\` has type ${type}, expected ${expected}`;
    return null;
  };
  const memoryKind = exported.get("memory");
  if (memoryKind === undefined) found.push(violation("module.exports", "missing export `memory` (a memory)"));
  else if (memoryKind !== "memory") {
    found.push(violation("module.exports", `export \`memory\` is a ${memoryKind}, expected a memory`));
  }
  for (const name of ["handle_zerobuf", "malloc"]) {
    const problem = functionProblem(name, "(i32) -> i32", true);
    if (problem) found.push(violation("module.exports", problem));
  }
  for (const name of ["gomode_abi_version", "gomode_abi_features"]) {
    const problem = functionProblem(name, "() -> i32", false);
    if (problem) found.push(violation("module.declarations", problem));
  }
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module !== WASI || imp.kind !== "function" || !GOMODE_WASI.has(imp.name)) {
      found.push(violation(
        "gomode.imports",
        `import \`${imp.module}::${imp.name}\` (${KINDS[imp.kind] ?? imp.kind}) is not one of the 25 WASI functions ` +
          "GoMode's Worker provides, so its `WebAssembly.instantiate` rejects the module",
      ));
    }
  }
  const start = functionProblem("_start", "() -> ()", true);
  if (start) {
    found.push(violation(
      "gomode.start",
      `${start}: GoMode's Worker initializes a guest by calling \`_start\` and nothing else`,
    ));
  }
  return found[0] ?? null;
}

// Compiled modules by path, size and modification time: `{ module, problem }` promises.
const modules = new Map();

async function loadModule(path, wasmBase64) {
  const info = await stat(path);
  const key = `${path}\0${info.size}\0${info.mtimeMs}\0${wasmBase64 ? "translated" : "binary"}`;
  let entry = modules.get(key);
  if (!entry) {
    entry = compile(path, wasmBase64);
    modules.set(key, entry);
    // A read error is not cached, so a file that appears later can be opened.
    entry.catch(() => modules.delete(key));
    if (modules.size > MODULE_CACHE_SIZE) modules.delete(modules.keys().next().value);
  }
  return entry;
}

async function compile(path, wasmBase64) {
  const bytes = wasmBase64 ? new Uint8Array(Buffer.from(wasmBase64, "base64")) : new Uint8Array(await readFile(path));
  let module;
  try {
    module = await WebAssembly.compile(bytes);
  } catch (err) {
    return { module: null, problem: violation("module.wasm", `not WebAssembly that V8 compiles: ${messageOf(err)}`) };
  }
  return { module, problem: shapeProblem(module, bytes) };
}

// ---------------------------------------------------------------------------------------------
// The request, as GoMode's Worker passes it on
// ---------------------------------------------------------------------------------------------

class BadRequest extends Error {}

// Normalizes a request with Node's Fetch classes exactly as a Worker receives it, and returns
// the four slot texts GoMode writes, as UTF-8: `request.method`, the path and query of
// `request.url`, `await request.text()` for a method exactly POST, PUT or PATCH (else empty), and
// one `name: value\n` line per `request.headers.forEach` pair.
async function slotTexts({ method, target, headers, body_base64: bodyBase64 }) {
  if (typeof method !== "string" || typeof target !== "string") throw new BadRequest("the method and target must be strings");
  if (!target.startsWith("/")) throw new BadRequest(`the target ${JSON.stringify(target)} does not start with \`/\``);
  const body = bodyBase64 ? new Uint8Array(Buffer.from(bodyBase64, "base64")) : new Uint8Array(0);
  // Fetch refuses a body for GET and HEAD (in any case); any other method may carry one.
  const upper = method.toUpperCase();
  const init = { method, headers: headers ?? [] };
  if (upper !== "GET" && upper !== "HEAD" && body.length > 0) init.body = body;
  let request;
  try {
    request = new Request(`http://localhost${target}`, init);
  } catch (err) {
    throw new BadRequest(messageOf(err));
  }
  const url = request.url;
  if (new URL(url).host !== "localhost") throw new BadRequest(`${JSON.stringify(target)} changes the URL's host`);
  // The path and query from the first `/` after `//`, as GoMode's `extractPathAndQuery` takes
  // them; an HTTP request never carries a fragment, so it is dropped.
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  const hash = url.indexOf("#", pathStart);
  const path = pathStart === -1 ? "/" : url.slice(pathStart, hash === -1 ? undefined : hash);
  const normalized = request.method;
  const text = normalized === "POST" || normalized === "PUT" || normalized === "PATCH" ? await request.text() : "";
  let lines = "";
  request.headers.forEach((value, name) => {
    lines += `${name}: ${value}\n`;
  });
  return [normalized, path, text, lines].map((s) => encoder.encode(s));
}

// ---------------------------------------------------------------------------------------------
// Outbound fetch: the network and the KV binding (ABI.md §12)
// ---------------------------------------------------------------------------------------------

// What a handle's fetches may do unless `open` says otherwise: no host allowed, 30 s, 16 MiB,
// a KV binding, 64 fetches per request; as the wasmtime host's defaults.
const DEFAULT_FETCH_TIMEOUT_MS = 30000;
const DEFAULT_FETCH_MAX_BYTES = 16 * 1024 * 1024;
const DEFAULT_MAX_FETCHES = 64;
// The most redirects one fetch follows, as Fetch does.
const MAX_REDIRECTS = 20;
// Node's timers take at most 2^31 - 1 ms; a longer fetch timeout is cut to that.
const MAX_TIMER_MS = 2 ** 31 - 1;
// The most names one `__KV_LIST` answers: one page of Workers KV.
const KV_LIST_PAGE = 1000;
// The content type of a `Response` built from a string in a Worker, which every binding answer
// but `__KV_LIST` has.
const BINDING_TYPE = "text/plain;charset=UTF-8";
// The methods Fetch upper-cases, in any case; every other method is sent as written.
const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
// An HTTP token, which a method must be.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// The codes of the errors (on `err.cause`) that mean no connection was made: refused, no such
// host, unreachable, a connect timeout, or a TLS handshake that failed (the wasmtime host's
// client counts a handshake as part of connecting).
const CONNECT_CODES = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EAI_FAIL", "EAI_NODATA", "EAI_NONAME", "EHOSTUNREACH", "ENETUNREACH",
  "EHOSTDOWN", "ENETDOWN", "EADDRNOTAVAIL", "UND_ERR_CONNECT_TIMEOUT", "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT", "UNABLE_TO_GET_ISSUER_CERT_LOCALLY", "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT", "CERT_HAS_EXPIRED", "CERT_NOT_YET_VALID", "CERT_REVOKED", "CERT_UNTRUSTED",
  "CERT_REJECTED", "HOSTNAME_MISMATCH",
]);
const isConnectCode = (code) =>
  typeof code === "string" && (CONNECT_CODES.has(code) || code.startsWith("ERR_TLS_") || code.startsWith("ERR_SSL_"));

const asciiLower = (text) => text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
const asciiUpper = (text) => text.replace(/[a-z]+/g, (m) => m.toUpperCase());
// UTF-8 decoding that keeps a leading byte order mark, as Rust's `String::from_utf8_lossy` does.
const lossyKeepingBom = new TextDecoder("utf-8", { ignoreBOM: true });
// UTF-8 decoding as `Response.text()` does it: lossy, a leading byte order mark dropped.
const responseText = new TextDecoder();

// A fetch that failed; its message is the body of GoMode's synthetic 502, in ABI.md's words.
class FetchFailure extends Error {}

const failure = {
  denied: (authority) =>
    new FetchFailure(
      `TypeError: fetch denied: ${authority} is not allowed; gomode-host allows outbound network only to hosts ` +
        "given with --allow-net HOST[:PORT]",
    ),
  invalidUrl: (url) => new FetchFailure(`TypeError: Invalid URL: ${url}`),
  scheme: (scheme) => new FetchFailure(`TypeError: fetch failed: unsupported scheme ${scheme}:`),
  method: (method) => new FetchFailure(`TypeError: '${method}' HTTP method is unsupported.`),
  connect: (authority) => new FetchFailure(`TypeError: fetch failed: cannot connect to ${authority}`),
  timeout: (ms) => new FetchFailure(`TypeError: fetch failed: no complete answer within ${ms} ms`),
  tooLarge: (max) => new FetchFailure(`TypeError: fetch failed: the response body is over ${max} bytes`),
  redirects: () => new FetchFailure("TypeError: fetch failed: redirect count exceeded"),
  broken: () => new FetchFailure("TypeError: fetch failed: the connection broke before a complete response"),
};

// A URL's port: its explicit one, or its scheme's default (the scheme is http or https here).
const portOf = (url) => (url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80);

// `host:port` of a URL, as the failure texts name it (an IPv6 host in brackets).
const authorityOf = (url) => `${url.hostname}:${portOf(url)}`;

// Whether the allow list lets a fetch reach `url`: an entry `HOST` allows every port of HOST
// and `HOST:PORT` one port (IPv6 in brackets), compared without ASCII case, as the wasmtime
// host's `NetPolicy::allows` does.
function allows(allowNet, url) {
  const host = url.hostname;
  const port = portOf(url);
  return allowNet.some((raw) => {
    const entry = asciiLower(raw);
    const at = entry.lastIndexOf(":");
    if (at > 0 && !entry.endsWith("]")) {
      // The port as Rust parses a u16: an optional `+` and decimal digits, at most 65535.
      const digits = entry.slice(at + 1);
      const allowed = /^\+?[0-9]+$/.test(digits) ? Number(digits.replace(/^\+/, "")) : NaN;
      return entry.slice(0, at) === host && allowed <= 65535 && allowed === port;
    }
    return entry === host;
  });
}

// Makes the HTTP fetch a guest asked for with Node's global `fetch`, under the handle's policy,
// as the wasmtime host's `Net::fetch` makes it (`host/src/net.rs`): the method normalized as
// Fetch does, redirects followed by hand (at most 20, each hop allowed and its scheme checked;
// a 303 that does not answer HEAD, or a 301 or 302 answering POST, turns into a GET without body
// or `Content-Type`), one timeout for everything including the body, and a bounded body. Keeps
// what GoMode keeps: the status, the `content-type` (or "") and the body as `Response.text()`
// gives it. Throws a FetchFailure.
async function httpFetch(request, policy) {
  let url;
  try {
    url = new URL(request.url);
  } catch {
    throw failure.invalidUrl(request.url);
  }
  const upper = asciiUpper(request.method);
  let method = NORMALIZED_METHODS.has(upper) ? upper : request.method;
  if (upper === "CONNECT" || upper === "TRACE" || upper === "TRACK") throw failure.method(request.method);
  let headers = request.headers;
  // Bytes, not a string: Fetch gives a string body a `text/plain;charset=UTF-8` type of its own.
  let body = request.body !== "" && method !== "GET" && method !== "HEAD" ? encoder.encode(request.body) : null;
  const signal = AbortSignal.timeout(Math.min(policy.timeoutMs, MAX_TIMER_MS));
  // What an error thrown by `fetch` or by reading the body means, for the hop to `at`.
  const failed = (err, at) => {
    if (err instanceof FetchFailure) return err;
    if (signal.aborted || err?.name === "TimeoutError") return failure.timeout(policy.timeoutMs);
    const cause = err?.cause;
    const codes = [cause?.code, ...(Array.isArray(cause?.errors) ? cause.errors.map((e) => e?.code) : [])];
    // Fetch refuses its "bad ports" (such as 1 and 6000) before connecting.
    if (codes.some(isConnectCode) || cause?.message === "bad port") return failure.connect(authorityOf(at));
    return failure.broken();
  };
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    if (url.protocol !== "http:" && url.protocol !== "https:") throw failure.scheme(url.protocol.slice(0, -1));
    if (!allows(policy.allowNet, url)) throw failure.denied(authorityOf(url));
    if (signal.aborted) throw failure.timeout(policy.timeoutMs);
    if (!TOKEN.test(method)) throw failure.method(method);
    let response;
    try {
      response = await fetch(url, { method, headers, body, redirect: "manual", signal });
    } catch (err) {
      throw failed(err, url);
    }
    const status = response.status;
    const location = response.headers.get("location");
    if ([301, 302, 303, 307, 308].includes(status) && location !== null) {
      await response.body?.cancel().catch(() => {});
      // Header values arrive as bytes, one character each; a Location is read as UTF-8.
      const target = lossyKeepingBom.decode(Buffer.from(location, "latin1"));
      try {
        url = new URL(target, url);
      } catch {
        throw failure.invalidUrl(target);
      }
      if ((status === 303 && method !== "HEAD") || ((status === 301 || status === 302) && method === "POST")) {
        method = "GET";
        body = null;
        headers = headers.filter(([name]) => asciiLower(name) !== "content-type");
      }
      continue;
    }
    const contentType = response.headers.get("content-type") ?? "";
    const chunks = [];
    let total = 0;
    try {
      if (response.body) {
        const reader = response.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          total += value.length;
          if (total > policy.maxBytes) {
            reader.cancel().catch(() => {});
            throw failure.tooLarge(policy.maxBytes);
          }
          chunks.push(value);
        }
      }
    } catch (err) {
      throw failed(err, url);
    }
    return { status, content_type: contentType, body: responseText.decode(Buffer.concat(chunks, total)) };
  }
  throw failure.redirects();
}

// Answers a binding operation (a method starting with `__`) over the handle's KV store, a Map
// that lives as long as the handle, or null when the KV binding is off; as ABI.md §12's KV table
// says and GoMode's Worker answers over Workers KV.
function binding(request, store) {
  const text = (status, body) => ({ status, content_type: BINDING_TYPE, body });
  const op = request.method;
  const key = request.url;
  const known = ["__KV_GET", "__KV_PUT", "__KV_DELETE", "__KV_LIST"].includes(op);
  if (store === null && op.startsWith("__KV_")) return text(500, "KV binding not configured");
  if (!known) return text(400, `unknown binding op: ${op}`);
  if (op !== "__KV_LIST" && key === "") return text(500, "TypeError: KV key must not be empty");
  switch (op) {
    case "__KV_GET":
      return store.has(key) ? text(200, store.get(key)) : text(404, "");
    case "__KV_PUT":
      store.set(key, request.body);
      return text(200, "ok");
    case "__KV_DELETE":
      store.delete(key);
      return text(200, "ok");
    default: {
      // Byte order of the UTF-8 names, as Workers KV lists them.
      const names = [...store.keys()]
        .filter((name) => name.startsWith(key))
        .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
        .slice(0, KV_LIST_PAGE);
      return { status: 200, content_type: "application/json", body: JSON.stringify(names) };
    }
  }
}

// Answers one fetch a guest asked for: a binding operation, or HTTP; a failed HTTP fetch is
// GoMode's synthetic 502, `text/plain`, with the failure's text.
async function answerFetch(request, policy, store) {
  if (request.method.startsWith("__")) return binding(request, store);
  try {
    return await httpFetch(request, policy);
  } catch (err) {
    const body = err instanceof FetchFailure ? err.message : failure.broken().message;
    return { status: 502, content_type: "text/plain", body };
  }
}

// ---------------------------------------------------------------------------------------------
// The instance's thread
// ---------------------------------------------------------------------------------------------

// The code of an instance's Worker thread: GoMode's WASI, init, the request writer, the call and
// the response reader. It runs as the source text of this function, so it uses nothing from the
// enclosing module.
async function workerMain() {
  const { parentPort } = await import("node:worker_threads");
  const SCRATCH = 10 * 16 + 8192;
  const OUTPUT_LIMIT = 64 * 1024;
  const ESUCCESS = 0;
  const EBADF = 8;
  const ENOENT = 44;
  const hex = (n) => `0x${n.toString(16)}`;
  const a4 = (n) => Math.ceil(n / 4) * 4;
  const messageOf = (err) => (err instanceof Error ? err.message : String(err));
  const strict = new TextDecoder("utf-8", { fatal: true });
  const lossy = new TextDecoder();

  // What `proc_exit` throws: GoMode's `Error("exit code: N")`, marked so init can tell it.
  class ProcExit extends Error {
    constructor(code) {
      super(`exit code: ${code}`);
      this.code = code;
    }
  }

  // What the guest wrote to fd 2 since the last take, at most OUTPUT_LIMIT bytes of it.
  const stderr = { chunks: [], kept: 0, dropped: 0 };
  const capture = (bytes) => {
    const keep = Math.min(bytes.length, OUTPUT_LIMIT - stderr.kept);
    if (keep > 0) stderr.chunks.push(bytes.slice(0, keep));
    stderr.kept += keep;
    stderr.dropped += bytes.length - keep;
  };
  const takeStderr = () => {
    let text = lossy.decode(Buffer.concat(stderr.chunks));
    if (stderr.dropped > 0) text += `\n[${stderr.dropped} more bytes not kept]`;
    stderr.chunks = [];
    stderr.kept = 0;
    stderr.dropped = 0;
    return text;
  };

  // GoMode's 25 WASI functions over `getMemory()`, simplified as the file header says.
  function wasi(getMemory) {
    const view = () => new DataView(getMemory().buffer);
    const u8 = () => new Uint8Array(getMemory().buffer);
    const zeroPair = (a, b) => {
      const v = view();
      v.setUint32(a, 0, true);
      v.setUint32(b, 0, true);
      return ESUCCESS;
    };
    return {
      args_get: () => ESUCCESS,
      args_sizes_get: zeroPair,
      environ_get: () => ESUCCESS,
      environ_sizes_get: zeroPair,
      clock_time_get: (_id, _precision, out) => {
        view().setBigUint64(out, BigInt(Date.now()) * 1000000n, true);
        return ESUCCESS;
      },
      fd_write: (fd, iovs, iovsLen, nwritten) => {
        if (fd !== 1 && fd !== 2) return EBADF;
        const v = view();
        let written = 0;
        for (let i = 0; i < iovsLen; i++) {
          const ptr = v.getUint32(iovs + i * 8, true);
          const len = v.getUint32(iovs + i * 8 + 4, true);
          if (fd === 2) capture(new Uint8Array(getMemory().buffer, ptr, len));
          written += len;
        }
        v.setUint32(nwritten, written, true);
        return ESUCCESS;
      },
      fd_read: (fd, _iovs, _iovsLen, nread) => {
        if (fd !== 0) return EBADF;
        view().setUint32(nread, 0, true);
        return ESUCCESS;
      },
      fd_seek: () => EBADF,
      fd_close: () => ESUCCESS,
      fd_fdstat_get: (fd, out) => {
        u8().fill(0, out, out + 24);
        if (fd > 2) return EBADF;
        const v = view();
        v.setUint8(out, 2);
        v.setBigUint64(out + 8, 0x1ffn, true);
        v.setBigUint64(out + 16, 0x1ffn, true);
        return ESUCCESS;
      },
      fd_fdstat_set_flags: () => ESUCCESS,
      fd_prestat_get: () => EBADF,
      fd_prestat_dir_name: () => EBADF,
      path_open: () => ENOENT,
      path_filestat_get: () => ENOENT,
      fd_filestat_get: (fd, out) => {
        u8().fill(0, out, out + 64);
        if (fd > 2) return EBADF;
        const v = view();
        v.setUint8(out + 16, 2);
        v.setBigUint64(out + 24, 1n, true);
        return ESUCCESS;
      },
      fd_readdir: () => EBADF,
      path_create_directory: () => ENOENT,
      path_remove_directory: () => ENOENT,
      path_unlink_file: () => ENOENT,
      path_rename: () => ENOENT,
      poll_oneoff: (_in, _out, _nsubscriptions, nevents) => {
        view().setUint32(nevents, 0, true);
        return ESUCCESS;
      },
      proc_exit: (code) => {
        throw new ProcExit(code);
      },
      random_get: (ptr, len) => {
        crypto.getRandomValues(new Uint8Array(getMemory().buffer, ptr, len));
        return ESUCCESS;
      },
      sched_yield: () => ESUCCESS,
    };
  }

  // The live instance: `{ exports, memory, scratch, features, limit }`, or null.
  let live = null;
  // The most memory any instance of this thread has had, so the pool can retire the thread.
  let peak = 0;
  const note = (memory) => {
    peak = Math.max(peak, memory.buffer.byteLength);
  };
  const overLimit = (memory, limit) => memory.buffer.byteLength > limit;
  const memoryRule = (memory, limit, when) =>
    violation(
      "call.memory",
      `linear memory grew to ${memory.buffer.byteLength} bytes ${when}, over the host's limit of ${limit} bytes ` +
        "(V8 cannot refuse the growth, so the host checks after the call)",
    );
  function violation(rule, message) {
    return { rule, message };
  }
  const failed = (error) => {
    live = null;
    return { error, dropped: true };
  };

  function start({ module, limit }) {
    live = null;
    takeStderr();
    let memory = null;
    let instance;
    try {
      instance = new WebAssembly.Instance(module, { wasi_snapshot_preview1: wasi(() => memory) });
    } catch (err) {
      return failed(violation("init.start", `instantiating the module failed: ${messageOf(err)}`));
    }
    const exports = instance.exports;
    memory = exports.memory;
    note(memory);
    try {
      exports._start();
    } catch (err) {
      note(memory);
      if (overLimit(memory, limit)) return failed(memoryRule(memory, limit, "during `_start`"));
      if (!(err instanceof ProcExit && err.code === 0)) {
        const why = err instanceof ProcExit ? `init called proc_exit(${err.code}); only 0 counts as success` : `\`_start\` threw: ${messageOf(err)}`;
        return failed(violation("init.start", why));
      }
    }
    note(memory);
    if (overLimit(memory, limit)) return failed(memoryRule(memory, limit, "during `_start`"));
    let features = null;
    if (typeof exports.gomode_abi_features === "function") {
      try {
        features = exports.gomode_abi_features() | 0;
      } catch (err) {
        return failed(violation("module.declarations", `calling a \`gomode_abi_*\` export failed: ${messageOf(err)}`));
      }
    }
    let ptr;
    try {
      ptr = exports.malloc(SCRATCH) >>> 0;
    } catch (err) {
      note(memory);
      if (overLimit(memory, limit)) return failed(memoryRule(memory, limit, "during `malloc`"));
      if (err instanceof ProcExit) {
        return failed(violation("call.exit", `called proc_exit(${err.code}) while serving; exit is only allowed during init`));
      }
      return failed(violation("init.malloc", `malloc(${SCRATCH}) threw: ${messageOf(err)}`));
    }
    note(memory);
    if (overLimit(memory, limit)) return failed(memoryRule(memory, limit, "during `malloc`"));
    const memoryLen = memory.buffer.byteLength;
    let problem = null;
    if (ptr === 0) problem = `malloc(${SCRATCH}) returned null`;
    else if (ptr % 8 !== 0) problem = `malloc(${SCRATCH}) returned ${hex(ptr)}, which is not 8-byte aligned`;
    else if (ptr + SCRATCH > memoryLen) {
      problem = `malloc(${SCRATCH}) returned ${hex(ptr)}, but the region ends past the ${memoryLen}-byte memory`;
    }
    if (problem) return failed(violation("init.malloc", problem));
    live = { exports, memory, scratch: ptr, features, limit };
    // Init output is not part of any request; it is dropped once init succeeded.
    takeStderr();
    return { ok: true };
  }

  // Writes the six request slots and their payloads at the scratch, exactly as GoMode lays
  // them out, but with every slot byte and pad zeroed. Slots 4 and 5 are null, or on a replay
  // the fetch record (tag 4, its address) and the call index (tag 2).
  function writeRequest(texts, replaying) {
    const size = 96 + texts.reduce((sum, t) => sum + a4(4 + t.length), 0);
    const block = new Uint8Array(size);
    const view = new DataView(block.buffer);
    let next = 96;
    texts.forEach((text, i) => {
      block[i * 16] = 4;
      view.setUint32(i * 16 + 4, live.scratch + next, true);
      view.setUint32(next, text.length, true);
      block.set(text, next + 4);
      next = a4(next + 4 + text.length);
    });
    if (replaying) {
      block[64] = 4;
      view.setUint32(68, replaying.record, true);
      block[80] = 2;
      view.setInt32(84, replaying.index, true);
    }
    const memory = new Uint8Array(live.memory.buffer);
    if (live.scratch + size > memory.length) return false;
    memory.set(block, live.scratch);
    return true;
  }

  // The first call of a request. The request's texts are kept for the replays, with the count
  // of fetches it has asked for and the host's cap.
  function call({ texts, maxFetches }) {
    if (!live) return { internal: "a call reached a thread without a live instance" };
    takeStderr();
    live.request = { texts, fetches: 0, maxFetches };
    return invoke(null);
  }

  // Writes the record of a fetch result through the guest's `malloc`, which is never freed
  // (ABI.md §12): three slots, then the content type and the body as `[u32 len][bytes]`, each
  // starting 4-byte aligned from the record's start, with 4 spare bytes after each, as GoMode
  // sizes it. The bytes are written zeroed, pads included. Replies with the record's address.
  function record({ result }) {
    if (!live?.request) return { internal: "a fetch record reached a thread without a request in flight" };
    const { exports, memory, limit } = live;
    const type = new TextEncoder().encode(result.content_type);
    const body = new TextEncoder().encode(result.body);
    const len = 48 + 4 + type.length + 4 + 4 + body.length + 4;
    let at;
    try {
      at = exports.malloc(len) >>> 0;
    } catch (err) {
      note(memory);
      if (overLimit(memory, limit)) return failed(memoryRule(memory, limit, "during `malloc` for a fetch record"));
      if (err instanceof ProcExit) {
        const why = `called proc_exit(${err.code}) while serving; exit is only allowed during init`;
        return failed(violation("call.exit", why));
      }
      return failed(violation("init.malloc", `malloc(${len}) for a fetch record threw: ${messageOf(err)}`));
    }
    note(memory);
    if (overLimit(memory, limit)) return failed(memoryRule(memory, limit, "during `malloc` for a fetch record"));
    const mem = new Uint8Array(memory.buffer);
    if (at + len > mem.length) {
      const why = `malloc(${len}) returned ${hex(at)} for a fetch record, which does not lie inside memory`;
      return failed(violation("init.malloc", why));
    }
    const block = new Uint8Array(len);
    const view = new DataView(block.buffer);
    block[0] = 2;
    view.setInt32(4, result.status, true);
    const typeAt = 48;
    // GoMode aligns the body's absolute address, not its offset in the record.
    const bodyAt = a4(at + typeAt + 4 + type.length) - at;
    [[1, typeAt, type], [2, bodyAt, body]].forEach(([slot, offset, bytes]) => {
      block[slot * 16] = 4;
      view.setUint32(slot * 16 + 4, at + offset, true);
      view.setUint32(offset, bytes.length, true);
      block.set(bytes, offset + 4);
    });
    mem.set(block, at);
    return { record: at, keepStderr: true };
  }

  // Calls the handler again with the same request, the record in slot 4 and the call index in
  // slot 5.
  function replay({ record: at, index }) {
    if (!live?.request) return { internal: "a replay reached a thread without a request in flight" };
    return invoke({ record: at, index });
  }

  // Writes the request in flight at the scratch and calls `handle_zerobuf`: the response, a
  // fetch the handler asks for (status -1; always offered, as on GoMode), or the rule broken.
  // The guest's stderr is kept across the calls of one request and sent with its last reply.
  function invoke(replaying) {
    const { memory, limit, request } = live;
    if (!writeRequest(request.texts, replaying)) {
      return failed(violation("init.malloc", "the scratch area is no longer inside memory"));
    }
    let base = 0;
    let thrown = null;
    try {
      base = live.exports.handle_zerobuf(live.scratch) >>> 0;
    } catch (err) {
      thrown = err;
    }
    note(memory);
    if (overLimit(memory, limit)) return failed(memoryRule(memory, limit, "during the call"));
    if (thrown !== null) {
      // GoMode's answer to any throw from `handle_zerobuf`, first call or replay; the instance
      // is kept.
      const message = messageOf(thrown);
      return {
        response: {
          status: 500,
          content_type: "text/plain; charset=utf-8",
          headers: [],
          body_base64: Buffer.from(`panic: ${message}`).toString("base64"),
          body_tag: "string",
          panic: message,
          fetches: request.fetches,
        },
      };
    }
    const mem = new Uint8Array(memory.buffer);
    if (asksForFetch(mem, base)) {
      request.fetches += 1;
      if (request.fetches > request.maxFetches) {
        const message =
          `the handler asked for a fetch ${request.fetches} times in one request; this host allows ` +
          `${request.maxFetches} (--max-fetches)`;
        return { error: violation("fetch.cap", message) };
      }
      const wanted = readFetchRequest(mem, base);
      if (wanted.error) return wanted;
      return { fetch: wanted.fetch, keepStderr: true };
    }
    const read = readResponse(mem, base, live.features);
    if (read.response) read.response.fetches = request.fetches;
    return read;
  }

  // Whether the response at `base` asks for a fetch: slot 0 lies inside memory and is an i32 -1.
  function asksForFetch(mem, base) {
    if (base + 16 > mem.length || mem[base] !== 2) return false;
    return new DataView(mem.buffer).getInt32(base + 4, true) === -1;
  }

  // The string a fetch request's slot points to: tag 4, inside memory, UTF-8; or why not.
  function fetchSlotText(mem, view, slotAddr) {
    if (slotAddr + 16 > mem.length) {
      return { problem: `the slot at ${hex(slotAddr)} lies outside memory (${mem.length} bytes)` };
    }
    if (mem[slotAddr] !== 4) return { problem: `the slot has tag ${mem[slotAddr]}; expected tag 4 (string)` };
    const bytes = payload(mem, view, slotAddr);
    if (typeof bytes === "string") return { problem: bytes };
    try {
      return { text: strict.decode(bytes) };
    } catch {
      return { problem: "the string is not UTF-8" };
    }
  }

  // Reads the fetch request of a -1 response as the wasmtime host does (`host/src/fetch.rs`,
  // `read_request`), which is GoMode's reading made strict (ABI.md §12, `fetch.request`): slots
  // 1 and 2 are strings that each hold a newline, an HTTP fetch names a URL, and slot 3, when it
  // is a non-empty string, starts with a decimal call index followed by header lines that
  // GoMode's `headers.append` takes. The URL and the method are trimmed (an empty method is
  // GET), the content type is sent first as `Content-Type` unless a header line of that exact
  // name sets it, the last of a repeated name wins, and the body is kept only when it is not
  // empty and the method is not exactly GET or HEAD.
  function readFetchRequest(mem, base) {
    const view = new DataView(mem.buffer);
    const bad = (message) => ({ error: violation("fetch.request", message) });
    const slot = (i) => base + i * 16;
    const two = (i, what) => {
      const read = fetchSlotText(mem, view, slot(i));
      if (read.problem) return { problem: `slot ${i} (${what}): ${read.problem}` };
      const at = read.text.indexOf("\n");
      if (at === -1) return { problem: `slot ${i} must be \`${what}\`, but it has no newline` };
      return { parts: [read.text.slice(0, at), read.text.slice(at + 1)] };
    };
    const first = two(1, "METHOD\\nCONTENT_TYPE");
    if (first.problem) return bad(first.problem);
    const second = two(2, "URL\\nBODY");
    if (second.problem) return bad(second.problem);
    const [rawMethod, contentType] = first.parts;
    const [rawUrl, body] = second.parts;
    const url = rawUrl.trim();
    const method = rawMethod.trim() || "GET";
    if (url === "" && !method.startsWith("__")) return bad("slot 2 names an empty URL");
    let callIndex = 0;
    let headers = [];
    if (slot(3) < mem.length && mem[slot(3)] === 4) {
      const read = fetchSlotText(mem, view, slot(3));
      if (read.problem) return bad(`slot 3 (CALLINDEX and header lines): ${read.problem}`);
      if (read.text !== "") {
        const [indexLine, ...lines] = read.text.split("\n");
        const index = indexLine.trim();
        const value = /^[+-]?[0-9]+$/.test(index) ? Number(index) : NaN;
        if (!(value >= -(2 ** 31) && value < 2 ** 31)) {
          return bad(`slot 3 must start with the decimal call index, not ${JSON.stringify(index)}`);
        }
        callIndex = value;
        for (const line of lines) {
          const at = line.indexOf(": ");
          if (at <= 0) continue;
          const name = line.slice(0, at);
          const text = line.slice(at + 2);
          // GoMode's response header parser reads slot 3 too, before the fetch, and its
          // `headers.append` throws on a line it cannot take; it skips `content-type` lines.
          if (name.toLowerCase() !== "content-type") {
            try {
              new Headers().append(name.toLowerCase(), text);
            } catch (err) {
              const why = `${messageOf(err)}, so GoMode's \`headers.append\` throws`;
              return bad(`slot 3: header line ${JSON.stringify(line)}: ${why}`);
            }
          }
          headers = headers.filter(([n]) => n !== name);
          headers.push([name, text]);
        }
      }
    }
    if (contentType !== "" && !headers.some(([n]) => n === "Content-Type")) {
      headers.unshift(["Content-Type", contentType]);
    }
    const sendsBody = body !== "" && method !== "GET" && method !== "HEAD";
    return {
      fetch: { method, url, content_type: contentType, headers, body: sendsBody ? body : "", call_index: callIndex },
    };
  }

  // Reads the `[len u32][bytes]` payload that the slot at `slot` points to, whatever its tag,
  // as GoMode does; a string when it lies outside memory.
  function payload(mem, view, slot) {
    const ptr = view.getUint32(slot + 4, true);
    if (ptr + 4 > mem.length) return `string header of 4 bytes at ${hex(ptr)} lies outside memory (${mem.length} bytes)`;
    const len = view.getUint32(ptr, true);
    if (ptr + 4 + len > mem.length) {
      return `string data of ${len} bytes at ${hex(ptr + 4)} lies outside memory (${mem.length} bytes)`;
    }
    return mem.slice(ptr + 4, ptr + 4 + len);
  }

  const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

  // Reads the response as GoMode's `readRawResponse` and `toResponse` do, naming the rule
  // wherever GoMode would throw or misread (ABI.md §11, "Responses").
  function readResponse(mem, base, features) {
    const view = new DataView(mem.buffer);
    const end = base + 48;
    const bad = (rule, message) => ({ error: violation(rule, message) });
    if (end > mem.length) {
      return bad("response.pointer", `the response at ${hex(base)} needs 3 slots up to ${hex(end)}, but memory is ${mem.length} bytes`);
    }
    const tag = (i) => mem[base + i * 16];
    const wrong = (rule, what, i, expected) =>
      bad(rule, `slot ${i} (${what}) has tag ${tag(i)}; expected ${expected} (GoMode's Worker reads it without looking at the tag, and misreads it)`);
    if (tag(0) !== 2) return wrong("response.status", "status", 0, "tag 2 (i32)");
    const status = view.getInt32(base + 4, true);
    if (status < 200 || status > 599) {
      return bad(
        "response.status",
        `status ${status} is outside 200..=599: GoMode's \`new Response\` throws a RangeError and the Worker fails the request (error 1101)`,
      );
    }
    if (tag(1) !== 4) return wrong("response.content_type", "content type", 1, "tag 4 (string)");
    const typeBytes = payload(mem, view, base + 16);
    if (typeof typeBytes === "string") return bad("response.bounds", typeBytes);
    const contentType = lossy.decode(typeBytes).replace(HTTP_WHITESPACE, "");
    try {
      new Headers().set("content-type", contentType);
    } catch (err) {
      return bad(
        "response.content_type",
        `the content type ${JSON.stringify(contentType)} is not a header value (${messageOf(err)}), so GoMode's \`headers.set\` throws`,
      );
    }
    const bodyTag = tag(2);
    if (bodyTag !== 4 && bodyTag !== 8) return wrong("response.body", "body", 2, "tag 4 (string) or 8 (bytes)");
    let body = payload(mem, view, base + 32);
    if (typeof body === "string") return bad("response.bounds", body);
    if (status === 204 || status === 205 || status === 304) body = new Uint8Array(0);
    let text = bodyTag === 4;
    if (text) {
      try {
        strict.decode(body);
      } catch {
        text = false;
      }
    }

    const headers = [];
    if (end + 16 <= mem.length && tag(3) === 4) {
      const stray = (message) => bad("gomode.headers", message);
      if (features !== null && (features & 1) === 0) {
        return stray(
          `the byte after the three response slots is 4, so GoMode serves slot 3 as headers, but the guest declares ` +
            `features ${hex(features >>> 0)} without bit 0 (response headers): a stray slot`,
        );
      }
      const raw = payload(mem, view, base + 48);
      if (typeof raw === "string") return stray(`slot 3: ${raw}`);
      try {
        strict.decode(raw);
      } catch {
        return stray("slot 3 is not UTF-8, so it cannot be header lines");
      }
      // GoMode's parser: split on "\n"; a line counts when ": " follows at least one character;
      // the name is lower-cased; `content-type` is skipped; `headers.append` trims the value and
      // throws on a bad name or value.
      for (const line of lossy.decode(raw).split("\n")) {
        const at = line.indexOf(": ");
        if (at <= 0) continue;
        const name = line.slice(0, at).toLowerCase();
        if (name === "content-type") continue;
        const value = line.slice(at + 2);
        const check = new Headers();
        try {
          check.append(name, value);
        } catch (err) {
          return stray(`header line ${JSON.stringify(line)}: ${messageOf(err)}, so GoMode's \`headers.append\` throws`);
        }
        headers.push([name, value.replace(HTTP_WHITESPACE, "")]);
      }
    }
    return {
      response: {
        status,
        content_type: contentType,
        headers,
        body_base64: Buffer.from(body).toString("base64"),
        body_tag: text ? "string" : "bytes",
        panic: null,
      },
    };
  }

  const handlers = {
    start,
    call,
    record,
    replay,
    drop: () => {
      live = null;
      return { ok: true };
    },
  };

  parentPort.on("message", (message) => {
    let reply;
    try {
      reply = handlers[message.op](message);
    } catch (err) {
      live = null;
      reply = { internal: `worker-host's instance thread failed: ${err?.stack ?? err}`, dropped: true };
    }
    if (live) note(live.memory);
    reply.memory = live ? live.memory.buffer.byteLength : null;
    reply.peak = peak;
    // While a request waits for a fetch, its output stays here, to go with its last reply.
    if (reply.keepStderr) delete reply.keepStderr;
    else reply.stderr = takeStderr();
    parentPort.postMessage(reply);
  });
  parentPort.postMessage({ ready: true });
}

const WORKER_SOURCE = `(${workerMain.toString()})();`;

// One instance thread, with at most one request in flight.
class Thread {
  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.dead = false;
    this.pending = null;
    this.peak = 0;
    this.ready = new Promise((resolve) => {
      this.pending = resolve;
    });
    this.worker.on("message", (message) => {
      const pending = this.pending;
      this.pending = null;
      if (typeof message.peak === "number") this.peak = message.peak;
      pending?.(message);
    });
    this.worker.on("error", (err) => this.fail(`the instance thread threw: ${err?.stack ?? err}`));
    this.worker.on("exit", (code) => this.fail(`the instance thread exited with code ${code}`));
  }

  fail(why) {
    this.dead = true;
    const pending = this.pending;
    this.pending = null;
    pending?.({ internal: why, dropped: true });
  }

  // Sends one message and waits for its reply, or for `timeoutMs` (when positive), after which
  // the thread is terminated and `{ timeout: true }` is the reply.
  async request(message, timeoutMs, transfer = []) {
    await this.ready;
    if (this.dead) return { internal: "the instance thread is gone", dropped: true };
    return new Promise((resolve) => {
      let timer = null;
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          this.pending = null;
          this.kill();
          resolve({ timeout: true });
        }, timeoutMs);
      }
      this.pending = (reply) => {
        if (timer) clearTimeout(timer);
        resolve(reply);
      };
      this.worker.postMessage(message, transfer);
    });
  }

  kill() {
    this.dead = true;
    this.worker.terminate().catch(() => {});
  }
}

// Idle threads, reused by the next handle that needs one.
const idle = [];

function takeThread() {
  while (idle.length > 0) {
    const thread = idle.pop();
    if (!thread.dead) return thread;
  }
  return new Thread();
}

async function giveThread(thread) {
  if (thread.dead) return;
  if (thread.peak > POOL_MEMORY_CEILING || idle.length >= POOL_SIZE) {
    thread.kill();
    return;
  }
  const reply = await thread.request({ op: "drop" }, 0);
  if (reply.ok && !thread.dead) idle.push(thread);
  else thread.kill();
}

// ---------------------------------------------------------------------------------------------
// Handles and the protocol
// ---------------------------------------------------------------------------------------------

// One opened guest: its compiled module, its limits, its outbound policy and KV store, and its
// live instance, if any.
class Handle {
  constructor(name, memoryLimit, deadlineMs, policy) {
    // The compiled module and its shape problem, once loaded; or the reply for a file that
    // cannot be read.
    this.entry = null;
    this.unreadable = null;
    this.name = name;
    this.memoryLimit = memoryLimit;
    this.deadlineMs = deadlineMs;
    // `{ allowNet, timeoutMs, maxBytes, kv, maxFetches }` for the guest's outbound fetches.
    this.policy = policy;
    // The KV binding: an in-memory store that every instance of this handle shares and that
    // starts empty with the handle; null when `open` turned KV off.
    this.kv = policy.kv ? new Map() : null;
    this.thread = null;
    this.live = false;
    this.instances = 0;
    this.memory = null;
    // The handle's operations run one after another, in the order they arrived.
    this.queue = Promise.resolve();
  }

  // Runs `work` after every earlier operation on this handle.
  run(work) {
    const result = this.queue.then(work);
    this.queue = result.catch(() => {});
    return result;
  }

  // The instance is gone: after a rule that drops it, a deadline or a thread failure. Its
  // thread goes too when asked, or when it has held a large memory, which is freed with it.
  lose(threadToo) {
    this.live = false;
    this.memory = null;
    if ((threadToo || this.thread?.peak > POOL_MEMORY_CEILING) && this.thread) {
      this.thread.kill();
      this.thread = null;
    }
  }

  // Turns a thread's failure reply into a protocol reply, or returns null for a normal one.
  trouble(reply, what) {
    if (reply.timeout) {
      this.lose(true);
      const message = `${what} did not return within the ${this.deadlineMs} ms deadline; the instance's thread was terminated`;
      return { error: { rule: "call.deadline", message, stderr: "" } };
    }
    if (reply.internal) {
      this.lose(true);
      return { host_error: reply.internal, kind: "other" };
    }
    return null;
  }

  state() {
    return { memory: this.live ? this.memory : null, instances: this.instances };
  }

  // Creates and initializes an instance when there is none; returns an error reply or null.
  async ensureLive() {
    if (this.unreadable) return this.unreadable;
    if (this.entry.problem) return { error: { ...this.entry.problem, stderr: "" } };
    if (this.live) return null;
    this.instances += 1;
    this.thread ??= takeThread();
    const reply = await this.thread.request({ op: "start", module: this.entry.module, limit: this.memoryLimit }, this.deadlineMs);
    const trouble = this.trouble(reply, "init (`_start`, then `malloc`)");
    if (trouble) return trouble;
    if (reply.error) {
      this.lose(false);
      return { error: { ...reply.error, stderr: reply.stderr } };
    }
    this.live = true;
    this.memory = reply.memory;
    return null;
  }

  async start() {
    const failed = await this.ensureLive();
    return failed ?? { ok: true };
  }

  async call(request) {
    const failed = await this.ensureLive();
    if (failed) return failed;
    let texts;
    try {
      texts = await slotTexts(request);
    } catch (err) {
      if (err instanceof BadRequest) return { host_error: err.message, kind: "bad_request" };
      throw err;
    }
    const [m, p, b, h] = texts.map((t) => t.length);
    const written = 96 + a4(4 + m) + a4(4 + p) + a4(4 + b) + 4 + h;
    if (written > SCRATCH) {
      const message =
        `the request needs ${written} bytes of request slots and payloads, but GoMode's Worker has a fixed request ` +
        `scratch of ${SCRATCH} bytes (8,352); on GoMode it would overwrite ${written - SCRATCH} bytes of guest memory ` +
        "past the scratch";
      return { error: { rule: "gomode.scratch", message, stderr: "" } };
    }
    // The first call, then, while the guest asks for fetches, the fetch, its record and the
    // replay. Each call into the guest has the whole deadline to itself: the deadline is GoMode's
    // CPU limit, and no time is counted while a fetch is made here, on the main thread.
    let reply = await this.thread.request(
      { op: "call", texts, maxFetches: this.policy.maxFetches },
      this.deadlineMs,
      texts.map((t) => t.buffer),
    );
    for (;;) {
      const trouble = this.trouble(reply, "`handle_zerobuf`");
      if (trouble) return trouble;
      if (reply.dropped) this.lose(false);
      else this.memory = reply.memory;
      if (!reply.fetch) break;
      const result = await answerFetch(reply.fetch, this.policy, this.kv);
      const made = await this.thread.request({ op: "record", result }, this.deadlineMs);
      const lost = this.trouble(made, "`malloc` for a fetch record");
      if (lost) return lost;
      if (made.dropped) this.lose(false);
      else this.memory = made.memory;
      if (made.error) return { error: { ...made.error, stderr: made.stderr } };
      const replay = { op: "replay", record: made.record, index: reply.fetch.call_index };
      reply = await this.thread.request(replay, this.deadlineMs);
    }
    if (reply.error) return { error: { ...reply.error, stderr: reply.stderr } };
    return { response: { ...reply.response, stderr: reply.stderr } };
  }

  async close() {
    const thread = this.thread;
    this.thread = null;
    this.live = false;
    if (thread) await giveThread(thread);
    return { ok: true };
  }
}

const handles = new Map();
let nextHandle = 1;

// Opens a guest. The handle exists at once, so a client may send requests for it before the
// reply arrives; they wait for the module, and fail as `open` does when it cannot be read.
async function open(request) {
  const { path, name, memory_limit: memoryLimit, deadline_ms: deadlineMs, wasm_base64: wasmBase64 } = request;
  if (typeof path !== "string") return { host_error: "`open` needs a `path`", kind: "other" };
  const id = nextHandle++;
  const limit = Number.isFinite(memoryLimit) ? memoryLimit : DEFAULT_MEMORY_LIMIT;
  const deadline = Number.isFinite(deadlineMs) ? deadlineMs : DEFAULT_DEADLINE_MS;
  const number = (value, fallback) => (Number.isFinite(value) && value >= 0 ? value : fallback);
  const policy = {
    allowNet: Array.isArray(request.allow_net) ? request.allow_net.filter((entry) => typeof entry === "string") : [],
    timeoutMs: number(request.fetch_timeout_ms, DEFAULT_FETCH_TIMEOUT_MS),
    maxBytes: number(request.fetch_max_bytes, DEFAULT_FETCH_MAX_BYTES),
    kv: request.kv !== false,
    maxFetches: number(request.max_fetches, DEFAULT_MAX_FETCHES),
  };
  const handle = new Handle(name ?? path, limit, deadline, policy);
  handles.set(id, handle);
  const loaded = handle.run(async () => {
    try {
      handle.entry = await loadModule(path, wasmBase64);
    } catch (err) {
      handles.delete(id);
      handle.unreadable = { host_error: `cannot read ${path}: ${messageOf(err)}`, kind: "read" };
    }
  });
  await loaded;
  return handle.unreadable ?? { handle: id };
}

async function dispatch(request) {
  switch (request.op) {
    case "ping":
      return { ok: true, node: process.version };
    case "open":
      return open(request);
    case "start":
    case "call": {
      const handle = handles.get(request.handle);
      if (!handle) return { host_error: `no open handle ${request.handle}`, kind: "other" };
      const body = await handle.run(() => handle[request.op](request));
      return { ...body, ...handle.state() };
    }
    case "close": {
      const handle = handles.get(request.handle);
      if (!handle) return { host_error: `no open handle ${request.handle}`, kind: "other" };
      handles.delete(request.handle);
      return handle.run(() => handle.close());
    }
    default:
      return { host_error: `unknown op ${JSON.stringify(request.op)}`, kind: "other" };
  }
}

function reply(id, body) {
  process.stdout.write(`${JSON.stringify({ id, ...body })}\n`);
}

// Requests still being served; when stdin closes, the process exits once they are answered.
let inFlight = 0;
let closing = false;

async function serve(line) {
  inFlight += 1;
  try {
    await answer(line);
  } finally {
    inFlight -= 1;
    if (closing && inFlight === 0) process.exit(0);
  }
}

async function answer(line) {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    reply(null, { host_error: `not a JSON request line: ${messageOf(err)}`, kind: "other" });
    return;
  }
  try {
    reply(request.id ?? null, await dispatch(request));
  } catch (err) {
    reply(request.id ?? null, { host_error: `worker-host failed: ${err?.stack ?? err}`, kind: "other" });
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP mode, for `cargo xtask bench`
// ---------------------------------------------------------------------------------------------

// `node worker-host.mjs --http GUEST.wasm [--listen 127.0.0.1:8080] [--instances N]` serves HTTP
// through this same model instead of speaking JSON lines, so that the benchmark can put V8 behind
// Node's `http` server beside `gomode-host serve` and native Go, on the same guest. It opens the
// guest N times (one handle, so one instance thread, each; 1 by default), starts every instance,
// prints `listening on http://ADDR` once it listens, and exits 0 on SIGINT or SIGTERM. Each HTTP
// request goes to the handle with the fewest requests queued and is answered exactly as a `call`
// line would be: the model's response as the HTTP response; a broken rule as 500 with the rule
// and its message; a request Fetch refuses as 400. Every handle has the defaults of `open`
// (no host allowed for outbound fetch, KV on), and the guest's stderr is dropped.
async function serveHttp(args) {
  const option = (name, fallback) => {
    const at = args.indexOf(name);
    return at === -1 ? fallback : args[at + 1];
  };
  const path = args[0];
  const listen = option("--listen", "127.0.0.1:8080");
  const instances = Number(option("--instances", "1"));
  if (!path || path.startsWith("--") || !Number.isInteger(instances) || instances < 1) {
    console.error("usage: node worker-host.mjs --http GUEST.wasm [--listen HOST:PORT] [--instances N]");
    process.exit(2);
  }
  const colon = listen.lastIndexOf(":");
  const [host, port] = [listen.slice(0, colon).replace(/^\[|\]$/g, ""), Number(listen.slice(colon + 1))];
  const name = path.replace(/^.*\//, "").replace(/\.wasm$/, "");
  const pool = [];
  for (let i = 0; i < instances; i += 1) {
    const opened = await open({ path, name });
    const started = opened.handle ? await dispatch({ op: "start", handle: opened.handle }) : opened;
    if (!started.ok) {
      console.error(`cannot start ${path}: ${JSON.stringify(started.error ?? started.host_error)}`);
      process.exit(1);
    }
    pool.push({ handle: handles.get(opened.handle), queued: 0 });
  }
  const { createServer } = await import("node:http");
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const headers = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i], req.rawHeaders[i + 1]]);
    const call = { method: req.method, target: req.url, headers };
    if (body.length > 0) call.body_base64 = body.toString("base64");
    const slot = pool.reduce((best, next) => (next.queued < best.queued ? next : best));
    slot.queued += 1;
    let answer;
    try {
      answer = await slot.handle.run(() => slot.handle.call(call));
    } catch (err) {
      answer = { host_error: `worker-host failed: ${err?.stack ?? err}`, kind: "other" };
    } finally {
      slot.queued -= 1;
    }
    const text = (status, message) => {
      const bytes = Buffer.from(message);
      res.writeHead(status, { "content-type": "text/plain", "content-length": bytes.length });
      res.end(bytes);
    };
    if (answer.error) return text(500, `${answer.error.rule}: ${answer.error.message}`);
    if (answer.host_error) return text(answer.kind === "bad_request" ? 400 : 500, answer.host_error);
    const { status, content_type: contentType, headers: lines, body_base64: bodyBase64 } = answer.response;
    const bytes = Buffer.from(bodyBase64, "base64");
    const raw = contentType ? ["content-type", contentType] : [];
    for (const [lineName, value] of lines) raw.push(lineName, value);
    raw.push("content-length", bytes.length);
    res.writeHead(status, raw);
    res.end(bytes);
  });
  server.listen(port, host, () => {
    const address = server.address();
    const shown = address.family === "IPv6" ? `[${address.address}]` : address.address;
    process.stdout.write(`listening on http://${shown}:${address.port}\n`);
  });
  const stop = () => process.exit(0);
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

// Node warns about some methods (`patch`), which would only clutter stderr.
process.removeAllListeners("warning");
process.stdout.on("error", () => process.exit(0));
const httpAt = process.argv.indexOf("--http");
if (httpAt !== -1) {
  serveHttp(process.argv.slice(httpAt + 1)).catch((err) => {
    console.error(`worker-host --http failed: ${err?.stack ?? err}`);
    process.exit(1);
  });
} else {
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on("line", (line) => {
    if (line.trim() !== "") serve(line);
  });
  lines.on("close", () => {
    closing = true;
    if (inFlight === 0) process.exit(0);
  });
}
