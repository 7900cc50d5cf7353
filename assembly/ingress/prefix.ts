// Longest-prefix-match tables for IPv6 ingress filtering on a tunnel (RFC 4891 §2, §3.1:
// "IPv6 ingress filtering must be performed"; RFC 3704) and for IPv4, one table per tunnel.
//
// Structure: a multibit trie over 128-bit keys (IPv4 keys sit in the top 32 bits):
//   - a direct root table of 2^16 slots {child node, value} (DIR-style first stride of 16);
//   - below it, nodes of stride 6 (64 slots) compressed with bitmaps and popcount, as in
//     Poptrie (Asai & Ohara, SIGCOMM 2015): `cmap` marks slots with a child, `vmap` slots
//     with a value; children and values are dense arrays indexed by popcount.
//   - values are stored by controlled prefix expansion inside a node (a /19 fills 8 of the
//     64 slots of the node at depth 16), without leaf pushing: a lookup carries the best
//     value seen so far down the path, so an update touches exactly one node.
//   - path compression: a node may skip up to 9 strides (54 bits) in which no prefix ends
//     and it has a single descendant; it keeps the skipped bits and a lookup compares them.
//     Inserting a prefix that ends inside or leaves a skipped run splits the node; removal
//     re-merges a node left with one child and no value.
//   - a node whose valued slots all hold the same (length, value), the common case at the
//     end of a compressed path, keeps the value inline: no separate values array to miss.
// Strides: 16, then 6-bit strides (≤ 19 nodes on a path, fewer with skips); the last
// stride of a 128-bit key reads 2 zero pad bits.
// With 100 000 realistic IPv6 prefixes (/32…/64, some /128) a lookup inside them visits
// ~3.6 nodes of which the first two are the hot root levels (was up to 19 without skips).
//
// An exact-match hash of (prefix, length) → value sits beside the trie: it answers
// "is this prefix present", and on removal gives the next shorter prefix that takes over
// the freed slots (≤ 5 probes in a node, ≤ 16 in the root).
//
// Lookups read only; insert/remove/clear allocate through heap.alloc (TLSF) and run at
// configuration time. Host bits set below the prefix length are rejected (LPM_ERR_HOST_BITS),
// as Linux's `ip route add` does: a prefix like 2001:db8::1/32 is a configuration mistake.

// ── Codes ───────────────────────────────────────────────────────────────────────────────
export const LPM_FAMILY_IPV4: i32 = 4;
export const LPM_FAMILY_IPV6: i32 = 6;
/** lpmLookup: no prefix covers the address. */
export const LPM_NO_MATCH: i32 = -1;
/** lpmCreate: family is neither 4 nor 6. */
export const LPM_ERR_BAD_FAMILY: i32 = -51;
/** Prefix length outside 0..32 (IPv4) or 0..128 (IPv6). */
export const LPM_ERR_BAD_LENGTH: i32 = -52;
/** Bits set beyond the prefix length. */
export const LPM_ERR_HOST_BITS: i32 = -53;
/** Value outside 0..0x7fffffff (a lookup returns the value as a non-negative i32). */
export const LPM_ERR_BAD_VALUE: i32 = -54;
/** lpmRemove: the prefix is not in the table. */
export const LPM_ERR_NOT_FOUND: i32 = -55;
/** The handle is not a live table. */
export const LPM_ERR_BAD_TABLE: i32 = -56;

// ── Layout (implementation constants) ───────────────────────────────────────────────────
// Table header.
const T_MAGIC: i32 = 0; // u32 LPM_MAGIC while alive
const T_FAMILY: i32 = 4;
const T_MAXLEN: i32 = 8;
const T_COUNT: i32 = 12; // prefixes
const T_BYTES: i32 = 16; // bytes allocated for this table (all blocks)
const T_NODES: i32 = 20; // trie nodes below the root
const T_ROOT: i32 = 24; // ptr: ROOT_SLOTS × {u32 child node ptr, i32 value}
const T_ROOT_LEN: i32 = 28; // ptr: ROOT_SLOTS × u8 (length + 1 of the prefix giving the value, 0 = none)
const T_HASH: i32 = 32; // ptr: HASH entries
const T_HASH_CAP: i32 = 36; // entries, a power of two
export const LPM_TABLE_BYTES: i32 = 48;
const LPM_MAGIC: u32 = 0x4c504d36; // "LPM6"

const ROOT_BITS: i32 = 16;
const ROOT_SLOTS: i32 = 1 << ROOT_BITS;
const STRIDE: i32 = 6;
const NODE_SLOTS: i32 = 1 << STRIDE;

// Node record (32 bytes); children of a node are contiguous records.
const N_CMAP: i32 = 0; // u64: slot has a child
const N_VMAP: i32 = 8; // u64: slot has a value
const N_SKIP: i32 = 16; // u64: the skipped key bits left-aligned in the top 6·S bits,
                        // S (0..MAX_SKIP strides skipped) in bits 0..3, and in bits 4..6
                        // R ≠ 0 when the node's values are stored inline (below)
const N_CHILD: i32 = 24; // ptr to popcnt(cmap) node records
const N_VALS: i32 = 28; // R = 0: ptr to popcnt(vmap) × u32 values, then popcnt(vmap) × u8
                        // prefix lengths; R ≠ 0: the one value of every slot of vmap, all from
                        // prefixes of length D + R (D the node's effective depth)
const NODE_BYTES: i32 = 32;
const MAX_SKIP: i32 = 9; // strides a node may skip (54 bits: the low 10 bits hold S and R)
const SKIP_COUNT: u64 = 15;
const SKIP_R: u64 = 7 << 4;
const SKIP_BITS: u64 = ~(<u64>0x3ff);

// Exact-match hash entry (24 bytes), open addressing with linear probing.
const H_HI: i32 = 0; // u64 key bits 0..63
const H_LO: i32 = 8; // u64 key bits 64..127
const H_LEN: i32 = 16; // u32 length + 1, 0 = empty
const H_VAL: i32 = 20;
const H_BYTES: i32 = 24;
const HASH_MIN_CAP: i32 = 64;

// Scratch for rebuilding one node's values, and the path of a removal (≤ 19 levels).
const scratchVal: usize = memory.data(NODE_SLOTS * 4, 16);
const scratchLen: usize = memory.data(NODE_SLOTS, 16);
const pathNode: usize = memory.data(24 * 4, 16);
const pathIdx: usize = memory.data(24 * 4, 16);

// ── Allocation with accounting ──────────────────────────────────────────────────────────
function talloc(t: usize, size: i32): usize {
  const p = heap.alloc(<usize>size);
  store<u32>(t, load<u32>(t, T_BYTES) + <u32>size, T_BYTES);
  return p;
}
function tfree(t: usize, p: usize, size: i32): void {
  heap.free(p);
  store<u32>(t, load<u32>(t, T_BYTES) - <u32>size, T_BYTES);
}

// ── Keys ────────────────────────────────────────────────────────────────────────────────
// A key is a 128-bit big-endian number (hi, lo); IPv4 keys are (addr << 32, 0).
let keyHi: u64 = 0;
let keyLo: u64 = 0;

@inline function loadKey(family: i32, p: usize): void {
  if (family == LPM_FAMILY_IPV4) {
    keyHi = <u64>bswap<u32>(load<u32>(p)) << 32;
    keyLo = 0;
  } else {
    keyHi = bswap<u64>(load<u64>(p));
    keyLo = bswap<u64>(load<u64>(p, 8));
  }
}

/** Mask of the top n bits of a 64-bit word (n in 0..64). */
@inline function topMask(n: i32): u64 {
  return n <= 0 ? 0 : n >= 64 ? <u64>-1 : ~(<u64>-1 >> <u64>n);
}

// ── Exact-match hash ────────────────────────────────────────────────────────────────────
@inline function hashOf(hi: u64, lo: u64, len: i32): u64 {
  let h = hi ^ rotl<u64>(lo, 23) ^ (<u64>len * 0x9e3779b97f4a7c15);
  h *= 0xff51afd7ed558ccd;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53;
  return h ^ (h >> 29);
}

/** Entry pointer for (hi, lo, len), or 0. */
function hashFind(t: usize, hi: u64, lo: u64, len: i32): usize {
  const base = <usize>load<u32>(t, T_HASH);
  const mask = load<u32>(t, T_HASH_CAP) - 1;
  let i = <u32>hashOf(hi, lo, len) & mask;
  while (true) {
    const e = base + <usize>i * H_BYTES;
    const l = load<u32>(e, H_LEN);
    if (l == 0) return 0;
    if (l == <u32>len + 1 && load<u64>(e, H_HI) == hi && load<u64>(e, H_LO) == lo) return e;
    i = (i + 1) & mask;
  }
}

function hashPut(t: usize, hi: u64, lo: u64, len: i32, value: u32): void {
  const base = <usize>load<u32>(t, T_HASH);
  const mask = load<u32>(t, T_HASH_CAP) - 1;
  let i = <u32>hashOf(hi, lo, len) & mask;
  while (load<u32>(base + <usize>i * H_BYTES, H_LEN) != 0) i = (i + 1) & mask;
  const e = base + <usize>i * H_BYTES;
  store<u64>(e, hi, H_HI);
  store<u64>(e, lo, H_LO);
  store<u32>(e, <u32>len + 1, H_LEN);
  store<u32>(e, value, H_VAL);
}

function hashResize(t: usize, cap: i32): void {
  const oldBase = <usize>load<u32>(t, T_HASH);
  const oldCap = <i32>load<u32>(t, T_HASH_CAP);
  const nb = talloc(t, cap * H_BYTES);
  memory.fill(nb, 0, <usize>cap * H_BYTES);
  store<u32>(t, <u32>nb, T_HASH);
  store<u32>(t, <u32>cap, T_HASH_CAP);
  if (oldBase != 0) {
    for (let i = 0; i < oldCap; i++) {
      const e = oldBase + <usize>i * H_BYTES;
      const l = load<u32>(e, H_LEN);
      if (l != 0) hashPut(t, load<u64>(e, H_HI), load<u64>(e, H_LO), <i32>l - 1, load<u32>(e, H_VAL));
    }
    tfree(t, oldBase, oldCap * H_BYTES);
  }
}

/** Remove the entry at e with backward-shift deletion (no tombstones). */
function hashDelete(t: usize, e: usize): void {
  const base = <usize>load<u32>(t, T_HASH);
  const mask = load<u32>(t, T_HASH_CAP) - 1;
  let i = <u32>((e - base) / H_BYTES);
  let j = i;
  while (true) {
    j = (j + 1) & mask;
    const ej = base + <usize>j * H_BYTES;
    const l = load<u32>(ej, H_LEN);
    if (l == 0) break;
    const home = <u32>hashOf(load<u64>(ej, H_HI), load<u64>(ej, H_LO), <i32>l - 1) & mask;
    // Move ej into the hole at i unless its home lies cyclically in (i, j].
    const inRange = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!inRange) {
      memory.copy(base + <usize>i * H_BYTES, ej, H_BYTES);
      i = j;
    }
  }
  store<u32>(base + <usize>i * H_BYTES, 0, H_LEN);
}

// ── Table lifetime ──────────────────────────────────────────────────────────────────────
@inline function live(t: usize): bool {
  // Any i32 may arrive from JS: check it lies in memory before reading the magic.
  return t != 0 && (t & 15) == 0 && t + <usize>LPM_TABLE_BYTES <= (<usize>memory.size() << 16) &&
    load<u32>(t, T_MAGIC) == LPM_MAGIC;
}

/** Create an empty table for family 4 or 6: a handle (> 0), or LPM_ERR_BAD_FAMILY. ~590 KiB. */
export function lpmCreate(family: i32): i32 {
  if (family != LPM_FAMILY_IPV4 && family != LPM_FAMILY_IPV6) return LPM_ERR_BAD_FAMILY;
  const t = heap.alloc(LPM_TABLE_BYTES);
  memory.fill(t, 0, LPM_TABLE_BYTES);
  store<u32>(t, LPM_MAGIC, T_MAGIC);
  store<u32>(t, <u32>family, T_FAMILY);
  store<u32>(t, family == LPM_FAMILY_IPV4 ? 32 : 128, T_MAXLEN);
  store<u32>(t, LPM_TABLE_BYTES, T_BYTES);
  const root = talloc(t, ROOT_SLOTS * 8);
  for (let i = 0; i < ROOT_SLOTS; i++) {
    store<u32>(root + (<usize>i << 3), 0);
    store<i32>(root + (<usize>i << 3), LPM_NO_MATCH, 4);
  }
  const rl = talloc(t, ROOT_SLOTS);
  memory.fill(rl, 0, ROOT_SLOTS);
  store<u32>(t, <u32>root, T_ROOT);
  store<u32>(t, <u32>rl, T_ROOT_LEN);
  hashResize(t, HASH_MIN_CAP);
  return <i32>t;
}

function freeNodeContents(t: usize, node: usize): void {
  const cmap = load<u64>(node, N_CMAP);
  const nc = <i32>popcnt(cmap);
  const child = <usize>load<u32>(node, N_CHILD);
  for (let i = 0; i < nc; i++) freeNodeContents(t, child + <usize>i * NODE_BYTES);
  if (nc != 0) tfree(t, child, nc * NODE_BYTES);
  const nv = (load<u64>(node, N_SKIP) & SKIP_R) != 0 ? 0 : <i32>popcnt(load<u64>(node, N_VMAP));
  if (nv != 0) tfree(t, <usize>load<u32>(node, N_VALS), nv * 5);
  store<u32>(t, load<u32>(t, T_NODES) - 1, T_NODES);
}

/** Remove every prefix and free every node (the table stays usable). 0 or LPM_ERR_BAD_TABLE. */
export function lpmClear(handle: i32): i32 {
  const t = <usize>handle;
  if (!live(t)) return LPM_ERR_BAD_TABLE;
  const root = <usize>load<u32>(t, T_ROOT);
  const rl = <usize>load<u32>(t, T_ROOT_LEN);
  for (let i = 0; i < ROOT_SLOTS; i++) {
    const s = root + (<usize>i << 3);
    const c = <usize>load<u32>(s);
    if (c != 0) {
      freeNodeContents(t, c);
      tfree(t, c, NODE_BYTES);
      store<u32>(s, 0);
    }
    store<i32>(s, LPM_NO_MATCH, 4);
  }
  memory.fill(rl, 0, ROOT_SLOTS);
  tfree(t, <usize>load<u32>(t, T_HASH), <i32>load<u32>(t, T_HASH_CAP) * H_BYTES);
  store<u32>(t, 0, T_HASH);
  hashResize(t, HASH_MIN_CAP);
  store<u32>(t, 0, T_COUNT);
  return 0;
}

/** Free the table and everything in it; the handle is dead afterwards. 0 or LPM_ERR_BAD_TABLE. */
export function lpmDestroy(handle: i32): i32 {
  const t = <usize>handle;
  if (lpmClear(handle) != 0) return LPM_ERR_BAD_TABLE;
  heap.free(<usize>load<u32>(t, T_ROOT));
  heap.free(<usize>load<u32>(t, T_ROOT_LEN));
  heap.free(<usize>load<u32>(t, T_HASH));
  store<u32>(t, 0, T_MAGIC);
  heap.free(t);
  return 0;
}

/** Number of prefixes, or LPM_ERR_BAD_TABLE. */
export function lpmCount(handle: i32): i32 {
  const t = <usize>handle;
  return live(t) ? <i32>load<u32>(t, T_COUNT) : LPM_ERR_BAD_TABLE;
}
/** Bytes of wasm memory the table holds (root, nodes, values, hash, header), or LPM_ERR_BAD_TABLE. */
export function lpmBytes(handle: i32): i32 {
  const t = <usize>handle;
  return live(t) ? <i32>load<u32>(t, T_BYTES) : LPM_ERR_BAD_TABLE;
}
/** Trie nodes below the root, or LPM_ERR_BAD_TABLE. */
export function lpmNodes(handle: i32): i32 {
  const t = <usize>handle;
  return live(t) ? <i32>load<u32>(t, T_NODES) : LPM_ERR_BAD_TABLE;
}

// ── Trie updates ────────────────────────────────────────────────────────────────────────
/** Child record of node at slot idx, created empty if absent. Moves the node's other children. */
function childOrCreate(t: usize, node: usize, idx: i32): usize {
  const cmap = load<u64>(node, N_CMAP);
  const bit = <u64>1 << <u64>idx;
  const pos = <i32>popcnt(cmap & (bit - 1));
  const old = <usize>load<u32>(node, N_CHILD);
  if ((cmap & bit) != 0) return old + <usize>pos * NODE_BYTES;
  const n = <i32>popcnt(cmap);
  const arr = talloc(t, (n + 1) * NODE_BYTES);
  if (n != 0) {
    memory.copy(arr, old, <usize>pos * NODE_BYTES);
    memory.copy(arr + <usize>(pos + 1) * NODE_BYTES, old + <usize>pos * NODE_BYTES, <usize>(n - pos) * NODE_BYTES);
    tfree(t, old, n * NODE_BYTES);
  }
  const c = arr + <usize>pos * NODE_BYTES;
  memory.fill(c, 0, NODE_BYTES);
  store<u64>(node, cmap | bit, N_CMAP);
  store<u32>(node, <u32>arr, N_CHILD);
  store<u32>(t, load<u32>(t, T_NODES) + 1, T_NODES);
  return c;
}

/** Drop the (empty) child at slot idx of node. */
function removeChild(t: usize, node: usize, idx: i32): void {
  const cmap = load<u64>(node, N_CMAP);
  const bit = <u64>1 << <u64>idx;
  const pos = <i32>popcnt(cmap & (bit - 1));
  const n = <i32>popcnt(cmap);
  const old = <usize>load<u32>(node, N_CHILD);
  let arr: usize = 0;
  if (n > 1) {
    arr = talloc(t, (n - 1) * NODE_BYTES);
    memory.copy(arr, old, <usize>pos * NODE_BYTES);
    memory.copy(arr + <usize>pos * NODE_BYTES, old + <usize>(pos + 1) * NODE_BYTES, <usize>(n - 1 - pos) * NODE_BYTES);
  }
  tfree(t, old, n * NODE_BYTES);
  store<u64>(node, cmap & ~bit, N_CMAP);
  store<u32>(node, <u32>arr, N_CHILD);
  store<u32>(t, load<u32>(t, T_NODES) - 1, T_NODES);
}

const MODE_SET: i32 = 0;
const MODE_REMOVE: i32 = 1;

/**
 * Rewrite slots [first, first+count) of a node for a prefix of length len.
 * MODE_SET: slots whose value comes from a prefix of length ≤ len (or none) take value.
 * MODE_REMOVE: slots whose value comes from length len take (value, replLen) if replLen ≥ 0,
 * else lose their value.
 */
function nodeUpdate(t: usize, node: usize, depth: i32, first: i32, count: i32, len: i32, mode: i32, value: u32, replLen: i32): void {
  const vmap = load<u64>(node, N_VMAP);
  const sw = load<u64>(node, N_SKIP);
  const inl = <i32>((sw & SKIP_R) >> 4); // R: inline value of length depth + R
  const nv = inl != 0 ? 0 : <i32>popcnt(vmap);
  const vals = <usize>load<u32>(node, N_VALS);
  // Expand to 64 slots (scratchLen: length + 1, 0 = none).
  let k = 0;
  for (let s = 0; s < NODE_SLOTS; s++) {
    if ((vmap >> <u64>s) & 1) {
      if (inl != 0) {
        store<u32>(scratchVal + (<usize>s << 2), <u32>vals);
        store<u8>(scratchLen + <usize>s, <u8>(depth + inl + 1));
        continue;
      }
      store<u32>(scratchVal + (<usize>s << 2), load<u32>(vals + (<usize>k << 2)));
      store<u8>(scratchLen + <usize>s, load<u8>(vals + <usize>(nv * 4 + k)) + 1);
      k++;
    } else {
      store<u8>(scratchLen + <usize>s, 0);
    }
  }
  for (let s = first; s < first + count; s++) {
    const l = <i32>load<u8>(scratchLen + <usize>s);
    if (mode == MODE_SET) {
      if (l <= len + 1) {
        store<u32>(scratchVal + (<usize>s << 2), value);
        store<u8>(scratchLen + <usize>s, <u8>(len + 1));
      }
    } else if (l == len + 1) {
      store<u32>(scratchVal + (<usize>s << 2), value);
      store<u8>(scratchLen + <usize>s, <u8>(replLen + 1)); // 0 when replLen = -1: none
    }
  }
  // Compress back: inline when every valued slot holds the same (length, value), else arrays.
  let nmap: u64 = 0;
  let same = true;
  let l0: u8 = 0;
  let v0: u32 = 0;
  for (let s = 0; s < NODE_SLOTS; s++) {
    const ls = load<u8>(scratchLen + <usize>s);
    if (ls == 0) continue;
    const vs = load<u32>(scratchVal + (<usize>s << 2));
    if (nmap == 0) {
      l0 = ls;
      v0 = vs;
    } else if (ls != l0 || vs != v0) {
      same = false;
    }
    nmap |= <u64>1 << <u64>s;
  }
  const n = <i32>popcnt(nmap);
  let nvals: usize = 0;
  let r: i32 = 0;
  if (n != 0 && same) {
    nvals = <usize>v0;
    r = <i32>l0 - 1 - depth;
  } else if (n != 0) {
    nvals = talloc(t, n * 5);
    k = 0;
    for (let s = 0; s < NODE_SLOTS; s++) {
      if ((nmap >> <u64>s) & 1) {
        store<u32>(nvals + (<usize>k << 2), load<u32>(scratchVal + (<usize>s << 2)));
        store<u8>(nvals + <usize>(n * 4 + k), load<u8>(scratchLen + <usize>s) - 1);
        k++;
      }
    }
  }
  if (nv != 0) tfree(t, vals, nv * 5);
  store<u64>(node, nmap, N_VMAP);
  store<u64>(node, (sw & ~SKIP_R) | (<u64>r << 4), N_SKIP);
  store<u32>(node, <u32>nvals, N_VALS);
}

/** Validate handle, length, host bits; load the key. 0 or a code. */
function prepare(t: usize, prefixPtr: usize, len: i32): i32 {
  if (!live(t)) return LPM_ERR_BAD_TABLE;
  if (len < 0 || len > <i32>load<u32>(t, T_MAXLEN)) return LPM_ERR_BAD_LENGTH;
  loadKey(<i32>load<u32>(t, T_FAMILY), prefixPtr);
  if ((keyHi & ~topMask(len)) != 0 || (keyLo & ~topMask(len - 64)) != 0) return LPM_ERR_HOST_BITS;
  return 0;
}

// ── Path compression ────────────────────────────────────────────────────────────────────
// A node of nominal depth d with skip S covers key bits [d, d + 6S) by comparison alone and
// indexes its slots with bits [d + 6S, d + 6S + 6) (its effective depth D = d + 6S). The
// skipped strides hold no value (a prefix ending there splits the node first), so a lookup
// whose key differs from the skipped bits stops with the best value carried so far.

/** Skip word for the top 6·s bits of `bits` (s in 0..MAX_SKIP). */
@inline function makeSkip(bits: u64, s: i32): u64 {
  return (bits & topMask(s * STRIDE)) | <u64>s;
}

/**
 * Split the skip of the node record r at stride j (< its S): r keeps strides 0..j-1 and
 * branches on stride j to a new single child holding r's old contents with strides j+1..S-1.
 */
function splitNode(t: usize, r: usize, j: i32): void {
  const sw = load<u64>(r, N_SKIP);
  const s = <i32>(sw & SKIP_COUNT);
  const c = talloc(t, NODE_BYTES);
  memory.copy(c, r, NODE_BYTES);
  const bits = sw & SKIP_BITS;
  store<u64>(c, makeSkip(bits << <u64>((j + 1) * STRIDE), s - j - 1) | (sw & SKIP_R), N_SKIP);
  const idx = (bits << <u64>(j * STRIDE)) >> 58;
  store<u64>(r, <u64>1 << idx, N_CMAP);
  store<u64>(r, 0, N_VMAP);
  store<u64>(r, makeSkip(bits, j), N_SKIP);
  store<u32>(r, <u32>c, N_CHILD);
  store<u32>(r, 0, N_VALS);
  store<u32>(t, load<u32>(t, T_NODES) + 1, T_NODES);
}

/** If node r has no value and one child, absorb the child into r (skip grows), when it fits. */
function tryMerge(t: usize, r: usize): void {
  if (load<u64>(r, N_VMAP) != 0) return;
  const cmap = load<u64>(r, N_CMAP);
  if (popcnt(cmap) != 1) return;
  const sw = load<u64>(r, N_SKIP);
  const s = <i32>(sw & SKIP_COUNT);
  const c = <usize>load<u32>(r, N_CHILD);
  const cw = load<u64>(c, N_SKIP);
  const sc = <i32>(cw & SKIP_COUNT);
  const total = s + 1 + sc;
  if (total > MAX_SKIP) return;
  const idx = ctz(cmap);
  let bits = (sw & SKIP_BITS) | (idx << <u64>(58 - s * STRIDE));
  if (sc != 0) bits |= (cw & SKIP_BITS) >> <u64>((s + 1) * STRIDE);
  store<u64>(r, load<u64>(c, N_CMAP), N_CMAP);
  store<u64>(r, load<u64>(c, N_VMAP), N_VMAP);
  store<u64>(r, makeSkip(bits, total) | (cw & SKIP_R), N_SKIP);
  store<u32>(r, load<u32>(c, N_CHILD), N_CHILD);
  store<u32>(r, load<u32>(c, N_VALS), N_VALS);
  tfree(t, c, NODE_BYTES);
  store<u32>(t, load<u32>(t, T_NODES) - 1, T_NODES);
}

/**
 * Insert prefix/len → value (0..0x7fffffff), or change the value of a present prefix.
 * The prefix is 4 (IPv4) or 16 (IPv6) bytes in network order at prefixPtr, host bits zero.
 * Returns 0 (added), 1 (value replaced) or a code; on a code nothing changed.
 */
export function lpmInsert(handle: i32, prefixPtr: usize, len: i32, value: u32): i32 {
  const t = <usize>handle;
  const r = prepare(t, prefixPtr, len);
  if (r != 0) return r;
  if (value > 0x7fffffff) return LPM_ERR_BAD_VALUE;
  const hi = keyHi, lo = keyLo;
  let result = 0;
  const e = hashFind(t, hi, lo, len);
  if (e != 0) {
    store<u32>(e, value, H_VAL);
    result = 1;
  } else {
    const count = load<u32>(t, T_COUNT) + 1;
    if (count * 2 > load<u32>(t, T_HASH_CAP)) hashResize(t, <i32>load<u32>(t, T_HASH_CAP) * 2);
    hashPut(t, hi, lo, len, value);
    store<u32>(t, count, T_COUNT);
  }
  const root = <usize>load<u32>(t, T_ROOT);
  const top = <i32>(hi >> 48);
  if (len <= ROOT_BITS) {
    // Root: controlled prefix expansion over 2^(16-len) slots.
    const rl = <usize>load<u32>(t, T_ROOT_LEN);
    const n = 1 << (ROOT_BITS - len);
    for (let s = top; s < top + n; s++) {
      if (<i32>load<u8>(rl + <usize>s) <= len + 1) {
        store<i32>(root + (<usize>s << 3), <i32>value, 4);
        store<u8>(rl + <usize>s, <u8>(len + 1));
      }
    }
    return result;
  }
  const slot = root + (<usize>top << 3);
  let node = <usize>load<u32>(slot);
  let h = (hi << 16) | (lo >> 48);
  let l = lo << 16;
  let d = ROOT_BITS;
  if (node == 0) {
    node = talloc(t, NODE_BYTES);
    memory.fill(node, 0, NODE_BYTES);
    store<u64>(node, makeSkip(h, min(MAX_SKIP, (len - 1 - d) / STRIDE)), N_SKIP);
    store<u32>(slot, <u32>node);
    store<u32>(t, load<u32>(t, T_NODES) + 1, T_NODES);
  }
  while (true) {
    // node has nominal depth d < len.
    const sw = load<u64>(node, N_SKIP);
    const s = <i32>(sw & SKIP_COUNT);
    if (s != 0) {
      const x = (h ^ sw) & topMask(s * STRIDE);
      let j = x == 0 ? s : <i32>clz(x) / STRIDE; // first stride that differs
      if (len <= d + s * STRIDE) j = min(j, (len - 1 - d) / STRIDE); // the prefix ends inside
      if (j < s) splitNode(t, node, j);
      if (j != 0) {
        const k = <u64>(j * STRIDE);
        h = (h << k) | (l >> (64 - k));
        l <<= k;
        d += j * STRIDE;
      }
    }
    if (len <= d + STRIDE) break;
    const idx = <i32>(h >> 58);
    const fresh = (load<u64>(node, N_CMAP) & (<u64>1 << <u64>idx)) == 0;
    node = childOrCreate(t, node, idx);
    h = (h << 6) | (l >> 58);
    l <<= 6;
    d += STRIDE;
    if (fresh) store<u64>(node, makeSkip(h, min(MAX_SKIP, (len - 1 - d) / STRIDE)), N_SKIP);
  }
  const rbits = len - d; // 1..6 bits of the prefix in this node
  nodeUpdate(t, node, d, <i32>(h >> 58), 1 << (STRIDE - rbits), len, MODE_SET, value, 0);
  return result;
}

/** Remove prefix/len. 0, LPM_ERR_NOT_FOUND or another code; on a code nothing changed. */
export function lpmRemove(handle: i32, prefixPtr: usize, len: i32): i32 {
  const t = <usize>handle;
  const r = prepare(t, prefixPtr, len);
  if (r != 0) return r;
  const hi = keyHi, lo = keyLo;
  const e = hashFind(t, hi, lo, len);
  if (e == 0) return LPM_ERR_NOT_FOUND;
  hashDelete(t, e);
  const count = load<u32>(t, T_COUNT) - 1;
  store<u32>(t, count, T_COUNT);
  const cap = <i32>load<u32>(t, T_HASH_CAP);
  if (cap > HASH_MIN_CAP && <i32>count * 8 < cap) hashResize(t, cap >> 1); // give memory back
  const root = <usize>load<u32>(t, T_ROOT);
  const top = <i32>(hi >> 48);
  // Walk down, remembering the path (every node on it exists and every skip matches: the
  // prefix was present). d ends as the effective depth of the node holding the prefix.
  let node: usize = 0;
  let h = (hi << 16) | (lo >> 48);
  let l = lo << 16;
  let d = 0;
  let depth = 0;
  if (len > ROOT_BITS) {
    node = <usize>load<u32>(root + (<usize>top << 3));
    d = ROOT_BITS;
    while (true) {
      const k = (load<u64>(node, N_SKIP) & SKIP_COUNT) * STRIDE;
      if (k != 0) {
        h = (h << k) | (l >> (64 - k));
        l <<= k;
        d += <i32>k;
      }
      if (len <= d + STRIDE) break;
      const idx = <i32>(h >> 58);
      store<u32>(pathNode + (<usize>depth << 2), <u32>node);
      store<u32>(pathIdx + (<usize>depth << 2), <u32>idx);
      depth++;
      const cmap = load<u64>(node, N_CMAP);
      node = <usize>load<u32>(node, N_CHILD) + <usize>popcnt(cmap & ((<u64>1 << <u64>idx) - 1)) * NODE_BYTES;
      h = (h << 6) | (l >> 58);
      l <<= 6;
      d += STRIDE;
    }
  }
  // The prefix that takes over: the longest present prefix covering this one and ending in
  // the same node (shorter ones are found by the lookup's carried best).
  const floor = len <= ROOT_BITS ? 0 : d + 1;
  let replLen = -1;
  let replVal: u32 = <u32>LPM_NO_MATCH;
  for (let k = len - 1; k >= floor; k--) {
    const f = hashFind(t, hi & topMask(k), lo & topMask(k - 64), k);
    if (f != 0) {
      replLen = k;
      replVal = load<u32>(f, H_VAL);
      break;
    }
  }
  if (len <= ROOT_BITS) {
    const rl = <usize>load<u32>(t, T_ROOT_LEN);
    const n = 1 << (ROOT_BITS - len);
    for (let s = top; s < top + n; s++) {
      if (<i32>load<u8>(rl + <usize>s) == len + 1) {
        store<i32>(root + (<usize>s << 3), <i32>replVal, 4);
        store<u8>(rl + <usize>s, <u8>(replLen + 1));
      }
    }
    return 0;
  }
  const rbits = len - d;
  nodeUpdate(t, node, d, <i32>(h >> 58), 1 << (STRIDE - rbits), len, MODE_REMOVE, replVal, replLen);
  // Prune nodes left without values and children, bottom-up; then re-compress the lowest
  // surviving node if it is left with one child and no value.
  while (load<u64>(node, N_CMAP) == 0 && load<u64>(node, N_VMAP) == 0) {
    if (depth == 0) {
      tfree(t, node, NODE_BYTES);
      store<u32>(root + (<usize>top << 3), 0);
      store<u32>(t, load<u32>(t, T_NODES) - 1, T_NODES);
      return 0;
    }
    depth--;
    const parent = <usize>load<u32>(pathNode + (<usize>depth << 2));
    removeChild(t, parent, <i32>load<u32>(pathIdx + (<usize>depth << 2)));
    node = parent;
  }
  tryMerge(t, node);
  return 0;
}

// ── Lookup (the hot path: reads only, no allocation) ────────────────────────────────────
@inline function lookupKey(root: usize, hi: u64, lo: u64): i32 {
  const slot = root + <usize>(hi >> 48 << 3);
  let best = load<i32>(slot, 4);
  let node = <usize>load<u32>(slot);
  let h = (hi << 16) | (lo >> 48);
  let l = lo << 16;
  while (node != 0) {
    const sw = load<u64>(node, N_SKIP);
    const k = (sw & SKIP_COUNT) * STRIDE;
    if (k != 0) {
      if ((h ^ sw) >> (64 - k)) break; // the key leaves the compressed path
      h = (h << k) | (l >> (64 - k));
      l <<= k;
    }
    const bit = <u64>1 << (h >> 58);
    const below = bit - 1;
    const vmap = load<u64>(node, N_VMAP);
    if (vmap & bit) {
      best = (sw & SKIP_R) != 0
        ? load<i32>(node, N_VALS)
        : load<i32>(<usize>load<u32>(node, N_VALS) + (<usize>popcnt(vmap & below) << 2));
    }
    const cmap = load<u64>(node, N_CMAP);
    if (!(cmap & bit)) break;
    node = <usize>load<u32>(node, N_CHILD) + <usize>popcnt(cmap & below) * NODE_BYTES;
    h = (h << 6) | (l >> 58);
    l <<= 6;
  }
  return best;
}

/** Value of the longest prefix covering the address at addrPtr (4 or 16 bytes), LPM_NO_MATCH, or LPM_ERR_BAD_TABLE. */
export function lpmLookup(handle: i32, addrPtr: usize): i32 {
  const t = <usize>handle;
  if (!live(t)) return LPM_ERR_BAD_TABLE;
  const root = <usize>load<u32>(t, T_ROOT);
  if (load<u32>(t, T_FAMILY) == LPM_FAMILY_IPV4) {
    return lookupKey(root, <u64>bswap<u32>(load<u32>(addrPtr)) << 32, 0);
  }
  return lookupKey(root, bswap<u64>(load<u64>(addrPtr)), bswap<u64>(load<u64>(addrPtr, 8)));
}

// Batches walk LANES lookups in lockstep, one trie level per lane per round, so that the
// cache misses of independent lookups overlap (memory-level parallelism; wasm has no
// prefetch instruction). Each round first loads the node of every live lane in a
// tight loop, so that all the round's misses are issued back to back. Lane state lives in a
// static scratch block.
const LANES: i32 = 16;
const L_H: i32 = 0; // u64 remaining key bits, high word
const L_L: i32 = 8; // u64 remaining key bits, low word
const L_NODE: i32 = 16; // u32 current node, 0 = done
const L_BEST: i32 = 20; // u32 address of the best value so far (loaded once at the end:
                        // no dependent miss on the values array inside the walk)
const LANE_BYTES: i32 = 24;
const lanes: usize = memory.data(LANES * LANE_BYTES, 16);
let touchSink: u64 = 0;

/** Start lane k on key (hi, lo): read its root slot. 1 if the lane has a node to walk. */
@inline function laneStart(root: usize, k: i32, hi: u64, lo: u64): i32 {
  const st = lanes + <usize>k * LANE_BYTES;
  const slot = root + <usize>(hi >> 48 << 3);
  store<u64>(st, (hi << 16) | (lo >> 48), L_H);
  store<u64>(st, lo << 16, L_L);
  const node = load<u32>(slot);
  store<u32>(st, node, L_NODE);
  store<u32>(st, <u32>slot + 4, L_BEST);
  return <i32>(node != 0);
}

/** Run lanes 0..m-1 (`active` of them live) to completion; write their results to out[0..m-1]. */
@inline function lanesFinish(m: i32, out: usize, active: i32): void {
  while (active != 0) {
    let sink: u64 = 0;
    for (let k = 0; k < m; k++) {
      const node = <usize>load<u32>(lanes + <usize>k * LANE_BYTES, L_NODE);
      if (node != 0) sink += load<u64>(node, N_SKIP);
    }
    touchSink = sink; // keeps the touching loads
    active = 0;
    for (let k = 0; k < m; k++) {
      const st = lanes + <usize>k * LANE_BYTES;
      const node = <usize>load<u32>(st, L_NODE);
      if (node == 0) continue;
      let h = load<u64>(st, L_H);
      let l = load<u64>(st, L_L);
      const sw = load<u64>(node, N_SKIP);
      const sk = (sw & SKIP_COUNT) * STRIDE;
      if (sk != 0) {
        if ((h ^ sw) >> (64 - sk)) { // the key leaves the compressed path
          store<u32>(st, 0, L_NODE);
          continue;
        }
        h = (h << sk) | (l >> (64 - sk));
        l <<= sk;
      }
      const bit = <u64>1 << (h >> 58);
      const below = bit - 1;
      const vmap = load<u64>(node, N_VMAP);
      if (vmap & bit) {
        store<u32>(st, (sw & SKIP_R) != 0
          ? <u32>node + N_VALS
          : load<u32>(node, N_VALS) + (<u32>popcnt(vmap & below) << 2), L_BEST);
      }
      const cmap = load<u64>(node, N_CMAP);
      if (cmap & bit) {
        store<u32>(st, load<u32>(node, N_CHILD) + <u32>popcnt(cmap & below) * NODE_BYTES, L_NODE);
        store<u64>(st, (h << 6) | (l >> 58), L_H);
        store<u64>(st, l << 6, L_L);
        active++;
      } else {
        store<u32>(st, 0, L_NODE);
      }
    }
  }
  for (let k = 0; k < m; k++) store<i32>(out + (<usize>k << 2), load<i32>(<usize>load<u32>(lanes + <usize>k * LANE_BYTES, L_BEST)));
}

/**
 * Batch lookup of n packed addresses (4 or 16 bytes each, back to back) at addrs; writes
 * n i32 results (value or LPM_NO_MATCH) at out. Returns n or LPM_ERR_BAD_TABLE.
 */
export function lpmLookupBatch(handle: i32, addrs: usize, n: i32, out: usize): i32 {
  const t = <usize>handle;
  if (!live(t)) return LPM_ERR_BAD_TABLE;
  const root = <usize>load<u32>(t, T_ROOT);
  const v4 = load<u32>(t, T_FAMILY) == LPM_FAMILY_IPV4;
  for (let g = 0; g < n; g += LANES) {
    const m = min(LANES, n - g);
    let active = 0;
    for (let k = 0; k < m; k++) {
      if (v4) {
        const a = addrs + (<usize>(g + k) << 2);
        active += laneStart(root, k, <u64>bswap<u32>(load<u32>(a)) << 32, 0);
      } else {
        const a = addrs + (<usize>(g + k) << 4);
        active += laneStart(root, k, bswap<u64>(load<u64>(a)), bswap<u64>(load<u64>(a, 8)));
      }
    }
    lanesFinish(m, out + (<usize>g << 2), active);
  }
  return n;
}

/**
 * Batch lookup of n addresses given by pointer: ptrs holds n u32 pointers (e.g. to the
 * source address inside each packet). Results as lpmLookupBatch.
 */
export function lpmLookupPtrs(handle: i32, ptrs: usize, n: i32, out: usize): i32 {
  const t = <usize>handle;
  if (!live(t)) return LPM_ERR_BAD_TABLE;
  const root = <usize>load<u32>(t, T_ROOT);
  const v4 = load<u32>(t, T_FAMILY) == LPM_FAMILY_IPV4;
  for (let g = 0; g < n; g += LANES) {
    const m = min(LANES, n - g);
    let active = 0;
    for (let k = 0; k < m; k++) {
      const a = <usize>load<u32>(ptrs + (<usize>(g + k) << 2));
      if (v4) active += laneStart(root, k, <u64>bswap<u32>(load<u32>(a)) << 32, 0);
      else active += laneStart(root, k, bswap<u64>(load<u64>(a)), bswap<u64>(load<u64>(a, 8)));
    }
    lanesFinish(m, out + (<usize>g << 2), active);
  }
  return n;
}
