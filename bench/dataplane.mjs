// npm run bench -- dataplane [--quick]
// End-to-end packets/s through two endpoints (two processes) over loopback UDP: A (127.0.0.1
// and 127.0.0.3, one tunnel from each) → B (127.0.0.2), UDP-encapsulated ESP (RFC 3948),
// AES-128-GCM SAs installed directly with fixed keys, IMIX inner IPv6 packets (7:4:1 of
// 64/576/1420 bytes) pushed from A with a bounded window that B's acknowledgements open.
// Each endpoint runs the sharded dataplane (src/node/workers.ts) with 1 or 2 worker threads;
// the sockets stay on each process's main thread (Node 20 has no SO_REUSEPORT in dgram).
// Rounds alternate 1 and 2 workers; medians. Reach: 2 workers ≥ 1.8× one worker.
// Breakdown per endpoint: CPU time by thread role — kernel (syscalls: UDP send/recv, wakeups),
// wasm (pipeline + crypto, timed around each Dataplane call in the workers), worker JS
// (batch unpack/pack), main-thread JS we time (socket callbacks, send() calls, dispatch), the
// rest (libuv/dgram plumbing, postMessage, GC); and crypto's share of wasm time from an
// in-process calibration (ESP alone vs the whole pipeline on the same IMIX batch).
import { fork } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = new URL("../", import.meta.url);
const WORKER_URL = new URL("dist/worker-main.js", root);
const IMIX = [...Array(7).fill(64), ...Array(4).fill(576), 1420];
const KEYS = [new Uint8Array(20).fill(0x11), new Uint8Array(20).fill(0x22)];
const SPIS = [0x1001, 0x1002];
const A_ADDRS = ["127.0.0.1", "127.0.0.3"];
const B_ADDR = "127.0.0.2";

/** The sharded dataplane, from the built package. */
async function loadSharded() {
  const dist = await import(new URL("dist/index.js", root).href);
  return dist.ShardedDataplane;
}

function ipv6(tunnel, len, seq) {
  const p = new Uint8Array(len);
  const v = new DataView(p.buffer);
  v.setUint32(0, 0x60000000);
  v.setUint16(4, len - 40);
  p[6] = 59;
  p[7] = 64;
  p.set([0x20, 1, 0x0d, 0xb8, 0, 1], 8);
  p[23] = 1;
  p.set([0x20, 1, 0x0d, 0xb8, 0, 0x10 + tunnel], 24);
  p[39] = 1;
  v.setUint32(40, seq);
  return p;
}

const arg = (k) => process.argv.find((a) => a.startsWith(`--${k}=`))?.split("=")[1];
if (arg("role")) process.on("disconnect", () => process.exit(0));
const ns = (x) => Number(x) / 1e6; // ns (bigint) → ms

// ───────────────────────────── endpoint B (receiver) ─────────────────────────────
async function roleB(workers) {
  const Sharded = await loadSharded();
  let delivered = 0;
  let ackTo = 0;
  let ackQueued = false;
  const ctl = createSocket("udp4");
  await new Promise((r) => ctl.bind(0, B_ADDR, r));
  const ack = () => {
    ackQueued = false;
    if (!ackTo) return;
    const b = Buffer.allocUnsafe(8);
    b.writeDoubleBE(delivered);
    ctl.send(b, ackTo, A_ADDRS[0]);
  };
  const dp = await Sharded.create({
    workers, sas: 8, tunnels: 4, workerUrl: WORKER_URL,
    onPacket: (kind) => {
      if (kind !== "deliver") return;
      delivered++;
      if (!ackQueued) {
        ackQueued = true;
        setImmediate(ack);
      }
    },
    onError: (e) => { console.error("B:", e.message); process.exit(1); },
  });
  const sock = createSocket({ type: "udp4", recvBufferSize: 4 << 20 });
  await new Promise((r) => sock.bind(0, B_ADDR, r));
  const port = sock.address().port;
  for (let t = 0; t < 2; t++) {
    dp.addTunnel({ name: `t${t}`, local: B_ADDR, remote: A_ADDRS[t], address: `2001:db8:ff${t}::2/64`, routes: [`2001:db8:1:${t}::/64`], allow: ["2001:db8:1::/48"], mtu: 1480 });
    dp.bindSa(dp.esp.addInbound({ spi: SPIS[t], keymat: KEYS[t], replayWindow: 1024 }), `t${t}`);
  }
  const local = new Uint8Array([127, 0, 0, 2]);
  const sources = new Map();
  let recvNs = 0n;
  let recvN = 0;
  sock.on("message", (msg, r) => {
    const t0 = process.hrtime.bigint();
    recvN++;
    let src = sources.get(r.address);
    if (!src) sources.set(r.address, (src = new Uint8Array(r.address.split(".").map(Number))));
    // As UdpNode: the outer IPv4 + UDP header rebuilt from the socket's addresses, written
    // straight into the worker's batch.
    dp.inboundUdp(msg, src, r.port, local);
    recvNs += process.hrtime.bigint() - t0;
  });
  let mark;
  process.on("message", async (m) => {
    if (m.t === "ack-to") ackTo = m.port;
    if (m.t === "mark") {
      mark = { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), wall: performance.now(), recvNs, recvN, mainNs: dp.mainNs, timing: dp.timing(), delivered };
      process.send({ t: "marked" });
    }
    if (m.t === "report") {
      const cpu = process.cpuUsage(mark.cpu);
      const wall = performance.now() - mark.wall;
      const timing = dp.timing();
      process.send({
        t: "report",
        delivered: delivered - mark.delivered,
        wallMs: wall,
        userMs: cpu.user / 1000,
        systemMs: cpu.system / 1000,
        mainActiveMs: performance.eventLoopUtilization(mark.elu).active,
        mainTimedMs: ns(recvNs - mark.recvNs) + ns(dp.mainNs - mark.mainNs),
        socketCallbackMs: ns(recvNs - mark.recvNs),
        datagrams: recvN - mark.recvN,
        workers: timing.map((w, i) => ({ wasmMs: ns(w.wasmNs - mark.timing[i].wasmNs), jsMs: ns(w.jsNs - mark.timing[i].jsNs), packets: w.packets - mark.timing[i].packets, batches: w.batches - mark.timing[i].batches })),
        drops: Object.fromEntries(Object.entries(await dp.drops()).map(([k, v]) => [k, Number(v)])),
      });
    }
  });
  process.send({ t: "ready", port });
}

// ───────────────────────────── endpoint A (sender) ─────────────────────────────
async function roleA(workers, bPort, window) {
  const Sharded = await loadSharded();
  const socks = [];
  for (const a of A_ADDRS) {
    const s = createSocket({ type: "udp4", sendBufferSize: 4 << 20 });
    await new Promise((r) => s.bind(0, a, r));
    socks.push(s);
  }
  let sendNs = 0n;
  let sendErrors = 0;
  const dp = await Sharded.create({
    workers, sas: 8, tunnels: 4, workerUrl: WORKER_URL,
    onPacket: (kind, o) => {
      if (kind !== "send") return;
      const t0 = process.hrtime.bigint();
      // Outer source 127.0.0.1 or .3 picks the socket; the UDP header's ports come from the SA.
      // Connected sockets: no address lookup per send; no callback: no JS call per completion.
      socks[o[15] === 1 ? 0 : 1].send(o.subarray(28));
      sendNs += process.hrtime.bigint() - t0;
    },
    onError: (e) => { console.error("A:", e.message); process.exit(1); },
  });
  for (const s of socks) {
    await new Promise((r) => s.connect(bPort, B_ADDR, r));
    s.on("error", () => sendErrors++);
  }
  for (let t = 0; t < 2; t++) {
    dp.addTunnel({ name: `t${t}`, local: A_ADDRS[t], remote: B_ADDR, address: `2001:db8:1:${t}::1/64`, routes: [`2001:db8:${(0x10 + t).toString(16)}::/48`], allow: [`2001:db8:${(0x10 + t).toString(16)}::/48`], mtu: 1480 });
    dp.bindSa(dp.esp.addOutbound({ spi: SPIS[t], keymat: KEYS[t], encap: { sourcePort: socks[t].address().port, destinationPort: bPort } }), `t${t}`);
  }
  const templates = [];
  for (let i = 0; i < 48; i++) templates.push(ipv6(i & 1, IMIX[(i >> 1) % IMIX.length], i));
  const ctl = createSocket("udp4");
  await new Promise((r) => ctl.bind(0, A_ADDRS[0], r));
  let acked = 0;
  let lost = 0;
  let sent = 0;
  let lastProgress = performance.now();
  let running = true;
  let k = 0;
  let pumpNs = 0n;
  const pump = () => {
    const t0 = process.hrtime.bigint();
    const room = window - (sent - acked - lost);
    for (let i = 0; i < room; i++) {
      dp.outbound(templates[k]);
      k = k + 1 === templates.length ? 0 : k + 1;
    }
    if (room > 0) sent += room;
    pumpNs += process.hrtime.bigint() - t0;
  };
  ctl.on("message", (m) => {
    const d = m.readDoubleBE(0);
    if (d > acked) {
      acked = d;
      lastProgress = performance.now();
    }
    if (running) pump();
  });
  // Loss on loopback (a full receive buffer) would close the window for good: after 50 ms
  // without progress, count what is outstanding as lost and reopen it.
  const watchdog = setInterval(() => {
    if (running && performance.now() - lastProgress > 50 && sent - acked - lost > 0) {
      lost = sent - acked;
      lastProgress = performance.now();
      pump();
    }
  }, 25);
  let mark;
  process.on("message", (m) => {
    if (m.t === "start") {
      pump();
    }
    if (m.t === "mark") {
      mark = { cpu: process.cpuUsage(), elu: performance.eventLoopUtilization(), wall: performance.now(), sendNs, pumpNs, mainNs: dp.mainNs, timing: dp.timing(), sent, lost };
      process.send({ t: "marked" });
    }
    if (m.t === "report") {
      running = false;
      clearInterval(watchdog);
      const cpu = process.cpuUsage(mark.cpu);
      const timing = dp.timing();
      process.send({
        t: "report",
        sent: sent - mark.sent,
        lost: lost - mark.lost,
        sendErrors,
        wallMs: performance.now() - mark.wall,
        userMs: cpu.user / 1000,
        systemMs: cpu.system / 1000,
        mainActiveMs: performance.eventLoopUtilization(mark.elu).active,
        mainTimedMs: ns(pumpNs - mark.pumpNs) + ns(dp.mainNs - mark.mainNs), // dp.mainNs includes onPacket, so the send() calls
        socketSendMs: ns(sendNs - mark.sendNs),
        workers: timing.map((w, i) => ({ wasmMs: ns(w.wasmNs - mark.timing[i].wasmNs), jsMs: ns(w.jsNs - mark.timing[i].jsNs), packets: w.packets - mark.timing[i].packets, batches: w.batches - mark.timing[i].batches })),
      });
    }
  });
  process.send({ t: "ready", port: ctl.address().port });
}

// ───────────────────────────── coordinator ─────────────────────────────
function child(args) {
  const c = fork(fileURLToPath(import.meta.url), args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const queue = [];
  const waiting = [];
  c.on("message", (m) => (waiting.length ? waiting.shift()(m) : queue.push(m)));
  c.next = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
  return c;
}

async function round(workers, { warmMs, measureMs, window }) {
  const B = child(["--role=B", `--workers=${workers}`]);
  const b = await B.next();
  const A = child(["--role=A", `--workers=${workers}`, `--port=${b.port}`, `--window=${window}`]);
  const a = await A.next();
  B.send({ t: "ack-to", port: a.port });
  A.send({ t: "start" });
  await new Promise((r) => setTimeout(r, warmMs));
  A.send({ t: "mark" });
  B.send({ t: "mark" });
  await Promise.all([A.next(), B.next()]);
  await new Promise((r) => setTimeout(r, measureMs));
  B.send({ t: "report" });
  const rb = await B.next();
  A.send({ t: "report" });
  const ra = await A.next();
  A.kill();
  B.kill();
  return { workers, pps: (rb.delivered / rb.wallMs) * 1000, a: ra, b: rb };
}

/** ESP alone vs the whole pipeline on the same IMIX batch, in this process: crypto's share of wasm time. */
async function calibrate() {
  const { createDataplane } = await import(new URL("dist/index.js", root).href);
  const A = await createDataplane({ sas: 4, tunnels: 2 });
  const B = await createDataplane({ sas: 4, tunnels: 2 });
  A.addTunnel({ name: "t0", local: "127.0.0.1", remote: B_ADDR, address: "2001:db8:1:0::1/64", routes: ["2001:db8:10::/48"], mtu: 1480 });
  B.addTunnel({ name: "t0", local: B_ADDR, remote: "127.0.0.1", address: "2001:db8:ff0::2/64", routes: ["2001:db8:1:0::/64"], allow: ["2001:db8:1::/48"], mtu: 1480 });
  const aOut = A.esp.addOutbound({ spi: 1, keymat: KEYS[0], encap: { sourcePort: 4500, destinationPort: 4500 } });
  const bIn = B.esp.addInbound({ spi: 1, keymat: KEYS[0], replayWindow: 0 });
  A.bindSa(aOut, "t0");
  B.bindSa(bIn, "t0");
  const inner = Array.from({ length: 128 }, (_, i) => ipv6(0, IMIX[i % 12], i));
  const po = A.createBatch({ packets: 128 });
  const eo = A.esp.createBatch({ packets: 128 });
  for (const p of inner) po.addPacket(p);
  A.outbound(po);
  const outer = inner.map((_, i) => po.output(i).slice());
  const pi = B.createBatch({ packets: 128 });
  const ei = B.esp.createBatch({ packets: 128 });
  const time = (fill, call, batch) => {
    let t = 0;
    for (let r = 0; r < 300; r++) {
      batch.clear();
      fill(batch);
      const t0 = performance.now();
      call(batch);
      t += performance.now() - t0;
    }
    return t;
  };
  const res = {};
  for (let pass = 0; pass < 2; pass++) {
    res.outPipe = time((b) => inner.forEach((p) => b.addPacket(p)), (b) => A.outbound(b), po);
    res.outEsp = time((b) => inner.forEach((p) => b.addPayload(aOut, p)), (b) => A.esp.protect(b), eo);
    res.inPipe = time((b) => outer.forEach((p) => b.addPacket(p)), (b) => B.inbound(b), pi);
    res.inEsp = time((b) => outer.forEach((p) => b.addPacket(p.subarray(28))), (b) => B.esp.unprotect(b), ei);
  }
  return { outbound: res.outEsp / res.outPipe, inbound: res.inEsp / res.inPipe, usPerPacketOut: (res.outPipe * 1000) / (300 * 128), usPerPacketIn: (res.inPipe * 1000) / (300 * 128) };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (x, tot) => `${((100 * x) / tot).toFixed(0).padStart(3)}%`;

function breakdown(side, r, cryptoShare) {
  const cpu = r.userMs + r.systemMs;
  const wasm = r.workers.reduce((n, w) => n + w.wasmMs, 0);
  const wjs = r.workers.reduce((n, w) => n + w.jsMs, 0);
  const pkts = side === "A" ? r.sent : r.delivered;
  const us = (ms) => ((ms * 1000) / pkts).toFixed(2);
  const sock = side === "A" ? r.socketSendMs : r.socketCallbackMs;
  const other = Math.max(0, r.mainActiveMs - r.mainTimedMs);
  return {
    text:
      `  ${side}: ${(cpu / r.wallMs).toFixed(2)} of ${cpus().length} cores; CPU per packet ${us(cpu)} µs = user ${us(r.userMs)} + kernel ${us(r.systemMs)} (syscalls: UDP ${side === "A" ? "send" : "receive"}, wakeups)\n` +
      `     thread time per packet (wall clock while busy, includes waiting for a core):\n` +
      `       main   ${us(r.mainActiveMs)} µs (busy ${pct(r.mainActiveMs, r.wallMs)}): ${side === "A" ? "send() calls" : "'message' callbacks"} ${us(sock)}, batching/dispatch/results ${us(r.mainTimedMs - sock)}, ` +
      `libuv + dgram + postMessage + GC ${us(other)}\n` +
      `       workers ${us(wasm + wjs)} µs: wasm ${us(wasm)} (crypto ≈ ${us(wasm * cryptoShare)}, pipeline ≈ ${us(wasm * (1 - cryptoShare))}), worker JS ${us(wjs)}`,
    json: {
      cores: +(cpu / r.wallMs).toFixed(2),
      cpuUsPerPacket: { total: +(cpu * 1000 / pkts).toFixed(3), user: +(r.userMs * 1000 / pkts).toFixed(3), kernel: +(r.systemMs * 1000 / pkts).toFixed(3) },
      threadUsPerPacket: { main: +(r.mainActiveMs * 1000 / pkts).toFixed(3), mainSocket: +(sock * 1000 / pkts).toFixed(3), mainDispatch: +((r.mainTimedMs - sock) * 1000 / pkts).toFixed(3), mainOther: +(other * 1000 / pkts).toFixed(3), wasm: +(wasm * 1000 / pkts).toFixed(3), crypto: +(wasm * cryptoShare * 1000 / pkts).toFixed(3), workerJs: +(wjs * 1000 / pkts).toFixed(3) },
      mainThreadBusy: +(r.mainActiveMs / r.wallMs).toFixed(3),
      workers: r.workers,
    },
  };
}

/** No sockets: pre-encrypted IMIX datagrams through ShardedDataplane.inboundUdp with 1 and 2 workers, in this process. */
async function dispatchOnly(Sharded, workers, ms) {
  const { createDataplane } = await import(new URL("dist/index.js", root).href);
  const enc = await createDataplane({ sas: 4, tunnels: 4 });
  const dp = await Sharded.create({ workers, sas: 8, tunnels: 4, workerUrl: WORKER_URL, onPacket: () => {} });
  const out = [];
  for (let t = 0; t < 2; t++) {
    enc.addTunnel({ name: `t${t}`, local: A_ADDRS[t], remote: B_ADDR, address: `2001:db8:1:${t}::1/64`, routes: [`2001:db8:${(0x10 + t).toString(16)}::/48`], mtu: 1480 });
    enc.bindSa(enc.esp.addOutbound({ spi: SPIS[t], keymat: KEYS[t], encap: { sourcePort: 4500, destinationPort: 4500 } }), `t${t}`);
    dp.addTunnel({ name: `t${t}`, local: B_ADDR, remote: A_ADDRS[t], address: `2001:db8:ff${t}::2/64`, routes: [`2001:db8:1:${t}::/64`], allow: ["2001:db8:1::/48"], mtu: 1480 });
    dp.bindSa(dp.esp.addInbound({ spi: SPIS[t], keymat: KEYS[t], replayWindow: 0 }), `t${t}`);
  }
  const b = enc.createBatch({ packets: 48 });
  for (let i = 0; i < 48; i++) b.addPacket(ipv6(i & 1, IMIX[(i >> 1) % 12], i));
  enc.outbound(b);
  for (let i = 0; i < 48; i++) {
    const o = b.output(i);
    out.push({ src: o.slice(12, 16), payload: o.slice(28) });
  }
  const local = new Uint8Array([127, 0, 0, 2]);
  const chunk = 4096;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < chunk; i++) {
      const x = out[i % 48];
      dp.inboundUdp(x.payload, x.src, 4500, local);
    }
    await dp.drain();
    n += chunk;
  }
  const pps = (n / (performance.now() - t0)) * 1000;
  const drops = await dp.drops();
  await dp.close();
  if (Object.keys(drops).length) throw new Error(`bench: dispatch-only drops ${JSON.stringify(drops)}`);
  return pps;
}

export async function run({ quick }) {
  const { machine, save, fmt } = await import("./harness.mjs");
  if (!existsSync(WORKER_URL)) throw new Error("bench: dist/worker-main.js missing — run npm run build:ts");
  await loadSharded(); // build the bundle once, before the children race for it
  const m = machine();
  const rounds = quick ? 3 : 5;
  const opts = { warmMs: quick ? 500 : 1000, measureMs: quick ? 1500 : 3000, window: 1024 };
  console.log(`Dataplane end to end over loopback UDP (two processes), ${quick ? "quick" : "full"} run, ${rounds} interleaved rounds of 1 and 2 workers per endpoint`);
  console.log(`${m.cpu} ×${m.cores}, Node ${m.node}; IMIX 7:4:1 of 64/576/1420 B, 2 tunnels (one SA each), window ${opts.window} packets\n`);
  const cal = await calibrate();
  cal.outbound = Math.min(1, cal.outbound);
  cal.inbound = Math.min(1, cal.inbound);
  const Sharded = await loadSharded();
  const disp = { 1: [], 2: [] };
  for (let r = 0; r < rounds; r++) for (const w of r % 2 ? [2, 1] : [1, 2]) disp[w].push(await dispatchOnly(Sharded, w, quick ? 700 : 1500));
  const d1 = median(disp[1]);
  const d2 = median(disp[2]);
  console.log(`no sockets — inbound through the sharded dataplane only (main thread dispatch + workers, one process):`);
  console.log(`  1 worker ${fmt(d1)} pkt/s, 2 workers ${fmt(d2)} pkt/s → ${(d2 / d1).toFixed(2)}×; one core's pipeline alone: ${fmt(1e6 / cal.usPerPacketIn)} pkt/s inbound, ${fmt(1e6 / cal.usPerPacketOut)} outbound\n`);
  console.log(`end to end (A → B over loopback UDP):`);
  const res = { 1: [], 2: [] };
  for (let r = 0; r < rounds; r++) {
    for (const w of r % 2 ? [2, 1] : [1, 2]) {
      const x = await round(w, opts);
      res[w].push(x);
      console.log(`  round ${r + 1}, ${w} worker${w > 1 ? "s" : " "}: ${fmt(x.pps).padStart(8)} pkt/s delivered (A sent ${fmt(x.a.sent)}, lost ${fmt(x.a.lost)}, B drops ${JSON.stringify(x.b.drops)})`);
    }
  }
  const med = (w) => median(res[w].map((x) => x.pps));
  const one = med(1);
  const two = med(2);
  console.log(`\n  median: 1 worker ${fmt(one)} pkt/s, 2 workers ${fmt(two)} pkt/s → ${(two / one).toFixed(2)}× (reach: ≥ 1.80×)`);
  console.log(`\nwhere the time goes (median round by rate; crypto ≈ ESP-alone share of wasm time: out ${(cal.outbound * 100).toFixed(0)}%, in ${(cal.inbound * 100).toFixed(0)}%):`);
  const out = { suite: "dataplane", quick, machine: m, window: opts.window, calibration: cal, dispatchOnly: { oneWorker: Math.round(d1), twoWorkers: Math.round(d2), ratio: +(d2 / d1).toFixed(3) }, medians: { oneWorker: Math.round(one), twoWorkers: Math.round(two), ratio: +(two / one).toFixed(3) }, rounds: [] };
  for (const w of [1, 2]) {
    const sorted = [...res[w]].sort((x, y) => x.pps - y.pps);
    const mid = sorted[Math.floor(sorted.length / 2)];
    console.log(` ${w} worker${w > 1 ? "s" : ""} (${fmt(mid.pps)} pkt/s):`);
    const ba = breakdown("A", mid.a, cal.outbound);
    const bb = breakdown("B", mid.b, cal.inbound);
    console.log(ba.text);
    console.log(bb.text);
    out.rounds.push({ workers: w, pps: res[w].map((x) => Math.round(x.pps)), median: { a: ba.json, b: bb.json } });
  }
  // The ceiling this machine allows: with one worker the two endpoints already use `used` of its
  // cores; a second worker per endpoint can only take what is left (same CPU work per packet).
  const used = out.rounds[0].median.a.cores + out.rounds[0].median.b.cores;
  const ceiling = Math.max(1, cpus().length / used);
  out.ceiling = { coresUsedByOneWorker: +used.toFixed(2), cores: cpus().length, maxRatio: +ceiling.toFixed(2) };
  console.log(`\n  ${cpus().length} cores in all for 2 endpoints × (main thread + workers): with 1 worker the endpoints already use ${used.toFixed(2)} cores,`);
  console.log(`  so 2 workers can reach at most ${ceiling.toFixed(2)}× here at the same CPU cost per packet; ≥ 1.8× needs ≥ ${Math.ceil(used * 1.8)} idle cores.`);
  const file = save("dataplane", out);
  console.log(`\nwrote ${file}`);
}

// A child process: one endpoint; it ends with its parent.
if (arg("role") === "B") await roleB(+arg("workers"));
else if (arg("role") === "A") await roleA(+arg("workers"), +arg("port"), +arg("window"));
void here;
