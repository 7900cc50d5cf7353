// The one WebAssembly module of ipsec6in4: everything exported here is the ABI that
// src/core/ binds to. Memory is managed from TypeScript with heap_alloc/heap_free
// (AssemblyScript's TLSF); the hot path itself never allocates.

export {
  GCM_CTX_BYTES, DESC_BYTES,
  gcmInit, gcmWipe, gcmSeal, gcmOpen,
  gcmBatchSeal, gcmBatchOpen, gcmBatchCounters, gcmKeystream, gcmBatchSealKs, gcmBatchOpenKs,
  gmacSign, gmacVerify,
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

// ESP (RFC 4303 with RFC 4106 / 7634 / 4543, RFC 3948): SA table, batches, drop counters.
export {
  saTableInit, saCapacity, saRecordBytes, saInstall, saInstallAlg, saRemove, saSetSeq, saSetEncap, saSetTfcPad,
  saPtr, saLookup, saFlags, saAlg, saBind, saSetNextOut, ALG_AES_GCM, ALG_CHACHA20_POLY1305, ALG_AES_GMAC, SA_KEY, SA_KEY_BYTES,
  SA_FLAGS, SA_SEQ, SA_REPLAY, SA_REPLAY_LEN, SA_PKTS, SA_OCTETS, SA_DROPS, SA_TUNNEL, SA_SEL,
} from "./esp/sa";
export { espProtectBatch, espUnprotectBatch, espUnprotectCounters, espUnprotectBatchKs } from "./esp/esp";
export { udpDemuxBatch } from "./esp/rfc3948";
export { selectorBytes, SEL_HDR, SEL_ENTRY } from "./esp/selectors";

// RFC 4213 tunnels and the RFC 4891 pipelines.
export {
  tunnelTableInit, tunnelAdd, tunnelRemove, tunnelSetOutboundSa, tunnelSetFlags, tunnelPtr, tunnelFind, TF_PROTECT, TF_DF, TF_DISCARD,
  TUNNEL_RECORD_BYTES, T_FLAGS, T_OUT_SA, T_PKTS_IN, T_PKTS_OUT, T_OCTETS_IN, T_OCTETS_OUT,
} from "./tunnel/tunnel";
export { pipeOutbound } from "./pipeline/outbound";
export { pipeInbound } from "./pipeline/inbound";
import { dropCounters } from "./esp/drop";
/** Address of the global drop counters (u64 per reason of esp/drop.ts). */
export function dropCountersPtr(): usize {
  return dropCounters;
}

// ChaCha20-Poly1305 (RFC 8439 §2.8; ESP per RFC 7634). Batches use gcm.ts's descriptors.
export { CCP_CTX_BYTES, ccpInit, ccpWipe, ccpSeal, ccpOpen, ccpBatchSeal, ccpBatchOpen } from "./chacha20poly1305";
export { chacha20Xor } from "./chacha20";
export { poly1305Mac } from "./poly1305";

// Wire formats (RFC 791/1071, RFC 8200) and the decapsulator's checks (RFC 4213 §3.6, RFC 4891 §2).
export * from "./wire/checksum";
export * from "./wire/ipv4";
export * from "./wire/ipv6";
export * from "./wire/ipv6_ext";
export * from "./ingress/checks";
export * from "./ingress/prefix";
