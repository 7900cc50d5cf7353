// npm run bench -- aead [--quick]
// AES-GCM seal and open, 8 bytes of AAD (ESP's SPI ‖ seq), at 64, 576, 1420 and 16384 bytes:
//   wasm batch     — pure WebAssembly engine (what browsers get), one call per batch
//   node-eng batch — the default engine in Node: node:crypto AES-ECB keystream per batch,
//                    XOR/GHASH/tag in wasm
//   node:crypto    — createCipheriv per packet (the baseline: ratio 1.00)
//   @noble/ciphers — pure JS, per packet
//   WebCrypto      — crypto.subtle, awaited per packet
import { createCipheriv, createDecipheriv, randomBytes, webcrypto } from "node:crypto";
import { gcm as nobleGcm } from "@noble/ciphers/aes.js";
import { createAesGcm } from "../dist/index.js";
import { fmt, interleave, machine, save } from "./harness.mjs";

const SIZES = [64, 576, 1420, 16384];
const AAD = 8;

export async function run({ quick }) {
  const rounds = quick ? 3 : 7;
  const maxTime = quick ? 0.25 : 1;
  const key = randomBytes(16);
  const wasm = await createAesGcm(key, { engine: "wasm" });
  const node = await createAesGcm(key, { engine: "node" });
  const subtleKey = await webcrypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]);
  const noble = (n) => nobleGcm(key, n, aad);
  const aad = randomBytes(AAD);
  const results = [];
  console.log(`AES-128-GCM, AAD ${AAD} B, ${quick ? "quick" : "full"} run, ${rounds} interleaved rounds`);
  const m = machine();
  console.log(`${m.cpu} ×${m.cores}, Node ${m.node} (V8 ${m.v8})\n`);
  for (const size of SIZES) {
    const batchN = size >= 16384 ? 16 : 256;
    const nonces = Array.from({ length: batchN }, () => randomBytes(12));
    const pt = randomBytes(size);
    const sealedNode = nonces.map((n) => {
      const c = createCipheriv("aes-128-gcm", key, n);
      c.setAAD(aad);
      return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    });
    const mk = (gcm, opening) => {
      const b = gcm.createBatch({ packets: batchN, bytes: batchN * 2 * (size + 64), inPlace: !opening });
      nonces.forEach((n, i) => b.add(n, opening ? sealedNode[i] : pt, aad));
      return b;
    };
    const wSeal = mk(wasm, false), wOpen = mk(wasm, true), nSeal = mk(node, false), nOpen = mk(node, true);
    let i = 0;
    const contenders = [
      { name: "seal node:crypto", units: 1, fn: () => {
        const n = nonces[i++ % batchN];
        const c = createCipheriv("aes-128-gcm", key, n);
        c.setAAD(aad);
        c.update(pt); c.final(); c.getAuthTag();
      } },
      { name: "seal wasm batch", units: batchN, fn: () => wasm.sealBatch(wSeal) },
      { name: "seal node-engine batch", units: batchN, fn: () => node.sealBatch(nSeal) },
      { name: "seal @noble/ciphers", units: 1, fn: () => noble(nonces[i++ % batchN]).encrypt(pt) },
      { name: "seal WebCrypto", units: 1, fn: Object.assign(() => webcrypto.subtle.encrypt({ name: "AES-GCM", iv: nonces[i++ % batchN], additionalData: aad }, subtleKey, pt), { defer: true }) },
      { name: "open node:crypto", units: 1, fn: () => {
        const k = i++ % batchN;
        const s = sealedNode[k];
        const d = createDecipheriv("aes-128-gcm", key, nonces[k]);
        d.setAAD(aad);
        d.setAuthTag(s.subarray(size));
        d.update(s.subarray(0, size)); d.final();
      } },
      { name: "open wasm batch", units: batchN, fn: () => wasm.openBatch(wOpen) },
      { name: "open node-engine batch", units: batchN, fn: () => node.openBatch(nOpen) },
      { name: "open @noble/ciphers", units: 1, fn: () => { const k = i++ % batchN; noble(nonces[k]).decrypt(sealedNode[k]); } },
    ];
    // Open batches are out of place, so every call verifies and decrypts the same ciphertext.
    for (const [g, b] of [[wasm, wOpen], [node, nOpen]]) {
      if (g.openBatch(b) !== batchN) throw new Error(`bench: ${g.engine} batch open failed verification`);
      if (Buffer.compare(b.output(0), pt) !== 0) throw new Error(`bench: ${g.engine} batch open gave wrong plaintext`);
    }
    const r = await interleave(contenders, { rounds, maxTime });
    const base = { seal: r["seal node:crypto"], open: r["open node:crypto"] };
    console.log(`${size} B (batches of ${batchN})`);
    for (const [name, pps] of Object.entries(r)) {
      const ratio = pps / base[name.slice(0, 4)];
      console.log(`  ${name.padEnd(24)} ${fmt(pps).padStart(11)} pkt/s ${fmt((pps * size) / 1e6, 1).padStart(8)} MB/s  ×${ratio.toFixed(2)}`);
      results.push({ size, aad: AAD, batch: batchN, name, packetsPerSecond: Math.round(pps), mbPerSecond: +((pps * size) / 1e6).toFixed(1), ratioToNodeCrypto: +ratio.toFixed(3) });
    }
    [wSeal, wOpen, nSeal, nOpen].forEach((b) => b.destroy());
  }
  const file = save("aead", { suite: "aead", quick, machine: m, results });
  console.log(`\nwrote ${file}`);
}
