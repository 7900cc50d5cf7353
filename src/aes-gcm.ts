/**
 * AES-GCM (NIST SP 800-38D) with 96-bit nonces, as ESP uses it (RFC 4106), computed in
 * WebAssembly by a constant-time AES and GHASH (see README "Constant-time").
 *
 * Two engines give identical bytes:
 *  - "wasm": everything in WebAssembly; the only engine in browsers.
 *  - "node": for batches, the AES keystream of every packet comes from one node:crypto
 *    AES-ECB call over all counter blocks (OpenSSL, AES-NI), while the XOR, GHASH, tag and
 *    its constant-time check stay in wasm. Chosen by default where node:crypto exists.
 */
import { fail, IpsecError } from "./errors.js";
import { Core, getCore, scratch } from "./core/wasm.js";
import { aeadOneShot } from "./core/aead-oneshot.js";
import { keystreamProvider, type KeystreamCipher } from "./core/keystream.js";
import { GcmBatch, G_ERR_AUTH, G_ERR_TAG_LEN, G_ERR_LENGTH, type GcmBatchOptions } from "./gcm-batch.js";

export { GcmBatch, type GcmBatchOptions };

/** SP 800-38D §7.1: only 12-byte nonces; RFC 4106 builds them as salt ‖ IV. */
export const GCM_NONCE_LENGTH = 12;
/** ICV lengths ESP allows for AES-GCM (RFC 4106 §8). */
export const GCM_TAG_LENGTHS: readonly number[] = [8, 12, 16];

export type GcmEngine = "wasm" | "node";

export interface AesGcmOptions {
  /** "auto" (default): "node" where node:crypto is available, else "wasm". */
  engine?: "auto" | GcmEngine;
  /** Use this wasm instance instead of the process-wide one. */
  core?: Core;
}

export function checkBytes(name: string, v: unknown): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) fail("ERR_INPUT_TYPE", `${name} must be a Uint8Array`);
}

export function checkTagLength(tagLength: number): void {
  if (!GCM_TAG_LENGTHS.includes(tagLength)) {
    fail("ERR_TAG_LENGTH", `tag length must be 8, 12 or 16 bytes, not ${String(tagLength)}`);
  }
}

export function checkNonce(nonce: unknown): asserts nonce is Uint8Array {
  checkBytes("nonce", nonce);
  if (nonce.length !== GCM_NONCE_LENGTH) {
    fail("ERR_NONCE_LENGTH", `nonce must be 12 bytes, not ${nonce.length}`);
  }
}

const EMPTY = new Uint8Array(0);

export function gcmResultError(r: number): IpsecError {
  switch (r) {
    case G_ERR_AUTH:
      return new IpsecError("ERR_AUTH", "authentication tag did not verify");
    case G_ERR_TAG_LEN:
      return new IpsecError("ERR_TAG_LENGTH", "tag length must be 8, 12 or 16 bytes");
    case G_ERR_LENGTH:
    default:
      return new IpsecError("ERR_INPUT_TYPE", `bad length (code ${r})`);
  }
}

export class AesGcm {
  readonly engine: GcmEngine;
  readonly keyLength: number;
  private readonly core: Core;
  private ctx: number;
  private cipher: KeystreamCipher | undefined;

  /** @internal use createAesGcm */
  constructor(core: Core, ctx: number, keyLength: number, engine: GcmEngine, cipher?: KeystreamCipher) {
    this.core = core;
    this.ctx = ctx;
    this.keyLength = keyLength;
    this.engine = engine;
    this.cipher = cipher;
  }

  private live(): number {
    if (this.ctx === 0) fail("ERR_DESTROYED", "this AES-GCM key was destroyed");
    return this.ctx;
  }

  /** Encrypt and authenticate: returns ciphertext ‖ tag (tagLength bytes). */
  seal(nonce: Uint8Array, plaintext: Uint8Array, aad: Uint8Array = EMPTY, tagLength = 16): Uint8Array {
    const ctx = this.live();
    checkNonce(nonce);
    checkBytes("plaintext", plaintext);
    checkBytes("aad", aad);
    checkTagLength(tagLength);
    const x = this.core.x;
    return aeadOneShot(this.core, nonce, aad, plaintext, 16, (n, a, al, d, dl) => x.gcmSeal(ctx, n, a, al, d, dl, d, tagLength), gcmResultError);
  }

  /**
   * Verify and decrypt ciphertext ‖ tag. Throws code ERR_AUTH if the tag does not verify;
   * no plaintext is released then.
   */
  open(nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array = EMPTY, tagLength = 16): Uint8Array {
    const ctx = this.live();
    checkNonce(nonce);
    checkBytes("sealed", sealed);
    checkBytes("aad", aad);
    checkTagLength(tagLength);
    const x = this.core.x;
    return aeadOneShot(this.core, nonce, aad, sealed, 0, (n, a, al, d, dl) => x.gcmOpen(ctx, n, a, al, d, dl, d, tagLength), gcmResultError);
  }

  /** A batch in the same wasm instance as this key, for sealBatch/openBatch. */
  createBatch(options?: GcmBatchOptions): GcmBatch {
    this.live();
    return new GcmBatch(this.core, options);
  }

  /**
   * Seal every packet of a batch in place with one call into wasm (and, with the "node"
   * engine, one node:crypto call). Per-packet results: batch.result(i), batch.output(i).
   * Returns how many packets were sealed.
   */
  sealBatch(batch: GcmBatch, tagLength = 16): number {
    return this.runBatch(batch, tagLength, false);
  }

  /** Open every packet of a batch in place. Returns how many verified. */
  openBatch(batch: GcmBatch, tagLength = 16): number {
    return this.runBatch(batch, tagLength, true);
  }

  private runBatch(batch: GcmBatch, tagLength: number, opening: boolean): number {
    const ctx = this.live();
    checkTagLength(tagLength);
    batch.checkCore(this.core);
    if (!opening) batch.checkRoomForTags(tagLength);
    const x = this.core.x;
    const n = batch.length;
    if (n === 0) return 0;
    if (this.cipher === undefined) {
      return opening ? x.gcmBatchOpen(ctx, batch.desc, n, tagLength) : x.gcmBatchSeal(ctx, batch.desc, n, tagLength);
    }
    const ks = batch.keystreamArea();
    const bytes = x.gcmBatchCounters(batch.desc, n, ks, opening ? 1 : 0, tagLength);
    try {
      this.cipher.encryptInPlace(this.core.u8.subarray(ks, ks + bytes));
      return opening ? x.gcmBatchOpenKs(ctx, batch.desc, n, ks, tagLength) : x.gcmBatchSealKs(ctx, batch.desc, n, ks, tagLength);
    } finally {
      x.wipe(ks, bytes);
    }
  }

  /** Zero the key schedule and GHASH key in wasm memory and release them. Idempotent. */
  destroy(): void {
    if (this.ctx === 0) return;
    this.core.x.gcmWipe(this.ctx);
    this.core.free(this.ctx, this.core.gcmCtxBytes);
    this.ctx = 0;
    this.cipher?.destroy();
    this.cipher = undefined;
  }

  /** Never show internals (or anything derived from the key) in util.inspect / console.log. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `AesGcm { keyLength: ${this.keyLength}, engine: '${this.engine}'${this.ctx === 0 ? ", destroyed" : ""} }`;
  }

  toJSON(): object {
    return { keyLength: this.keyLength, engine: this.engine, destroyed: this.ctx === 0 };
  }
}

/**
 * Create an AES-GCM instance for a 16, 24 or 32-byte key (AES-128/192/256). The key is
 * copied into wasm memory (and, for the "node" engine, into a node:crypto KeyObject);
 * the caller may zero its own copy afterwards.
 */
export async function createAesGcm(key: Uint8Array, options: AesGcmOptions = {}): Promise<AesGcm> {
  checkBytes("key", key);
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    fail("ERR_KEY_LENGTH", `AES key must be 16, 24 or 32 bytes, not ${key.length}`);
  }
  const want = options.engine ?? "auto";
  if (want !== "auto" && want !== "wasm" && want !== "node") {
    fail("ERR_ENGINE", `engine must be "auto", "wasm" or "node", not ${String(want)}`);
  }
  const core = options.core ?? (await getCore());
  let cipher: KeystreamCipher | undefined;
  if (want !== "wasm") {
    const provider = await keystreamProvider();
    if (provider) cipher = provider(key);
    else if (want === "node") fail("ERR_ENGINE", 'engine "node" needs node:crypto, which this runtime lacks');
  }
  const ctx = core.alloc(core.gcmCtxBytes);
  const kp = scratch(core, 32);
  core.u8.set(key, kp);
  const ok = core.x.gcmInit(ctx, kp, key.length);
  core.x.wipe(kp, 32);
  if (!ok) {
    core.free(ctx, core.gcmCtxBytes);
    cipher?.destroy();
    fail("ERR_KEY_LENGTH", `AES key must be 16, 24 or 32 bytes, not ${key.length}`);
  }
  return new AesGcm(core, ctx, key.length, cipher ? "node" : "wasm", cipher);
}
