// UDP encapsulation of ESP (RFC 3948) on port 4500, shared with IKE.
//
// RFC 3948 §2.1–2.3: a UDP payload is
//   - a NAT-keepalive: exactly one byte 0xFF;
//   - IKE: starts with the non-ESP marker, four zero bytes (where an SPI can never be 0);
//   - ESP: anything else of at least 8 bytes (SPI ≠ 0, sequence number).
// RFC 3948 §3.1.1: the sender sets the UDP checksum to zero; §3.1.2: the receiver does not
// depend on it (a transport-mode receiver may check it, but ESP's ICV covers the data).

import { Drop, countDrop } from "./drop";
import { E_BUF, E_OFF, E_LEN, E_NH, E_RESULT, ESP_DESC_BYTES } from "./descriptor";

export const UDP_HDR_LEN: i32 = 8;
export const NAT_T_PORT: u16 = 4500;
export const NON_ESP_MARKER_LEN: i32 = 4;

// Kinds written to E_NH by udpDemuxBatch.
export const UDPK_ESP: i32 = 50;
export const UDPK_IKE: i32 = 500;
export const UDPK_KEEPALIVE: i32 = 255;

/** Write a UDP header at p for a datagram of total length len; checksum 0 (RFC 3948 §3.1.1). */
export function udpWrap(p: usize, len: i32, sport: u16, dport: u16): void {
  store<u16>(p, bswap<u16>(sport));
  store<u16>(p + 2, bswap<u16>(dport));
  store<u16>(p + 4, bswap<u16>(<u16>len));
  store<u16>(p + 6, 0);
}

/**
 * Classify n UDP payloads (hasHeader = 0: what a UDP socket hands up) or datagrams
 * (hasHeader = 1: UDP header first, its length checked against the buffer, excess bytes
 * beyond the UDP length ignored as IP would). On return E_NH holds UDPK_*, E_OFF/E_LEN
 * point at the ESP packet or the IKE message (marker removed), E_RESULT is 0, or −Drop.
 * Returns the number of ESP packets.
 */
export function udpDemuxBatch(desc: usize, n: i32, hasHeader: i32): i32 {
  let esp = 0;
  for (let i = 0; i < n; i++) {
    const d = desc + <usize>(i * ESP_DESC_BYTES);
    const buf = <usize>load<u32>(d + E_BUF);
    let off = load<i32>(d + E_OFF);
    let len = load<i32>(d + E_LEN);
    if (hasHeader) {
      if (len < UDP_HDR_LEN) {
        store<i32>(d + E_RESULT, -(<i32>Drop.Runt));
        countDrop(0, <i32>Drop.Runt);
        continue;
      }
      const ulen = <i32>bswap<u16>(load<u16>(buf + <usize>off + 4));
      if (ulen < UDP_HDR_LEN || ulen > len) {
        store<i32>(d + E_RESULT, -(<i32>Drop.BadUdp));
        countDrop(0, <i32>Drop.BadUdp);
        continue;
      }
      off += UDP_HDR_LEN;
      len = ulen - UDP_HDR_LEN;
    }
    const p = buf + <usize>off;
    let kind = UDPK_ESP;
    if (len == 1 && load<u8>(p) == 0xff) {
      kind = UDPK_KEEPALIVE;
    } else if (len >= NON_ESP_MARKER_LEN && load<u32>(p) == 0) {
      kind = UDPK_IKE;
      off += NON_ESP_MARKER_LEN;
      len -= NON_ESP_MARKER_LEN;
    } else if (len < 8) {
      store<i32>(d + E_RESULT, -(<i32>Drop.Runt));
      countDrop(0, <i32>Drop.Runt);
      continue;
    }
    store<i32>(d + E_OFF, off);
    store<i32>(d + E_LEN, len);
    store<i32>(d + E_NH, kind);
    store<i32>(d + E_RESULT, 0);
    if (kind == UDPK_ESP) esp++;
  }
  return esp;
}
