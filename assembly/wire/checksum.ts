// RFC 1071: the Internet checksum (16-bit one's complement of the one's complement sum),
// used by the IPv4 header (RFC 791 §3.1 "Header Checksum") and by upper layers.
//
// RFC 1071 §2(B): the sum is byte-order independent, so we add little-endian words and
// swap once at the end. Callers get network-order values as plain numbers (0x1234 means
// the bytes 12 34 on the wire).

/**
 * Add len bytes at ptr to a running 32-bit one's complement accumulator (not folded).
 * Chain calls for scattered data; an odd-length chunk must be the last one (RFC 1071 §4.1:
 * a trailing odd byte is padded with a zero byte on the right).
 */
export function csumPartial(ptr: usize, len: i32, sum: u32): u32 {
  let acc: u64 = <u64>sum;
  let p = ptr;
  let n = len;
  while (n >= 8) {
    const w = load<u64>(p);
    acc += (w & 0xffffffff) + (w >> 32);
    p += 8;
    n -= 8;
  }
  if (n >= 4) {
    acc += <u64>load<u32>(p);
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    acc += <u64>load<u16>(p);
    p += 2;
    n -= 2;
  }
  if (n > 0) acc += <u64>load<u8>(p); // little-endian view: the odd byte is the high byte on the wire
  // Fold 64 → 32 bits with end-around carry.
  acc = (acc & 0xffffffff) + (acc >> 32);
  acc = (acc & 0xffffffff) + (acc >> 32);
  return <u32>acc;
}

/** Fold a csumPartial accumulator to 16 bits and complement: the checksum in network order. */
export function csumFinish(sum: u32): u32 {
  let s = (sum & 0xffff) + (sum >> 16);
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  const le = ~s & 0xffff;
  return ((le & 0xff) << 8) | (le >> 8); // back to network order
}

/** RFC 1071 checksum of len bytes at ptr, in network order. 0 over data that carries a valid checksum. */
export function internetChecksum(ptr: usize, len: i32): u32 {
  return csumFinish(csumPartial(ptr, len, 0));
}
