// The per-packet descriptor of ESP batches: how TypeScript and the hot path exchange a
// batch (one row per packet, results written back into the row).

// Descriptor (implementation constants), 12 × i32.
export const E_SA: i32 = 0; // protect: in; unprotect: out (−1 when no SA matched)
export const E_BUF: i32 = 4; // slot address
export const E_OFF: i32 = 8; // protect: payload offset; unprotect: ESP header offset
export const E_LEN: i32 = 12; // protect: payload length; unprotect: ESP length
export const E_CAP: i32 = 16; // protect: slot capacity in bytes
export const E_NH: i32 = 20; // protect: next header in; unprotect: next header out
export const E_RESULT: i32 = 24; // ≥ 0: output length; < 0: −Drop
export const E_OUT_OFF: i32 = 28; // protect: where the ESP (or UDP) packet starts; unprotect: payload offset
export const E_SEQ_LO: i32 = 32; // sequence number used (low and high 32 bits)
export const E_SEQ_HI: i32 = 36;
export const E_KS: i32 = 44; // unprotect, keystream path: offset of the packet's keystream, −1: none
export const ESP_DESC_BYTES: i32 = 48;

// Pipeline use of the same row (assembly/pipeline/): what happened to the packet, and the
// tunnel it belongs to.
/** Kind of result, written by the pipelines into E_NH. */
export const E_KIND: i32 = E_NH;
export const E_TUNNEL: i32 = 40; // i32: tunnel index, −1 when none
