#!/usr/bin/env node
// npm run faults
// The full fault matrix of test/faults.test.ts (FAULTS_FULL): loss, duplication and reordering,
// in process and over UDP on loopback through a relay, with CHILD_SA rekeys under traffic, and
// 200 handshakes under 20% loss. Prints the matrix and writes it as JSON.
// IPSEC6IN4_SEED replays a run; FAULTS_PACKETS / FAULTS_REKEYS / FAULTS_HANDSHAKES override the sizes.
import { spawnSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { machine } from "./harness.mjs";

const out = new URL("../scratch/reliability/", import.meta.url);
mkdirSync(out, { recursive: true });
const file = new URL("faults.json", out).pathname;
const m = machine();
console.log(`faults: full matrix — ${m.cpu} ×${m.cores}, Node ${m.node}`);
const r = spawnSync("npx", ["vitest", "run", "test/faults.test.ts"], { env: { ...process.env, FAULTS_FULL: "1", FAULTS_REPORT: file }, stdio: "inherit" });
console.log(`\nwrote ${file}`);
process.exit(r.status ?? 1);
