/**
 * Loads the one WebAssembly module and owns its memory. Everything above talks to the hot
 * path through `Core`: typed exports, and byte views onto wasm memory that are refreshed
 * only when memory grows (STYLE habit 1: one buffer, many views).
 */
import { fail, IpsecError } from "../errors.js";
import { WASM_BASE64 } from "./wasm-bytes.generated.js";

/** The ABI of assembly/index.ts. Pointers and lengths are wasm i32s. */
export interface CoreExports {
  memory: WebAssembly.Memory;
  GCM_CTX_BYTES: WebAssembly.Global;
  DESC_BYTES: WebAssembly.Global;
  heap_alloc(size: number): number;
  heap_free(ptr: number): void;
  wipe(ptr: number, len: number): void;
  gcmInit(ctx: number, key: number, keyLen: number): number;
  gcmWipe(ctx: number): void;
  gcmSeal(ctx: number, nonce: number, aad: number, aadLen: number, pt: number, len: number, out: number, tagLen: number): number;
  gcmOpen(ctx: number, nonce: number, aad: number, aadLen: number, sealed: number, sealedLen: number, out: number, tagLen: number): number;
  gcmBatchSeal(ctx: number, desc: number, n: number, tagLen: number): number;
  gcmBatchOpen(ctx: number, desc: number, n: number, tagLen: number): number;
  gcmBatchCounters(desc: number, n: number, ks: number, opening: number, tagLen: number): number;
  gcmKeystream(ctx: number, ks: number, bytes: number): void;
  gcmBatchSealKs(ctx: number, desc: number, n: number, ks: number, tagLen: number): number;
  gcmBatchOpenKs(ctx: number, desc: number, n: number, ks: number, tagLen: number): number;
}

export class Core {
  readonly x: CoreExports;
  readonly gcmCtxBytes: number;
  readonly descBytes: number;
  private buf: ArrayBuffer;
  private u8view: Uint8Array;
  private i32view: Int32Array;

  constructor(instance: WebAssembly.Instance) {
    this.x = instance.exports as unknown as CoreExports;
    this.gcmCtxBytes = this.x.GCM_CTX_BYTES.value as number;
    this.descBytes = this.x.DESC_BYTES.value as number;
    this.buf = this.x.memory.buffer;
    this.u8view = new Uint8Array(this.buf);
    this.i32view = new Int32Array(this.buf);
  }

  private refresh(): void {
    this.buf = this.x.memory.buffer;
    this.u8view = new Uint8Array(this.buf);
    this.i32view = new Int32Array(this.buf);
  }

  // memory.grow detaches the old ArrayBuffer (its byteLength becomes 0): checking that is much
  // cheaper than asking for memory.buffer, and the hot paths ask several times per packet.

  /** All of wasm memory as bytes; valid until the next allocation. */
  get u8(): Uint8Array {
    if (this.buf.byteLength === 0) this.refresh();
    return this.u8view;
  }

  /** All of wasm memory as little-endian i32s; valid until the next allocation. */
  get i32(): Int32Array {
    if (this.buf.byteLength === 0) this.refresh();
    return this.i32view;
  }

  /** Allocate len bytes (16-byte aligned) in wasm memory. */
  alloc(len: number): number {
    let ptr = 0;
    try {
      ptr = this.x.heap_alloc(Math.max(len, 1)) >>> 0;
    } catch (e) {
      // AssemblyScript's allocator traps when memory.grow fails (the 4 GiB limit, or the host's).
      if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    }
    if (ptr === 0) fail("ERR_OUT_OF_MEMORY", `cannot allocate ${len} bytes of wasm memory`);
    return ptr;
  }

  /** Zero then free. Everything that may have held secrets goes through here. */
  free(ptr: number, len: number): void {
    this.x.wipe(ptr, len);
    this.x.heap_free(ptr);
  }
}

// A module with one SIMD instruction (v128.const): validates only where SIMD is available.
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12,
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
]);

/** True where this runtime runs WebAssembly SIMD (Node ≥ 16.4, current browsers). */
export function hasSimd(): boolean {
  try {
    return WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

function decodeBase64(b64: string): Uint8Array {
  if (typeof atob === "function") {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }
  const B = (globalThis as { Buffer?: { from(s: string, e: string): Uint8Array } }).Buffer;
  if (B) return new Uint8Array(B.from(b64, "base64"));
  return fail("ERR_ENGINE", "no base64 decoder (atob or Buffer) in this runtime");
}

let modulePromise: Promise<WebAssembly.Module> | undefined;

/** Compile the embedded module once per process (or page). */
export function compileCore(): Promise<WebAssembly.Module> {
  if (!hasSimd()) {
    return Promise.reject(
      new IpsecError("ERR_NO_SIMD", "this runtime lacks WebAssembly SIMD, which ipsec6in4 needs"),
    );
  }
  modulePromise ??= WebAssembly.compile(decodeBase64(WASM_BASE64) as BufferSource);
  return modulePromise;
}

let shared: Promise<Core> | undefined;

/** The process-wide instance that keys and batches live in. */
export function getCore(): Promise<Core> {
  shared ??= newCore();
  return shared;
}

/** A fresh, separate instance (tests, worker threads). */
export async function newCore(): Promise<Core> {
  const mod = await compileCore();
  const instance = await WebAssembly.instantiate(mod, {
    env: {
      abort(_msg: number, _file: number, line: number, col: number): never {
        throw new Error(`ipsec6in4 wasm abort at ${line}:${col}`);
      },
    },
  });
  return new Core(instance);
}

/**
 * A reusable scratch region per Core for the one-shot APIs (JS is single-threaded per
 * instance, so one region serves every caller). Grows as needed; wiped after each use by
 * the caller through `Core.x.wipe`.
 */
const scratchOf = new WeakMap<Core, { ptr: number; len: number }>();
export function scratch(core: Core, len: number): number {
  let s = scratchOf.get(core);
  if (!s || s.len < len) {
    if (s) core.free(s.ptr, s.len);
    const size = Math.max(4096, 2 ** Math.ceil(Math.log2(len)));
    s = { ptr: core.alloc(size), len: size };
    scratchOf.set(core, s);
  }
  return s.ptr;
}

/** A copy of a view into wasm memory (new array + set(): slice() on such views is a slow path in V8). */
export function copyOut(view: Uint8Array): Uint8Array {
  const out = new Uint8Array(view.length);
  out.set(view);
  return out;
}
