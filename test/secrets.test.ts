// Keys never leave (issue #9 "Secrets"): with known keys — a PSK, the SK_* keys and SKEYSEED of
// a real IKE_SA, the ESP keys of its CHILD_SA, keys given by --sa, esp_sa and
// ikev2_decryption_table files — every output a user or a log collector sees is grepped for
// every key in every spelling (hex in both cases, with or without separators, base64 and
// base64url at each alignment, decimal lists as inspect and JSON print byte arrays, raw bytes),
// whole and as any 8-byte window:
//
//   1. a daemon (IKE only, in process, over UDP on loopback) at --debug 4 with an initiator
//      whose endpoint logs every level: both logs, `status --json` and `status` over the control
//      socket, Daemon.status();
//   2. `decode --json` (and the text form, --offsets, --tunnel) given the keys, of ESP and IKE
//      packets made with them, and `config --json` / `config` of the configuration;
//   3. the errors of bad --sa specs, esp_sa and ikev2_decryption_table lines and configurations
//      that carry a key, as message, String(), util.inspect() and JSON.stringify();
//   4. util.inspect(), JSON.stringify() and String() of the objects that hold keys: the IKE
//      endpoint, the UDP node, the daemon, the dataplane, SA handles, the configuration model,
//      parsed SA specs and key stores, the IKE_SA and CHILD_SA infos.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, loadConfigFile } from "../src/config/index.js";
import { createDataplane } from "../src/pipeline.js";
import { UdpNode } from "../src/node/udp.js";
import { Daemon } from "../src/daemon.js";
import { statusCommand } from "../src/cli-daemon.js";
import { configCommand } from "../src/cli-config.js";
import { KeyStore, parseEspSaFile, parseSaSpec } from "../src/decode/keys.js";
import { encapCapture } from "../src/decode/encap.js";
import { readCapture, writePcap } from "../src/decode/pcap.js";
import { encodeIkeMessage, type IkeSaKeys } from "../src/ike/message.js";
import { formatIkev2DecryptionTable, parseIkev2DecryptionTable } from "../src/ike/wireshark-keys.js";
import type { ChildSaInfo } from "../src/ike/endpoint.js";
import { cat, icmpv6Echo, ipv4Wrap, runCli, udp4 } from "./fixtures/decode/packets.js";
import { Prng, seedFromEnv } from "./helpers/prng.js";

const rng = new Prng(seedFromEnv(0x5ec7));
const dir = mkdtempSync(join(tmpdir(), "secrets-test-"));
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

// ───────────────────────────── the grep ─────────────────────────────

interface Secret {
  name: string;
  bytes: Uint8Array;
}
const secrets: Secret[] = [];
function secret(name: string, bytes: Uint8Array): Uint8Array {
  secrets.push({ name, bytes: bytes.slice() });
  return bytes;
}

/**
 * The secrets found in `text`. Every spelling is turned back into bytes and searched for any
 * 8-byte window of any secret: runs of hex digits (either case, pairs optionally separated by
 * ':', '-' or ' ', both parities), runs of decimal numbers (util.inspect's and JSON's byte
 * arrays, `"0":25,"1":118,…` included), base64 and base64url runs (at all four alignments), and
 * the raw bytes of the text (latin1). Linear in the length of the text.
 */
function leaks(text: string | Uint8Array): string[] {
  const windows = new Map<string, string>(); // 8 bytes as hex → secret name
  const heads = new Set<number>(); // their first 4 bytes, to skip most positions at once
  for (const s of secrets) {
    for (let i = 0; i + 8 <= s.bytes.length; i++) {
      const w = s.bytes.subarray(i, i + 8);
      windows.set(hex(w), s.name);
      heads.add(Buffer.from(w).readUInt32LE(0));
    }
  }
  const found = new Set<string>();
  const scan = (b: Uint8Array, how: string) => {
    if (b.length < 8) return;
    const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i + 8 <= buf.length; i++) {
      if (!heads.has(buf.readUInt32LE(i))) continue;
      const name = windows.get(buf.toString("hex", i, i + 8));
      if (name) found.add(`${name} (${how})`);
    }
  };
  const t = typeof text === "string" ? text : Buffer.from(text).toString("latin1");
  scan(typeof text === "string" ? Buffer.from(text, "latin1") : text, "raw bytes");
  // (Only plain character classes below: no backtracking, whatever the size of the text.)
  for (const m of t.matchAll(/[0-9a-fA-F:\- ]{16,}/g)) {
    const digits = m[0].replace(/[:\- ]/g, "");
    scan(Buffer.from(digits.slice(0, digits.length & ~1), "hex"), "hex");
    scan(Buffer.from(digits.slice(1, 1 + ((digits.length - 1) & ~1)), "hex"), "hex");
  }
  // Numbers 0–255 one after another, whatever separates them (", ", "\n  ", `,"7":`).
  let run: number[] = [];
  for (const tok of t.replace(/"\d+":/g, ",").split(/[^0-9]+/)) {
    const n = tok === "" || tok.length > 3 ? 256 : Number(tok);
    if (n <= 255) run.push(n);
    else {
      if (run.length >= 8) scan(Uint8Array.from(run), "decimal list");
      run = [];
    }
  }
  if (run.length >= 8) scan(Uint8Array.from(run), "decimal list");
  for (const m of t.matchAll(/[A-Za-z0-9+/_-]{11,}/g)) {
    for (let a = 0; a < 4; a++) {
      const chunk = m[0].slice(a);
      scan(Buffer.from(chunk.replace(/-/g, "+").replace(/_/g, "/"), "base64"), "base64");
    }
  }
  return [...found];
}

/** Every way a value is shown: inspect (deep, hidden too), JSON, String. */
function shown(v: unknown): string {
  let json: string;
  try {
    json = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x)) ?? "";
  } catch (e) {
    json = `JSON.stringify threw ${(e as Error).message}`;
  }
  return [inspect(v, { depth: 8, showHidden: false, maxArrayLength: 1_000, maxStringLength: 100_000 }), inspect(v, { depth: 3, showHidden: true, maxArrayLength: 1_000 }), json, String(v)].join("\n");
}

describe("the grep itself", () => {
  it("finds a key in every spelling it claims to, and nothing in unrelated bytes", () => {
    const k = rng.bytes(20);
    const saved = secrets.splice(0);
    try {
      secret("probe", k);
      expect(leaks("nothing here " + hex(rng.bytes(32)))).toEqual([]);
      for (const s of [hex(k), hex(k).toUpperCase(), hex(k.subarray(5, 13)), inspect(k), JSON.stringify(k), Buffer.from(k).toString("base64"), Buffer.from(k.subarray(1)).toString("base64url"), `0x${hex(k)}`, hex(k).match(/../g)!.join(":").toUpperCase(), Array.from(k).join(", "), inspect([...k]), Buffer.from(k).toString("latin1"), `${hex(k.subarray(0, 7))}`.slice(1) + hex(k.subarray(7))]) {
        expect(leaks(`before ${s} after`), s).not.toEqual([]);
      }
      expect(leaks(Uint8Array.from([1, 2, ...k.subarray(3, 12), 3]))).not.toEqual([]);
      // seven bytes are not a window: no finding
      expect(leaks(hex(k.subarray(0, 7)) + " / " + hex(k.subarray(7, 14)))).toEqual([]);
    } finally {
      secrets.splice(0, secrets.length, ...saved);
    }
  });
});

// ───────────────────────────── 1. a daemon and its peer ─────────────────────────────

const A = "127.0.0.1";
const B = "127.0.0.2";
// Ports unique to this process (other test files and engineers bind loopback ports too).
const base = 30_000 + (process.pid % 5_000) * 4;
const [A_IKE, A_NATT, B_IKE, B_NATT] = [base, base + 1, base + 2, base + 3];
const PSK = secret("PSK", rng.bytes(32));
const PSK_TEXT = "Tr0ub4dor&3 correct horse 8e1f27c4";
secret("PSK (text)", new TextEncoder().encode(PSK_TEXT));

function confText(me: string, peer: string, myIke: number, peerIke: number): string {
  return `connections {
  r { local_addrs = ${me}
      remote_addrs = ${peer}
      local_port = ${myIke}
      remote_port = ${peerIke}
      proposals = aes256gcm16-prfsha384-ecp256
      local { auth = psk
        id = ${me} }
      remote { auth = psk
        id = ${peer} }
      children { v6 { mode = transport
        local_ts = dynamic[41]
        remote_ts = dynamic[41]
        esp_proposals = aes256gcm16 } } }
}
secrets {
  ike-r { id-1 = ${me}
    id-2 = ${peer}
    secret = 0x${hex(PSK)} }
  ike-other { id = other.example
    secret = "${PSK_TEXT}" }
}
`;
}

const logsA: string[] = [];
const logsB: string[] = [];
const espKeys: Uint8Array[] = [];
let daemon: Daemon;
let nodeA: UdpNode;
let childInfo: ChildSaInfo;
const confB = join(dir, "b.conf");
const socketB = join(dir, "b.sock");

beforeAll(async () => {
  writeFileSync(confB, confText(B, A, B_IKE, A_IKE));
  daemon = await Daemon.start({ configFile: confB, socket: socketB, logWrite: (l) => logsB.push(l), logLevel: 4, address: B, ikePort: B_IKE, nattPort: B_NATT, raw: "off", addon: { ok: false, reason: "not needed: no tunnels", tried: [] } });
  const cfgA = loadConfig(confText(A, B, A_IKE, B_IKE), { file: "a.conf" });
  nodeA = await UdpNode.bind({
    config: cfgA,
    dataplane: await createDataplane({ sas: 8, tunnels: 1 }),
    address: A,
    ikePort: A_IKE,
    nattPort: A_NATT,
    deliver: () => {},
    ike: {
      log: (level, m) => logsA.push(`${level} ${m}`),
      retransmit: { timeout: 500, tries: 4 },
      onChildKeys: (_info, k) => espKeys.push(secret("ESP key (i→r)", k.encrI), secret("ESP key (r→i)", k.encrR)),
    },
  });
  const sa = await nodeA.ike.initiate("r");
  childInfo = sa.children[0];
  // The IKE_SA's keys, as both ends derived them (read from the endpoint's own state).
  const sas = (nodeA.ike as unknown as { sas: Map<string, { keys?: Record<string, Uint8Array> }> }).sas;
  for (const s of new Set(sas.values())) for (const [name, v] of Object.entries(s.keys ?? {})) if (v instanceof Uint8Array && v.length) secret(name === "skeyseed" ? "SKEYSEED" : `SK_${name.slice(2).toLowerCase()}`, v);
}, 60_000);

afterAll(async () => {
  await nodeA?.close();
  await daemon?.stop("test over");
  rmSync(dir, { recursive: true, force: true });
});

describe("secrets never appear in what the daemon and the IKE endpoint say", () => {
  it("the known keys were collected: PSK, SKEYSEED and the SK_* keys, both ESP keys", () => {
    const names = secrets.map((s) => s.name);
    // aes256gcm16-prfsha384: no SK_a (AEAD), SKEYSEED / SK_d / SK_p of 48 bytes, SK_e of 36.
    for (const n of ["ESP key (i→r)", "ESP key (r→i)", "PSK", "PSK (text)", "SKEYSEED", "SK_d", "SK_ei", "SK_er", "SK_pi", "SK_pr"]) expect(names).toContain(n);
    expect(secrets.find((s) => s.name === "SK_d")!.bytes.length).toBe(48);
    // AES-256-GCM: a 32-byte key and a 4-byte salt each.
    expect(espKeys.map((k) => k.length)).toEqual([36, 36]);
    expect(childInfo.spiIn).toBeGreaterThan(0);
  });

  it("daemon log at --debug 4 and the initiator's log at every level", () => {
    expect(logsB.join("")).toMatch(/IKE_SA r\[\d+\] established/);
    expect(logsB.length).toBeGreaterThan(5);
    expect(leaks(logsB.join(""))).toEqual([]);
    expect(leaks(logsA.join("\n"))).toEqual([]);
  });

  it("status --json and status over the control socket, Daemon.status()", async () => {
    let out = "";
    let err = "";
    expect(await statusCommand(["--json", "--socket", socketB], (s) => (out += s), (s) => (err += s))).toBe(0);
    const st = JSON.parse(out);
    expect(st.sas[0].children[0].in.spi).toBe(childInfo.spiOut.toString(16).padStart(8, "0"));
    expect(await statusCommand(["--socket", socketB], (s) => (out += s), (s) => (err += s))).toBe(0);
    expect(out).toContain("ESTABLISHED");
    expect(leaks(out + err)).toEqual([]);
    expect(leaks(shown(daemon.status()))).toEqual([]);
  });

  it("inspect, JSON and String of the endpoint, the UDP node, the daemon, the dataplane, SA handles, IKE_SA and CHILD_SA infos, the configuration", () => {
    const handles = [...((daemon.dp.esp as unknown as { handles?: Iterable<unknown> }).handles ?? [])];
    const objects: Record<string, unknown> = {
      "IkeEndpoint (initiator)": nodeA.ike,
      "IkeEndpoint (daemon)": daemon.node.ike,
      UdpNode: nodeA,
      Daemon: daemon,
      Dataplane: daemon.dp,
      "Dataplane.esp": daemon.dp.esp,
      "SA handles": handles,
      "IKE_SA list": nodeA.ike.list(),
      ChildSaInfo: childInfo,
      Config: daemon.config,
      "Config (loaded from file)": loadConfigFile(confB),
      "Config.secrets": daemon.config.secrets,
    };
    const found = Object.entries(objects).flatMap(([name, v]) => leaks(shown(v)).map((l) => `${name}: ${l}`));
    expect(found).toEqual([]);
  });
});

// ───────────────────────────── 2. decode and config ─────────────────────────────

describe("secrets given to decode and config are not echoed", () => {
  const SPI = 0x5ec70001;
  const espKey = secret("--sa key", rng.bytes(20));
  const fileKey = secret("esp_sa file key", rng.bytes(36));
  const skAi = secret("ikev2 table SK_ai", rng.bytes(32));
  const skAr = secret("ikev2 table SK_ar", rng.bytes(32));
  const ikeKeys: IkeSaKeys = {
    spiI: rng.bytes(8),
    spiR: rng.bytes(8),
    encr: 12, // AES-CBC
    keyLen: 128,
    integ: 12, // HMAC-SHA2-256-128
    skEi: secret("ikev2 table SK_ei", rng.bytes(16)),
    skEr: secret("ikev2 table SK_er", rng.bytes(16)),
    skAi,
    skAr,
  };
  const SPEC = `spi=0x${SPI.toString(16)},enc=aes128gcm16,key=0x${hex(espKey)}`;
  const TA = "192.0.2.1";
  const TB = "192.0.2.2";

  it("decode --json / text / --offsets / --tunnel with --sa, --esp-sa and --ikev2-keys", async () => {
    const inner = Array.from({ length: 3 }, (_, i) => icmpv6Echo("2001:db8:1::1", "2001:db8:2::1", 7, i, rng.bytes(30)));
    const viaSpec = await encapCapture(writePcap(inner, 229), { sa: SPEC, tunnel: { local: TA, remote: TB, mtu: 9000 }, udp: false });
    const viaFile = await encapCapture(writePcap(inner, 229), { sa: `spi=0x5ec70002,enc=aes256gcm16,key=0x${hex(fileKey)}`, tunnel: { local: TA, remote: TB, mtu: 9000 }, udp: true });
    const ike = encodeIkeMessage({ header: { spiI: ikeKeys.spiI, spiR: ikeKeys.spiR, exchangeType: 35, flags: { initiator: true }, messageId: 1 }, payloads: [{ type: 46, inner: [{ type: 35, body: Uint8Array.from([1, 0, 0, 0, 192, 0, 2, 1]) }] }] }, ikeKeys);
    const frames: Uint8Array[] = [...readCapture(viaSpec.pcap), ...readCapture(viaFile.pcap)].map((f) => f.data.slice());
    frames.push(ipv4Wrap(TA, TB, 17, udp4(4500, 4500, cat(new Uint8Array(4), ike))));
    const cap = join(dir, "keys.pcap");
    writeFileSync(cap, writePcap(frames, 101));
    const espSa = join(dir, "esp_sa");
    writeFileSync(espSa, `"IPv4","${TA}","${TB}","0x5ec70002","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(fileKey)}","NULL",""\n`);
    const table = join(dir, "ikev2_decryption_table");
    writeFileSync(table, formatIkev2DecryptionTable([ikeKeys]));
    const keyArgs = ["--sa", SPEC, "--esp-sa", espSa, "--ikev2-keys", table];
    for (const extra of [["--json"], ["--json", "--offsets"], [], ["--tunnel", `local=${TB},remote=${TA},allow=2001:db8:1::/48`], ["--json", "--tunnel", `local=${TB},remote=${TA},allow=2001:db8:1::/48`]]) {
      const r = await runCli("decode", [cap, ...keyArgs, "--no-progress", ...extra]);
      expect(r.status, r.err).toBe(0);
      if (extra[0] === "--json") {
        const lines = r.out.trimEnd().split("\n").map((l) => JSON.parse(l));
        // the keys worked: every packet decrypted
        expect(lines.map((l) => l.layers.find((x: { name: string }) => x.name === "esp" || x.name === "ikev2")?.icv)).toEqual(["ok", "ok", "ok", "ok", "ok", "ok", "ok"]);
      }
      expect(leaks(r.out + r.err), extra.join(" ")).toEqual([]);
    }
  });

  it("config --json and config of a configuration with both PSKs", async () => {
    for (const args of [[confB, "--json"], [confB]]) {
      let out = "";
      let err = "";
      expect(await configCommand(args, (s) => (out += s), (s) => (err += s)), err).toBe(0);
      expect(out.length).toBeGreaterThan(100);
      expect(leaks(out + err), args.join(" ")).toEqual([]);
    }
  });

  it("errors of bad --sa specs, esp_sa and ikev2_decryption_table lines, configurations carrying a key", async () => {
    const k20 = `0x${hex(espKey)}`;
    const k36 = `0x${hex(fileKey)}`;
    const thrown: Array<[string, () => unknown]> = [
      ["--sa: key too short for the algorithm", () => parseSaSpec(`spi=0x1001,enc=aes256gcm16,key=${k20}`, "--sa #1")],
      ["--sa: key too long", () => parseSaSpec(`spi=0x1001,enc=aes128gcm16,key=${k36}`, "--sa #1")],
      ["--sa: bad algorithm", () => parseSaSpec(`spi=0x1001,enc=aes128cbc,key=${k20}`, "--sa #1")],
      ["--sa: unknown option", () => parseSaSpec(`spi=0x1001,enc=aes128gcm16,key=${k20},color=red`, "--sa #1")],
      ["--sa: key given twice", () => parseSaSpec(`spi=0x1001,enc=aes128gcm16,key=${k20},key=${k20}`, "--sa #1")],
      ["--sa: key not hex", () => parseSaSpec(`spi=0x1001,enc=aes128gcm16,key=${k20}zz`, "--sa #1")],
      ["--sa: no spi", () => parseSaSpec(`enc=aes128gcm16,key=${k20}`, "--sa #1")],
      ["esp_sa: key too short", () => parseEspSaFile(`"IPv4","${TA}","${TB}","0x1","AES-GCM with 16 octet ICV [RFC4106]","${k36}","NULL",""\n`.replace("AES-GCM with 16", "AES-GCM with 16").replace(k36, k20.slice(0, -2)), "esp_sa")],
      ["esp_sa: bad address", () => parseEspSaFile(`"IPv4","${TA}x","${TB}","0x1","AES-GCM with 16 octet ICV [RFC4106]","${k20}","NULL",""\n`, "esp_sa")],
      ["esp_sa: bad SPI", () => parseEspSaFile(`"IPv4","${TA}","${TB}","0xzz","AES-GCM with 16 octet ICV [RFC4106]","${k20}","NULL",""\n`, "esp_sa")],
      ["esp_sa: odd number of hex digits", () => parseEspSaFile(`"IPv4","${TA}","${TB}","0x1","AES-GCM with 16 octet ICV [RFC4106]","${k20}0","NULL",""\n`, "esp_sa")],
      ["ikev2 table: wrong key length", () => parseIkev2DecryptionTable(`${hex(ikeKeys.spiI)},${hex(ikeKeys.spiR)},${hex(ikeKeys.skEi)}00,${hex(ikeKeys.skEr)},"AES-CBC-128 [RFC3602]",${hex(skAi)},${hex(skAr)},"HMAC_SHA2_256_128 [RFC4868]"\n`)],
      ["ikev2 table: unknown algorithm", () => parseIkev2DecryptionTable(`${hex(ikeKeys.spiI)},${hex(ikeKeys.spiR)},${hex(ikeKeys.skEi)},${hex(ikeKeys.skEr)},"Twofish",${hex(skAi)},${hex(skAr)},"HMAC_SHA2_256_128 [RFC4868]"\n`)],
      ["ikev2 table: too few fields", () => parseIkev2DecryptionTable(`${hex(ikeKeys.spiI)},${hex(ikeKeys.spiR)},${hex(ikeKeys.skEi)},${hex(ikeKeys.skEr)}\n`)],
      ["config: secret with a bad hex digit", () => loadConfig(`secrets { ike-1 { secret = 0x${hex(PSK)}g } }`)],
      ["config: secret in bad base64", () => loadConfig(`secrets { ike-1 { secret = 0s${Buffer.from(PSK).toString("base64")}*! } }`)],
      ["config: an eap secret (refused) with the PSK", () => loadConfig(`secrets { eap-1 { secret = "${PSK_TEXT}" } }`)],
      ["config: unknown key beside a secret", () => loadConfig(`secrets { ike-1 { secret = 0x${hex(PSK)}\n color = 0x${hex(PSK)} } }`)],
      ["config: secret outside secrets", () => loadConfig(`connections { c { secret = "${PSK_TEXT}" } }`)],
      ["config: unterminated string", () => loadConfig(`secrets { ike-1 { secret = "${PSK_TEXT}`)],
    ];
    const found: string[] = [];
    for (const [what, f] of thrown) {
      let e: unknown;
      try {
        f();
      } catch (x) {
        e = x;
      }
      expect(e, what).toBeInstanceOf(Error);
      expect((e as { code?: string }).code, what).toMatch(/^ERR_/);
      found.push(...leaks(shown(e) + (e as Error).message + String((e as Error).stack)).map((l) => `${what}: ${l}`));
    }
    // A line skipped with a warning (an algorithm we do not decrypt): the warning names no key.
    const warnings: { message: string }[] = [];
    expect(parseEspSaFile(`"IPv4","${TA}","${TB}","0x1","Blowfish","${k36}","NULL",""\n"IPv4","${TA}","${TB}","0x2","NULL","","NULL",""\n`, "esp_sa", warnings as never)).toEqual([]);
    expect(warnings.length).toBe(2);
    found.push(...leaks(shown(warnings)).map((l) => `esp_sa warnings: ${l}`));
    // The CLI's own error output for the same inputs.
    const cap = join(dir, "empty.pcap");
    writeFileSync(cap, writePcap([], 101));
    const badSa = join(dir, "bad_esp_sa");
    writeFileSync(badSa, `"IPv4","${TA}","${TB}","0x1","AES-GCM with 16 octet ICV [RFC4106]","${k36}00","NULL",""\n`);
    for (const args of [["--sa", `spi=1,enc=aes256gcm16,key=${k20}`], ["--sa", `spi=1,enc=aes128gcm16,key=${k20}q`], ["--esp-sa", badSa]]) {
      const r = await runCli("decode", [cap, ...args]);
      expect(r.status, args.join(" ")).toBe(1);
      found.push(...leaks(r.out + r.err).map((l) => `decode ${args[0]}: ${l}`));
    }
    const badConf = join(dir, "bad.conf");
    writeFileSync(badConf, `secrets { ike-1 { secret = 0x${hex(PSK)}0 } }`);
    let out = "";
    let err = "";
    expect(await configCommand([badConf, "--json"], (s) => (out += s), (s) => (err += s))).not.toBe(0);
    found.push(...leaks(out + err).map((l) => `config --json (bad file): ${l}`));
    expect(found).toEqual([]);
  });

  it("inspect, JSON and String of parsed --sa specs, esp_sa lines, ikev2 table entries and key stores", () => {
    const spec = parseSaSpec(SPEC, "--sa #1");
    const lines = parseEspSaFile(`"IPv4","${TA}","${TB}","0x5ec70002","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(fileKey)}","NULL",""\n`, "esp_sa");
    const table = parseIkev2DecryptionTable(formatIkev2DecryptionTable([ikeKeys]));
    const store = new KeyStore();
    store.addSa(spec);
    const objects: Record<string, unknown> = { "parsed --sa": spec, "parsed esp_sa": lines, "parsed ikev2 table": table, KeyStore: store };
    const found = Object.entries(objects).flatMap(([name, v]) => leaks(shown(v)).map((l) => `${name}: ${l}`));
    expect(found).toEqual([]);
  });
});
