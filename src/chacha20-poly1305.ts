/**
 * ChaCha20-Poly1305 AEAD (RFC 8439 §2.8), as ESP uses it (RFC 7634: nonce = salt ‖ IV, built
 * by the ESP layer), computed in WebAssembly: 4-block SIMD ChaCha20 and a constant-time
 * radix-2^26 Poly1305 (assembly/chacha20.ts, poly1305.ts, chacha20poly1305.ts).
 *
 * One engine only ("wasm"): node:crypto offers chacha20-poly1305 too, but per packet, and the
 * wasm batch is several times faster than it (scratch/chacha/bench.mjs).
 *
 * Batches reuse GcmBatch: the descriptor layout of assembly/gcm.ts is shared, and every
 * packet already gets 16 bytes of tag room.
 */
import { fail, IpsecError } from "./errors.js";
import { Core, getCore, scratch } from "./core/wasm.js";
import { aeadOneShot } from "./core/aead-oneshot.js";
import { GcmBatch, G_ERR_AUTH, type GcmBatchOptions } from "./gcm-batch.js";
import { checkBytes } from "./aes-gcm.js";

/** RFC 8439 §2.8: 256-bit key, 96-bit nonce, 128-bit tag (always). */
export const CHACHA20_POLY1305_KEY_LENGTH = 32;
export const CHACHA20_POLY1305_NONCE_LENGTH = 12;
export const CHACHA20_POLY1305_TAG_LENGTH = 16;

/** The wasm exports of assembly/chacha20poly1305.ts (bound here, not in CoreExports). */
interface CcpExports {
  CCP_CTX_BYTES: WebAssembly.Global;
  ccpInit(ctx: number, key: number, keyLen: number): number;
  ccpWipe(ctx: number): void;
  ccpSeal(ctx: number, nonce: number, aad: number, aadLen: number, pt: number, len: number, out: number): number;
  ccpOpen(ctx: number, nonce: number, aad: number, aadLen: number, sealed: number, sealedLen: number, out: number): number;
  ccpBatchSeal(ctx: number, desc: number, n: number): number;
  ccpBatchOpen(ctx: number, desc: number, n: number): number;
}

export interface ChaCha20Poly1305Options {
  /** Use this wasm instance instead of the process-wide one. */
  core?: Core;
}

const EMPTY = new Uint8Array(0);

function ccp(core: Core): CcpExports {
  return core.x as unknown as CcpExports;
}

function checkNonce(nonce: unknown): asserts nonce is Uint8Array {
  checkBytes("nonce", nonce);
  if (nonce.length !== CHACHA20_POLY1305_NONCE_LENGTH) {
    fail("ERR_NONCE_LENGTH", `nonce must be 12 bytes, not ${nonce.length}`);
  }
}

function resultError(r: number): IpsecError {
  if (r === G_ERR_AUTH) return new IpsecError("ERR_AUTH", "authentication tag did not verify");
  return new IpsecError("ERR_INPUT_TYPE", `bad length (code ${r})`);
}

export class ChaCha20Poly1305 {
  readonly keyLength = CHACHA20_POLY1305_KEY_LENGTH;
  readonly tagLength = CHACHA20_POLY1305_TAG_LENGTH;
  private readonly core: Core;
  private readonly ctxBytes: number;
  private ctx: number;

  /** @internal use createChaCha20Poly1305 */
  constructor(core: Core, ctx: number, ctxBytes: number) {
    this.core = core;
    this.ctx = ctx;
    this.ctxBytes = ctxBytes;
  }

  private live(): number {
    if (this.ctx === 0) fail("ERR_DESTROYED", "this ChaCha20-Poly1305 key was destroyed");
    return this.ctx;
  }

  /** Encrypt and authenticate: returns ciphertext ‖ 16-byte tag. */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    const ctx = this.live();
    checkNonce(nonce);
    checkBytes("plaintext", plaintext);
    checkBytes("aad", aad);
    const x = ccp(this.core);
    return aeadOneShot(this.core, nonce, aad, plaintext, 16, (n, a, al, d, dl) => x.ccpSeal(ctx, n, a, al, d, dl, d), resultError);
  }

  /**
   * Verify and decrypt ciphertext ‖ tag. Throws code ERR_AUTH if the tag does not verify
   * (or sealed is shorter than the tag); no plaintext is released then.
   */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY): Uint8Array {
    const ctx = this.live();
    checkNonce(nonce);
    checkBytes("sealed", sealed);
    checkBytes("aad", aad);
    const x = ccp(this.core);
    return aeadOneShot(this.core, nonce, aad, sealed, 0, (n, a, al, d, dl) => x.ccpOpen(ctx, n, a, al, d, dl, d), resultError);
  }

  /** A batch in the same wasm instance as this key, for sealBatch/openBatch (a GcmBatch). */
  createBatch(options?: GcmBatchOptions): GcmBatch {
    this.live();
    return new GcmBatch(this.core, options);
  }

  /**
   * Seal every packet of a batch in place with one call into wasm. Per-packet results:
   * batch.result(i), batch.output(i). Returns how many packets were sealed.
   */
  sealBatch(batch: GcmBatch): number {
    return this.runBatch(batch, false);
  }

  /** Open every packet of a batch in place. Returns how many verified. */
  openBatch(batch: GcmBatch): number {
    return this.runBatch(batch, true);
  }

  private runBatch(batch: GcmBatch, opening: boolean): number {
    const ctx = this.live();
    batch.checkCore(this.core);
    if (!opening) batch.checkRoomForTags(CHACHA20_POLY1305_TAG_LENGTH);
    const n = batch.length;
    if (n === 0) return 0;
    const x = ccp(this.core);
    return opening ? x.ccpBatchOpen(ctx, batch.desc, n) : x.ccpBatchSeal(ctx, batch.desc, n);
  }

  /** Zero the key in wasm memory and release it. Idempotent. */
  destroy(): void {
    if (this.ctx === 0) return;
    ccp(this.core).ccpWipe(this.ctx);
    this.core.free(this.ctx, this.ctxBytes);
    this.ctx = 0;
  }

  /** Never show internals (or anything derived from the key) in util.inspect / console.log. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `ChaCha20Poly1305 { keyLength: 32${this.ctx === 0 ? ", destroyed" : ""} }`;
  }

  toJSON(): object {
    return { keyLength: this.keyLength, destroyed: this.ctx === 0 };
  }
}

/**
 * Create a ChaCha20-Poly1305 instance for a 32-byte key. The key is copied into wasm memory;
 * the caller may zero its own copy afterwards.
 */
export async function createChaCha20Poly1305(
  key: Uint8Array,
  options: ChaCha20Poly1305Options = {},
): Promise<ChaCha20Poly1305> {
  checkBytes("key", key);
  if (key.length !== CHACHA20_POLY1305_KEY_LENGTH) {
    fail("ERR_KEY_LENGTH", `ChaCha20-Poly1305 key must be 32 bytes, not ${key.length}`);
  }
  const core = options.core ?? (await getCore());
  const x = ccp(core);
  if (typeof x.ccpInit !== "function") fail("ERR_ENGINE", "this wasm build lacks ChaCha20-Poly1305");
  const ctxBytes = x.CCP_CTX_BYTES.value as number;
  const ctx = core.alloc(ctxBytes);
  const kp = scratch(core, 32);
  core.u8.set(key, kp);
  const ok = x.ccpInit(ctx, kp, key.length);
  core.x.wipe(kp, 32);
  if (!ok) {
    core.free(ctx, ctxBytes);
    fail("ERR_KEY_LENGTH", `ChaCha20-Poly1305 key must be 32 bytes, not ${key.length}`);
  }
  return new ChaCha20Poly1305(core, ctx, ctxBytes);
}
