#!/usr/bin/env node
// node bench/chart.mjs [results.json] [out.svg]: an SVG bar chart of `npm run bench -- aead`
// results — seal throughput relative to node:crypto per packet, per packet size, on a log
// scale (1.0 = node:crypto), for the README.
import { readFileSync, writeFileSync } from "node:fs";

const src = process.argv[2] ?? new URL("./results/aead.json", import.meta.url).pathname;
const dst = process.argv[3] ?? new URL("../docs/bench-aead.svg", import.meta.url).pathname;
const data = JSON.parse(readFileSync(src, "utf8"));
// [aead, result name, label, colour]; AES-GCM rows carry no `aead` field.
const wanted = [
  ["aes-gcm", "seal node-engine batch", "ipsec6in4 AES-GCM, Node engine (batch)", "#1f77b4"],
  ["aes-gcm", "seal wasm batch", "ipsec6in4 AES-GCM, pure wasm (batch)", "#2ca02c"],
  ["chacha20-poly1305", "seal wasm batch", "ipsec6in4 ChaCha20-Poly1305 (batch)", "#9467bd"],
  ["chacha20-poly1305", "seal libsodium-wrappers", "libsodium-wrappers ChaCha20-Poly1305", "#17becf"],
  ["aes-gcm", "seal @noble/ciphers", "@noble/ciphers AES-GCM", "#ff7f0e"],
  ["aes-gcm", "seal WebCrypto", "WebCrypto AES-GCM (awaited)", "#8c564b"],
].map(([aead, name, label, color]) => [`${aead}|${name}`, label, color]);
const rows = data.results
  .filter((r) => r.aad === 8 && r.size <= 1420)
  .map((r) => ({ ...r, name: `${r.aead ?? "aes-gcm"}|${r.name}` }));
const sizes = [...new Set(rows.map((r) => r.size))];
const series = wanted.filter(([n]) => rows.some((r) => r.name === n));
const W = 760, rowH = 16, gap = 14, left = 150, right = 60;
const H = 70 + sizes.length * (series.length * rowH + gap) + series.length * 18;
const x = (ratio) => left + ((Math.log10(Math.max(ratio, 0.01)) + 2) / 4) * (W - left - right); // 0.01× .. 100×
let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">\n`;
svg += `<text x="10" y="20" font-size="14" font-weight="bold">AEAD seal, packets/s relative to node:crypto per packet, same algorithm (log scale; 8-byte AAD)</text>\n`;
svg += `<text x="10" y="36" fill="#555">${data.machine.cpu} ×${data.machine.cores}, Node ${data.machine.node}, ${data.machine.date.slice(0, 10)}${data.quick ? ", quick run" : ""}</text>\n`;
for (const t of [0.01, 0.1, 1, 10, 100]) {
  svg += `<line x1="${x(t)}" x2="${x(t)}" y1="46" y2="${H - series.length * 18 - 10}" stroke="${t === 1 ? "#000" : "#ddd"}"/>`;
  svg += `<text x="${x(t)}" y="${H - series.length * 18}" text-anchor="middle" fill="#555">${t}×</text>\n`;
}
let y = 56;
for (const size of sizes) {
  svg += `<text x="10" y="${y + (series.length * rowH) / 2 + 4}" font-weight="bold">${size} B</text>\n`;
  for (const [name, , color] of series) {
    const r = rows.find((q) => q.size === size && q.name === name);
    if (r) {
      svg += `<rect x="${x(0.01)}" y="${y}" width="${x(r.ratioToNodeCrypto) - x(0.01)}" height="${rowH - 3}" fill="${color}"/>`;
      svg += `<text x="${x(r.ratioToNodeCrypto) + 4}" y="${y + rowH - 5}">${r.ratioToNodeCrypto.toFixed(2)}×</text>\n`;
    }
    y += rowH;
  }
  y += gap;
}
series.forEach(([, label, color], i) => {
  const ly = H - (series.length - i) * 18 + 14;
  svg += `<rect x="${left}" y="${ly - 10}" width="12" height="12" fill="${color}"/><text x="${left + 18}" y="${ly}">${label}</text>\n`;
});
svg += "</svg>\n";
writeFileSync(dst, svg);
console.log(`wrote ${dst}`);
