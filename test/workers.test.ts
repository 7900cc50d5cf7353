// The sharded dataplane (src/node/workers.ts): SAs spread over worker threads, packets of one
// SA in order, every packet delivered once, key material zeroed in the worker that held it,
// a dead worker reported as an error (not a hang). Needs dist/worker-main.js (npm run build:ts).
import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { ShardedDataplane } from "../src/node/workers.js";
import type { PacketKind } from "../src/pipeline.js";
import { IpsecError } from "../src/errors.js";
import { ipv4HeaderChecksum } from "../src/reassembly.js";

const open: ShardedDataplane[] = [];
afterEach(async () => {
  for (const d of open.splice(0)) await d.close();
});

function ipv6(dst: number, len: number, flow: number, seq: number): Uint8Array {
  const p = new Uint8Array(len);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, len - 40);
  p[6] = 59;
  p[7] = 64;
  p.set([0x20, 1, 0x0d, 0xb8, 0, 1], 8);
  p[23] = 1; // 2001:db8:1::1
  p.set([0x20, 1, 0x0d, 0xb8, 0, 0x10 + dst], 24);
  p[39] = 1; // 2001:db8:1x::1
  v.setUint32(40, flow);
  v.setUint32(44, seq);
  return p;
}

type Out = { kind: PacketKind; packet: Uint8Array; tunnel: number };

async function pair(workers: number, tunnels: number) {
  const outA: Out[] = [];
  const outB: Out[] = [];
  const errors: Error[] = [];
  const A = await ShardedDataplane.create({ workers, sas: 64, tunnels: 8, onPacket: (kind, packet, tunnel) => outA.push({ kind, packet: packet.slice(), tunnel }), onError: (e) => errors.push(e) });
  const B = await ShardedDataplane.create({ workers, sas: 64, tunnels: 8, onPacket: (kind, packet, tunnel) => outB.push({ kind, packet: packet.slice(), tunnel }), onError: (e) => errors.push(e) });
  open.push(A, B);
  const sas = [];
  for (let t = 0; t < tunnels; t++) {
    const remote = `192.0.2.${10 + t}`;
    A.addTunnel({ name: `t${t}`, local: "192.0.2.1", remote, address: `2001:db8:ff${t}::1/64`, routes: [`2001:db8:${(0x10 + t).toString(16)}::/48`], allow: [`2001:db8:${(0x10 + t).toString(16)}::/48`], mtu: 1480 });
    B.addTunnel({ name: `t${t}`, local: remote, remote: "192.0.2.1", address: `2001:db8:ff${t}::2/64`, routes: [`2001:db8:1:${t}::/64`], allow: ["2001:db8:1::/48"], mtu: 1480 });
    const keymat = new Uint8Array(randomBytes(20));
    const spi = 0x1000 + t;
    const aOut = A.esp.addOutbound({ spi, keymat });
    const bIn = B.esp.addInbound({ spi, keymat, replayWindow: 64 });
    A.bindSa(aOut, `t${t}`);
    B.bindSa(bIn, `t${t}`);
    sas.push({ aOut, bIn });
  }
  return { A, B, outA, outB, errors, sas };
}

describe("sharded dataplane (worker_threads)", () => {
  it("spreads SAs over the workers; the packets of each SA arrive in order, every one exactly once", async () => {
    const { A, B, outA, outB, errors, sas } = await pair(2, 4);
    // Least-loaded placement: 4 outbound SAs → 2 per worker, likewise inbound.
    expect(sas.map((s) => A.workerOf(s.aOut)).sort()).toEqual([0, 0, 1, 1]);
    expect(new Set(sas.map((s) => B.workerOf(s.bIn))).size).toBe(2);
    const IMIX = [64, 64, 64, 576, 64, 576, 64, 1420, 64, 576, 64, 576];
    const per = 600;
    const seqs = [0, 0, 0, 0];
    // Several rounds of interleaved flows, some sent before earlier batches came back.
    for (let round = 0; round < 6; round++) {
      for (let i = 0; i < per / 6; i++) {
        for (let t = 0; t < 4; t++) A.outbound(ipv6(t, IMIX[(i + t) % IMIX.length], t, seqs[t]++));
      }
      if (round % 2 === 1) {
        await A.drain();
        for (const o of outA.splice(0)) {
          expect(o.kind).toBe("send");
          B.inbound(o.packet);
        }
      }
    }
    await A.drain();
    for (const o of outA.splice(0)) B.inbound(o.packet);
    await B.drain();
    expect(errors).toEqual([]);
    expect(outB.length).toBe(4 * per);
    const next = [0, 0, 0, 0];
    for (const o of outB) {
      expect(o.kind).toBe("deliver");
      const v = new DataView(o.packet.buffer, o.packet.byteOffset);
      const flow = v.getUint32(40);
      expect(o.tunnel).toBe(flow);
      expect(v.getUint32(44)).toBe(next[flow]++); // in order, none twice, none missing
    }
    expect(next).toEqual([per, per, per, per]);
    // The counters come back through shared memory: what IKE lifetimes read.
    for (const s of sas) {
      expect(A.esp.stats(s.aOut).packets).toBe(BigInt(per));
      expect(A.esp.stats(s.aOut).sequence).toBe(BigInt(per));
      expect(B.esp.stats(s.bIn).packets).toBe(BigInt(per));
    }
    expect(await B.drops()).toEqual({});
  });

  it("routes by the tunnel's current outbound SA across a make-before-break rekey onto another worker", async () => {
    const { A, B, outA, outB, sas } = await pair(2, 1);
    const w0 = A.workerOf(sas[0].aOut);
    const keymat = new Uint8Array(randomBytes(20));
    const aNew = A.esp.addOutbound({ spi: 0x2000, keymat }, 1 - w0);
    const bNew = B.esp.addInbound({ spi: 0x2000, keymat });
    B.bindSa(bNew, "t0");
    for (let i = 0; i < 50; i++) A.outbound(ipv6(0, 100, 0, i));
    A.bindSa(aNew, "t0");
    A.removeSa(sas[0].aOut);
    for (let i = 50; i < 100; i++) A.outbound(ipv6(0, 100, 0, i));
    await A.drain();
    const spis = outA.map((o) => new DataView(o.packet.buffer, o.packet.byteOffset).getUint32(20));
    expect(spis.filter((s) => s === 0x1000).length).toBe(50);
    expect(spis.filter((s) => s === 0x2000).length).toBe(50);
    for (const o of outA) B.inbound(o.packet);
    await B.drain();
    const got = outB.map((o) => new DataView(o.packet.buffer, o.packet.byteOffset).getUint32(44)).sort((a, b) => a - b);
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => i));
    // A tunnel without an outbound SA drops (in the worker, counted), never sends in the clear.
    A.removeSa(aNew);
    A.outbound(ipv6(0, 100, 0, 100));
    await A.drain();
    expect(A.dropCounts["no-outbound-sa"]).toBe(1);
  });

  it("a packet no worker slot holds: outbound() refuses it synchronously, a reassembled datagram is a no-room drop, a fragment with a bad header a bad-ipv4 one; the workers go on", async () => {
    // Before: the worker's addPacket threw inside its message handler and the worker died.
    const { A, B, outA, outB, errors } = await pair(2, 1);
    expect(() => A.outbound(ipv6(0, 2000, 0, 0))).toThrow(expect.objectContaining({ code: "ERR_BATCH_FULL", message: "packet of 2000 bytes does not fit a 2048-byte slot" }));
    expect(A.pending).toBe(0);
    // A tunnel whose packets could not fit is refused when added, not dropped packet by packet.
    expect(() => A.addTunnel({ name: "jumbo", local: "192.0.2.1", remote: "192.0.2.99", address: "2001:db8:fe::1/64", routes: ["2001:db8:fe:1::/64"], mtu: 9000 })).toThrow(
      expect.objectContaining({ code: "ERR_CONFIG", message: "tunnel 'jumbo': mtu 9000 is above what the sharded dataplane's 2048-byte slots carry (at most 1667)" }),
    );
    expect(A.addTunnel({ name: "jumbo", local: "192.0.2.1", remote: "192.0.2.99", address: "2001:db8:fe::1/64", routes: ["2001:db8:fe:1::/64"], mtu: 1667 }).name).toBe("jumbo");
    // A 2,220-byte ESP datagram from the tunnel's remote, in two outer fragments.
    const body = new Uint8Array(2200);
    new DataView(body.buffer).setUint32(0, 0x1000); // the SA's SPI
    for (const [off, len, more] of [[0, 1200, true], [1200, 1000, false]] as const) {
      const f = new Uint8Array(20 + len);
      f.set([0x45, 0, (20 + len) >> 8, (20 + len) & 0xff, 0x77, 0x77, (more ? 0x20 : 0) | (off >> 11), (off >> 3) & 0xff, 64, 50, 0, 0, 192, 0, 2, 10, 192, 0, 2, 1]);
      f.set(body.subarray(off, off + len), 20);
      const c = ipv4HeaderChecksum(f.subarray(0, 20));
      f[10] = c >> 8;
      f[11] = c & 0xff;
      if (!more) {
        // Its header checked first, as the wasm pipeline does: a bad checksum never reaches reassembly.
        const bad = f.slice();
        bad[8] ^= 1;
        B.inbound(bad);
        expect([B.dropCounts["bad-ipv4"], B.reassembler.pending, B.reassembler.bytesHeld]).toEqual([1, 1, 1200]);
      }
      B.inbound(f);
    }
    expect([B.reassembler.pending, B.pending]).toEqual([0, 0]);
    expect(B.dropCounts["no-room"]).toBe(1);
    A.outbound(ipv6(0, 100, 0, 0));
    await A.drain();
    for (const o of outA.splice(0)) B.inbound(o.packet);
    await B.drain();
    expect(outB.map((o) => o.kind)).toEqual(["deliver"]);
    expect(await B.drops()).toEqual({ "no-room": 1n, "bad-ipv4": 1n });
    expect(errors).toEqual([]);
  });

  it("checks SA parameters synchronously, as Esp does", async () => {
    const A = await ShardedDataplane.create({ workers: 2, sas: 4, tunnels: 2 });
    open.push(A);
    const keymat = new Uint8Array(20);
    A.esp.addInbound({ spi: 5, keymat });
    const code = (c: string) => expect.objectContaining({ code: c });
    expect(() => A.esp.addInbound({ spi: 5, keymat })).toThrow(code("ERR_SPI_IN_USE"));
    expect(() => A.esp.addInbound({ spi: 0, keymat })).toThrow(code("ERR_INPUT_TYPE"));
    expect(() => A.esp.addInbound({ spi: 6, keymat: new Uint8Array(16) })).toThrow(code("ERR_KEY_LENGTH"));
    expect(() => A.esp.addInbound({ spi: 6, keymat, icvLength: 4 })).toThrow(code("ERR_TAG_LENGTH"));
    expect(() => A.esp.addInbound({ spi: 6, keymat, replayWindow: 33 })).toThrow(code("ERR_REPLAY_WINDOW"));
    for (let i = 0; i < 3; i++) A.esp.addOutbound({ spi: 5, keymat });
    expect(() => A.esp.addOutbound({ spi: 5, keymat })).toThrow(code("ERR_SA_TABLE_FULL"));
  });

  it("removing an SA zeroes its record and key material in the worker's wasm memory", async () => {
    const A = await ShardedDataplane.create({ workers: 2, sas: 8, tunnels: 2 });
    open.push(A);
    const keymat = new Uint8Array(randomBytes(36));
    const h = A.esp.addInbound({ spi: 0x4242, keymat, replayWindow: 1024 }, 1);
    expect(A.workerOf(h)).toBe(1);
    const before = (await A.debug(1, "record", { sa: h })) as Uint8Array;
    expect(before.some((b) => b !== 0)).toBe(true);
    // The salt (last 4 bytes of keymat) is stored as is in the record.
    const salt = keymat.subarray(32);
    expect((await A.debug(1, "scan", { needle: salt })) as number).toBeGreaterThan(0);
    A.removeSa(h);
    const after = (await A.debug(1, "record", { sa: h })) as Uint8Array;
    expect(after.length).toBe(before.length);
    expect(after.every((b) => b === 0)).toBe(true);
    expect(await A.debug(1, "scan", { needle: salt })).toBe(0);
    expect(await A.debug(1, "scan", { needle: keymat.subarray(0, 16) })).toBe(0);
    expect(await A.debug(0, "scan", { needle: salt })).toBe(0); // never was in the other worker
    expect(keymat.some((b) => b !== 0)).toBe(true); // the caller's copy is the caller's
  });

  it("a worker that crashes is reported as an error: drain() rejects, onError fires, later calls throw", async () => {
    const errors: Error[] = [];
    const { A } = await pair(2, 2);
    const crashed = await ShardedDataplane.create({ workers: 2, sas: 8, tunnels: 2, onError: (e) => errors.push(e) });
    open.push(crashed);
    crashed.addTunnel({ name: "t", local: "192.0.2.1", remote: "192.0.2.2", address: "2001:db8:ff::1/64", routes: ["2001:db8:10::/48"], mtu: 1480 });
    crashed.bindSa(crashed.esp.addOutbound({ spi: 1, keymat: new Uint8Array(20) }, 1), "t"); // the packets go to worker 1
    await crashed.debug(1, "crash");
    for (let i = 0; i < 10; i++) crashed.outbound(ipv6(0, 100, 0, i));
    crashed.outbound(ipv6(0, 100, 0, 10));
    const t0 = Date.now();
    await expect(crashed.drain()).rejects.toThrow(/worker 1/);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(errors.length).toBe(1);
    expect(errors[0]).toBeInstanceOf(IpsecError);
    expect(() => crashed.outbound(ipv6(0, 100, 0, 11))).toThrow(/failed/);
    await expect(crashed.drain()).rejects.toThrow();
    // Other dataplanes are unaffected.
    A.outbound(ipv6(0, 100, 0, 0));
    await A.drain();
  });

  it("an exception inside a worker's message handler is reported too", async () => {
    const errors: Error[] = [];
    const d = await ShardedDataplane.create({ workers: 1, sas: 4, tunnels: 2, onError: (e) => errors.push(e) });
    open.push(d);
    await d.debug(0, "throw");
    d.outbound(ipv6(0, 100, 0, 0));
    await expect(d.drain()).rejects.toThrow(/throw requested/);
    expect(errors.length).toBe(1);
  });
});
