// npm run bench -- esp [--quick] [--alg=aes-gcm|chacha20-poly1305]
// ESP protect and unprotect (RFC 4303) with AES-128-GCM ICV 16 (RFC 4106) and with
// ChaCha20-Poly1305 (RFC 7634) at 64, 576, 1420 bytes of inner packet and IMIX (7:4:1 of
// 64/576/1420), batches of 64:
//   wasm batch  — ipsec6in4: SA table, framing, replay and AES-GCM in wasm, one call per batch
//   node:crypto — the same ESP framing in JavaScript over createCipheriv per packet
//                 (bench/esp-node-crypto.mjs, aes-128-gcm or chacha20-poly1305): the
//                 baseline, ratio 1.00
// Then (AES-GCM) the per-packet cost with 1, 1,000 and 100,000 SAs installed (it should not change).
import { randomBytes } from "node:crypto";
import { createEsp } from "../dist/index.js";
import { espOpenNode, espSealNode } from "./esp-node-crypto.mjs";
import { fmt, interleave, machine, save } from "./harness.mjs";

const BATCH = 64;
const MIXES = { 64: [64], 576: [576], 1420: [1420], IMIX: [...Array(7).fill(64), ...Array(4).fill(576), 1420] };

function ipv6(len) {
  const p = randomBytes(len);
  p[0] = 0x60;
  return new Uint8Array(p);
}

const ALGS = { "aes-gcm": { title: "AES-128-GCM ICV 16", keymat: 20 }, "chacha20-poly1305": { title: "ChaCha20-Poly1305", keymat: 36 } };

export async function run({ quick }) {
  const rounds = quick ? 3 : 7;
  const maxTime = quick ? 0.25 : 1;
  const m = machine();
  const only = process.argv.find((a) => a.startsWith("--alg="))?.slice(6);
  const results = [];
  for (const algorithm of Object.keys(ALGS)) {
    if (only && only !== algorithm) continue;
    console.log(`ESP ${ALGS[algorithm].title}, batches of ${BATCH}, ${quick ? "quick" : "full"} run, ${rounds} interleaved rounds`);
    console.log(`${m.cpu} ×${m.cores}, Node ${m.node} (V8 ${m.v8})\n`);
    results.push(...(await runAlgorithm(algorithm, { rounds, maxTime })));
    console.log("");
  }
  const scale = only && only !== "aes-gcm" ? [] : await runScale({ quick, rounds, maxTime });
  const file = save(only ? `esp-${only}` : "esp", { suite: "esp", quick, machine: m, batch: BATCH, results, scale });
  console.log(`\nwrote ${file}`);
}

async function runAlgorithm(algorithm, { rounds, maxTime }) {
  const results = [];
  const keymat = randomBytes(ALGS[algorithm].keymat);
  const spi = 0x1001;
  const esp = await createEsp({ capacity: 4 });
  const out = esp.addOutbound({ spi, keymat, algorithm });
  const inb = esp.addInbound({ spi, keymat, algorithm, replayWindow: 0 }); // replay off: the bench replays the same packets
  for (const [name, sizes] of Object.entries(MIXES)) {
    const payloads = Array.from({ length: BATCH }, (_, i) => ipv6(sizes[i % sizes.length]));
    const bytes = payloads.reduce((n, p) => n + p.length, 0);
    const tx = esp.createBatch({ packets: BATCH });
    const rx = esp.createBatch({ packets: BATCH });
    const sealedNode = payloads.map((p, i) => espSealNode({ spi, keymat, seq: i + 1, algorithm }, p));
    let seq = 1;
    const contenders = [
      { name: "protect node:crypto", units: BATCH, fn: () => { for (const p of payloads) espSealNode({ spi, keymat, seq: seq++, algorithm }, p); } },
      { name: "protect wasm batch", units: BATCH, fn: () => {
        tx.clear();
        for (const p of payloads) tx.addPayload(out, p);
        esp.protect(tx);
      } },
      { name: "unprotect node:crypto", units: BATCH, fn: () => { for (const s of sealedNode) espOpenNode({ keymat, algorithm }, s); } },
      { name: "unprotect wasm batch", units: BATCH, fn: () => {
        rx.clear();
        for (const s of sealedNode) rx.addPacket(s);
        esp.unprotect(rx);
      } },
    ];
    // Check once that the wasm side really accepts everything it is timed on.
    contenders[3].fn();
    for (let i = 0; i < BATCH; i++) if (rx.result(i) !== payloads[i].length) throw new Error(`bench: packet ${i} dropped: ${rx.reason(i)}`);
    const r = await interleave(contenders, { rounds, maxTime });
    console.log(`${name} (${(bytes / BATCH).toFixed(0)} B average)`);
    for (const [cname, pps] of Object.entries(r)) {
      const base = r[cname.startsWith("protect") ? "protect node:crypto" : "unprotect node:crypto"];
      const mbs = (pps * bytes) / BATCH / 1e6;
      console.log(`  ${cname.padEnd(24)} ${fmt(pps).padStart(11)} pkt/s ${fmt(mbs, 1).padStart(8)} MB/s  ×${(pps / base).toFixed(2)}`);
      results.push({ algorithm, mix: name, name: cname, packetsPerSecond: Math.round(pps), mbPerSecond: +mbs.toFixed(1), ratioToNodeCrypto: +(pps / base).toFixed(3) });
    }
    tx.destroy();
    rx.destroy();
  }
  return results;
}

async function runScale({ quick, rounds, maxTime }) {
  // Per-packet cost against the number of installed SAs: the same traffic on one SA, with
  // 1, 1,000 and 100,000 SAs in the table (every one inbound, so the SPI hash is full).
  console.log(`\nIMIX unprotect with many SAs installed:`);
  const scale = [];
  for (const n of quick ? [1, 1000, 100_000] : [1, 1000, 10_000, 100_000]) {
    const big = await createEsp({ capacity: n + 1 });
    const km = randomBytes(20);
    const keymat = randomBytes(20);
    for (let i = 0; i < n - 1; i++) big.addInbound({ spi: 0x100000 + i, keymat: km, replayWindow: 32 });
    const target = 0x100000 + n - 1; // the last SPI installed
    big.addInbound({ spi: target, keymat, replayWindow: 0 });
    const payloads = Array.from({ length: BATCH }, (_, i) => ipv6(MIXES.IMIX[i % 12]));
    const sealed = payloads.map((p, i) => espSealNode({ spi: target, keymat, seq: i + 1 }, p));
    const rx = big.createBatch({ packets: BATCH });
    const r = await interleave([{ name: "unprotect", units: BATCH, fn: () => { rx.clear(); for (const s of sealed) rx.addPacket(s); big.unprotect(rx); } }], { rounds, maxTime });
    if (rx.result(0) < 0) throw new Error(`bench: ${rx.reason(0)}`);
    scale.push({ sas: n, packetsPerSecond: Math.round(r.unprotect), nsPerPacket: +(1e9 / r.unprotect).toFixed(0), bytesPerSa: big.bytesPerSa });
    console.log(`  ${fmt(n).padStart(8)} SAs  ${fmt(r.unprotect).padStart(11)} pkt/s  ${(1e9 / r.unprotect).toFixed(0).padStart(6)} ns/packet`);
  }
  return scale;
}
