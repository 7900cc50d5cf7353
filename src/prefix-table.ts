/**
 * Longest-prefix-match tables in wasm memory (assembly/ingress/prefix.ts): what the
 * pipelines use for routes into tunnels and for ingress filters, usable on their own.
 */
import { type Family, parsePrefix } from "./addr.js";
import { fail } from "./errors.js";
import { type Core, getCore } from "./core/wasm.js";

interface LpmAbi {
  lpmCreate(family: number): number;
  lpmInsert(h: number, prefix: number, len: number, value: number): number;
  lpmRemove(h: number, prefix: number, len: number): number;
  lpmLookup(h: number, addr: number): number;
  lpmLookupBatch(h: number, addrs: number, n: number, out: number): number;
  lpmClear(h: number): number;
  lpmDestroy(h: number): number;
  lpmCount(h: number): number;
  lpmBytes(h: number): number;
}

export class PrefixTable {
  readonly family: Family;
  private readonly core: Core;
  private readonly abi: LpmAbi;
  private handle: number;
  private scratch = 0;
  private scratchLen = 0;

  /** @internal use createPrefixTable */
  constructor(core: Core, family: Family) {
    this.core = core;
    this.abi = core.x as unknown as LpmAbi;
    this.family = family;
    this.handle = this.abi.lpmCreate(family);
    if (this.handle < 0) fail("ERR_OUT_OF_MEMORY", "cannot create a prefix table");
  }

  private buf(len: number): number {
    if (this.scratchLen < len) {
      if (this.scratch) this.core.free(this.scratch, this.scratchLen);
      this.scratchLen = Math.max(len, 4096);
      this.scratch = this.core.alloc(this.scratchLen);
    }
    return this.scratch;
  }

  private live(): number {
    if (this.handle < 0) fail("ERR_DESTROYED", "this prefix table was destroyed");
    return this.handle;
  }

  /** Insert "addr/len" with a value (0 to 2^31−1). Host bits must be zero. */
  insert(prefix: string, value = 1): void {
    const h = this.live();
    const p = parsePrefix(prefix);
    if (!p || p.family !== this.family) fail("ERR_INPUT_TYPE", `'${prefix}' is not an IPv${this.family} prefix without host bits`);
    if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) fail("ERR_INPUT_TYPE", "value must be an integer from 0 to 2^31-1");
    const ptr = this.buf(16);
    this.core.u8.set(p.bytes, ptr);
    const r = this.abi.lpmInsert(h, ptr, p.length, value);
    if (r < 0) fail("ERR_INPUT_TYPE", `prefix '${prefix}' refused (code ${r})`);
  }

  remove(prefix: string): boolean {
    const h = this.live();
    const p = parsePrefix(prefix);
    if (!p || p.family !== this.family) fail("ERR_INPUT_TYPE", `'${prefix}' is not an IPv${this.family} prefix without host bits`);
    const ptr = this.buf(16);
    this.core.u8.set(p.bytes, ptr);
    return this.abi.lpmRemove(h, ptr, p.length) >= 0;
  }

  /** The value of the longest prefix covering the address (4 or 16 bytes), or -1. */
  lookup(addr: Uint8Array): number {
    const h = this.live();
    if (addr.length !== (this.family === 4 ? 4 : 16)) fail("ERR_INPUT_TYPE", `address must be ${this.family === 4 ? 4 : 16} bytes`);
    const ptr = this.buf(16);
    this.core.u8.set(addr, ptr);
    return this.abi.lpmLookup(h, ptr);
  }

  /** Look up many packed addresses (4 or 16 bytes each) with one call; -1 where none covers. */
  lookupBatch(packed: Uint8Array, out = new Int32Array(packed.length / (this.family === 4 ? 4 : 16))): Int32Array {
    const h = this.live();
    const w = this.family === 4 ? 4 : 16;
    const n = packed.length / w;
    if (!Number.isInteger(n) || out.length < n) fail("ERR_INPUT_TYPE", `packed addresses must be a multiple of ${w} bytes`);
    const ptr = this.buf(packed.length + 4 * n + 16);
    const res = ptr + ((packed.length + 15) & ~15);
    this.core.u8.set(packed, ptr);
    this.abi.lpmLookupBatch(h, ptr, n, res);
    out.set(this.core.i32.subarray(res >> 2, (res >> 2) + n));
    return out;
  }

  get size(): number {
    return this.abi.lpmCount(this.live());
  }

  /** Bytes of wasm memory the table uses. */
  get bytes(): number {
    return this.abi.lpmBytes(this.live());
  }

  destroy(): void {
    if (this.handle < 0) return;
    this.abi.lpmDestroy(this.handle);
    if (this.scratch) this.core.free(this.scratch, this.scratchLen);
    this.handle = -1;
  }
}

export async function createPrefixTable(family: Family, options: { core?: Core } = {}): Promise<PrefixTable> {
  if (family !== 4 && family !== 6) fail("ERR_INPUT_TYPE", "family must be 4 or 6");
  return new PrefixTable(options.core ?? (await getCore()), family);
}
