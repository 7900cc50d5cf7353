/**
 * strongSwan's charon as an IKEv2/ESP peer for interop tests.
 *
 * ======================================================================================
 * WHAT THIS IS (checked on Debian 12, strongSwan 5.9.8-5+deb12u6, kernel without ESP/sit)
 * ======================================================================================
 * - Packages (installed by ensureCharon() via ensureDebian): strongswan-charon,
 *   strongswan-swanctl (brings the vici plugin), libcharon-extra-plugins (kernel-libipsec),
 *   libstrongswan-standard-plugins (gcm, openssl), plus iputils-ping for `ping -6`. The `kdf`
 *   plugin (needed, see below) comes with libstrongswan, a dependency.
 * - Each charon runs in its own network namespace, with its own temp dir holding
 *   strongswan.conf (STRONGSWAN_CONF), swanctl.conf (+ the empty credential dirs swanctl scans
 *   under SWANCTL_DIR), the vici socket `unix://DIR/charon.vici`, the log `DIR/charon.log` and
 *   charon's stdout/stderr `DIR/charon.out`. Charon 5.9.8 always writes /var/run/charon.pid
 *   (no option moves it), so daemons sharing /run would fight over it; each is started as
 *     ip netns exec NS unshare --mount --propagation private \
 *        sh -c 'mount --bind DIR/run /run && exec /usr/lib/ipsec/charon'
 *   The spawned pid ends up being charon itself (ip, unshare and sh all exec).
 * - The kernel has no ESP, so `charon.load` lists kernel-libipsec BEFORE kernel-netlink: ESP
 *   is done in charon's user space over a TUN device `ipsec0` in charon's namespace.
 *   kernel-libipsec: tunnel mode only, no ESN, and UDP encapsulation ALWAYS (it makes charon
 *   fake NAT detection, "remote host is behind NAT", so IKE floats to 4500 after IKE_SA_INIT
 *   and ESP is ESP-in-UDP 4500<->4500). On the wire between the IPv4 endpoints with IPv6
 *   selectors: IPv4 | UDP 4500 | ESP (next header 41) | IPv6.
 * - Plugin list used (explicit, load_modular is off): random nonce kdf openssl aes sha1 sha2
 *   hmac gcm kernel-libipsec kernel-netlink socket-default vici. Without `kdf`, 5.9.8 fails
 *   after IKE_SA_INIT with "KDF_PRF with PRF_HMAC_SHA2_256 not supported / key derivation failed".
 * - Routes: when a CHILD_SA is installed charon adds, in its namespace, routing table 220
 *   (with an `ip rule` pointing at it) `REMOTE_TS dev ipsec0 src <a local address inside
 *   LOCAL_TS>`. The src is only set if such an address exists in the namespace: put one on
 *   `lo` first (`ns.ip("addr","add","2001:db8:2::1/128","dev","lo")`). Then
 *   `ping -6 -I 2001:db8:2::1 2001:db8:1::1` in the namespace goes through ipsec0 into ESP.
 *
 * ======================================================================================
 * KEYS (from the level-4 log; Debian's build has no save-keys plugin)
 * ======================================================================================
 * The filelog logger uses ike=4, chd=4, ike_name=yes (each line is prefixed `<conn|ikeUid>`).
 * charon prints e.g.
 *     12:00:00.000 09[IKE] <c|1> Sk_ei secret => 20 bytes @ 0x7f…
 *     12:00:00.000 09[IKE] <c|1>    0: 6E A3 63 03 1D E9 DB 31 64 7F 77 16 56 4C 88 F9  n.c…
 *     12:00:00.000 09[IKE] <c|1>   16: 25 03 12 34                                      %..4
 * IKE: `Sk_d secret`, `Sk_ai secret`/`Sk_ar secret` (absent with AEAD such as AES-GCM),
 * `Sk_ei secret`, `Sk_er secret`, `Sk_pi secret`, `Sk_pr secret`. For AES-GCM SK_e* is key||salt
 * (16+4 bytes for aes128gcm16). CHILD: `encryption initiator key`, `encryption responder key`,
 * `integrity initiator key`, `integrity responder key` (integrity absent with AEAD; for GCM the
 * 20 bytes are key||4-byte salt, RFC 4106). Keys are printed right after
 * `CHILD_SA t{N} state change: CREATED => INSTALLING` on the same thread and followed by
 * `adding inbound ESP SA` / `  SPI 0x…`, `adding outbound ESP SA` / `  SPI 0x…` and
 * `CHILD_SA t{N} established with SPIs IIIIIIII_i OOOOOOOO_o and TS A === B` (a rekey
 * responder logs `inbound CHILD_SA … established` and, later, `outbound CHILD_SA …`).
 * "Initiator" means the initiator of the exchange that created that CHILD_SA (IKE_AUTH or
 * CREATE_CHILD_SA); that side logs `establishing CHILD_SA t{N}` (`… reqid R` for a rekey).
 * The initiator's outbound SA (the SPI the responder chose) uses the initiator key.
 * parseKeys()/Charon.childKeys() do all that and also give `inbound`/`outbound` {spi, encr,
 * integ} from charon's point of view — compare them with what our side derived.
 * IKE keys: each `Sk_d secret` starts a new entry, tagged with the line prefix `<conn|uid>`
 * (a responder prints `<uid>` before it has picked its config; the name is filled in from later
 * lines); map uid -> IKE SPIs with listSas() (`uniqueid`, `initiator-spi`, `responder-spi`).
 * After an IKE rekey (checked) the rekey initiator logs the new keys under the OLD IKE_SA's
 * prefix (<c|1>) and the responder under the NEW one (<c|2>): compare entries in order.
 * A CHILD rekey (checked, both directions) gives a second ChildKeys entry per side with
 * `initiator` true on the side that ran `swanctl --rekey`.
 *
 * ======================================================================================
 * PUTTING OUR OWN IKEv2 ENDPOINT OPPOSITE CHARON (the documented way)
 * ======================================================================================
 * Our code runs inside the vitest process (root namespace; Node cannot setns()). So charon
 * goes into a namespace and the vitest process gets the other end of a veth:
 *   const lab = new NetLab();
 *   const ns = lab.ns("ch");
 *   const { rootAddr, nsAddr } = await lab.rootVeth(ns);   // normally 198.51.100.1 / .2
 *   ns.ip("addr", "add", "2001:db8:2::1/128", "dev", "lo");  // charon's inner address (route src)
 *   const ch = await Charon.start({ lab, ns, swanctlConf: swanctlConf({ localAddr: nsAddr,
 *       remoteAddr: rootAddr, psk, localTs: "2001:db8:2::/64", remoteTs: "2001:db8:1::/64" }) });
 *   await ch.load();
 *   // our endpoint: dgram "udp4" sockets bound to rootAddr:500 and rootAddr:4500 in THIS process
 * rootVeth() puts `rootAddr peer nsAddr` on the root end (one /32 + one host route; IPv6 off on
 * that end so it sends no RS/DAD noise), removed by lab.cleanup(). NOT 192.0.2.1/192.0.2.2:
 * on the development machine the root namespace's own uplink is eth0 192.0.2.2/24 with default
 * gateway 192.0.2.1 — putting 192.0.2.1 on a veth hijacks the gateway and 192.0.2.2 is
 * already local (packets to it never leave via the veth). rootVeth() therefore picks the first
 * documentation pair from ROOT_PAIR_CANDIDATES (198.51.100.1/.2 first) that is neither local,
 * on-link nor a gateway in the root namespace (rootConflict()), and locks it
 * ($TMPDIR/i6t.addr-*) so parallel vitest workers take different pairs. Inside namespaces
 * (the two-charon smoke test) 192.0.2.1/.2 are fine: they never meet the root's tables.
 * Checked: nothing listens on UDP 500/4500 in the root namespace (`ss -lunp` is empty), and a
 * socket bound to rootAddr:500 receives charon's IKE_SA_INIT and reaches charon (see
 * test/charon-harness.test.ts). Binding the specific address (not 0.0.0.0) keeps parallel
 * workers apart; if a system IKE daemon ever binds 0.0.0.0:500, binding fails with EADDRINUSE.
 * Fallback if that ever fails: run our endpoint as a child in a namespace,
 * `ns.spawn(["node", "endpoint.mjs"], { stdio: "pipe" })`, and talk JSON lines over stdio.
 * What our endpoint must do to talk to this charon:
 *   - IKE_SA_INIT on 500. Charon (kernel-libipsec) always claims NAT (its NAT_DETECTION_*
 *     hashes are faked), so from IKE_AUTH on both sides use 4500 with the 4-byte non-ESP
 *     marker for IKE, and ESP-in-UDP (RFC 3948) on 4500 for ESP. If our side initiates,
 *     we must also float to 4500 once charon's NAT-D says NAT (or send NAT-D that mismatches).
 *   - tunnel mode only: TSi/TSr are the IPv6 /64s, inner packets are whole IPv6 packets (next
 *     header 41 in the ESP trailer), no USE_TRANSPORT_MODE. No ESN (propose ESN "no").
 *   - charon as responder: `ch.load()` and initiate from our side; charon as initiator:
 *     `await ch.initiate("t")` (throws with the log tail if it fails; it returns once the
 *     CHILD_SA is up or charon gives up: retransmit settings below keep that short).
 *   - make charon send traffic to our side: `await ch.ping6("2001:db8:2::1", "2001:db8:1::1")`
 *     (runs `ping -6 -I SRC DST` in charon's namespace; the route via ipsec0 is installed by
 *     charon with the CHILD_SA). Charon decrypts what we send to nsAddr:4500 and writes the
 *     inner IPv6 packet to ipsec0, so an echo request from 2001:db8:1::1 to 2001:db8:2::1 is
 *     answered by charon's namespace kernel — the answer comes back to us ESP-in-UDP.
 *   - keys: `ch.childKeys()` / `ch.ikeKeys()` after `await ch.waitForLog(/CHILD_SA \S+ established/)`.
 *   - delete: `await ch.terminate({ ike: "c" })` (charon sends INFORMATIONAL DELETE) or watch
 *     for ours with `await ch.waitForLog(/received DELETE for IKE_SA/)` and `await ch.listSas()`.
 * Options that matter (swanctl.conf via swanctlConf({ ike: {…}, childOpts: {…} }), strongswan.conf
 * via Charon.start({ charonOptions: {…} })):
 *   - UDP encapsulation: forced by kernel-libipsec anyway; connection `encap = yes` says so
 *     explicitly (the default here). `mobike = no` (default here) keeps the exchange plain.
 *   - short lifetimes for rekey tests: child `rekey_time = 5s`, `life_time = 10s`, `rand_time = 0`
 *     (or `rekey_bytes`/`rekey_packets`); IKE `rekey_time = 10s`, `over_time`, `rand_time = 0`,
 *     `reauth_time = 0`. Or trigger explicitly: `ch.rekey({ child: "t" })`, `ch.rekey({ ike: "c" })`.
 *   - DPD: IKE `dpd_delay = 2s`; child `dpd_action = clear|trap|restart`; `close_action`.
 *   - retransmission: strongswan.conf `retransmit_timeout` (default here 1.0 s), `retransmit_base`
 *     (1.4), `retransmit_tries` (3) — so a peer that never answers fails in ~7 s, not 165 s.
 *   - ports: strongswan.conf `port` / `port_nat_t` (500/4500) if a test needs others.
 *   - `charon.plugins.kernel-libipsec` has no ESN; for ESN / transport mode / raw ESP use
 *     the User-Mode-Linux route described in /work/shared/INTEROP.md.
 *
 * API summary: ensureCharon(), charonVersions(), swanctlConf(), Charon.start(), and on a Charon:
 * load(), initiate(), terminate(), rekey(), listSas(), swanctl(), ping6(), mark(), log(),
 * logTail(), waitForLog(), ikeKeys(), childKeys(), stop(). Parsers: parseViciRaw(),
 * parseListSas(), parseKeys().
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDebian } from "./apt.js";
import { NetLab, Netns, waitFor, type ExecResult } from "./netns.js";

export const CHARON = "/usr/lib/ipsec/charon";
export const SWANCTL = "/usr/sbin/swanctl";
export const CHARON_PACKAGES = ["strongswan-charon", "strongswan-swanctl", "libcharon-extra-plugins", "libstrongswan-standard-plugins"];
export const CHARON_PLUGINS = "random nonce kdf openssl aes sha1 sha2 hmac gcm kernel-libipsec kernel-netlink socket-default vici";

/**
 * Install charon, swanctl, the plugins and ping when missing. Returns a skip reason (outside
 * CI, when installing is impossible) or undefined; throws in CI (see apt.ts).
 */
export function ensureCharon(): string | undefined {
  return (
    ensureDebian(CHARON, CHARON_PACKAGES) ??
    ensureDebian(SWANCTL, ["strongswan-swanctl"]) ??
    ensureDebian("/usr/lib/ipsec/plugins/libstrongswan-gcm.so", ["libstrongswan-standard-plugins"]) ??
    ensureDebian("/usr/lib/ipsec/plugins/libstrongswan-kernel-libipsec.so", ["libcharon-extra-plugins"]) ??
    ensureDebian("/usr/bin/ping", ["iputils-ping"])
  );
}

/** `charon --version`, `swanctl --version` and the Debian package version. */
export function charonVersions(): { charon: string; swanctl: string; deb: string } {
  const out = (argv: string[]) => {
    const r = spawnSync(argv[0], argv.slice(1), { encoding: "utf8" });
    return ((r.stdout ?? "") + (r.stderr ?? "")).trim();
  };
  return {
    charon: out([CHARON, "--version"]).split("\n").pop() ?? "",
    swanctl: out([SWANCTL, "--version"]).split("\n").find((l) => /swanctl/.test(l)) ?? "",
    deb: out(["dpkg-query", "-W", "-f", "${Version}", "strongswan-charon"]),
  };
}

// ---- swanctl.conf ----

export interface SwanctlConnSpec {
  /** connection name (default "c") and child name (default "t") */
  name?: string;
  child?: string;
  localAddr: string;
  remoteAddr: string;
  /** identities; default: the addresses (IPv4-address IDs) */
  localId?: string;
  remoteId?: string;
  psk: string;
  localTs: string;
  remoteTs: string;
  /** default aes128gcm16-prfsha256-ecp256 / aes128gcm16 */
  proposals?: string;
  espProposals?: string;
  /** extra connection / child keys, e.g. { rekey_time: "10s" }, { rekey_time: "5s", rand_time: 0 } */
  ike?: Record<string, string | number>;
  childOpts?: Record<string, string | number>;
}

/** A swanctl.conf with one PSK connection and one tunnel-mode child (+ its secret). */
export function swanctlConf(s: SwanctlConnSpec): string {
  const name = s.name ?? "c";
  const child = s.child ?? "t";
  const localId = s.localId ?? s.localAddr;
  const remoteId = s.remoteId ?? s.remoteAddr;
  const kv = (o: Record<string, string | number>, ind: string) =>
    Object.entries(o)
      .map(([k, v]) => `${ind}${k} = ${v}\n`)
      .join("");
  const ike = { version: 2, local_addrs: s.localAddr, remote_addrs: s.remoteAddr, proposals: s.proposals ?? "aes128gcm16-prfsha256-ecp256", mobike: "no", encap: "yes", ...s.ike };
  const ch = { mode: "tunnel", local_ts: s.localTs, remote_ts: s.remoteTs, esp_proposals: s.espProposals ?? "aes128gcm16", ...s.childOpts };
  return `connections {
  ${name} {
${kv(ike, "    ")}    local {
      auth = psk
      id = ${localId}
    }
    remote {
      auth = psk
      id = ${remoteId}
    }
    children {
      ${child} {
${kv(ch, "        ")}      }
    }
  }
}
secrets {
  ike-${name} {
    id-local = ${localId}
    id-remote = ${remoteId}
    secret = 0x${Buffer.from(s.psk, "utf8").toString("hex")}
  }
}
`;
}

// ---- vici raw output ----

export type ViciValue = string | string[] | ViciSection;
export interface ViciSection {
  [key: string]: ViciValue;
}

/**
 * Parse one message of `swanctl --raw` output, e.g.
 * `list-sa event {c {uniqueid=1 child-sas {t-1 {local-ts=[2001:db8:1::/64]}}}}`.
 * Returns { type: "list-sa event", body }. Values run to the next ` key=`, ` name {` or `}`.
 */
export function parseViciRaw(line: string): { type: string; body: ViciSection } {
  const open = line.indexOf("{");
  if (open < 0) throw new Error(`not a vici raw message: ${line}`);
  const type = line.slice(0, open).trim();
  let i = open + 1;
  const name = /^([^\s={}[\]]+)/;
  const parseSection = (): ViciSection => {
    const sec: ViciSection = {};
    for (;;) {
      while (line[i] === " ") i++;
      if (i >= line.length) throw new Error(`unterminated vici section in: ${line}`);
      if (line[i] === "}") {
        i++;
        return sec;
      }
      const m = name.exec(line.slice(i));
      if (!m) throw new Error(`bad vici token at ${i} in: ${line}`);
      const key = m[1];
      i += key.length;
      if (line.startsWith(" {", i)) {
        i += 2;
        sec[key] = parseSection();
      } else if (line.startsWith("=[", i)) {
        i += 2;
        const end = line.indexOf("]", i);
        sec[key] = line.slice(i, end).split(" ").filter(Boolean);
        i = end + 1;
      } else if (line[i] === "=") {
        i++;
        let j = i;
        for (; j < line.length; j++) {
          if (line[j] === "}") break;
          if (line[j] === " " && /^ [^\s={}[\]]+(=| \{)/.test(line.slice(j))) break;
        }
        sec[key] = line.slice(i, j);
        i = j;
      } else throw new Error(`bad vici token after ${key} in: ${line}`);
    }
  };
  return { type, body: parseSection() };
}

export interface ChildSa {
  name: string;
  uniqueid: number;
  reqid: number;
  state: string;
  mode: string;
  protocol: string;
  encap: boolean;
  spiIn: string;
  spiOut: string;
  encrAlg: string;
  encrKeysize?: number;
  integAlg?: string;
  /** The DH group of the CREATE_CHILD_SA that made it (PFS), e.g. "ECP_256". */
  dhGroup?: string;
  bytesIn: number;
  packetsIn: number;
  bytesOut: number;
  packetsOut: number;
  localTs: string[];
  remoteTs: string[];
  raw: ViciSection;
}

export interface IkeSa {
  name: string;
  uniqueid: number;
  version: number;
  state: string;
  localHost: string;
  localPort: number;
  localId: string;
  remoteHost: string;
  remotePort: number;
  remoteId: string;
  initiator: boolean;
  initiatorSpi: string;
  responderSpi: string;
  natRemote: boolean;
  encrAlg: string;
  prfAlg?: string;
  dhGroup?: string;
  children: ChildSa[];
  raw: ViciSection;
}

/** Parse the whole output of `swanctl --list-sas --raw` (one `list-sa event` per IKE_SA). */
export function parseListSas(out: string): IkeSa[] {
  const res: IkeSa[] = [];
  for (const line of out.split("\n")) {
    if (!line.startsWith("list-sa event")) continue;
    const { body } = parseViciRaw(line);
    for (const [name, v] of Object.entries(body)) {
      const s = v as ViciSection;
      const str = (k: string, o: ViciSection = s) => (typeof o[k] === "string" ? (o[k] as string) : "");
      const num = (k: string, o: ViciSection = s) => Number(str(k, o) || NaN);
      const children: ChildSa[] = [];
      for (const cv of Object.values((s["child-sas"] as ViciSection) ?? {})) {
        const c = cv as ViciSection;
        children.push({
          name: str("name", c),
          uniqueid: num("uniqueid", c),
          reqid: num("reqid", c),
          state: str("state", c),
          mode: str("mode", c),
          protocol: str("protocol", c),
          encap: str("encap", c) === "yes",
          spiIn: str("spi-in", c),
          spiOut: str("spi-out", c),
          encrAlg: str("encr-alg", c),
          encrKeysize: c["encr-keysize"] ? num("encr-keysize", c) : undefined,
          integAlg: c["integ-alg"] ? str("integ-alg", c) : undefined,
          dhGroup: c["dh-group"] ? str("dh-group", c) : undefined,
          bytesIn: num("bytes-in", c),
          packetsIn: num("packets-in", c),
          bytesOut: num("bytes-out", c),
          packetsOut: num("packets-out", c),
          localTs: (c["local-ts"] as string[]) ?? [],
          remoteTs: (c["remote-ts"] as string[]) ?? [],
          raw: c,
        });
      }
      res.push({
        name,
        uniqueid: num("uniqueid"),
        version: num("version"),
        state: str("state"),
        localHost: str("local-host"),
        localPort: num("local-port"),
        localId: str("local-id"),
        remoteHost: str("remote-host"),
        remotePort: num("remote-port"),
        remoteId: str("remote-id"),
        initiator: str("initiator") === "yes",
        initiatorSpi: str("initiator-spi"),
        responderSpi: str("responder-spi"),
        natRemote: str("nat-remote") === "yes",
        encrAlg: str("encr-alg"),
        prfAlg: s["prf-alg"] ? str("prf-alg") : undefined,
        dhGroup: s["dh-group"] ? str("dh-group") : undefined,
        children,
        raw: s,
      });
    }
  }
  return res;
}

// ---- keys from the level-4 log ----

/** IKE_SA keys (lowercase hex), as derived under the log prefix `<ikeName|ikeUniqueId>`. */
export interface IkeKeys {
  ikeName: string;
  ikeUniqueId: number;
  SK_d?: string;
  SK_ai?: string;
  SK_ar?: string;
  SK_ei?: string;
  SK_er?: string;
  SK_pi?: string;
  SK_pr?: string;
}

export interface ChildKeys {
  ikeName: string;
  ikeUniqueId: number;
  name: string;
  uniqueId: number;
  /** charon initiated the exchange that created this CHILD_SA */
  initiator: boolean;
  /** SPIs as charon lists them (8 hex digits): inbound = chosen by charon */
  spiIn: string;
  spiOut: string;
  localTs: string;
  remoteTs: string;
  encrI?: string;
  encrR?: string;
  integI?: string;
  integR?: string;
  /** from charon's point of view: the keys of the SA it receives / sends on */
  inbound: { spi: string; encr?: string; integ?: string };
  outbound: { spi: string; encr?: string; integ?: string };
}

// "12:00:00.000 09[IKE] <c|1> msg"; before a responder has picked its config: "<1> msg"
const LINE = /^\S+ (\d+)\[(\w+)\] (?:<(?:([^|>]*)\|)?(\d+)> )?(.*)$/;
const KEY_HEADER = /^(Sk_d|Sk_ai|Sk_ar|Sk_ei|Sk_er|Sk_pi|Sk_pr) secret => (\d+) bytes|^(encryption|integrity) (initiator|responder) key => (\d+) bytes/;

/** Extract every IKE and CHILD key set from a charon log written with ike=4, chd=4, ike_name=yes. */
export function parseKeys(log: string): { ike: IkeKeys[]; child: ChildKeys[] } {
  const lines = log.split("\n");
  const ike: IkeKeys[] = [];
  const child: ChildKeys[] = [];
  const establishing = new Set<string>(); // "name{uid}"
  for (const l of lines) {
    const m = /establishing CHILD_SA (\S+\{\d+\})/.exec(l);
    if (m) establishing.add(m[1]);
  }
  interface Pending {
    ikeName: string;
    ikeUid: number;
    name: string;
    uid: number;
    keys: Record<string, string>;
    spiInbound?: string;
    spiOutbound?: string;
    done: boolean;
  }
  const byThread = new Map<string, Pending>();
  const byChild = new Map<string, Pending>();
  const ikeByThread = new Map<string, IkeKeys>();
  for (let n = 0; n < lines.length; n++) {
    const m = LINE.exec(lines[n]);
    if (!m) continue;
    const [, thread, , ikeName = "", ikeUidS = "0", msg] = m;
    const ikeUid = Number(ikeUidS);
    const k = KEY_HEADER.exec(msg);
    if (k) {
      const len = Number(k[2] ?? k[5]);
      const bytes: string[] = [];
      for (let j = n + 1; bytes.length < len && j < lines.length; j++) {
        const d = LINE.exec(lines[j]);
        if (!d || d[1] !== thread) continue; // another thread's line interleaved
        const dump = /^\s*(\d+): ((?:[0-9A-F]{2} )*[0-9A-F]{2})/.exec(d[5]);
        if (!dump) break;
        bytes.push(...dump[2].split(" ").slice(0, Math.min(16, len - bytes.length)));
      }
      const hex = bytes.join("").toLowerCase();
      if (k[1]) {
        const field = ("SK_" + k[1].slice(3)) as keyof IkeKeys;
        let cur = ikeByThread.get(thread);
        if (k[1] === "Sk_d" || !cur) {
          cur = { ikeName, ikeUniqueId: ikeUid };
          ike.push(cur);
          ikeByThread.set(thread, cur);
        }
        (cur as unknown as Record<string, string>)[field] = hex;
      } else {
        const p = byThread.get(thread);
        if (p) p.keys[`${k[3]}${k[4]}`] = hex;
      }
      continue;
    }
    let c = /^CHILD_SA (\S+)\{(\d+)\} state change: \w+ => INSTALLING/.exec(msg);
    if (c) {
      const p: Pending = { ikeName, ikeUid, name: c[1], uid: Number(c[2]), keys: {}, done: false };
      byThread.set(thread, p);
      byChild.set(`${c[1]}{${c[2]}}`, p);
      continue;
    }
    c = /^(?:(inbound|outbound) )?CHILD_SA (\S+)\{(\d+)\} established with SPIs (\w+)_i (\w+)_o and TS (.*) === (.*)$/.exec(msg);
    if (c) {
      const key = `${c[2]}{${c[3]}}`;
      const p = byChild.get(key);
      if (!p || p.done) continue;
      p.done = true;
      const initiator = establishing.has(key);
      const encrI = p.keys["encryptioninitiator"];
      const encrR = p.keys["encryptionresponder"];
      const integI = p.keys["integrityinitiator"];
      const integR = p.keys["integrityresponder"];
      child.push({
        ikeName: p.ikeName,
        ikeUniqueId: p.ikeUid,
        name: p.name,
        uniqueId: p.uid,
        initiator,
        spiIn: c[4],
        spiOut: c[5],
        localTs: c[6].trim(),
        remoteTs: c[7].trim(),
        encrI,
        encrR,
        integI,
        integR,
        inbound: { spi: c[4], encr: initiator ? encrR : encrI, integ: initiator ? integR : integI },
        outbound: { spi: c[5], encr: initiator ? encrI : encrR, integ: initiator ? integI : integR },
      });
      continue;
    }
  }
  // A responder derives its IKE keys before it has picked a config ("<1>"): fill in the name.
  const names = new Map<number, string>();
  for (const l of lines) {
    const m = LINE.exec(l);
    if (m?.[3] && !names.has(Number(m[4]))) names.set(Number(m[4]), m[3]);
  }
  for (const k of [...ike, ...child]) if (!k.ikeName) k.ikeName = names.get(k.ikeUniqueId) ?? "";
  return { ike, child };
}

// ---- the daemon ----

export interface CharonStartOptions {
  lab: NetLab;
  ns: Netns;
  /** contents of swanctl.conf (see swanctlConf()) */
  swanctlConf: string;
  /** extra `charon { … }` settings of strongswan.conf, e.g. { retransmit_tries: 5, port_nat_t: 4501 } */
  charonOptions?: Record<string, string | number>;
  /** filelog levels; default { default: 1, ike: 4, chd: 4 } */
  logLevels?: Record<string, number>;
  /** how long to wait for the vici socket; default 10 s */
  startTimeoutMs?: number;
}

export class Charon {
  readonly uri: string;
  readonly logPath: string;
  readonly outPath: string;
  private exited: { code: number | null; signal: string | null } | undefined;

  private constructor(
    readonly lab: NetLab,
    readonly ns: Netns,
    readonly dir: string,
    readonly proc: ChildProcess,
  ) {
    this.uri = `unix://${join(dir, "charon.vici")}`;
    this.logPath = join(dir, "charon.log");
    this.outPath = join(dir, "charon.out");
    proc.on("exit", (code, signal) => (this.exited = { code, signal }));
  }

  /** Write the configs into a new temp dir, start charon in `ns`, wait for its vici socket. */
  static async start(o: CharonStartOptions): Promise<Charon> {
    const dir = o.lab.tempDir(`charon-${o.ns.name.split("-").pop()}`);
    for (const d of ["run", ...SWANCTL_DIRS]) mkdirSync(join(dir, d));
    const levels = { default: 1, ike: 4, chd: 4, ...o.logLevels };
    const charonOpts = {
      load: CHARON_PLUGINS,
      install_virtual_ip: "no",
      send_vendor_id: "no",
      retransmit_timeout: "1.0",
      retransmit_base: "1.4",
      retransmit_tries: 3,
      ...o.charonOptions,
    };
    const conf = strongswanConf({ charon: charonOpts, levels, logPath: join(dir, "charon.log"), viciSocket: join(dir, "charon.vici") });
    writeFileSync(join(dir, "strongswan.conf"), conf);
    writeFileSync(join(dir, "swanctl.conf"), o.swanctlConf);
    const out = openSync(join(dir, "charon.out"), "w");
    const proc = spawn(
      "ip",
      ["netns", "exec", o.ns.name, "unshare", "--mount", "--propagation", "private", "sh", "-c", `mount --bind '${join(dir, "run")}' /run && exec ${CHARON}`],
      { env: { ...process.env, STRONGSWAN_CONF: join(dir, "strongswan.conf") }, stdio: ["ignore", out, out] },
    );
    closeSync(out);
    o.lab.track(proc);
    const ch = new Charon(o.lab, o.ns, dir, proc);
    try {
      await waitFor(
        async () => {
          if (ch.exited) throw new Error(`charon exited early (${JSON.stringify(ch.exited)})\n${ch.logTail()}`);
          if (!existsSync(join(dir, "charon.vici"))) return false;
          return (await ch.swanctlRaw(["--stats"], 5_000)).status === 0;
        },
        o.startTimeoutMs ?? 10_000,
        () => `charon's vici socket in ${o.ns.name}\n${ch.logTail()}`,
        100,
      );
    } catch (e) {
      await ch.stop();
      throw e;
    }
    return ch;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get running(): boolean {
    return !this.exited;
  }

  private swanctlRaw(args: string[], timeoutMs = 20_000): Promise<ExecResult> {
    return new Promise((resolve) => {
      const child = spawn(SWANCTL, [...args, "--uri", this.uri], {
        env: { ...process.env, STRONGSWAN_CONF: join(this.dir, "strongswan.conf"), SWANCTL_DIR: this.dir },
        stdio: ["ignore", "pipe", "pipe"],
      });
      const untrack = this.lab.track(child);
      let stdout = "";
      let stderr = "";
      child.stdout!.on("data", (d) => (stdout += d));
      child.stderr!.on("data", (d) => (stderr += d));
      const t = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      child.on("close", (status, signal) => {
        clearTimeout(t);
        untrack();
        resolve({ status, stdout, stderr: stderr + (signal ? `\n(swanctl killed by ${signal} after ${timeoutMs} ms)` : "") });
      });
      child.on("error", (e) => {
        clearTimeout(t);
        untrack();
        resolve({ status: -1, stdout, stderr: String(e) });
      });
    });
  }

  /** Run `swanctl ARGS --uri <this charon>`; throws (with charon's log tail) on failure; returns stdout. */
  async swanctl(args: string[], timeoutMs = 20_000): Promise<string> {
    const r = await this.swanctlRaw(args, timeoutMs);
    if (r.status !== 0) {
      throw new Error(`swanctl ${args.join(" ")} failed (${r.status}) in ${this.ns.name}:\n${(r.stdout + r.stderr).trim().split("\n").slice(-15).join("\n")}\n${this.logTail()}`);
    }
    return r.stdout;
  }

  /** Load connections and secrets from DIR/swanctl.conf (`swanctl --load-all`). */
  async load(): Promise<string> {
    return this.swanctl(["--load-all", "--noprompt", "--file", join(this.dir, "swanctl.conf")]);
  }

  /** Replace swanctl.conf and reload it. */
  async reload(swanctlConf: string): Promise<string> {
    writeFileSync(join(this.dir, "swanctl.conf"), swanctlConf);
    return this.load();
  }

  /** Initiate CHILD_SA `child` (and its IKE_SA); resolves when established, throws with the log tail otherwise. */
  async initiate(child = "t", opts: { ike?: string; timeoutS?: number } = {}): Promise<string> {
    const t = opts.timeoutS ?? 20;
    return this.swanctl(["--initiate", "--child", child, ...(opts.ike ? ["--ike", opts.ike] : []), "--timeout", String(t)], (t + 5) * 1000);
  }

  /** Terminate an IKE_SA or CHILD_SA by name or unique id; resolves once charon reports it done. */
  async terminate(sel: { ike?: string; child?: string; ikeId?: number; childId?: number; force?: boolean; timeoutS?: number }): Promise<string> {
    const t = sel.timeoutS ?? 10;
    const args = ["--terminate"];
    if (sel.ike) args.push("--ike", sel.ike);
    if (sel.child) args.push("--child", sel.child);
    if (sel.ikeId !== undefined) args.push("--ike-id", String(sel.ikeId));
    if (sel.childId !== undefined) args.push("--child-id", String(sel.childId));
    if (sel.force) args.push("--force");
    args.push("--timeout", String(t));
    return this.swanctl(args, (t + 5) * 1000);
  }

  /** Start a rekey (returns when charon has queued it; watch the log for its completion). */
  async rekey(sel: { ike?: string; child?: string; ikeId?: number; childId?: number; reauth?: boolean }): Promise<string> {
    const args = ["--rekey"];
    if (sel.ike) args.push("--ike", sel.ike);
    if (sel.child) args.push("--child", sel.child);
    if (sel.ikeId !== undefined) args.push("--ike-id", String(sel.ikeId));
    if (sel.childId !== undefined) args.push("--child-id", String(sel.childId));
    if (sel.reauth) args.push("--reauth");
    return this.swanctl(args);
  }

  /** `swanctl --list-sas --raw`, parsed. */
  async listSas(): Promise<IkeSa[]> {
    return parseListSas(await this.swanctl(["--list-sas", "--raw", "--noblock"]));
  }

  /** `ping -6` from `src` to `dst` inside charon's namespace; resolves to ping's result (never rejects). */
  async ping6(src: string, dst: string, opts: { count?: number; waitS?: number } = {}): Promise<ExecResult & { received: number }> {
    const count = opts.count ?? 3;
    const r = await this.ns.execAsync(["ping", "-6", "-n", "-c", String(count), "-i", "0.2", "-W", String(opts.waitS ?? 2), "-I", src, dst], {
      timeout: (count * 0.2 + (opts.waitS ?? 2) + 5) * 1000,
    });
    const m = /(\d+) (?:packets )?received/.exec(r.stdout);
    return { ...r, received: m ? Number(m[1]) : 0 };
  }

  /** The whole log so far. */
  log(): string {
    try {
      return readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  /** Current length of the log: pass to waitForLog({ from }) to wait only for newer lines. */
  mark(): number {
    return this.log().length;
  }

  /**
   * The last `n` lines of the log (and of charon's stdout/stderr if any), for error messages.
   * Hex dump lines of the level-4 output are left out unless `dumps` is set.
   */
  logTail(n = 40, dumps = false): string {
    const lines = this.log()
      .split("\n")
      .filter((l) => dumps || !/^\S+ \d+\[\w+\] (?:<[^>]*> )?\s+\d+: [0-9A-F]{2} /.test(l));
    let out = "";
    try {
      out = readFileSync(this.outPath, "utf8").trim();
    } catch {
      /* none */
    }
    return `--- tail of ${this.logPath} (${this.ns.name}) ---\n${lines.slice(-n).join("\n")}${out ? `\n--- charon stdout/stderr ---\n${out.split("\n").slice(-10).join("\n")}` : ""}`;
  }

  /** Wait until a log line (after offset `from`) matches; resolves to the match. Error includes the log tail. */
  async waitForLog(pattern: RegExp | string, opts: { timeoutMs?: number; from?: number } = {}): Promise<RegExpMatchArray> {
    const re = typeof pattern === "string" ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")) : pattern;
    const timeoutMs = opts.timeoutMs ?? 15_000;
    return waitFor(
      () => {
        const text = this.log().slice(opts.from ?? 0);
        for (const line of text.split("\n")) {
          const m = re.exec(line);
          if (m) return m;
        }
        if (this.exited) throw new Error(`charon in ${this.ns.name} exited while waiting for ${re}\n${this.logTail()}`);
        return null;
      },
      timeoutMs,
      () => `${re} in ${this.logPath}\n${this.logTail()}`,
      50,
    );
  }

  /** IKE keys found in the log so far. */
  ikeKeys(): IkeKeys[] {
    return parseKeys(this.log()).ike;
  }

  /** CHILD_SA keys found in the log so far. */
  childKeys(): ChildKeys[] {
    return parseKeys(this.log()).child;
  }

  /** SIGTERM (charon sends DELETEs for its SAs), SIGKILL after `graceMs`; idempotent. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.exited || this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const gone = new Promise<void>((r) => this.proc.once("exit", () => r()));
    this.proc.kill("SIGTERM");
    const t = setTimeout(() => this.proc.kill("SIGKILL"), graceMs);
    await gone;
    clearTimeout(t);
  }
}

/** The directories swanctl --load-all expects beside its swanctl.conf. */
export const SWANCTL_DIRS = ["x509", "x509ca", "x509ocsp", "x509aa", "x509ac", "x509crl", "pubkey", "private", "rsa", "ecdsa", "bliss", "pkcs8", "pkcs12", "conf.d"] as const;

/** A strongswan.conf: `charon` settings, a file log at `levels`, the vici socket, swanctl's plugins. */
export function strongswanConf(o: { charon: Record<string, string | number>; levels: Record<string, number>; logPath: string; viciSocket: string }): string {
  return `charon {
${Object.entries(o.charon)
  .map(([k, v]) => `  ${k} = ${v}\n`)
  .join("")}  filelog {
    main {
      path = ${o.logPath}
      time_format = %T
      time_add_ms = yes
      ike_name = yes
      flush_line = yes
      append = no
${Object.entries(o.levels)
  .map(([k, v]) => `      ${k} = ${v}\n`)
  .join("")}    }
  }
  syslog {
  }
  plugins {
    vici {
      socket = unix://${o.viciSocket}
    }
  }
}
swanctl {
  load = pem pkcs1 x509 openssl
}
`;
}
