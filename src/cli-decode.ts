/**
 * The `decode` and `encap` commands of the ipsec6in4 CLI (wired into src/cli.ts):
 *
 *   ipsec6in4 decode <capture> [--esp-sa FILE]… [--ikev2-keys FILE]… [--sa SPEC]…
 *                    [--tunnel local=A,remote=B,allow=PREFIX[,allow=PREFIX…][,policy=bypass][,replay=N]]
 *                    [--json [--offsets]] [--no-progress]
 *   ipsec6in4 encap --sa SPEC --tunnel local=A,remote=B[,mtu=N] [--udp] <in.pcap> <out.pcap>
 *
 * Errors are named (ERR_USAGE → exit status 2; ERR_FILE, ERR_KEYS, ERR_CAPTURE → 1), never
 * a stack trace.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { IpsecError } from "./errors.js";
import { createDecoder, type TunnelSpec } from "./decode/decoder.js";
import { encapCapture } from "./decode/encap.js";
import { DecodeError } from "./decode/errors.js";
import { ikeCodec } from "./decode/ikev2.js";
import { KeyStore, parseEspSaFile, parseSaSpec, type KeyWarning } from "./decode/keys.js";
import { packetJson, summarize } from "./decode/summary.js";

export const DECODE_USAGE = `usage: ipsec6in4 decode <capture.pcap|pcapng> [options]

  --esp-sa FILE        Wireshark esp_sa file (ESP SAs); repeatable
  --ikev2-keys FILE    Wireshark ikev2_decryption_table file; repeatable
  --sa SPEC            spi=0x00001001,enc=aes128gcm16,key=0x<key‖salt>[,esn=<high 32 bits>]
                       [,src=A][,dst=B]; repeatable; wins over key files
  --tunnel SPEC        local=A,remote=B,allow=PREFIX[,allow=PREFIX…][,policy=bypass][,replay=N]:
                       judge each packet as this endpoint's inbound pipeline would
  --json               one JSON object per packet per line (JSON Lines)
  --offsets            with --json: each layer's [source, offset, length]
  --no-progress        no progress bar on stderr
`;

export const ENCAP_USAGE = `usage: ipsec6in4 encap --sa SPEC --tunnel local=A,remote=B[,mtu=N] [--udp] <in.pcap> <out.pcap>

  IPv6 packets in; out: the IPv4 packets (ESP, or ESP in UDP 4500 with --udp) an RFC 4891
  endpoint sends for them. SPEC as for decode, plus seq=<first sequence number>.
`;

type Out = (s: string) => void;

function usage(msg: string): never {
  throw new DecodeError("ERR_USAGE", msg);
}

function fileError(what: string, path: string, e: unknown): never {
  const code = (e as { code?: string })?.code;
  const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : code === "EISDIR" ? "is a directory" : String((e as Error)?.message ?? e);
  throw new IpsecError("ERR_FILE" as never, `cannot read ${what} '${path}': ${why}`);
}

function readBytes(what: string, path: string): Uint8Array {
  try {
    const b = readFileSync(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    fileError(what, path, e);
  }
}

function readText(what: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    fileError(what, path, e);
  }
}

interface Parsed {
  positional: string[];
  opts: Map<string, string[]>;
  flags: Set<string>;
}

function parseArgs(args: string[], withValue: string[], flags: string[]): Parsed {
  const p: Parsed = { positional: [], opts: new Map(), flags: new Set() };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      p.positional.push(...args.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      p.positional.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (withValue.includes(name)) {
      const v = eq > 0 ? a.slice(eq + 1) : args[++i];
      if (v === undefined) usage(`${name} needs a value`);
      p.opts.set(name, [...(p.opts.get(name) ?? []), v]);
    } else if (flags.includes(name) && eq < 0) {
      p.flags.add(name);
    } else {
      usage(`unknown option '${a}'`);
    }
  }
  return p;
}

function parseTunnel(spec: string, allowKeys: string[]): { kv: Map<string, string>; allow: string[] } {
  const kv = new Map<string, string>();
  const allow: string[] = [];
  for (const part of spec.split(",")) {
    const t = part.trim();
    if (!t) continue;
    const eq = t.indexOf("=");
    if (eq <= 0) usage(`--tunnel: '${t}' is not key=value`);
    const k = t.slice(0, eq);
    const v = t.slice(eq + 1);
    if (!allowKeys.includes(k)) usage(`--tunnel: unknown key '${k}' (have ${allowKeys.join(", ")})`);
    if (k === "allow") allow.push(v);
    else if (kv.has(k)) usage(`--tunnel: ${k} given twice`);
    else kv.set(k, v);
  }
  for (const k of ["local", "remote"]) if (!kv.has(k)) usage(`--tunnel: missing ${k}=`);
  return { kv, allow };
}

function intOpt(what: string, v: string | undefined, lo: number, hi: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < lo || n > hi) usage(`${what} must be an integer from ${lo} to ${hi}, not '${v}'`);
  return n;
}

function report(e: unknown, err: Out, cmd: string, usageText: string): number {
  if (e instanceof IpsecError) {
    err(`ipsec6in4 ${cmd}: ${e.code}: ${e.message}\n`);
    if (e.code === ("ERR_USAGE" as never)) {
      err(usageText);
      return 2;
    }
    return 1;
  }
  throw e;
}

export interface CommandOptions {
  /** Show a progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
}

/** `ipsec6in4 decode …`: returns the exit status. */
export async function decodeCommand(args: string[], out: Out, err: Out, options: CommandOptions = {}): Promise<number> {
  try {
    const p = parseArgs(args, ["--esp-sa", "--ikev2-keys", "--sa", "--tunnel"], ["--json", "--offsets", "--no-progress", "--help", "-h"]);
    if (p.flags.has("--help") || p.flags.has("-h")) {
      out(DECODE_USAGE);
      return 0;
    }
    if (p.positional.length !== 1) usage(p.positional.length ? `one capture file, not ${p.positional.length}` : "which capture file?");
    if (p.flags.has("--offsets") && !p.flags.has("--json")) usage("--offsets goes with --json");
    const keys = new KeyStore();
    const warnings: KeyWarning[] = [];
    (p.opts.get("--sa") ?? []).forEach((s, i) => keys.addSa(parseSaSpec(s, `--sa #${i + 1}`)));
    for (const f of p.opts.get("--esp-sa") ?? []) keys.addFile(parseEspSaFile(readText("esp_sa file", f), f, warnings));
    let ikeKeys: unknown[] | undefined;
    for (const f of p.opts.get("--ikev2-keys") ?? []) {
      const codec = ikeCodec();
      if (!codec) throw new IpsecError("ERR_KEYS" as never, "--ikev2-keys: the IKEv2 codec (src/ike) is not wired into this build yet");
      const text = readText("ikev2_decryption_table", f);
      try {
        (ikeKeys ??= []).push(...codec.parseIkev2DecryptionTable(text));
      } catch (e) {
        throw new IpsecError("ERR_KEYS" as never, `${f}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    let tunnel: TunnelSpec | undefined;
    const ts = p.opts.get("--tunnel");
    if (ts) {
      if (ts.length > 1) usage("--tunnel given twice");
      const { kv, allow } = parseTunnel(ts[0], ["local", "remote", "allow", "policy", "replay"]);
      const policy = kv.get("policy");
      if (policy !== undefined && policy !== "protect" && policy !== "bypass") usage(`--tunnel: policy must be protect or bypass, not '${policy}'`);
      if (allow.length === 0) err("ipsec6in4 decode: note: --tunnel without allow= accepts no inner source (every ESP packet fails ingress filtering)\n");
      tunnel = { local: kv.get("local")!, remote: kv.get("remote")!, allow, policy: policy as TunnelSpec["policy"], replayWindow: intOpt("--tunnel replay", kv.get("replay"), 0, 65536) };
    }
    for (const w of warnings) err(`ipsec6in4 decode: warning: ${w.origin}: ${w.message}\n`);
    const file = readBytes("capture", p.positional[0]);
    const decoder = await createDecoder({ keys, ikeKeys, tunnel });
    const json = p.flags.has("--json");
    const offsets = p.flags.has("--offsets");
    const progress = !p.flags.has("--no-progress") && (options.progress ?? (process.stderr.isTTY === true));
    let t0: number | undefined;
    let lines: string[] = [];
    let count = 0;
    let lastBar = 0;
    let barShown = false;
    try {
      for (const pkt of decoder.decodeCapture(file)) {
        t0 ??= pkt.time;
        lines.push(json ? JSON.stringify(packetJson(pkt, { offsets })) : summarize(pkt, t0, !!tunnel || pkt.verdict !== "ok"));
        if (++count % 512 === 0) {
          out(lines.join("\n") + "\n");
          lines = [];
          if (progress && count >= 5000) {
            const now = Date.now();
            if (now - lastBar > 100) {
              lastBar = now;
              barShown = true;
              const frac = Math.min(1, (pkt.sources[0].byteOffset - file.byteOffset) / Math.max(1, file.byteLength));
              const w = 30;
              const fill = Math.round(frac * w);
              err(`\r[${"#".repeat(fill)}${".".repeat(w - fill)}] ${(frac * 100).toFixed(0).padStart(3)}% ${count} packets`);
            }
          }
        }
      }
    } finally {
      if (barShown) err("\r\x1b[K");
      if (lines.length) out(lines.join("\n") + "\n");
      decoder.destroy();
    }
    return 0;
  } catch (e) {
    return report(e, err, "decode", DECODE_USAGE);
  }
}

/** `ipsec6in4 encap …`: returns the exit status. */
export async function encapCommand(args: string[], out: Out, err: Out): Promise<number> {
  try {
    const p = parseArgs(args, ["--sa", "--tunnel"], ["--udp", "--help", "-h"]);
    if (p.flags.has("--help") || p.flags.has("-h")) {
      out(ENCAP_USAGE);
      return 0;
    }
    if (p.positional.length !== 2) usage("encap takes an input and an output capture file");
    const sa = p.opts.get("--sa");
    if (!sa || sa.length !== 1) usage("encap needs exactly one --sa");
    const ts = p.opts.get("--tunnel");
    if (!ts || ts.length !== 1) usage("encap needs one --tunnel local=A,remote=B");
    const { kv } = parseTunnel(ts[0], ["local", "remote", "mtu"]);
    const input = readBytes("capture", p.positional[0]);
    const r = await encapCapture(input, {
      sa: sa[0],
      tunnel: { local: kv.get("local")!, remote: kv.get("remote")!, mtu: intOpt("--tunnel mtu", kv.get("mtu"), 1280, 65515) },
      udp: p.flags.has("--udp"),
    });
    try {
      writeFileSync(p.positional[1], r.pcap);
    } catch (e) {
      throw new IpsecError("ERR_FILE" as never, `cannot write '${p.positional[1]}': ${(e as Error).message}`);
    }
    for (const s of r.skipped) err(`ipsec6in4 encap: frame ${s.frame} not sent: ${s.reason}\n`);
    out(`${r.sent} packets written to ${p.positional[1]}\n`);
    return 0;
  } catch (e) {
    return report(e, err, "encap", ENCAP_USAGE);
  }
}
