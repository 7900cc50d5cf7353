// The one WebAssembly module of ipsec6in4: everything exported here is the ABI that
// src/core/ binds to. Memory is managed from TypeScript with heap_alloc/heap_free
// (AssemblyScript's TLSF); the hot path itself never allocates.

export {
  GCM_CTX_BYTES, DESC_BYTES,
  gcmInit, gcmWipe, gcmSeal, gcmOpen,
  gcmBatchSeal, gcmBatchOpen, gcmBatchCounters, gcmKeystream, gcmBatchSealKs, gcmBatchOpenKs,
} from "./gcm";

/** Allocate size bytes, 16-byte aligned (traps if wasm memory cannot grow; Core.alloc maps that to ERR_OUT_OF_MEMORY). */
export function heap_alloc(size: usize): usize {
  return heap.alloc(size);
}

/** Free memory from heap_alloc. */
export function heap_free(ptr: usize): void {
  heap.free(ptr);
}

/** Zero len bytes at ptr (used before freeing anything that held secrets). */
export function wipe(ptr: usize, len: usize): void {
  memory.fill(ptr, 0, len);
}
export * from "./esp/replay";

// ESP (RFC 4303/4106/3948): SA table, batches, drop counters.
export {
  saTableInit, saCapacity, saRecordBytes, saInstall, saRemove, saSetSeq, saSetEncap, saSetTfcPad,
  saPtr, saLookup, saFlags,
  SA_FLAGS, SA_SEQ, SA_REPLAY, SA_REPLAY_LEN, SA_PKTS, SA_OCTETS, SA_DROPS,
} from "./esp/sa";
export { espProtectBatch, espUnprotectBatch } from "./esp/esp";
export { udpDemuxBatch } from "./esp/rfc3948";
import { dropCounters } from "./esp/drop";
/** Address of the global drop counters (u64 per reason of esp/drop.ts). */
export function dropCountersPtr(): usize {
  return dropCounters;
}

