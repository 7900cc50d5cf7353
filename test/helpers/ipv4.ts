import { ipv4HeaderChecksum } from "../../src/reassembly.js";

/**
 * Split an IPv4 packet (20-byte header) into fragments carrying `size` bytes each (a multiple of
 * 8, RFC 791 §3.2), in order, each with its own header checksum.
 */
export function fragmentIPv4(pkt: Uint8Array, size: number): Uint8Array[] {
  const body = pkt.subarray(20);
  const out: Uint8Array[] = [];
  for (let off = 0; off < body.length; off += size) {
    const chunk = body.subarray(off, Math.min(off + size, body.length));
    const f = new Uint8Array(20 + chunk.length);
    f.set(pkt.subarray(0, 20));
    f.set(chunk, 20);
    f[2] = f.length >> 8;
    f[3] = f.length & 0xff;
    const fo = (off / 8) | (off + size < body.length ? 0x2000 : 0);
    f[6] = fo >> 8;
    f[7] = fo & 0xff;
    f[10] = f[11] = 0;
    const c = ipv4HeaderChecksum(f.subarray(0, 20));
    f[10] = c >> 8;
    f[11] = c & 0xff;
    out.push(f);
  }
  return out;
}
