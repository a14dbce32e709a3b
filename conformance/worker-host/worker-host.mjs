// worker-host.mjs: runs a guest the way a Cloudflare Worker does, to prove it needs nothing
// from wasmtime.
//
// Node's WebAssembly API with only the WASI calls a Worker offers: fd_write, proc_exit and
// random_get do real work; the Worker's harmless stubs (empty args and environment, a clock, no
// preopens, no files) answer as they do there; every other wasi_snapshot_preview1 import, which
// a real Worker does not offer at all, returns ENOSYS, and any other import fails. It writes the
// request slots, calls handle_zerobuf and prints the response as one JSON object with the keys
// of `gomode-host call --json`. It prints the imports outside the Worker's subset on stderr.
//
// Usage: node worker-host.mjs GUEST.wasm [-X METHOD] PATH [-d BODY] [-H 'Name: value']...

import { readFileSync } from "node:fs";
import { randomFillSync } from "node:crypto";

const ENOSYS = 52;
const EBADF = 8;
const ENOENT = 44;
const SCRATCH = 65536;
const SLOT = 16;

class ProcExit extends Error {
  constructor(code) {
    super(`proc_exit(${code})`);
    this.code = code;
  }
}

function parseArgs(argv) {
  const args = { method: "GET", path: null, body: "", headers: [] };
  const [guest, ...rest] = argv;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === "-X") args.method = rest[++i];
    else if (arg === "-d") args.body = rest[++i];
    else if (arg === "-H") args.headers.push(rest[++i]);
    else if (args.path === null) args.path = arg;
    else throw new Error(`unexpected argument ${arg}`);
  }
  if (!guest || args.path === null) throw new Error("usage: worker-host.mjs GUEST.wasm [-X METHOD] PATH [-d BODY] [-H 'Name: value']...");
  return { guest, ...args };
}

// The header lines of request slot 3: names lowercased, sorted, repeated names joined by ", ".
function headerLines(headers) {
  const joined = new Map();
  for (const header of headers) {
    const colon = header.indexOf(":");
    const name = header.slice(0, colon).trim().toLowerCase();
    const value = header.slice(colon + 1).trim();
    joined.set(name, joined.has(name) ? `${joined.get(name)}, ${value}` : value);
  }
  return [...joined.keys()].sort().map((name) => `${name}: ${joined.get(name)}\n`).join("");
}

function wasiImports(module, getMemory) {
  const real = {
    fd_write(fd, iovs, iovsLen, nwritten) {
      const view = new DataView(getMemory().buffer);
      let written = 0;
      for (let i = 0; i < iovsLen; i++) {
        const ptr = view.getUint32(iovs + i * 8, true);
        const len = view.getUint32(iovs + i * 8 + 4, true);
        // Guest output goes to stderr, both streams, so stdout holds only the response.
        process.stderr.write(new Uint8Array(getMemory().buffer, ptr, len));
        written += len;
      }
      view.setUint32(nwritten, written, true);
      return 0;
    },
    proc_exit(code) {
      throw new ProcExit(code);
    },
    random_get(ptr, len) {
      randomFillSync(new Uint8Array(getMemory().buffer, ptr, len));
      return 0;
    },
  };
  const view = () => new DataView(getMemory().buffer);
  const zeroPair = (a, b) => {
    view().setUint32(a, 0, true);
    view().setUint32(b, 0, true);
    return 0;
  };
  // The Worker's harmless stubs: they let runtimes start, and do nothing else.
  const stubs = {
    args_sizes_get: zeroPair,
    environ_sizes_get: zeroPair,
    args_get: () => 0,
    environ_get: () => 0,
    clock_time_get(_id, _precision, out) {
      view().setBigUint64(out, BigInt(Date.now()) * 1000000n, true);
      return 0;
    },
    clock_res_get(_id, out) {
      view().setBigUint64(out, 1000000n, true);
      return 0;
    },
    fd_prestat_get: () => EBADF,
    fd_prestat_dir_name: () => EBADF,
    fd_close: () => 0,
    fd_seek: () => EBADF,
    fd_read(_fd, _iovs, _len, nread) {
      view().setUint32(nread, 0, true);
      return 0;
    },
    fd_fdstat_get(fd, out) {
      if (fd > 2) return EBADF;
      new Uint8Array(getMemory().buffer, out, 24).fill(0);
      view().setUint8(out, 2); // a character device, like a console
      return 0;
    },
    fd_filestat_get: () => EBADF,
    path_open: () => ENOENT,
    path_filestat_get: () => ENOENT,
  };
  const wasi = {};
  const outside = [];
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module !== "wasi_snapshot_preview1" || imp.kind !== "function") {
      throw new Error(`import ${imp.module}.${imp.name} is not one a Worker provides`);
    }
    const impl = real[imp.name] ?? stubs[imp.name];
    if (!impl) outside.push(imp.name);
    wasi[imp.name] = impl ?? (() => ENOSYS);
  }
  if (outside.length) {
    process.stderr.write(`worker-host: imports a Worker does not offer, answered with ENOSYS: ${outside.join(", ")}\n`);
  }
  return { wasi_snapshot_preview1: wasi };
}

// Writes the six request slots and their strings at `base`, as the Worker glue does.
function encodeRequest(base, { method, path, body, headers }) {
  const strings = [method, path, body, headerLines(headers)].map((s) => new TextEncoder().encode(s));
  let size = 6 * SLOT;
  for (const s of strings) size += (4 + s.length + 3) & ~3;
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let next = 6 * SLOT;
  strings.forEach((s, i) => {
    view.setUint8(i * SLOT, 4);
    view.setUint32(i * SLOT + 4, base + next, true);
    view.setUint32(next, s.length, true);
    bytes.set(s, next + 4);
    next += (4 + s.length + 3) & ~3;
  });
  return bytes;
}

function readString(view, memory, ptr) {
  const len = view.getUint32(ptr, true);
  return new Uint8Array(memory.buffer, ptr + 4, len).slice();
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  const module = new WebAssembly.Module(readFileSync(args.guest));
  let memory;
  const instance = new WebAssembly.Instance(module, wasiImports(module, () => memory));
  const exports = instance.exports;
  memory = exports.memory;
  const init = exports._initialize ?? exports._start;
  try {
    init?.();
  } catch (err) {
    if (!(err instanceof ProcExit && err.code === 0)) throw err;
  }
  const features = exports.gomode_abi_features ? exports.gomode_abi_features() : 0;

  const request = { ...args, body: new TextDecoder().decode(new TextEncoder().encode(args.body)) };
  let scratchLen = SCRATCH;
  let scratch = exports.malloc(scratchLen);
  let encoded = encodeRequest(scratch, request);
  if (encoded.length > scratchLen) {
    scratchLen = 2 ** Math.ceil(Math.log2(encoded.length));
    scratch = exports.malloc(scratchLen);
    encoded = encodeRequest(scratch, request);
  }
  new Uint8Array(memory.buffer, scratch, encoded.length).set(encoded);

  const resp = exports.handle_zerobuf(scratch) >>> 0;
  const view = new DataView(memory.buffer);
  const tag = (i) => view.getUint8(resp + i * SLOT);
  const ptr = (i) => view.getUint32(resp + i * SLOT + 4, true);
  if (tag(0) !== 2 || tag(1) !== 4 || (tag(2) !== 4 && tag(2) !== 8)) {
    throw new Error(`bad response tags ${tag(0)} ${tag(1)} ${tag(2)}`);
  }
  const out = {
    status: view.getInt32(resp + 4, true),
    content_type: new TextDecoder("utf-8", { fatal: true }).decode(readString(view, memory, ptr(1))),
    headers: {},
  };
  if (features & 1 && tag(3) === 4) {
    const lines = new TextDecoder().decode(readString(view, memory, ptr(3)));
    for (const line of lines.split("\n").filter((l) => l)) {
      const colon = line.indexOf(":");
      const [name, value] = [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
      out.headers[name] = name in out.headers ? `${out.headers[name]}, ${value}` : value;
    }
  }
  const body = readString(view, memory, ptr(2));
  try {
    out.body = new TextDecoder("utf-8", { fatal: true }).decode(body);
  } catch {
    out.body_base64 = Buffer.from(body).toString("base64");
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

try {
  main();
} catch (err) {
  process.stderr.write(`worker-host: ${err.stack ?? err}\n`);
  process.exit(1);
}
