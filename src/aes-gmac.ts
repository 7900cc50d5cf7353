/**
 * AES-GMAC (NIST SP 800-38D: GCM with an empty plaintext, the message authenticated as
 * AAD), with 96-bit IVs only, as ESP uses it (RFC 4543: nonce = salt ‖ 8-byte IV). Computed
 * in WebAssembly by the constant-time AES and GHASH of AES-GCM (assembly/gcm.ts gmacSign,
 * gmacVerify), the same entry points ESP's ENCR_NULL_AUTH_AES_GMAC uses.
 *
 *   const gmac = await createAesGmac(key);
 *   const tag = gmac.sign(iv, msg);          // 16 bytes
 *   gmac.verify(iv, msg, tag);               // true / false, constant-time compare
 *
 * GMAC authenticates, it does not encrypt; an IV must never repeat under one key.
 */
import { fail } from "./errors.js";
import { Core, getCore, scratch } from "./core/wasm.js";
import { checkBytes } from "./aes-gcm.js";

/** SP 800-38D §5.2.1.1: only 96-bit IVs here (RFC 4543 §3.2 builds them as salt ‖ IV). */
export const GMAC_IV_LENGTH = 12;
/** RFC 4543 §3.4: 16-byte tags only. */
export const GMAC_TAG_LENGTH = 16;

interface GmacExports {
  gmacSign(ctx: number, nonce: number, head: number, headLen: number, rest: number, restLen: number, out: number): number;
  gmacVerify(ctx: number, nonce: number, head: number, headLen: number, rest: number, restLen: number, tag: number): number;
}

export interface AesGmacOptions {
  /** Use this wasm instance instead of the process-wide one. */
  core?: Core;
}

function checkIv(iv: unknown): asserts iv is Uint8Array {
  checkBytes("iv", iv);
  if (iv.length !== GMAC_IV_LENGTH) fail("ERR_NONCE_LENGTH", `GMAC IV must be 12 bytes, not ${iv.length}`);
}

export class AesGmac {
  readonly keyLength: number;
  readonly tagLength = GMAC_TAG_LENGTH;
  private readonly core: Core;
  private ctx: number;

  /** @internal use createAesGmac */
  constructor(core: Core, ctx: number, keyLength: number) {
    this.core = core;
    this.ctx = ctx;
    this.keyLength = keyLength;
  }

  private live(): number {
    if (this.ctx === 0) fail("ERR_DESTROYED", "this AES-GMAC key was destroyed");
    return this.ctx;
  }

  /** The 16-byte tag of msg under this key and a 12-byte IV. */
  sign(iv: Uint8Array, msg: Uint8Array): Uint8Array {
    const ctx = this.live();
    checkIv(iv);
    checkBytes("msg", msg);
    const { core } = this;
    const total = 32 + msg.length;
    const base = scratch(core, total);
    core.u8.set(iv, base);
    core.u8.set(msg, base + 32);
    const r = (core.x as unknown as GmacExports).gmacSign(ctx, base, 0, 0, base + 32, msg.length, base + 16);
    const tag = core.u8.slice(base + 16, base + 32);
    core.x.wipe(base, total);
    if (r !== GMAC_TAG_LENGTH) fail("ERR_INPUT_TYPE", `GMAC failed (code ${r})`);
    return tag;
  }

  /**
   * Whether tag is msg's 16-byte tag under this key and IV (compared in constant time in
   * wasm). A tag of another length is refused with ERR_TAG_LENGTH.
   */
  verify(iv: Uint8Array, msg: Uint8Array, tag: Uint8Array): boolean {
    const ctx = this.live();
    checkIv(iv);
    checkBytes("msg", msg);
    checkBytes("tag", tag);
    if (tag.length !== GMAC_TAG_LENGTH) fail("ERR_TAG_LENGTH", `GMAC tag must be 16 bytes, not ${tag.length}`);
    const { core } = this;
    const total = 32 + msg.length;
    const base = scratch(core, total);
    core.u8.set(iv, base);
    core.u8.set(tag, base + 16);
    core.u8.set(msg, base + 32);
    const r = (core.x as unknown as GmacExports).gmacVerify(ctx, base, 0, 0, base + 32, msg.length, base + 16);
    core.x.wipe(base, total);
    return r === 0;
  }

  /** Zero the key schedule and GHASH key in wasm memory and release them. Idempotent. */
  destroy(): void {
    if (this.ctx === 0) return;
    this.core.x.gcmWipe(this.ctx);
    this.core.free(this.ctx, this.core.gcmCtxBytes);
    this.ctx = 0;
  }

  /** Never show internals (or anything derived from the key) in util.inspect / console.log. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `AesGmac { keyLength: ${this.keyLength}${this.ctx === 0 ? ", destroyed" : ""} }`;
  }

  toJSON(): object {
    return { keyLength: this.keyLength, destroyed: this.ctx === 0 };
  }
}

/**
 * Create an AES-GMAC instance for a 16, 24 or 32-byte AES key. The key is copied into wasm
 * memory; the caller may zero its own copy afterwards.
 */
export async function createAesGmac(key: Uint8Array, options: AesGmacOptions = {}): Promise<AesGmac> {
  checkBytes("key", key);
  if (key.length !== 16 && key.length !== 24 && key.length !== 32) {
    fail("ERR_KEY_LENGTH", `AES key must be 16, 24 or 32 bytes, not ${key.length}`);
  }
  const core = options.core ?? (await getCore());
  const ctx = core.alloc(core.gcmCtxBytes);
  const kp = scratch(core, 32);
  core.u8.set(key, kp);
  core.x.gcmInit(ctx, kp, key.length);
  core.x.wipe(kp, 32);
  return new AesGmac(core, ctx, key.length);
}
