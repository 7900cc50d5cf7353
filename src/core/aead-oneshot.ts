/**
 * The one-shot seal/open glue every AEAD of the package shares: place nonce, AAD and data in
 * the Core's scratch region (16-byte aligned), run one wasm call over them, copy the result
 * out, wipe the scratch (it held plaintext or keystream-derived bytes), and map a negative
 * result to an error. The wasm call gets (nonce, aad, aadLen, data, dataLen) pointers and
 * returns the output length or a negative code; the output overwrites the data in place.
 */
import type { Core } from "./wasm.js";
import { scratch } from "./wasm.js";
import type { IpsecError } from "../errors.js";

function align16(n: number): number {
  return (n + 15) & ~15;
}

export function aeadOneShot(
  core: Core,
  nonce: Uint8Array,
  aad: Uint8Array,
  data: Uint8Array,
  room: number,
  call: (nonce: number, aad: number, aadLen: number, data: number, dataLen: number) => number,
  toError: (code: number) => IpsecError,
): Uint8Array {
  const total = 16 + align16(aad.length) + data.length + room;
  const base = scratch(core, total);
  const pAad = base + 16;
  const pData = pAad + align16(aad.length);
  const u8 = core.u8;
  u8.set(nonce, base);
  u8.set(aad, pAad);
  u8.set(data, pData);
  const r = call(base, pAad, aad.length, pData, data.length);
  // A fresh array filled with set(): slice() on a view of wasm memory is a slow path in V8.
  const out = new Uint8Array(Math.max(r, 0));
  if (r > 0) out.set(core.u8.subarray(pData, pData + r));
  core.x.wipe(base, total);
  if (r < 0) throw toError(r);
  return out;
}
