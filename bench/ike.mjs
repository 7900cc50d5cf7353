// npm run bench -- ike [--quick]
//  1. Complete IKE_SA_INIT + IKE_AUTH handshakes per second between two in-process endpoints
//     (PSK, ecp256, AES-128-GCM, one CHILD_SA installed in each dataplane), next to the cost of
//     the raw cryptography a handshake needs (two ECDH key pairs and secrets, the PRF work), so
//     the protocol overhead shows.
//  2. Memory per established IKE_SA with its CHILD_SA at 10,000 tunnels (1,000 with --quick).
import { createECDH, createHmac, randomBytes } from "node:crypto";
import { createDataplane, loadConfig, IkeEndpoint } from "../dist/index.js";
import { fmt, machine, save } from "./harness.mjs";

function config(me, peer, nPeers = 1) {
  const conns = [];
  for (let i = 0; i < nPeers; i++) {
    const p = nPeers === 1 ? peer : peerAddr(i);
    conns.push(`c${i} { local_addrs = ${me}
 remote_addrs = ${p}
 proposals = aes128gcm16-prfsha256-ecp256
 local { auth = psk
 id = ${me} }
 remote { auth = psk
 id = ${p} }
 children { net { mode = transport
 local_ts = dynamic[41]
 remote_ts = dynamic[41]
 esp_proposals = aes128gcm16 } } }`);
  }
  return loadConfig(`connections {\n${conns.join("\n")}\n}\nsecrets { ike-all { secret = "benchmark secret" } }\n`);
}

function peerAddr(i) {
  // RFC 2544 benchmarking addresses (198.18.0.0/15); never sent anywhere: both ends are in this process.
  return `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}`;
}

async function pair(nPeers) {
  const eps = {};
  const mk = async (me, peer, cfg, sas) => {
    const dp = await createDataplane({ sas, tunnels: 2 });
    const ep = new IkeEndpoint({
      config: cfg,
      dataplane: dp,
      send: (data, from, to) => queue.push(() => eps[to.address]?.receive(data, from, to)),
    });
    return { dp, ep };
  };
  const queue = [];
  return { eps, mk, queue };
}

async function drain(queue) {
  while (queue.length) queue.shift()();
}

export async function run({ quick }) {
  const m = machine();
  console.log(`IKEv2 handshakes (PSK, ecp256, AES-128-GCM), ${quick ? "quick" : "full"} run`);
  console.log(`${m.cpu} ×${m.cores}, Node ${m.node} (V8 ${m.v8})\n`);
  // 1. Handshakes per second.
  const n = quick ? 200 : 1000;
  const { eps, mk, queue } = await pair(1);
  const A = await mk("198.51.100.1", "198.51.100.2", config("198.51.100.1", "198.51.100.2"), 4 * n + 8);
  const B = await mk("198.51.100.2", "198.51.100.1", config("198.51.100.2", "198.51.100.1"), 4 * n + 8);
  eps["198.51.100.1"] = A.ep;
  eps["198.51.100.2"] = B.ep;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const p = A.ep.initiate("c0");
    await drain(queue);
    await p;
  }
  const handshakes = n / ((performance.now() - t0) / 1000);
  // The raw work of one handshake: two P-256 key pairs, two shared secrets, and the PRF calls
  // (SKEYSEED, prf+ for 7 keys and the CHILD_SA keys, 4 AUTH computations, NAT-D hashes ≈ 20 HMACs).
  const t1 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = createECDH("prime256v1");
    const b = createECDH("prime256v1");
    const pa = a.generateKeys();
    const pb = b.generateKeys();
    a.computeSecret(pb);
    b.computeSecret(pa);
    const k = randomBytes(32);
    for (let j = 0; j < 20; j++) createHmac("sha256", k).update(pa).digest();
  }
  const raw = n / ((performance.now() - t1) / 1000);
  console.log(`  handshakes/s (both ends in this process): ${fmt(handshakes)}`);
  console.log(`  raw crypto of one handshake, per second:  ${fmt(raw)}  (protocol overhead ${((raw / handshakes - 1) * 100).toFixed(0)}%)\n`);

  // 2. Memory per IKE_SA + CHILD_SA.
  const tunnels = quick ? 1000 : 10_000;
  global.gc?.();
  const before = process.memoryUsage();
  const R = await pair(tunnels);
  const resp = await R.mk("198.51.100.2", null, config("198.51.100.2", null, tunnels), 2 * tunnels + 8);
  R.eps["198.51.100.2"] = resp.ep;
  const inits = [];
  for (let i = 0; i < tunnels; i++) {
    const me = peerAddr(i);
    const ep = new IkeEndpoint({
      config: config(me, "198.51.100.2"),
      send: (data, from, to) => R.queue.push(() => R.eps[to.address]?.receive(data, from, to)),
    });
    R.eps[me] = ep;
    inits.push(ep);
  }
  const afterInit = process.memoryUsage();
  for (let i = 0; i < tunnels; i++) {
    const p = inits[i].initiate("c0");
    await drain(R.queue);
    await p;
  }
  global.gc?.();
  const after = process.memoryUsage();
  const up = resp.ep.list().length;
  const wasm = resp.dp.core.x.memory.buffer.byteLength;
  const heapPer = (after.heapUsed - afterInit.heapUsed) / up / 2; // both ends hold one IKE_SA each
  console.log(`  ${fmt(up)} IKE_SAs + CHILD_SAs established at the responder`);
  console.log(`  JS heap per IKE_SA (one end): ${fmt(heapPer / 1024, 1)} KiB; responder wasm memory ${fmt(wasm / 2 ** 20, 1)} MiB (${fmt(wasm / up / 1024, 1)} KiB per tunnel, 2 SA records each)`);
  const file = save("ike", { suite: "ike", quick, machine: m, handshakesPerSecond: Math.round(handshakes), rawCryptoPerSecond: Math.round(raw), tunnels: up, heapBytesPerIkeSa: Math.round(heapPer), wasmBytesPerTunnel: Math.round(wasm / up), rssBefore: before.rss, rssAfter: after.rss });
  console.log(`\nwrote ${file}`);
}
