// Outer IPv4 fragment reassembly: exact datagrams back in any order, overlaps refused,
// memory and count bounded, timeouts, and no state left behind by rejected input.
import { describe, expect, it } from "vitest";
import { Reassembler, ipv4HeaderChecksum } from "../src/reassembly.js";
import { Prng } from "./helpers/prng.js";

const rng = new Prng(791);

function ipv4(payload: Uint8Array, id: number, proto = 50): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p.set([0x45, 0, (p.length >> 8) & 0xff, p.length & 0xff, id >> 8, id & 0xff, 0, 0, 64, proto, 0, 0, 192, 0, 2, 2, 192, 0, 2, 1]);
  p.set(payload, 20);
  const c = ipv4HeaderChecksum(p.subarray(0, 20));
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}

/** Split an IPv4 packet into fragments carrying `size` bytes (a multiple of 8) each. */
function fragment(pkt: Uint8Array, size: number): Uint8Array[] {
  const body = pkt.subarray(20);
  const out: Uint8Array[] = [];
  for (let off = 0; off < body.length; off += size) {
    const chunk = body.subarray(off, Math.min(off + size, body.length));
    const f = new Uint8Array(20 + chunk.length);
    f.set(pkt.subarray(0, 20));
    f.set(chunk, 20);
    f[2] = f.length >> 8;
    f[3] = f.length & 0xff;
    const more = off + size < body.length;
    const fo = (off / 8) | (more ? 0x2000 : 0);
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

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [xs[i], xs[j]] = [xs[j], xs[i]];
  }
  return xs;
}

describe("IPv4 reassembly", () => {
  it("gives back the exact datagram from fragments in any order, with duplicates", () => {
    const r = new Reassembler();
    for (let t = 0; t < 200; t++) {
      const size = 8 * rng.int(4, 60); // ≤ 125 fragments (the default cap is 128)
      const pkt = ipv4(rng.bytes(rng.int(size + 1, 4000)), t);
      const frags = fragment(pkt, size);
      const order = shuffle([...frags, ...(rng.u32() % 2 ? [frags[rng.int(0, frags.length - 1)]] : [])]);
      let done: Uint8Array | undefined;
      for (const f of order) {
        const res = r.push(f, 0);
        if (res.status === "complete") done = res.packet;
        else expect(res, `trial ${t}`).toEqual({ status: "pending" });
      }
      expect(done && Buffer.compare(done, pkt), `trial ${t}`).toBe(0);
    }
    // A duplicate arriving after its datagram completed starts a new one that times out.
    r.expire(r.timeoutMs);
    expect(r.pending).toBe(0);
    expect(r.bytesHeld).toBe(0);
  });

  it("refuses overlapping fragments and drops the whole datagram", () => {
    const r = new Reassembler();
    const frags = fragment(ipv4(rng.bytes(64), 7), 16);
    r.push(frags[0], 0);
    const evil = frags[1].slice();
    evil[7] = 1; // offset 8: overlaps the first fragment's bytes 8..15
    evil[10] = evil[11] = 0;
    const c = ipv4HeaderChecksum(evil.subarray(0, 20));
    evil[10] = c >> 8;
    evil[11] = c & 0xff;
    expect(r.push(evil, 0)).toEqual({ status: "dropped", reason: "overlap" });
    expect(r.pending).toBe(0);
    expect(r.bytesHeld).toBe(0);
    // A different last fragment claiming another total length also counts as an overlap.
    const r2 = new Reassembler();
    const a = fragment(ipv4(rng.bytes(64), 8), 16);
    const b = fragment(ipv4(rng.bytes(80), 8), 16);
    r2.push(a[a.length - 1], 0);
    expect(r2.push(b[b.length - 1], 0)).toEqual({ status: "dropped", reason: "overlap" });
    expect(r.drops.overlap + r2.drops.overlap).toBe(2);
  });

  it("bounds memory and datagrams in progress; newcomers cannot evict held datagrams", () => {
    const r = new Reassembler({ maxBytes: 65535, maxDatagrams: 4 });
    for (let id = 0; id < 4; id++) expect(r.push(fragment(ipv4(rng.bytes(64), id), 16)[0], 0).status).toBe("pending");
    expect(r.push(fragment(ipv4(rng.bytes(64), 99), 16)[0], 0)).toEqual({ status: "dropped", reason: "memory" });
    expect(r.pending).toBe(4);
    const big = new Reassembler({ maxBytes: 65535 });
    let dropped = 0;
    for (let id = 0; id < 200; id++) if (big.push(fragment(ipv4(rng.bytes(2048), id), 1024)[0], 0).status === "dropped") dropped++;
    expect(big.bytesHeld).toBeLessThanOrEqual(65535);
    expect(dropped).toBe(200 - Math.floor(65535 / 1024));
  });

  it("times out incomplete datagrams", () => {
    const r = new Reassembler({ timeoutMs: 1000 });
    const frags = fragment(ipv4(rng.bytes(64), 1), 16);
    r.push(frags[0], 0);
    expect(r.expire(999)).toBe(0);
    expect(r.expire(1000)).toBe(1);
    expect(r.drops.timeout).toBe(1);
    expect(r.bytesHeld).toBe(0);
    // The rest arriving late starts a new datagram that never completes without its first part.
    for (const f of frags.slice(1)) expect(r.push(f, 1001).status).toBe("pending");
  });

  it("refuses oversized datagrams, non-multiple-of-8 middle fragments and too many fragments", () => {
    const r = new Reassembler();
    const f = fragment(ipv4(rng.bytes(64), 3), 16)[0];
    const far = f.slice();
    far[6] = 0x3f; // MF + offset 0x1fff × 8 = 65528: beyond 65,535 with any data
    far[7] = 0xff;
    expect(r.push(far, 0)).toEqual({ status: "dropped", reason: "too-big" });
    const odd = fragment(ipv4(rng.bytes(64), 4), 16)[0].subarray(0, 20 + 12).slice();
    odd[3] = 32; // total length 32: 12 bytes of data with MF set
    expect(r.push(odd, 0)).toEqual({ status: "dropped", reason: "bad-fragment" });
    const few = new Reassembler({ maxFragments: 4 });
    const many = fragment(ipv4(rng.bytes(80), 5), 8);
    const results = many.map((x) => few.push(x, 0).status);
    expect(results.slice(0, 4)).toEqual(["pending", "pending", "pending", "pending"]);
    expect(results[4]).toBe("dropped");
    // Fragments 6..10 start over as a new datagram, whose 5th fragment is refused again.
    expect(results.slice(5)).toEqual(["pending", "pending", "pending", "pending", "dropped"]);
    expect(few.drops["too-many-fragments"]).toBe(2);
    expect(few.bytesHeld).toBe(0);
  });
});
