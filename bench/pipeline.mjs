// npm run bench -- pipeline [--quick]
//  1. Ingress checks per second: longest-prefix lookups of inner source addresses that lie in
//     the table's prefixes, with 1, 1,000 and 100,000 IPv6 prefixes (batches of 1,024).
//  2. The full RFC 4891 pipelines at IMIX (7:4:1 of 64/576/1420-byte inner packets, batches of
//     64) against ESP alone on the same SA: outbound (route, MTU, SPD decision, ESP, outer IPv4)
//     vs Esp.protect, inbound (outer checks, ESP, threat checks, ingress filter) vs Esp.unprotect.
//     Reach: the pipeline costs no more than 25% over ESP alone.
import { randomBytes } from "node:crypto";
import { createDataplane, createPrefixTable } from "../dist/index.js";
import { fmt, interleave, machine, save } from "./harness.mjs";

const BATCH = 64;
const IMIX = [...Array(7).fill(64), ...Array(4).fill(576), 1420];

function hex4(n) {
  return n.toString(16);
}

/** n distinct IPv6 prefixes, mostly /48–/64 as ingress filters hold them, and an address inside each. */
function prefixes(n, rnd) {
  const out = [];
  const seen = new Set();
  while (out.length < n) {
    const len = [32, 40, 44, 48, 48, 48, 56, 56, 64, 64, 64, 128][rnd() % 12];
    const b = new Uint8Array(16);
    b[0] = 0x20; b[1] = 0x01; b[2] = 0x0d; b[3] = 0xb8; // 2001:db8::/32 and below
    for (let i = 4; i < 16; i++) b[i] = rnd() & 0xff;
    for (let bit = len; bit < 128; bit++) b[bit >> 3] &= ~(0x80 >> (bit & 7));
    const groups = [];
    for (let i = 0; i < 16; i += 2) groups.push(hex4((b[i] << 8) | b[i + 1]));
    const text = `${groups.join(":")}/${len}`;
    if (seen.has(text)) continue;
    seen.add(text);
    const inside = b.slice();
    for (let bit = len; bit < 128; bit++) if (rnd() & 1) inside[bit >> 3] |= 0x80 >> (bit & 7);
    out.push({ text, inside });
  }
  return out;
}

function ipv6(src, dst, len) {
  const p = new Uint8Array(len);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, len - 40);
  p[6] = 59;
  p[7] = 64;
  p.set(src, 8);
  p.set(dst, 24);
  return p;
}

export async function run({ quick }) {
  const rounds = quick ? 3 : 7;
  const maxTime = quick ? 0.25 : 1;
  const m = machine();
  console.log(`RFC 4891 pipelines, ${quick ? "quick" : "full"} run, ${rounds} interleaved rounds`);
  console.log(`${m.cpu} ×${m.cores}, Node ${m.node} (V8 ${m.v8})\n`);
  let seed = 4891;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8);

  // 1. Ingress checks.
  const ingress = [];
  console.log("ingress checks (LPM lookups of sources inside the prefixes, batches of 1,024):");
  for (const n of [1, 1000, 100_000]) {
    const t = await createPrefixTable(6);
    const ps = prefixes(n, rnd);
    const t0 = performance.now();
    for (const p of ps) t.insert(p.text);
    const insertMs = performance.now() - t0;
    const packed = new Uint8Array(1024 * 16);
    for (let i = 0; i < 1024; i++) packed.set(ps[rnd() % n].inside, i * 16);
    const res = new Int32Array(1024);
    t.lookupBatch(packed, res);
    if (res.some((v) => v < 0)) throw new Error("bench: an inside address missed its prefix");
    const r = await interleave([{ name: "lookup", units: 1024, fn: () => t.lookupBatch(packed, res) }], { rounds, maxTime });
    console.log(`  ${fmt(n).padStart(8)} prefixes  ${fmt(r.lookup / 1e6, 1).padStart(6)} M checks/s   (${(t.bytes / 2 ** 20).toFixed(1)} MiB, inserted in ${insertMs.toFixed(0)} ms)`);
    ingress.push({ prefixes: n, checksPerSecond: Math.round(r.lookup), tableBytes: t.bytes, insertMs: Math.round(insertMs) });
    t.destroy();
  }

  // 2. Pipeline vs ESP alone.
  const kAB = randomBytes(20);
  const A = await createDataplane({ sas: 4, tunnels: 2 });
  const B = await createDataplane({ sas: 4, tunnels: 2 });
  A.addTunnel({ name: "t1", local: "192.0.2.1", remote: "192.0.2.2", address: "2001:db8:ffff::1/64", routes: ["2001:db8:2::/48"], allow: ["2001:db8:2::/48"], mtu: 1480 });
  B.addTunnel({ name: "t1", local: "192.0.2.2", remote: "192.0.2.1", address: "2001:db8:ffff::2/64", routes: ["2001:db8:1::/48"], allow: ["2001:db8:1::/48"], mtu: 1480 });
  const aOut = A.esp.addOutbound({ spi: 0x1001, keymat: kAB });
  const bIn = B.esp.addInbound({ spi: 0x1001, keymat: kAB, replayWindow: 0 }); // the bench replays its batch
  A.bindSa(aOut, "t1");
  B.bindSa(bIn, "t1");
  const src = new Uint8Array([0x20, 1, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]);
  const dst = new Uint8Array([0x20, 1, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x20]);
  const inner = Array.from({ length: BATCH }, (_, i) => ipv6(src, dst, IMIX[i % IMIX.length]));
  const espOnly = A.esp.createBatch({ packets: BATCH });
  const pipeOut = A.createBatch({ packets: BATCH });
  // What B receives: the outer IPv4 packets A's pipeline sends, and their ESP part for ESP alone.
  for (const p of inner) pipeOut.addPacket(p);
  A.outbound(pipeOut);
  const outer = [];
  for (let i = 0; i < BATCH; i++) {
    if (pipeOut.verdict(i) !== "send") throw new Error(`bench: outbound ${pipeOut.verdict(i)} ${pipeOut.reason(i)}`);
    outer.push(pipeOut.output(i).slice());
  }
  const espPart = outer.map((o) => o.subarray(20));
  const rxPipe = B.createBatch({ packets: BATCH });
  const rxEsp = B.esp.createBatch({ packets: BATCH });
  for (const o of outer) rxPipe.addPacket(o);
  B.inbound(rxPipe);
  for (let i = 0; i < BATCH; i++) if (rxPipe.verdict(i) !== "deliver") throw new Error(`bench: inbound ${rxPipe.reason(i)}`);
  const contenders = [
    { name: "outbound ESP alone", units: BATCH, fn: () => { espOnly.clear(); for (const p of inner) espOnly.addPayload(aOut, p); A.esp.protect(espOnly); } },
    { name: "outbound pipeline", units: BATCH, fn: () => { pipeOut.clear(); for (const p of inner) pipeOut.addPacket(p); A.outbound(pipeOut); } },
    { name: "inbound ESP alone", units: BATCH, fn: () => { rxEsp.clear(); for (const p of espPart) rxEsp.addPacket(p); B.esp.unprotect(rxEsp); } },
    { name: "inbound pipeline", units: BATCH, fn: () => { rxPipe.clear(); for (const p of outer) rxPipe.addPacket(p); B.inbound(rxPipe); } },
  ];
  const r = await interleave(contenders, { rounds, maxTime });
  console.log(`\nIMIX (${(inner.reduce((n, p) => n + p.length, 0) / BATCH).toFixed(0)} B average inner packet), batches of ${BATCH}:`);
  const pipeline = [];
  for (const dir of ["outbound", "inbound"]) {
    const esp = r[`${dir} ESP alone`];
    const pipe = r[`${dir} pipeline`];
    const overhead = esp / pipe - 1;
    console.log(`  ${dir.padEnd(9)} ESP alone ${fmt(esp).padStart(10)} pkt/s   pipeline ${fmt(pipe).padStart(10)} pkt/s   overhead ${(overhead * 100).toFixed(1)}%`);
    pipeline.push({ direction: dir, espAlonePps: Math.round(esp), pipelinePps: Math.round(pipe), overhead: +overhead.toFixed(3) });
  }
  const file = save("pipeline", { suite: "pipeline", quick, machine: m, ingress, pipeline });
  console.log(`\nwrote ${file}`);
}
