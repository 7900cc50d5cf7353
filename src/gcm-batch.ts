/**
 * A batch of packets laid out in wasm memory for AES-GCM: a descriptor table (one
 * 32-byte row per packet: nonce, AAD, input, output, keystream offset, result) and an
 * arena holding each packet's nonce, AAD and data, with room for a 16-byte tag after the
 * data so that sealing works in place. Results are views into the same memory, not copies.
 *
 * Views returned by input()/output() stay valid until wasm memory grows (any allocation
 * may grow it): read or copy them before creating more keys or batches.
 */
import { fail, IpsecError } from "./errors.js";
import type { Core } from "./core/wasm.js";

// Descriptor fields (i32 index within a row), mirroring assembly/gcm.ts D_*.
const D_NONCE = 0;
const D_AAD = 1;
const D_AAD_LEN = 2;
const D_IN = 3;
const D_IN_LEN = 4;
const D_OUT = 5;
const D_RESULT = 7;
const ROW = 8;

// Result codes of assembly/gcm.ts.
export const G_ERR_AUTH = -1;
export const G_ERR_TAG_LEN = -2;
export const G_ERR_LENGTH = -3;
/** Not run yet. */
const NOT_RUN = -100;

const TAG_ROOM = 16;

function align16(n: number): number {
  return (n + 15) & ~15;
}

export interface GcmBatchOptions {
  /** Most packets the batch holds (default 256). */
  packets?: number;
  /** Bytes of arena for nonces, AADs, data and tags (default 2048 per packet). */
  bytes?: number;
  /**
   * true (default): results overwrite the input. false: each packet also gets an output
   * area, so the input survives (for example to forward or retransmit it).
   */
  inPlace?: boolean;
}

export class GcmBatch {
  readonly capacity: number;
  readonly arenaBytes: number;
  readonly inPlace: boolean;
  /** @internal */ readonly desc: number;
  private readonly core: Core;
  private readonly arena: number;
  private readonly ks: number;
  private readonly ksBytes: number;
  private used = 0;
  private count = 0;
  private destroyed = false;

  constructor(core: Core, options: GcmBatchOptions = {}) {
    const packets = options.packets ?? 256;
    const bytes = options.bytes ?? packets * 2048;
    if (!Number.isInteger(packets) || packets < 1 || packets > 1 << 20) {
      fail("ERR_INPUT_TYPE", `batch packets must be an integer from 1 to ${1 << 20}, not ${String(packets)}`);
    }
    if (!Number.isInteger(bytes) || bytes < 64 || bytes > 1 << 30) {
      fail("ERR_INPUT_TYPE", `batch bytes must be an integer from 64 to ${1 << 30}, not ${String(bytes)}`);
    }
    this.core = core;
    this.inPlace = options.inPlace ?? true;
    this.capacity = packets;
    this.arenaBytes = align16(bytes);
    // Keystream: one J0 block per packet plus one block per 16 data bytes (rounded up).
    this.ksBytes = this.arenaBytes + 32 * packets;
    this.desc = core.alloc(packets * ROW * 4);
    this.arena = core.alloc(this.arenaBytes);
    this.ks = core.alloc(this.ksBytes);
  }

  get length(): number {
    return this.count;
  }

  /** Bytes of arena still free. */
  get freeBytes(): number {
    return this.arenaBytes - this.used;
  }

  private live(): void {
    if (this.destroyed) fail("ERR_DESTROYED", "this batch was destroyed");
  }

  /**
   * Append a packet by copying nonce, data and AAD into wasm memory. `data` is plaintext
   * (to seal) or ciphertext ‖ tag (to open). Returns the packet's index.
   */
  add(nonce: Uint8Array, data: Uint8Array, aad?: Uint8Array): number {
    const i = this.reserve(nonce, data.length, aad);
    this.core.u8.set(data, this.core.i32[(this.desc >> 2) + i * ROW + D_IN]);
    return i;
  }

  /**
   * Append a packet of `length` bytes without copying its data: fill input(i) yourself
   * (for example by reading a socket into it). Returns the packet's index.
   */
  reserve(nonce: Uint8Array, length: number, aad?: Uint8Array): number {
    this.live();
    if (!(nonce instanceof Uint8Array) || nonce.length !== 12) {
      fail("ERR_NONCE_LENGTH", `nonce must be 12 bytes, not ${nonce instanceof Uint8Array ? nonce.length : typeof nonce}`);
    }
    if (aad !== undefined && !(aad instanceof Uint8Array)) fail("ERR_INPUT_TYPE", "aad must be a Uint8Array");
    if (!Number.isInteger(length) || length < 0) fail("ERR_INPUT_TYPE", `length must be a non-negative integer`);
    const aadLen = aad?.length ?? 0;
    const room = align16(length + TAG_ROOM);
    const need = 16 + align16(aadLen) + (this.inPlace ? room : 2 * room);
    if (this.count >= this.capacity) fail("ERR_BATCH_FULL", `batch holds at most ${this.capacity} packets`);
    if (need > this.arenaBytes - this.used) {
      fail("ERR_BATCH_FULL", `batch arena has ${this.arenaBytes - this.used} bytes free, packet needs ${need}`);
    }
    const base = this.arena + this.used;
    const pAad = base + 16;
    const pData = pAad + align16(aadLen);
    const u8 = this.core.u8;
    u8.set(nonce, base);
    if (aad) u8.set(aad, pAad);
    const i = this.count;
    const row = (this.desc >> 2) + i * ROW;
    const i32 = this.core.i32;
    i32[row + D_NONCE] = base;
    i32[row + D_AAD] = pAad;
    i32[row + D_AAD_LEN] = aadLen;
    i32[row + D_IN] = pData;
    i32[row + D_IN_LEN] = length;
    i32[row + D_OUT] = this.inPlace ? pData : pData + room;
    i32[row + D_RESULT] = NOT_RUN;
    this.used += need;
    this.count++;
    return i;
  }

  private row(i: number): number {
    this.live();
    if (!Number.isInteger(i) || i < 0 || i >= this.count) {
      fail("ERR_INPUT_TYPE", `packet index ${String(i)} is not in 0..${this.count - 1}`);
    }
    return (this.desc >> 2) + i * ROW;
  }

  /** The input bytes of packet i (a view into wasm memory). */
  input(i: number): Uint8Array {
    const row = this.row(i);
    const i32 = this.core.i32;
    return this.core.u8.subarray(i32[row + D_IN], i32[row + D_IN] + i32[row + D_IN_LEN]);
  }

  /** Output length of packet i after a run, or a negative code (see error(i)). */
  result(i: number): number {
    return this.core.i32[this.row(i) + D_RESULT];
  }

  /** The error of packet i after a run, or undefined if it succeeded. */
  error(i: number): IpsecError | undefined {
    const r = this.result(i);
    if (r >= 0) return undefined;
    if (r === NOT_RUN) return new IpsecError("ERR_INPUT_TYPE", `packet ${i} has not been sealed or opened`);
    if (r === G_ERR_AUTH) return new IpsecError("ERR_AUTH", `packet ${i}: authentication tag did not verify`);
    if (r === G_ERR_TAG_LEN) return new IpsecError("ERR_TAG_LENGTH", "tag length must be 8, 12 or 16 bytes");
    return new IpsecError("ERR_INPUT_TYPE", `packet ${i}: bad length`);
  }

  /**
   * The output of packet i (ciphertext ‖ tag after seal, plaintext after open) as a view
   * into wasm memory. Throws the packet's error if it failed: no unauthenticated plaintext
   * is ever exposed.
   */
  output(i: number): Uint8Array {
    const r = this.result(i);
    if (r < 0) throw this.error(i)!;
    const out = this.core.i32[this.row(i) + D_OUT];
    return this.core.u8.subarray(out, out + r);
  }

  /** Forget every packet (their bytes are zeroed) so the batch can be refilled. */
  clear(): void {
    this.live();
    this.core.x.wipe(this.arena, this.used);
    this.used = 0;
    this.count = 0;
  }

  /** Zero and release the batch's wasm memory. Idempotent. */
  destroy(): void {
    if (this.destroyed) return;
    this.core.free(this.desc, this.capacity * ROW * 4);
    this.core.free(this.arena, this.arenaBytes);
    this.core.free(this.ks, this.ksBytes);
    this.destroyed = true;
  }

  /** @internal */
  checkCore(core: Core): void {
    this.live();
    if (core !== this.core) fail("ERR_ENGINE", "batch and key belong to different wasm instances");
  }

  /** @internal every packet was reserved with 16 bytes of tag room, so any tag fits. */
  checkRoomForTags(tagLength: number): void {
    if (tagLength > TAG_ROOM) fail("ERR_TAG_LENGTH", `tag length must be 8, 12 or 16 bytes`);
  }

  /** @internal */
  keystreamArea(): number {
    return this.ks;
  }
}
