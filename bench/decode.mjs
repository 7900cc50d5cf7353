// npm run bench -- decode [--quick]
// The decode core (src/decode/) over a 100,000-packet capture generated here: the mix a
// tunnel link carries —
//   55 % ESP (AES-128-GCM ICV 16; raw and in UDP 4500; inner ICMPv6 echo and UDP, 40–400 B)
//   10 % IKEv2 (UDP 500, and 4500 behind the non-ESP marker) and NAT-keepalives
//   35 % clear text (6in4 protocol 41, plain IPv4 UDP)
// decoded with the key known (every ESP packet decrypted and its inner layers parsed), in
// batches through the wasm core; and the same with --tunnel (the inbound pipeline's verdict
// on top). Reports decoded packets per second (median of rounds, wall clock; and per second
// of CPU time used by the process, GC threads included, which a loaded machine distorts
// less); target ≥ 300,000.
//
import { decode } from "../dist/index.js";
import { fmt, machine, save } from "./harness.mjs";

const N = 100_000;
const TARGET = 300_000;

async function loadDecoder() {
  return decode;
}

// Deterministic generator (splitmix32).
let s = 0x5eed;
const rnd = () => {
  s = (s + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
};
const between = (lo, hi) => lo + (rnd() % (hi - lo + 1));

function csum(b, s0 = 0) {
  let sum = s0;
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i] << 8) | b[i + 1];
  if (b.length & 1) sum += b[b.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

const SRC6 = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const DST6 = [0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

function ipv6(nh, l4) {
  const p = new Uint8Array(40 + l4.length);
  p[0] = 0x60;
  p[4] = l4.length >> 8;
  p[5] = l4.length & 255;
  p[6] = nh;
  p[7] = 64;
  p.set(SRC6, 8);
  p.set(DST6, 24);
  p.set(l4, 40);
  const ph = new Uint8Array(40 + l4.length);
  ph.set(p.subarray(8, 40), 0);
  ph[34] = l4.length >> 8;
  ph[35] = l4.length & 255;
  ph[39] = nh;
  ph.set(l4, 40);
  const c = ~csum(ph) & 0xffff;
  const at = nh === 58 ? 2 : 6;
  p[40 + at] = c >> 8;
  p[40 + at + 1] = c & 255;
  return p;
}

function inner() {
  const n = between(0, 360);
  const l4 = new Uint8Array(8 + n);
  for (let i = 8; i < l4.length; i++) l4[i] = rnd() & 255;
  if (rnd() & 1) {
    l4[0] = 128;
    l4[5] = 7;
    l4[7] = rnd() & 255;
    return ipv6(58, l4);
  }
  l4[0] = 0xc3;
  l4[1] = 0x50;
  l4[2] = 0xc3;
  l4[3] = 0x51;
  l4[4] = l4.length >> 8;
  l4[5] = l4.length & 255;
  return ipv6(17, l4);
}

function ipv4(proto, body, src = [192, 0, 2, 1], dst = [192, 0, 2, 2]) {
  const p = new Uint8Array(20 + body.length);
  p.set([0x45, 0, p.length >> 8, p.length & 255, 0, 1, 0x40, 0, 64, proto, 0, 0, ...src, ...dst]);
  const c = ~csum(p.subarray(0, 20)) & 0xffff;
  p[10] = c >> 8;
  p[11] = c & 255;
  p.set(body, 20);
  return p;
}

function udp(sport, dport, payload) {
  const u = new Uint8Array(8 + payload.length);
  u[0] = sport >> 8;
  u[1] = sport & 255;
  u[2] = dport >> 8;
  u[3] = dport & 255;
  u[4] = u.length >> 8;
  u[5] = u.length & 255;
  u.set(payload, 8);
  return u;
}

function ike(exchange) {
  const body = new Uint8Array(28 + 4 + 60);
  for (let i = 0; i < 8; i++) body[i] = rnd() & 255;
  body[16] = exchange === 34 ? 33 : 46;
  body[17] = 0x20;
  body[18] = exchange;
  body[19] = 0x08;
  body[27] = body.length;
  body[28] = 0;
  body[31] = 64;
  return body;
}

async function generate(d) {
  const keyHex = Array.from({ length: 20 }, () => (rnd() & 255).toString(16).padStart(2, "0")).join("");
  const spec = `spi=0x00001001,enc=aes128gcm16,key=0x${keyHex}`;
  const specUdp = `spi=0x00001002,enc=aes128gcm16,key=0x${keyHex}`;
  const nEsp = Math.round(N * 0.55);
  const inners = Array.from({ length: nEsp }, inner);
  const half = Math.floor(nEsp / 2);
  const raw = await d.encapCapture(d.writePcap(inners.slice(0, half), 229), { sa: spec, tunnel: { local: "192.0.2.1", remote: "192.0.2.2" } });
  const enc = await d.encapCapture(d.writePcap(inners.slice(half), 229), { sa: specUdp, tunnel: { local: "192.0.2.1", remote: "192.0.2.2" }, udp: true });
  const esp = [...d.readCapture(raw.pcap), ...d.readCapture(enc.pcap)].map((f) => f.data);
  const frames = [];
  let e = 0;
  let ikes = 0;
  for (let i = 0; i < N; i++) {
    const r = rnd() % 100;
    if (r < 55 && e < esp.length) frames.push(esp[e++]);
    else if (r < 60) (ikes++, frames.push(ipv4(17, udp(500, 500, ike(rnd() & 1 ? 34 : 35)))));
    else if (r < 64) (ikes++, frames.push(ipv4(17, udp(4500, 4500, new Uint8Array([0, 0, 0, 0, ...ike(35)])))));
    else if (r < 65) frames.push(ipv4(17, udp(4500, 4500, new Uint8Array([0xff]))));
    else if (r < 85) frames.push(ipv4(41, inner()));
    else frames.push(ipv4(17, udp(between(1024, 65535), 53, new Uint8Array(between(20, 200)))));
  }
  return { pcap: d.writePcap(frames, 101), spec, specUdp, ikes };
}

export async function run({ quick }) {
  const d = await loadDecoder();
  const m = machine();
  const rounds = quick ? 3 : 7;
  console.log(`decode: ${N.toLocaleString("en-US")}-packet capture (55 % ESP, 10 % IKE/keepalive, 35 % clear), ${quick ? "quick" : "full"} run, ${rounds} rounds`);
  console.log(`${m.cpu} ×${m.cores}, Node ${m.node} (V8 ${m.v8})\n`);
  const { pcap, spec, specUdp, ikes } = await generate(d);
  const keys = new d.KeyStore();
  keys.addSa(d.parseSaSpec(spec));
  keys.addSa(d.parseSaSpec(specUdp));
  const modes = [
    { name: "decode (keys known)", options: { keys } },
    { name: "decode --tunnel", options: { keys, tunnel: { local: "192.0.2.2", remote: "192.0.2.1", allow: ["2001:db8:1::/48"] } } },
    { name: "decode, no keys", options: {} },
  ];
  const results = [];
  for (const mode of modes) {
    const rates = [];
    const cpuRates = [];
    let check;
    for (let r = 0; r < rounds; r++) {
      const dec = await d.createDecoder(mode.options);
      const c0 = process.cpuUsage();
      const t = process.hrtime.bigint();
      let n = 0;
      const verdicts = {};
      for (const p of dec.decodeCapture(pcap)) {
        n++;
        verdicts[p.verdict] = (verdicts[p.verdict] ?? 0) + 1;
      }
      const sec = Number(process.hrtime.bigint() - t) / 1e9;
      const cpu = process.cpuUsage(c0);
      dec.destroy();
      if (n !== N) throw new Error(`bench: decoded ${n} packets, not ${N}`);
      rates.push(N / sec);
      cpuRates.push(N / ((cpu.user + cpu.system) / 1e6));
      check = verdicts;
    }
    rates.sort((a, b) => a - b);
    cpuRates.sort((a, b) => a - b);
    const median = rates[Math.floor(rates.length / 2)];
    const cpuMedian = cpuRates[Math.floor(cpuRates.length / 2)];
    console.log(`  ${mode.name.padEnd(22)} ${fmt(median).padStart(10)} packets/s wall (best ${fmt(rates.at(-1))}), ${fmt(cpuMedian)} per CPU-second  ${median >= TARGET ? "≥" : "<"} target ${fmt(TARGET)}`);
    console.log(`  ${"".padEnd(22)} verdicts: ${JSON.stringify(check)}`);
    results.push({ name: mode.name, packetsPerSecond: Math.round(median), best: Math.round(rates.at(-1)), packetsPerCpuSecond: Math.round(cpuMedian), verdicts: check });
  }
  // Every ESP and clear-text packet in the mix must decode ok, or the figure means nothing. The
  // synthetic IKE messages go through the full IKEv2 codec, which (rightly) reports their SK
  // payloads as "no-key" and refuses the ones it finds malformed: they only add load.
  if ((results[0].verdicts.ok ?? 0) < N - ikes) throw new Error(`bench: not every ESP/clear packet decoded ok: ${JSON.stringify(results[0].verdicts)}`);
  const file = save("decode", { suite: "decode", quick, machine: m, packets: N, target: TARGET, results });
  console.log(`\nsaved ${file}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run({ quick: process.argv.includes("--quick") });
