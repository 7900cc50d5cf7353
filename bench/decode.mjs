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
// Then the browser page (dist/web, served by `ipsec6in4 web`) in headless Chromium
// (/usr/bin/chromium through playwright-core): the same capture and keys (as a Wireshark
// esp_sa file) through #keys and #capture; decoded packets per second in the page's worker
// (the page's own "decoded in" time), and the longest frame on the main thread while it
// decodes (gaps between requestAnimationFrame callbacks, and long tasks); target: no frame
// longer than 100 ms. --no-page leaves the page out.
//
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
  return { pcap: d.writePcap(frames, 101), spec, specUdp, keyHex, ikes };
}

const FRAME_TARGET_MS = 100;
const CHROME = "/usr/bin/chromium";
const CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** `ipsec6in4 web --port 0` of the built package; resolves with its URL and a stop function. */
function startWeb() {
  const cli = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
  const child = spawn(process.execPath, [cli, "web", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  return new Promise((resolve, reject) => {
    let out = "";
    child.on("error", reject);
    child.on("exit", (code) => reject(new Error(`bench: ipsec6in4 web exited (${code}) before printing its URL`)));
    child.stdout.on("data", (b) => {
      out += b;
      const m = /http:\/\/[^\s]+/.exec(out);
      if (m) resolve({ url: m[0], stop: () => child.kill() });
    });
  });
}

/**
 * The page decodes `pcap` (keys as an esp_sa file) `rounds` times, each in a fresh tab.
 * Per round: packets per second of the page's decode time, the longest gap between animation
 * frames on the main thread while decoding, and the longest long task.
 */
async function pageRounds(pcap, espSa, rounds) {
  if (!existsSync(CHROME)) return { skipped: `${CHROME} is missing (apt-get install chromium)` };
  const { chromium } = await import("playwright-core");
  const web = await startWeb();
  const browser = await chromium.launch({ executablePath: CHROME, args: CHROME_ARGS });
  const dir = mkdtempSync(join(tmpdir(), "bench-decode-"));
  const file = join(dir, "bench.pcap");
  writeFileSync(file, pcap);
  const out = [];
  try {
    for (let r = 0; r < rounds; r++) {
      const page = await browser.newPage({ viewport: { width: 1440, height: 900 }, deviceScaleFactor: 1 });
      const errors = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(web.url);
      await page.setInputFiles("#keys", { name: "esp_sa", mimeType: "text/plain", buffer: Buffer.from(espSa) });
      await page.evaluate(() => {
        const w = window;
        w.benchGaps = [];
        w.benchLong = [];
        w.benchStop = false;
        new PerformanceObserver((l) => {
          for (const e of l.getEntries()) w.benchLong.push(e.duration);
        }).observe({ type: "longtask", buffered: false });
        let last = performance.now();
        const tick = (t) => {
          w.benchGaps.push(t - last);
          last = t;
          if (!w.benchStop) requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      });
      const load = loadavg()[0];
      await page.setInputFiles("#capture", file);
      await page.waitForSelector("body[data-state='done']", { timeout: 300_000 });
      const m = await page.evaluate(() => {
        const w = window;
        w.benchStop = true;
        const g = w.benchGaps.slice(1);
        return {
          decodeMs: Number(document.body.dataset.decodeMs),
          packets: Number(document.body.dataset.packets),
          frames: g.length,
          longestFrameMs: Math.max(...g),
          longTasks: w.benchLong.length,
          longestTaskMs: Math.max(0, ...w.benchLong),
          page: w.ipsec6in4Page.perf,
        };
      });
      await page.close();
      if (errors.length) throw new Error(`bench: the page reported errors: ${errors.join("; ")}`);
      if (m.packets !== N) throw new Error(`bench: the page decoded ${m.packets} packets, not ${N}`);
      out.push({ ...m, packetsPerSecond: Math.round(N / (m.decodeMs / 1000)), load: Number(load.toFixed(2)) });
    }
  } finally {
    await browser.close();
    web.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return { rounds: out };
}

export async function run({ quick, page = true }) {
  const d = await loadDecoder();
  const m = machine();
  const rounds = quick ? 3 : 7;
  console.log(`decode: ${N.toLocaleString("en-US")}-packet capture (55 % ESP, 10 % IKE/keepalive, 35 % clear), ${quick ? "quick" : "full"} run, ${rounds} rounds`);
  console.log(`${m.cpu} ×${m.cores}, Node ${m.node} (V8 ${m.v8})\n`);
  const { pcap, spec, specUdp, keyHex, ikes } = await generate(d);
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
  let browser;
  if (page) {
    const sa = (spi) => `"IPv4","192.0.2.1","192.0.2.2","${spi}","AES-GCM with 16 octet ICV [RFC4106]","0x${keyHex}","NULL",""\n`;
    browser = await pageRounds(pcap, sa("0x00001001") + sa("0x00001002"), quick ? 2 : 3);
    if (browser.skipped) console.log(`\n  page: skipped, ${browser.skipped}`);
    else {
      console.log(`\n  page (headless Chromium, keys known), ${browser.rounds.length} rounds:`);
      for (const r of browser.rounds) {
        console.log(
          `    ${fmt(r.packetsPerSecond).padStart(10)} packets/s in the worker; longest frame ${fmt(r.longestFrameMs, 1)} ms ${r.longestFrameMs <= FRAME_TARGET_MS ? "≤" : ">"} target ${FRAME_TARGET_MS} ms ` +
            `(${r.frames} frames; ${r.longTasks} long tasks, longest ${fmt(r.longestTaskMs)} ms; page: longest message ${fmt(r.page.maxMessageMs, 1)} ms, render ${fmt(r.page.maxRenderMs, 1)} ms; load ${r.load})`,
        );
      }
      const rates = browser.rounds.map((r) => r.packetsPerSecond).sort((a, b) => a - b);
      browser.packetsPerSecond = rates[Math.floor(rates.length / 2)];
      browser.longestFrameMs = Math.max(...browser.rounds.map((r) => r.longestFrameMs));
      browser.frameTargetMs = FRAME_TARGET_MS;
    }
  }
  const file = save("decode", { suite: "decode", quick, machine: m, packets: N, target: TARGET, results, browser });
  console.log(`\nsaved ${file}`);
}

if (import.meta.url === `file://${process.argv[1]}`) await run({ quick: process.argv.includes("--quick"), page: !process.argv.includes("--no-page") });
