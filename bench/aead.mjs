// npm run bench -- aead [--quick] [--only=gcm|chacha]
// AES-GCM seal and open, 8 bytes of AAD (ESP's SPI ‖ seq), at 64, 576, 1420 and 16384 bytes:
//   wasm batch     — pure WebAssembly engine (what browsers get), one call per batch
//   node-eng batch — the default engine in Node: node:crypto AES-ECB keystream per batch,
//                    XOR/GHASH/tag in wasm
//   node:crypto    — createCipheriv per packet (the baseline: ratio 1.00)
//   @noble/ciphers — pure JS, per packet
//   WebCrypto      — crypto.subtle, awaited per packet
// Then ChaCha20-Poly1305 (RFC 8439) the same way:
//   wasm batch         — ipsec6in4, one call per batch
//   node:crypto        — createCipheriv("chacha20-poly1305") per packet (the baseline)
//   libsodium-wrappers — crypto_aead_chacha20poly1305_ietf_* per packet (libsodium in wasm)
//   @noble/ciphers     — pure JS, per packet
import { createCipheriv, createDecipheriv, randomBytes, webcrypto } from "node:crypto";
import { gcm as nobleGcm } from "@noble/ciphers/aes.js";
import { chacha20poly1305 as nobleChacha } from "@noble/ciphers/chacha.js";
import { createAesGcm, createChaCha20Poly1305 } from "../dist/index.js";
import { fmt, interleave, machine, save } from "./harness.mjs";

const SIZES = [64, 576, 1420, 16384];
const AAD = 8;

export async function run({ quick }) {
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice(7);
  const results = [];
  const m = machine();
  if (only !== "chacha") results.push(...(await runGcm({ quick, m })));
  if (only !== "gcm") results.push(...(await runChacha({ quick, m })));
  const file = save(only ? `aead-${only}` : "aead", { suite: "aead", quick, machine: m, results });
  console.log(`\nwrote ${file}`);
}

async function runGcm({ quick, m }) {
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
  return results;
}

/** libsodium-wrappers if installed (a devDependency), else undefined. */
async function loadSodium() {
  try {
    const s = (await import("libsodium-wrappers")).default;
    await s.ready;
    return s;
  } catch {
    return undefined;
  }
}

async function runChacha({ quick, m }) {
  const rounds = quick ? 3 : 7;
  const maxTime = quick ? 0.25 : 1;
  const key = randomBytes(32);
  const aad = randomBytes(AAD);
  const ccp = await createChaCha20Poly1305(key);
  const sodium = await loadSodium();
  const results = [];
  console.log(`\nChaCha20-Poly1305, AAD ${AAD} B, ${quick ? "quick" : "full"} run, ${rounds} interleaved rounds`);
  console.log(`${m.cpu} ×${m.cores}, Node ${m.node} (V8 ${m.v8})${sodium ? `, libsodium ${sodium.SODIUM_VERSION_STRING} (libsodium-wrappers)` : ", libsodium-wrappers not installed"}\n`);
  for (const size of SIZES) {
    const batchN = size >= 16384 ? 16 : 256;
    const nonces = Array.from({ length: batchN }, () => randomBytes(12));
    const pt = randomBytes(size);
    const sealedNode = nonces.map((n) => {
      const c = createCipheriv("chacha20-poly1305", key, n, { authTagLength: 16 });
      c.setAAD(aad);
      return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
    });
    const mk = (opening) => {
      const b = ccp.createBatch({ packets: batchN, bytes: batchN * 2 * (size + 64), inPlace: !opening });
      nonces.forEach((n, i) => b.add(n, opening ? sealedNode[i] : pt, aad));
      return b;
    };
    const wSeal = mk(false), wOpen = mk(true);
    if (ccp.openBatch(wOpen) !== batchN || Buffer.compare(wOpen.output(0), pt) !== 0) throw new Error("bench: wasm ChaCha20-Poly1305 open failed");
    if (sodium && Buffer.compare(sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealedNode[0], aad, nonces[0], key), pt) !== 0) {
      throw new Error("bench: libsodium disagrees with node:crypto");
    }
    let i = 0;
    const contenders = [
      { name: "seal node:crypto", units: 1, fn: () => {
        const c = createCipheriv("chacha20-poly1305", key, nonces[i++ % batchN], { authTagLength: 16 });
        c.setAAD(aad);
        c.update(pt); c.final(); c.getAuthTag();
      } },
      { name: "seal wasm batch", units: batchN, fn: () => ccp.sealBatch(wSeal) },
      ...(sodium ? [{ name: "seal libsodium-wrappers", units: 1, fn: () => sodium.crypto_aead_chacha20poly1305_ietf_encrypt(pt, aad, null, nonces[i++ % batchN], key) }] : []),
      { name: "seal @noble/ciphers", units: 1, fn: () => nobleChacha(key, nonces[i++ % batchN], aad).encrypt(pt) },
      { name: "open node:crypto", units: 1, fn: () => {
        const k = i++ % batchN;
        const s = sealedNode[k];
        const d = createDecipheriv("chacha20-poly1305", key, nonces[k], { authTagLength: 16 });
        d.setAAD(aad);
        d.setAuthTag(s.subarray(size));
        d.update(s.subarray(0, size)); d.final();
      } },
      { name: "open wasm batch", units: batchN, fn: () => ccp.openBatch(wOpen) },
      ...(sodium ? [{ name: "open libsodium-wrappers", units: 1, fn: () => { const k = i++ % batchN; sodium.crypto_aead_chacha20poly1305_ietf_decrypt(null, sealedNode[k], aad, nonces[k], key); } }] : []),
      { name: "open @noble/ciphers", units: 1, fn: () => { const k = i++ % batchN; nobleChacha(key, nonces[k], aad).decrypt(sealedNode[k]); } },
    ];
    const r = await interleave(contenders, { rounds, maxTime });
    const base = { seal: r["seal node:crypto"], open: r["open node:crypto"] };
    console.log(`${size} B (batches of ${batchN})`);
    for (const [name, pps] of Object.entries(r)) {
      const ratio = pps / base[name.slice(0, 4)];
      console.log(`  ${name.padEnd(24)} ${fmt(pps).padStart(11)} pkt/s ${fmt((pps * size) / 1e6, 1).padStart(8)} MB/s  ×${ratio.toFixed(2)}`);
      results.push({ aead: "chacha20-poly1305", size, aad: AAD, batch: batchN, name, packetsPerSecond: Math.round(pps), mbPerSecond: +((pps * size) / 1e6).toFixed(1), ratioToNodeCrypto: +ratio.toFixed(3) });
    }
    [wSeal, wOpen].forEach((b) => b.destroy());
  }
  ccp.destroy();
  return results;
}
