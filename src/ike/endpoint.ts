/**
 * An IKEv2 endpoint (RFC 7296): the exchanges that key every SA of the dataplane.
 *
 *   IKE_SA_INIT      SA, KE, Ni/Nr, NAT_DETECTION_*; INVALID_KE_PAYLOAD retry; COOKIE (§2.6);
 *                    half-open responder IKE_SAs expire (halfOpenTimeoutMs) and are capped, in
 *                    all and per peer address (halfOpenLimit, halfOpenPerPeer: beyond, dropped)
 *   IKE_AUTH         IDi/IDr, AUTH (PSK, §2.15), SA, TSi/TSr, USE_TRANSPORT_MODE; the PAD
 *                    decides who may authenticate and which selectors they may claim
 *                    or signatures with certificates (RFC 7427 / methods 1, 9–11; see auth-sig.ts),
 *                    INITIAL_CONTACT (§2.4: older IKE_SAs with the same peer identity go)
 *   CREATE_CHILD_SA  CHILD_SA rekey (§1.3.3, N(REKEY_SA)), with PFS when the CHILD_SA's
 *                    esp_proposals name DH groups (§1.3.1, §2.17: a KE payload each way, KEYMAT
 *                    from g^ir (new) | Ni | Nr; INVALID_KE_PAYLOAD retried in the peer's group;
 *                    groups without "none" make PFS required, as strongSwan does), make-before-break: the initiator
 *                    sends on the new SA once it has the answer, the responder once the
 *                    initiator deleted the old one (or rekeyOutboundFallbackMs later), and a
 *                    rekeyed SA's inbound side outlives its Delete by rekeyedInboundGraceMs
 *                    (as strongSwan does: no packet in flight is lost to a rekey); IKE_SA rekey
 *                    (§1.3.2, §2.18: the CHILD_SAs move to the new IKE_SA, the rekey initiator
 *                    deletes the old one); simultaneous rekeys (§2.8.1, §2.8.2: the SA made
 *                    with the lowest of the four nonces is deleted by the side that made it)
 *   INFORMATIONAL    Delete (IKE and ESP), liveness checks (§2.4: sent after dpd_delay without
 *                    an IKE message or ESP packet from the peer; a request never answered
 *                    declares the peer dead: ike-down with cause "peer-dead")
 *
 * Lifetimes (swanctl.conf's): a CHILD_SA is rekeyed at rekey_time minus a random part of
 * rand_time, at rekey_bytes / rekey_packets (minus rand_bytes / rand_packets; the dataplane's
 * counters are polled every second) and when its outbound sequence numbers are spent; it is
 * deleted at life_time / life_bytes / life_packets. An IKE_SA is rekeyed at rekey_time minus a
 * random part of rand_time and deleted at rekey_time + over_time if that did not happen.
 *
 * Requests are retransmitted with exponential back-off (§2.1) until answered or given up;
 * responses are cached per message ID and resent for retransmitted requests (§2.1). After
 * IKE_SA_INIT, if NAT is detected (or `encap = yes` asks for it), both IKE and ESP move to
 * UDP 4500 (RFC 3948, RFC 7296 §2.23).
 *
 * The endpoint is transport-agnostic: it is handed datagrams (`receive`) and hands datagrams
 * to `send`; src/node/ binds it to node:dgram sockets. Keys never reach the log.
 */
import { INSPECT_SYMBOL } from "../redact.js";
import { createHash, randomBytes as nodeRandom, timingSafeEqual } from "node:crypto";
import * as C from "./constants.js";
import { decodeIkeMessage, encodeIkeMessage, type IkeMessage, type IkePayload, type IkePayloadInput, type IkeSaKeys } from "./message.js";
import { deriveChildSaKeys, deriveIkeSaKeys, prf, rekeySkeyseed, toIkeSaKeys, type IkeSaKeyMaterial, type IkeSaSuite } from "./keys.js";
import { X509Certificate } from "node:crypto";
import {
  OUR_SIGNATURE_HASHES,
  HASH_SHA2_256,
  certHasIdentity,
  certreqData,
  loadCaCertificates,
  loadLocalCredential,
  readCertificates,
  resolveCert,
  signAuth,
  verifyAuth,
  verifyChain,
  type CredentialOptions,
  type LocalCredential,
} from "./auth-sig.js";
import { createDh, type DhExchange } from "./dh.js";
import { choose, chooseWithGroup, espPfsGroups, espProposals, icvOf, ikeProposals, parseSa, preferGroup, saFields, type Chosen, type Proposal } from "./proposal.js";
import { narrow, parseTs, sameTs, tsFields, tsFromConfig, tsText, within, type Ts } from "./ts.js";
import type { Child, Config, Connection, Identity } from "../config/model.js";
import type { Dataplane, SaSelectors } from "../pipeline.js";
import type { SaHandle } from "../esp.js";
import { formatIPv4, parseIp } from "../addr.js";
import { IpsecError, type ErrorCode } from "../errors.js";

export interface UdpAddress {
  address: string;
  port: number;
}

export type LogLevel = 0 | 1 | 2 | 3 | 4;

export interface IkeEndpointOptions {
  config: Config;
  /** Where CHILD_SAs are installed (optional: without it the endpoint only negotiates). */
  dataplane?: Dataplane;
  /** Send a datagram; `to.port` 4500 means the non-ESP marker has already been prepended. */
  send(data: Uint8Array, from: UdpAddress, to: UdpAddress): void;
  /** charon-style levels: 0 control, 1 details, 2 messages, 3 raw, 4 private (never keys here). */
  log?(level: LogLevel, message: string): void;
  /** Retransmission: first timeout (ms), factor, tries. Default 4000 ms × 1.8, 5 tries (charon's). */
  retransmit?: { timeout?: number; base?: number; tries?: number };
  /** Half-open IKE_SAs above which IKE_SA_INIT requests must carry a COOKIE (default 100). */
  cookieThreshold?: number;
  /** Called with every CHILD_SA's keys: for tests comparing with a peer, and key logs (Wireshark). */
  onChildKeys?(info: ChildSaInfo, keys: { encrI: Uint8Array; encrR: Uint8Array }): void;
  onEvent?(event: IkeEvent): void;
  now?(): number;
  randomBytes?(n: number): Uint8Array;
  /** Certificates and keys for `auth = pubkey` (see auth-sig.ts for where files are looked up). */
  credentials?: CredentialOptions;
  /** Rekey and expire SAs by their configured lifetimes (default true). */
  lifetimes?: boolean;
  /** Milliseconds per configured lifetime second (default 1000; tests shorten lifetimes with it). */
  secondMs?: number;
  /** How often the dataplane's byte/packet counters are checked against the lifetimes (ms, default 1000). */
  pollMs?: number;
  /**
   * How long the inbound SA of a rekeyed CHILD_SA still decrypts after its Delete (ms, default
   * 5000, strongSwan's delete_rekeyed_delay): packets sent on it just before the peer switched
   * to the new SA may arrive after the Delete.
   */
  rekeyedInboundGraceMs?: number;
  /**
   * The responder of a CHILD_SA rekey keeps sending on the old SA until the initiator deletes
   * it (the initiator has the new one installed by then); if that Delete does not come within
   * this many ms (default 2000), it switches to the new SA anyway.
   */
  rekeyOutboundFallbackMs?: number;
  /** Responder IKE_SAs not past IKE_AUTH after this many ms are destroyed (default 30000, strongSwan's half_open_timeout). */
  halfOpenTimeoutMs?: number;
  /** Most half-open responder IKE_SAs; beyond, IKE_SA_INIT requests are dropped silently (default 1000, strongSwan's init_limit_half_open). */
  halfOpenLimit?: number;
  /** Most half-open responder IKE_SAs per peer IP address; beyond, its IKE_SA_INIT requests are dropped silently (default 5, strongSwan's block_threshold). */
  halfOpenPerPeer?: number;
}

/** What IkeEndpoint dropped or expired on its own (see `counters`). */
export interface IkeCounters {
  /** IKE_SA_INIT requests dropped because halfOpenLimit half-open IKE_SAs exist. */
  initDroppedLimit: number;
  /** IKE_SA_INIT requests dropped because their peer address holds halfOpenPerPeer half-open IKE_SAs. */
  initDroppedPerPeer: number;
  /** Half-open IKE_SAs destroyed after halfOpenTimeoutMs. */
  halfOpenExpired: number;
}

/**
 * Why an established IKE_SA went (what swanctl.conf's dpd_action and close_action act on):
 * "peer-dead": a request (a liveness check or any other) went unanswered through all its
 * retransmissions (RFC 7296 §2.4); "peer-deleted": the peer's Delete; "replaced": the peer
 * authenticated a new IKE_SA with INITIAL_CONTACT (§2.4), which takes over; "failed": a protocol
 * failure; "local": deleted or closed here (down, stop, lifetimes).
 */
export type IkeDownCause = "peer-dead" | "peer-deleted" | "replaced" | "failed" | "local";

export type IkeEvent =
  | { type: "ike-up"; sa: IkeSaInfo }
  | { type: "ike-down"; sa: IkeSaInfo; reason: string; cause: IkeDownCause }
  | { type: "child-up"; sa: IkeSaInfo; child: ChildSaInfo }
  | { type: "child-down"; sa: IkeSaInfo; child: ChildSaInfo; reason: string };

export interface ChildSaInfo {
  name: string;
  mode: "tunnel" | "transport";
  spiIn: number;
  spiOut: number;
  encr: number;
  keyLen: number;
  esn: boolean;
  localTs: string;
  remoteTs: string;
  tunnel?: string;
  /** The DH group of the CREATE_CHILD_SA that made it (PFS, RFC 7296 §1.3.1), if any. */
  dhGroup?: number;
}

export interface IkeSaInfo {
  id: number;
  connection: string;
  initiator: boolean;
  state: State;
  spiI: string;
  spiR: string;
  local: UdpAddress;
  remote: UdpAddress;
  encr: number;
  prf: number;
  group: number;
  natt: boolean;
  children: ChildSaInfo[];
}

/** "rekeyed": replaced by a new IKE_SA (its CHILD_SAs moved there), waiting for its Delete. */
type State = "init-sent" | "auth-sent" | "established" | "rekeyed" | "deleting" | "dead";

type Timer = ReturnType<typeof setTimeout>;

// Notify types the constants table lacks (RFC 7296 §3.10.1).
const N_TEMPORARY_FAILURE = 43;
const N_CHILD_SA_NOT_FOUND = 44;

interface ChildSa {
  info: ChildSaInfo;
  conf: Child;
  inbound?: SaHandle;
  outbound?: SaHandle;
  localTs: Ts[];
  remoteTs: Ts[];
  /** Installation order: the newest outbound SA bound to a tunnel is the one it sends with. */
  seq: number;
  /** Tunnel-mode selectors the SAs were bound with (to bind again, see removeChild). */
  sel?: SaSelectors;
  /** Our rekey of this CHILD_SA is in flight. */
  rekeying?: boolean;
  /** The CHILD_SA we created answering the peer's rekey of this one, with that exchange's nonces (§2.8.1). */
  peerRekeyed?: { child: ChildSa; ni: Uint8Array; nr: Uint8Array };
  /** Superseded (rekeyed) or expiring: no more rekeys, a Delete is due. */
  replaced?: boolean;
  /** Replaced by a rekey (ours or the peer's): its inbound SA outlives its Delete by rekeyedInboundGraceMs. */
  rekeyed?: boolean;
  /**
   * Installed as the responder of a rekey: the outbound SA is not bound to the tunnel yet (the
   * old CHILD_SA still sends) until the initiator deletes the old one, or the fallback timer.
   */
  outboundPending?: boolean;
  /** The CHILD_SA that replaced this one in a rekey the peer made, waiting for this one's Delete to send. */
  successor?: ChildSa;
  timers: Set<Timer>;
  /** Soft volume limits with their jitter applied (0: none). */
  limits: { bytes: number; packets: number };
  /** The inbound SA's packet counter when liveness last looked (dpd_delay). */
  seenIn?: bigint;
}

interface Pending {
  msgId: number;
  bytes: Uint8Array;
  tries: number;
  timer?: ReturnType<typeof setTimeout>;
  onReply(m: IkeMessage): void;
}

interface IkeSa {
  id: number;
  conn: Connection;
  initiator: boolean;
  state: State;
  spiI: Uint8Array;
  spiR: Uint8Array;
  local: UdpAddress;
  remote: UdpAddress;
  natt: boolean;
  ni: Uint8Array;
  nr: Uint8Array;
  dh?: DhExchange;
  suite?: IkeSaSuite;
  group: number;
  keys?: IkeSaKeyMaterial;
  codec?: IkeSaKeys;
  msg1?: Uint8Array; // IKE_SA_INIT request bytes
  msg2?: Uint8Array; // IKE_SA_INIT response bytes
  cookie?: Uint8Array;
  nextOut: number; // our next request message ID
  nextIn: number; // the peer's next request message ID
  pending?: Pending;
  queue: (() => void)[];
  /** Callers waiting on a request of this IKE_SA (sent or queued), told when the IKE_SA dies unanswered. */
  waiting?: Set<(reason: string) => void>;
  lastResponse?: { msgId: number; bytes: Uint8Array };
  children: ChildSa[];
  childConf?: Child; // the child being negotiated in IKE_AUTH (initiator)
  childSpi?: Uint8Array;
  done?: { resolve(i: IkeSaInfo): void; reject(e: Error): void };
  timers: Set<Timer>;
  /** Our IKE_SA rekey of this SA in flight (§2.18). */
  rekey?: { spi: Uint8Array; ni: Uint8Array };
  /** The IKE_SA we created answering the peer's rekey of this one, with its nonces (§2.8.2). */
  peerRekey?: { sa: IkeSa; ni: Uint8Array; nr: Uint8Array };
  /** A new IKE_SA not announced (ike-up) yet: the product of a rekey until it carries the CHILD_SAs. */
  silent?: boolean;
  /** The authenticated peer identity (for INITIAL_CONTACT). */
  peerId?: Identity;
  /** Hash algorithms the peer announced (SIGNATURE_HASH_ALGORITHMS, RFC 7427 §4). */
  peerSigHashes?: number[];
  /** Whether the peer sent CERTREQ. */
  certreq?: boolean;
  /** Where the CHILD_SAs went when this IKE_SA was rekeyed. */
  rekeyedTo?: IkeSa;
  /** A responder IKE_SA before IKE_AUTH: its peer's address (for halfOpenPerPeer) and its expiry timer. */
  halfOpen?: { peer: string; timer: Timer };
  /** When the peer was last heard (an IKE message, or ESP on a CHILD_SA), performance.now() ms: for dpd_delay. */
  lastInbound?: number;
}

/** The inbound SA of a deleted, rekeyed CHILD_SA, still decrypting until its timer removes it. */
interface Lingering {
  handle: SaHandle;
  owner: IkeSa;
  timer: Timer;
}

const KEY_PAD = new TextEncoder().encode("Key Pad for IKEv2");

export class IkeEndpoint {
  /** Never the keys, the PSKs or the SAs' state in util.inspect / JSON.stringify: a summary. */
  [INSPECT_SYMBOL](): string {
    return `IkeEndpoint { ikeSas: ${new Set(this.sas.values()).size}, halfOpen: ${this.halfOpenSas.size}${this.closed ? ", closed" : ""} }`;
  }

  toJSON(): object {
    return { ikeSas: new Set(this.sas.values()).size, halfOpen: this.halfOpenSas.size, closed: this.closed };
  }

  private readonly cfg: Config;
  private readonly dp?: Dataplane;
  private readonly opt: IkeEndpointOptions;
  private readonly sas = new Map<string, IkeSa>(); // by hex SPIi:SPIr (and SPIi: while half-open)
  private readonly initResponses = new Map<string, Uint8Array>(); // SPIi|peer → cached IKE_SA_INIT response
  private readonly cookieSecret: Uint8Array;
  private nextId = 1;
  private childSeq = 0;
  private closed = false;
  private poll?: ReturnType<typeof setInterval>;
  /** Inbound SAs of rekeyed CHILD_SAs in their grace period (see rekeyedInboundGraceMs). */
  private readonly lingering = new Set<Lingering>();
  /** Half-open responder IKE_SAs per peer address. */
  private readonly halfOpenPeers = new Map<string, number>();
  private lastInitDropLog = -Infinity;
  /** IKE_SA_INIT requests dropped by the half-open limits, half-open IKE_SAs expired. */
  readonly counters: IkeCounters = { initDroppedLimit: 0, initDroppedPerPeer: 0, halfOpenExpired: 0 };
  private readonly creds = new Map<string, { local?: LocalCredential; cas?: X509Certificate[] }>();

  constructor(options: IkeEndpointOptions) {
    this.opt = options;
    this.cfg = options.config;
    this.dp = options.dataplane;
    this.cookieSecret = this.rand(32);
  }

  private rand(n: number): Uint8Array {
    return this.opt.randomBytes ? this.opt.randomBytes(n) : new Uint8Array(nodeRandom(n));
  }

  private log(level: LogLevel, msg: string): void {
    this.opt.log?.(level, msg);
  }

  private emit(e: IkeEvent): void {
    this.opt.onEvent?.(e);
  }

  /** The IKE_SAs and their CHILD_SAs, as `swanctl --list-sas` shows them. */
  list(): IkeSaInfo[] {
    return [...new Set(this.sas.values())].filter((s) => s.state !== "dead").map((s) => this.info(s));
  }

  private info(s: IkeSa): IkeSaInfo {
    return {
      id: s.id,
      connection: s.conn.name,
      initiator: s.initiator,
      state: s.state,
      spiI: hex(s.spiI),
      spiR: hex(s.spiR),
      local: s.local,
      remote: s.remote,
      encr: s.suite?.encr ?? 0,
      prf: s.suite?.prf ?? 0,
      group: s.group,
      natt: s.natt,
      children: s.children.map((c) => c.info),
    };
  }

  // ───────────────────────────── initiating ─────────────────────────────

  /** Start IKE_SA_INIT for a connection; resolves when IKE_AUTH established its first CHILD_SA. */
  initiate(connection: string, childName?: string): Promise<IkeSaInfo> {
    const conn = this.cfg.connections[connection];
    if (!conn) return Promise.reject(new IpsecError("ERR_CONFIG", `no connection '${connection}'`));
    const child = childName ? conn.children[childName] : Object.values(conn.children)[0];
    if (!child) return Promise.reject(new IpsecError("ERR_CONFIG", `connection '${connection}' has no child '${childName ?? ""}'`));
    const local = firstAddress(conn.local_addrs);
    const remote = firstAddress(conn.remote_addrs);
    if (!local || !remote) return Promise.reject(new IpsecError("ERR_CONFIG", `connection '${connection}' needs single local and remote addresses to initiate`));
    const proposals = ikeProposals(conn.proposals);
    const group = proposals[0]?.transforms.find((t) => t.type === C.TRANSFORM_KE)?.id;
    if (group === undefined) return Promise.reject(new IpsecError("ERR_CONFIG", `connection '${connection}' has no usable IKE proposal`));
    const sa: IkeSa = {
      id: this.nextId++,
      conn,
      initiator: true,
      state: "init-sent",
      spiI: this.spi8(),
      spiR: new Uint8Array(8),
      local: { address: local, port: conn.local_port },
      remote: { address: remote, port: conn.remote_port },
      // §2.23: a peer reached on a port other than 500 is spoken to with the non-ESP marker from the start.
      natt: conn.remote_port !== 500 || conn.local_port !== 500,
      ni: this.rand(32),
      nr: new Uint8Array(0),
      group,
      nextOut: 0,
      nextIn: 0,
      queue: [],
      children: [],
      childConf: child,
      timers: new Set(),
    };
    this.sas.set(`${hex(sa.spiI)}:`, sa);
    return new Promise((resolve, reject) => {
      sa.done = { resolve, reject };
      this.sendInit(sa);
    });
  }

  private spi8(): Uint8Array {
    let s: Uint8Array;
    do s = this.rand(8);
    while (s.every((b) => b === 0));
    return s;
  }

  private natd(spiI: Uint8Array, spiR: Uint8Array, a: UdpAddress): Uint8Array {
    const ip = parseIp(a.address)!.bytes;
    const port = Uint8Array.of(a.port >> 8, a.port & 0xff);
    return new Uint8Array(createHash("sha1").update(spiI).update(spiR).update(ip).update(port).digest());
  }

  private sendInit(sa: IkeSa): void {
    sa.dh = createDh(sa.group);
    const payloads: IkePayloadInput[] = [];
    if (sa.cookie) payloads.push(notify(C.N_COOKIE, sa.cookie));
    payloads.push(
      { type: C.PT_SA, fields: saFields(ikeProposals(sa.conn.proposals)) },
      { type: C.PT_KE, fields: { group: sa.group, keyData: sa.dh.publicValue } },
      { type: C.PT_NONCE, fields: { nonce: sa.ni } },
      notify(C.N_NAT_DETECTION_SOURCE_IP, this.natSource(sa)),
      notify(C.N_NAT_DETECTION_DESTINATION_IP, this.natd(sa.spiI, new Uint8Array(8), sa.remote)),
      ...(usesPubkey(sa.conn) ? [notify(C.N_SIGNATURE_HASH_ALGORITHMS, hashList(OUR_SIGNATURE_HASHES))] : []),
    );
    const bytes = encodeIkeMessage({ header: { spiI: sa.spiI, spiR: new Uint8Array(8), exchangeType: C.IKE_SA_INIT, flags: { initiator: true }, messageId: 0 }, payloads });
    sa.msg1 = bytes;
    sa.nextOut = 1; // IKE_SA_INIT is message 0 (§2.2), retried with the same ID
    this.request(sa, 0, bytes, (m) => this.onInitResponse(sa, m));
  }

  /** With encap = yes we announce a source hash that cannot match, forcing UDP encapsulation (as charon does). */
  private natSource(sa: IkeSa): Uint8Array {
    return sa.conn.encap ? this.rand(20) : this.natd(sa.spiI, new Uint8Array(8), sa.local);
  }

  private onInitResponse(sa: IkeSa, m: IkeMessage): void {
    const n = notifies(m.payloads);
    const invalidKe = n.find((x) => x.type === C.N_INVALID_KE_PAYLOAD);
    if (invalidKe) {
      const g = (invalidKe.data[0] << 8) | invalidKe.data[1];
      const offered = ikeProposals(sa.conn.proposals).some((p) => p.transforms.some((t) => t.type === C.TRANSFORM_KE && t.id === g));
      if (!offered || g === sa.group) return this.fail(sa, `peer asked for DH group ${g}, which we did not offer`);
      this.log(1, `peer wants DH group ${g}, retrying IKE_SA_INIT`);
      sa.group = g;
      return this.sendInit(sa);
    }
    const cookie = n.find((x) => x.type === C.N_COOKIE);
    if (cookie) {
      if (sa.cookie) return this.fail(sa, "peer asked for a COOKIE twice");
      sa.cookie = cookie.data;
      return this.sendInit(sa);
    }
    const err = n.find((x) => x.type < C.NOTIFY_STATUS_MIN);
    if (err) return this.fail(sa, `peer refused IKE_SA_INIT: ${C.NOTIFY_NAMES[err.type] ?? err.type}`);
    const saP = m.payloads.find((p) => p.type === C.PT_SA);
    const ke = m.payloads.find((p) => p.type === C.PT_KE);
    const nonce = m.payloads.find((p) => p.type === C.PT_NONCE);
    if (!saP || !ke || !nonce) return this.fail(sa, "IKE_SA_INIT response lacks SA, KE or Nr");
    const picked = parseSa(saP.fields);
    // The reply must be exactly one of our proposals, cut down to one transform per type.
    const ours = ikeProposals(sa.conn.proposals);
    const c = picked.length === 1 ? choose(ours, picked, C.PROTO_IKE) : undefined;
    if (!c || c.chosen.group !== sa.group) return this.fail(sa, "IKE_SA_INIT response chose no proposal we made");
    sa.spiR = m.header.spiR;
    sa.nr = fromHexField(nonce.fields.nonce);
    sa.msg2 = (m as IkeMessage & { raw?: Uint8Array }).raw;
    let gir: Uint8Array;
    try {
      gir = sa.dh!.computeSecret(fromHexField(ke.fields.keyData));
    } catch (e) {
      return this.fail(sa, (e as Error).message);
    }
    sa.peerSigHashes = sigHashes(n);
    sa.certreq = m.payloads.some((p) => p.type === C.PT_CERTREQ);
    this.keyIkeSa(sa, c.chosen, gir);
    this.sas.delete(`${hex(sa.spiI)}:`);
    this.sas.set(key(sa.spiI, sa.spiR), sa);
    this.detectNat(sa, n);
    this.sendAuth(sa);
  }

  private detectNat(sa: IkeSa, n: Notify[]): void {
    const src = n.filter((x) => x.type === C.N_NAT_DETECTION_SOURCE_IP);
    const dst = n.filter((x) => x.type === C.N_NAT_DETECTION_DESTINATION_IP);
    if (src.length === 0 && dst.length === 0) {
      sa.natt = sa.conn.encap;
    } else {
      const zero = sa.initiator ? sa.spiR : new Uint8Array(8);
      const spiR = sa.initiator ? sa.spiR : zero;
      const peerHash = this.natd(sa.spiI, sa.initiator ? spiR : new Uint8Array(8), sa.remote);
      const ourHash = this.natd(sa.spiI, sa.initiator ? spiR : new Uint8Array(8), sa.local);
      const peerBehindNat = !src.some((x) => eq(x.data, peerHash));
      const weBehindNat = !dst.some((x) => eq(x.data, ourHash));
      sa.natt = sa.natt || sa.conn.encap || peerBehindNat || weBehindNat;
    }
    if (sa.natt && sa.local.port === 500) {
      // RFC 7296 §2.23: float to 4500 after IKE_SA_INIT.
      if (sa.initiator) sa.remote = { address: sa.remote.address, port: 4500 };
      sa.local = { address: sa.local.address, port: 4500 };
      this.log(1, `NAT-T: IKE and ESP move to UDP 4500`);
    }
  }

  private keyIkeSa(sa: IkeSa, c: Chosen, gir: Uint8Array): void {
    sa.suite = { prf: c.prf!, encr: c.encr, keyLen: c.keyLen, integ: c.integ };
    sa.keys = deriveIkeSaKeys(sa.suite, { ni: sa.ni, nr: sa.nr, spiI: sa.spiI, spiR: sa.spiR, gir });
    sa.codec = toIkeSaKeys(sa.suite, sa.spiI, sa.spiR, sa.keys);
    gir.fill(0);
    this.log(1, `IKE_SA ${sa.conn.name}[${sa.id}] keyed: ${C.ENCR_NAMES[c.encr]}/${c.keyLen} ${C.PRF_NAMES[c.prf!]} ${C.DH_NAMES[c.group!]}`);
  }

  /** §2.15: AUTH = prf(prf(Shared Secret, "Key Pad for IKEv2"), <message> | <peer nonce> | prf(SK_p, ID body)). */
  private pskAuth(sa: IkeSa, forInitiator: boolean, idBody: Uint8Array, secret: Uint8Array): Uint8Array {
    const p = sa.suite!.prf;
    return prf(p, prf(p, secret, KEY_PAD), this.authOctets(sa, forInitiator, idBody));
  }

  /** The octets AUTH covers (§2.15): <message> | <peer nonce> | prf(SK_px, RestOfIDPayload). */
  private authOctets(sa: IkeSa, forInitiator: boolean, idBody: Uint8Array): Uint8Array {
    const msg = forInitiator ? sa.msg1! : sa.msg2!;
    const nonce = forInitiator ? sa.nr : sa.ni;
    return concat([msg, nonce, prf(sa.suite!.prf, forInitiator ? sa.keys!.skPi : sa.keys!.skPr, idBody)]);
  }

  /** Credentials of a connection, loaded once (throws ERR_CONFIG). */
  private credsFor(conn: Connection): { local?: LocalCredential; cas?: X509Certificate[] } {
    let c = this.creds.get(conn.name);
    if (!c) {
      c = {};
      if (conn.local.auth === "pubkey") c.local = loadLocalCredential(conn.local.certs, this.opt.credentials);
      if (conn.remote.auth === "pubkey") c.cas = loadCaCertificates(conn.remote.cacerts, this.opt.credentials);
      this.creds.set(conn.name, c);
    }
    return c;
  }

  private certreqPayloads(conn: Connection): IkePayloadInput[] {
    if (conn.remote.auth !== "pubkey") return [];
    try {
      const cas = this.credsFor(conn).cas ?? [];
      return cas.length ? [{ type: C.PT_CERTREQ, fields: { encoding: C.CERT_X509_SIGNATURE, data: certreqData(cas) } }] : [];
    } catch (e) {
      this.log(0, `${conn.name}: ${(e as Error).message}`);
      return [];
    }
  }

  /** Our CERT and AUTH payloads (§2.15): PSK MAC or signature, as local.auth says. */
  private ourAuth(sa: IkeSa, forInitiator: boolean, idBody: Uint8Array): IkePayloadInput[] | string {
    const conn = sa.conn;
    if (conn.local.auth === "psk") {
      const secret = this.secretFor(conn, conn.local.id ?? addrId(sa.local.address), sa.peerId ?? conn.remote.id);
      if (!secret) return `no PSK for ${conn.name}`;
      return [{ type: C.PT_AUTH, fields: { method: C.AUTH_SHARED_KEY_MIC, data: this.pskAuth(sa, forInitiator, idBody, secret) } }];
    }
    let cred: LocalCredential | undefined;
    try {
      cred = this.credsFor(conn).local;
    } catch (e) {
      return (e as Error).message;
    }
    if (!cred) return `no certificate for ${conn.name}`;
    const { method, data } = signAuth(cred.key, this.authOctets(sa, forInitiator, idBody), { rfc7427: !!sa.peerSigHashes?.includes(HASH_SHA2_256), rsaPss: this.opt.credentials?.rsaPss });
    return [
      ...[cred.cert, ...cred.chain].map((c) => ({ type: C.PT_CERT, fields: { encoding: C.CERT_X509_SIGNATURE, data: new Uint8Array(c.raw) } })),
      { type: C.PT_AUTH, fields: { method, data } },
    ];
  }

  /** Check the peer's AUTH (and certificate): undefined when it authenticated, else why not. */
  private checkPeerAuth(sa: IkeSa, forInitiator: boolean, idP: IkePayload, auth: IkePayload, inner: IkePayload[]): string | undefined {
    const conn = sa.conn;
    const method = auth.fields.method as number;
    const data = fromHexField(auth.fields.data);
    const peer = identityOf(idP.fields);
    if (method === C.AUTH_SHARED_KEY_MIC) {
      const secret = this.secretFor(conn, conn.local.id ?? addrId(sa.local.address), peer);
      if (!secret || conn.remote.auth !== "psk") return "no PSK authentication agreed with this peer";
      if (!eq(this.pskAuth(sa, forInitiator, idBodyOf(idP.fields), secret), data)) return "AUTH payload does not verify (wrong PSK?)";
      return undefined;
    }
    if (conn.remote.auth !== "pubkey") return `peer authenticates with AUTH method ${method}, but ${conn.name} wants a PSK`;
    let cas: X509Certificate[];
    try {
      cas = this.credsFor(conn).cas ?? [];
    } catch (e) {
      return (e as Error).message;
    }
    const certs: X509Certificate[] = [];
    for (const p of inner.filter((x) => x.type === C.PT_CERT)) {
      if (p.fields.encoding !== C.CERT_X509_SIGNATURE) continue;
      try {
        certs.push(new X509Certificate(Buffer.from(fromHexField(p.fields.data))));
      } catch {
        return "malformed certificate in CERT payload";
      }
    }
    if (!certs.length) return "no X.509 certificate (CERT payload) from the peer";
    if (conn.remote.certs.length) {
      // Pinned peer certificates: the end-entity certificate must be one of them.
      const pinned = conn.remote.certs.flatMap((f) => readCertificates(resolveCert(f, this.opt.credentials)));
      if (!pinned.some((c) => c.fingerprint256 === certs[0].fingerprint256)) return "peer certificate is not the configured remote.certs";
    }
    const chain = verifyChain(certs, cas, new Date(this.opt.now ? this.opt.now() : Date.now()));
    if (chain) return chain;
    if (!certHasIdentity(certs[0], peer)) return `identity ${peer.value} is not in the peer's certificate (subjectAltName)`;
    const sig = verifyAuth(certs[0].publicKey, method, data, this.authOctets(sa, forInitiator, idBodyOf(idP.fields)));
    if (sig) return `AUTH payload: ${sig}`;
    return undefined;
  }

  /** INITIAL_CONTACT (§2.4): the peer has no other IKE_SAs with us; forget those we hold for its identity. */
  private initialContact(sa: IkeSa): void {
    const id = sa.peerId;
    if (!id) return;
    for (const o of new Set(this.sas.values())) {
      if (o === sa || o.conn !== sa.conn || o.state === "dead" || !o.peerId) continue;
      if (o.peerId.type !== id.type || o.peerId.value.toLowerCase() !== id.value.toLowerCase()) continue;
      this.log(0, `INITIAL_CONTACT from ${id.value}: deleting IKE_SA ${o.conn.name}[${o.id}] without notice`);
      this.destroy(o, "replaced (INITIAL_CONTACT)", "replaced");
    }
  }

  private sendAuth(sa: IkeSa): void {
    const conn = sa.conn;
    const child = sa.childConf!;
    const idi = idFields(conn.local.id, sa.local.address);
    const idiBody = idBodyOf(idi);
    const auth = this.ourAuth(sa, true, idiBody);
    if (typeof auth === "string") return this.fail(sa, auth, "ERR_CONFIG");
    const [certs, authP] = [auth.slice(0, -1), auth[auth.length - 1]];
    sa.childSpi = this.rand(4);
    // strongSwan's rule: INITIAL_CONTACT only when we hold no other IKE_SA with this peer.
    const first = ![...new Set(this.sas.values())].some((o) => o !== sa && o.conn === conn && o.state !== "dead" && o.remote.address === sa.remote.address);
    const payloads: IkePayloadInput[] = [
      { type: C.PT_IDI, fields: idi },
      ...certs,
      ...this.certreqPayloads(conn),
      ...(conn.remote.id.type !== "any" ? [{ type: C.PT_IDR, fields: idFields(conn.remote.id, sa.remote.address) }] : []),
      authP,
      ...(first ? [notify(C.N_INITIAL_CONTACT, new Uint8Array(0))] : []),
      ...(child.mode === "transport" ? [notify(C.N_USE_TRANSPORT_MODE, new Uint8Array(0))] : []),
      { type: C.PT_SA, fields: saFields(espProposals(child.esp_proposals, sa.childSpi)) },
      { type: C.PT_TSI, fields: tsFields(tsFromConfig(child.local_ts, sa.local.address)) },
      { type: C.PT_TSR, fields: tsFields(tsFromConfig(child.remote_ts, sa.remote.address)) },
    ];
    sa.state = "auth-sent";
    this.sendRequest(sa, C.IKE_AUTH, payloads, (m) => this.onAuthResponse(sa, m));
  }

  private onAuthResponse(sa: IkeSa, m: IkeMessage): void {
    const inner = m.decrypted ?? [];
    const n = notifies(inner);
    const err = n.find((x) => x.type < C.NOTIFY_STATUS_MIN);
    const idr = inner.find((p) => p.type === C.PT_IDR);
    const auth = inner.find((p) => p.type === C.PT_AUTH);
    if (!idr || !auth) return this.fail(sa, err ? `peer refused IKE_AUTH: ${C.NOTIFY_NAMES[err.type] ?? err.type}` : "IKE_AUTH response lacks IDr or AUTH", err?.type === C.N_AUTHENTICATION_FAILED ? "ERR_IKE_AUTH" : "ERR_IKE_REFUSED");
    // PAD (RFC 4301 §4.4.3): the identity must be the configured one, authenticated with its PSK.
    if (!idMatches(sa.conn.remote.id, idr.fields, sa.remote.address)) return this.fail(sa, `peer identity ${String(idr.fields.value)} is not ${sa.conn.remote.id.value || "%any"}`, "ERR_IKE_AUTH");
    const why = this.checkPeerAuth(sa, false, idr, auth, inner);
    if (why) {
      // §2.21.2: tell the responder, whose side of the IKE_SA is up, before forgetting it.
      this.sendRequest(sa, C.INFORMATIONAL, [notify(C.N_AUTHENTICATION_FAILED, new Uint8Array(0))], () => undefined);
      return this.fail(sa, `peer's ${why}`, "ERR_IKE_AUTH");
    }
    sa.peerId = identityOf(idr.fields);
    sa.state = "established";
    this.ikeLifetimes(sa);
    this.liveness(sa);
    this.log(0, `IKE_SA ${sa.conn.name}[${sa.id}] established between ${sa.local.address}[${idText(sa.conn.local.id, sa.local.address)}]...${sa.remote.address}[${String(idr.fields.value)}]`);
    this.emit({ type: "ike-up", sa: this.info(sa) });
    if (err) {
      // IKE_SA up, CHILD_SA refused (§1.2: e.g. TS_UNACCEPTABLE, NO_PROPOSAL_CHOSEN).
      this.log(0, `CHILD_SA ${sa.childConf!.name} refused: ${C.NOTIFY_NAMES[err.type] ?? err.type}`);
      sa.done?.reject(new IpsecError("ERR_IKE_REFUSED", `CHILD_SA refused by peer: ${C.NOTIFY_NAMES[err.type] ?? err.type}`));
      sa.done = undefined;
      return;
    }
    try {
      this.childFromResponse(sa, sa.childConf!, sa.childSpi!, inner, sa.ni, sa.nr);
    } catch (e) {
      return this.fail(sa, (e as Error).message);
    }
    sa.done?.resolve(this.info(sa));
    sa.done = undefined;
  }

  /** The initiator's side of a CHILD_SA: check the responder's choice and narrowing, then install. */
  /**
   * `cc`: a CREATE_CHILD_SA answer, to the proposals with their DH groups, and `cc.dh` the
   * exchange of our KE payload (PFS).
   */
  private childFromResponse(sa: IkeSa, child: Child, ourSpi: Uint8Array, inner: IkePayload[], ni: Uint8Array, nr: Uint8Array, cc?: { dh?: DhExchange }): ChildSa {
    const saP = inner.find((p) => p.type === C.PT_SA);
    const tsi = inner.find((p) => p.type === C.PT_TSI);
    const tsr = inner.find((p) => p.type === C.PT_TSR);
    if (!saP || !tsi || !tsr) throw new IpsecError("ERR_IKE_MALFORMED", "CHILD_SA response lacks SA, TSi or TSr");
    const picked = parseSa(saP.fields);
    const c = picked.length === 1 ? choose(espProposals(child.esp_proposals, ourSpi, !!cc), picked, C.PROTO_ESP) : undefined;
    if (!c || c.chosen.spi.length !== 4) throw new IpsecError("ERR_IKE_MALFORMED", "CHILD_SA response chose no ESP proposal we made");
    // PFS: the chosen group must be our KE payload's and the answer must carry the peer's KE.
    const dh = cc?.dh;
    const ke = inner.find((p) => p.type === C.PT_KE);
    if (c.chosen.group && (!dh || c.chosen.group !== dh.group || !ke || (ke.fields.group as number) !== dh.group)) {
      throw new IpsecError("ERR_IKE_MALFORMED", `CHILD_SA response: DH group ${c.chosen.group} chosen, KE ${ke ? String(ke.fields.group) : "missing"}, ours ${dh?.group ?? "none"}`);
    }
    const localTs = parseTs(tsi.fields);
    const remoteTs = parseTs(tsr.fields);
    if (!within(localTs, tsFromConfig(child.local_ts, sa.local.address)) || !within(remoteTs, tsFromConfig(child.remote_ts, sa.remote.address))) {
      throw new IpsecError("ERR_IKE_MALFORMED", "peer widened the traffic selectors");
    }
    const transport = notifies(inner).some((x) => x.type === C.N_USE_TRANSPORT_MODE);
    if ((child.mode === "transport") !== transport) throw new IpsecError("ERR_IKE_MALFORMED", `peer answered with ${transport ? "transport" : "tunnel"} mode`);
    // g^ir only once everything else holds (installChild wipes it after use).
    const girNew = c.chosen.group && dh && ke ? dh.computeSecret(fromHexField(ke.fields.keyData)) : undefined;
    return this.installChild(sa, child, c.chosen, ourSpi, c.chosen.spi, localTs, remoteTs, ni, nr, true, false, girNew);
  }

  /**
   * Install a CHILD_SA in the dataplane. With `deferOutbound` (the responder of a rekey) its
   * outbound SA is installed but not bound to the tunnel: the old CHILD_SA keeps sending until
   * switchOutbound (the initiator may not have the new SA installed yet).
   */
  private installChild(sa: IkeSa, child: Child, c: Chosen, spiIn: Uint8Array, spiOut: Uint8Array, localTs: Ts[], remoteTs: Ts[], ni: Uint8Array, nr: Uint8Array, initiatorOfExchange: boolean, deferOutbound = false, girNew?: Uint8Array): ChildSa {
    // §2.17: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr) with PFS, prf+(SK_d, Ni | Nr) without.
    const keys = deriveChildSaKeys(sa.suite!.prf, sa.keys!.skD, { encr: c.encr, keyLen: c.keyLen }, { ni, nr, girNew });
    girNew?.fill(0);
    // §2.17: the first keys are for the initiator→responder SA.
    const inKey = initiatorOfExchange ? keys.encrR : keys.encrI;
    const outKey = initiatorOfExchange ? keys.encrI : keys.encrR;
    const info: ChildSaInfo = {
      name: child.name,
      mode: child.mode,
      spiIn: u32(spiIn),
      spiOut: u32(spiOut),
      encr: c.encr,
      keyLen: c.keyLen,
      esn: !!c.esn,
      localTs: tsText(localTs),
      remoteTs: tsText(remoteTs),
      ...(girNew && c.group ? { dhGroup: c.group } : {}),
    };
    const cs: ChildSa = { info, conf: child, localTs, remoteTs, seq: ++this.childSeq, timers: new Set(), limits: { bytes: 0, packets: 0 } };
    if (this.dp) {
      const link = this.cfg.links.find((l) => l.connection === sa.conn.name);
      const algorithm = c.encr === C.ENCR_CHACHA20_POLY1305 ? "chacha20-poly1305" : "aes-gcm";
      const common = { icvLength: icvOf(c.encr), esn: !!c.esn, ...(algorithm !== "aes-gcm" ? { algorithm } : {}) };
      cs.inbound = this.roomFor(() => this.dp!.esp.addInbound({ spi: info.spiIn, keymat: inKey, replayWindow: child.replay_window || 0, ...common } as never));
      cs.outbound = this.roomFor(() => this.dp!.esp.addOutbound({
        spi: info.spiOut,
        keymat: outKey,
        ...common,
        ...(sa.natt ? { encap: { sourcePort: sa.local.port, destinationPort: sa.remote.port } } : {}),
      } as never));
      if (link) {
        info.tunnel = link.tunnel;
        const sel = child.mode === "tunnel"
          ? { local: localTs.filter((t) => t.family === 6).map(({ family, start, end }) => ({ family, start, end })), remote: remoteTs.filter((t) => t.family === 6).map(({ family, start, end }) => ({ family, start, end })) }
          : undefined;
        cs.sel = sel;
        this.dp.bindSa(cs.inbound, link.tunnel, sel);
        if (deferOutbound) cs.outboundPending = true;
        else this.dp.bindSa(cs.outbound, link.tunnel, sel);
      }
    }
    this.opt.onChildKeys?.(info, { encrI: keys.encrI, encrR: keys.encrR });
    keys.encrI.fill(0);
    keys.encrR.fill(0);
    // A CHILD_SA negotiated on an IKE_SA that was rekeyed meanwhile lives on with the new one.
    sa = this.heir(sa);
    sa.children.push(cs);
    this.childLifetimes(cs);
    if (cs.outboundPending) {
      const ms = this.opt.rekeyOutboundFallbackMs ?? 2000;
      const t = setTimeout(() => {
        cs.timers.delete(t);
        if (!this.closed) this.switchOutbound(cs, `no Delete of the old CHILD_SA within ${ms} ms`);
      }, ms);
      (t as { unref?: () => void }).unref?.();
      cs.timers.add(t);
    }
    this.log(0, `CHILD_SA ${child.name}{${sa.id}} established with SPIs ${hex4(info.spiIn)}_i ${hex4(info.spiOut)}_o and TS ${info.localTs} === ${info.remoteTs}`);
    this.emit({ type: "child-up", sa: this.info(sa), child: info });
    return cs;
  }

  // ───────────────────────────── requests and retransmission ─────────────────────────────

  private request(sa: IkeSa, msgId: number, bytes: Uint8Array, onReply: (m: IkeMessage) => void): void {
    const r = this.opt.retransmit ?? {};
    const timeout = r.timeout ?? 4000;
    const base = r.base ?? 1.8;
    const tries = r.tries ?? 5;
    if (sa.pending?.timer) clearTimeout(sa.pending.timer);
    const p: Pending = { msgId, bytes, tries: 0, onReply };
    sa.pending = p;
    const fire = () => {
      if (this.closed || sa.pending !== p) return;
      if (p.tries > tries) {
        this.fail(sa, `no reply to message ${msgId} after ${tries} retransmits: peer is gone`, "ERR_IKE_TIMEOUT", "peer-dead");
        return;
      }
      if (p.tries > 0) this.log(1, `retransmit ${p.tries} of request with message ID ${msgId}`);
      this.transmit(sa, bytes);
      p.timer = setTimeout(fire, timeout * Math.pow(base, p.tries++));
      (p.timer as { unref?: () => void }).unref?.();
    };
    fire();
  }

  /**
   * Send a request on `sa` once the one in flight (if any) is answered. `onGone` is called instead
   * of `onReply` when the IKE_SA is destroyed first (no reply after the retransmits, deleted).
   */
  private sendRequest(sa: IkeSa, exchange: number, payloads: IkePayloadInput[], onReply: (m: IkeMessage) => void, onGone?: (reason: string) => void): void {
    if (onGone) (sa.waiting ??= new Set()).add(onGone);
    const go = () => {
      const msgId = sa.nextOut++;
      const bytes = encodeIkeMessage(
        { header: { spiI: sa.spiI, spiR: sa.spiR, exchangeType: exchange, flags: { initiator: sa.initiator }, messageId: msgId }, payloads: [{ type: C.PT_SK, inner: payloads }] },
        sa.codec,
      );
      this.request(sa, msgId, bytes, (m) => {
        sa.pending = undefined;
        if (onGone) sa.waiting?.delete(onGone);
        onReply(m);
        // A request onReply sent (a retry, a Delete) is in flight now: the queue waits for it (§2.3).
        if (!sa.pending) sa.queue.shift()?.();
      });
    };
    // One request in flight at a time (§2.3, a window of 1).
    if (sa.pending) sa.queue.push(go);
    else go();
  }

  /** On any port but 500, IKE messages carry the non-ESP marker (RFC 3948 §2.2, RFC 7296 §2.23). */
  private transmit(sa: IkeSa, bytes: Uint8Array): void {
    this.opt.send(sa.local.port !== 500 ? concat([new Uint8Array(4), bytes]) : bytes, sa.local, sa.remote);
  }

  private respond(sa: IkeSa, m: IkeMessage, payloads: IkePayloadInput[]): void {
    const bytes = encodeIkeMessage(
      { header: { spiI: sa.spiI, spiR: sa.spiR, exchangeType: m.header.exchangeType, flags: { initiator: sa.initiator, response: true }, messageId: m.header.messageId }, payloads: [{ type: C.PT_SK, inner: payloads }] },
      sa.codec,
    );
    sa.lastResponse = { msgId: m.header.messageId, bytes };
    this.transmit(sa, bytes);
  }

  private fail(sa: IkeSa, reason: string, code: ErrorCode = "ERR_IKE_REFUSED", cause: IkeDownCause = "failed"): void {
    this.log(0, `IKE_SA ${sa.conn.name}[${sa.id}] failed: ${reason}`);
    sa.done?.reject(new IpsecError(code, reason));
    sa.done = undefined;
    this.destroy(sa, reason, cause);
  }

  private destroy(sa: IkeSa, reason: string, cause: IkeDownCause = "local"): void {
    if (sa.state === "dead") return;
    const was = this.info(sa);
    if (sa.pending?.timer) clearTimeout(sa.pending.timer);
    sa.pending = undefined;
    this.clearTimers(sa.timers);
    for (const c of sa.children) this.removeChild(sa, c, reason);
    sa.children = [];
    sa.state = "dead";
    sa.queue = [];
    const waiting = sa.waiting;
    sa.waiting = undefined;
    for (const w of waiting ?? []) w(reason);
    this.leaveHalfOpen(sa);
    this.dropLingering(sa);
    sa.keys && wipeKeys(sa.keys);
    for (const [k, v] of this.sas) if (v === sa) this.sas.delete(k);
    if ((was.state === "established" || was.state === "deleting") && !sa.silent) this.emit({ type: "ike-down", sa: was, reason, cause });
  }

  /**
   * Remove a CHILD_SA from its IKE_SA's SAs and the dataplane. With `linger` (a rekeyed CHILD_SA,
   * deleted by a Delete exchange) its inbound SA stays installed for rekeyedInboundGraceMs.
   */
  private removeChild(sa: IkeSa, c: ChildSa, reason: string, linger = false): void {
    this.clearTimers(c.timers);
    c.replaced = true;
    // The CHILD_SA that replaced this one in the peer's rekey sends from now on.
    const successor = c.successor;
    c.successor = undefined;
    if (successor) this.switchOutbound(successor, `old CHILD_SA ${hex4(c.info.spiIn)}_i deleted`);
    if (this.dp) {
      if (c.outbound) this.dp.removeSa(c.outbound);
      if (c.inbound) {
        if (linger) this.linger(sa, c.inbound);
        else this.dp.removeSa(c.inbound);
      }
      c.outbound = c.inbound = undefined;
      c.outboundPending = false;
      // The tunnel's outbound list (Dataplane.bindSa) falls back to the next SA bound to it: two
      // CHILD_SAs after a rekey collision (§2.8.1) or a duplicate IKE_SA, the newer deleted by
      // the peer, leave the tunnel sending with the other, not stopped.
    }
    this.emit({ type: "child-down", sa: this.info(sa), child: c.info, reason });
  }

  /**
   * The responder of a rekey starts sending on the new CHILD_SA (the initiator deleted the old
   * one, so it has the new one installed; or the fallback timer ran out) — unless a newer
   * CHILD_SA of the same child sends already (other children on the tunnel have their own
   * selectors and their own place in its outbound list).
   */
  private switchOutbound(cs: ChildSa, why: string): void {
    if (!cs.outboundPending) return;
    cs.outboundPending = false;
    const tunnel = cs.info.tunnel;
    if (!this.dp || !cs.outbound || tunnel === undefined) return;
    for (const s of new Set(this.sas.values())) {
      for (const x of s.children) if (x !== cs && x.info.name === cs.info.name && x.outbound && !x.outboundPending && x.info.tunnel === tunnel && x.seq > cs.seq) return;
    }
    this.dp.bindSa(cs.outbound, tunnel, cs.sel);
    this.log(1, `CHILD_SA ${cs.info.name} now sends with ${hex4(cs.info.spiOut)}_o: ${why}`);
  }

  /** Keep a rekeyed CHILD_SA's inbound SA for rekeyedInboundGraceMs (strongSwan's delete_rekeyed_delay). */
  private linger(owner: IkeSa, handle: SaHandle): void {
    const ms = this.opt.rekeyedInboundGraceMs ?? 5000;
    if (ms <= 0 || this.closed || owner.state === "dead") {
      this.dp?.removeSa(handle);
      return;
    }
    const l: Lingering = { handle, owner, timer: undefined as unknown as Timer };
    l.timer = setTimeout(() => this.unlinger(l), ms);
    (l.timer as { unref?: () => void }).unref?.();
    this.lingering.add(l);
  }

  private unlinger(l: Lingering): void {
    if (!this.lingering.delete(l)) return;
    clearTimeout(l.timer);
    this.dp?.removeSa(l.handle);
  }

  /** Install an SA; if the SA table is full, lingering inbound SAs make room, oldest first. */
  private roomFor<T>(add: () => T): T {
    for (;;) {
      try {
        return add();
      } catch (e) {
        const oldest = this.lingering.values().next().value;
        if ((e as IpsecError).code !== "ERR_SA_TABLE_FULL" || !oldest) throw e;
        this.log(1, `SA table full: removing the inbound SA ${hex4(oldest.handle.spi)} of a rekeyed CHILD_SA before its grace period ends`);
        this.unlinger(oldest);
      }
    }
  }

  /** An IKE_SA goes: the lingering inbound SAs it holds go too, or to the IKE_SA that replaced it. */
  private dropLingering(sa: IkeSa): void {
    const heir = this.heir(sa);
    for (const l of [...this.lingering]) {
      if (l.owner !== sa) continue;
      if (heir !== sa && heir.state !== "dead" && !this.closed) l.owner = heir;
      else this.unlinger(l);
    }
  }

  // ───────────────────────────── receiving ─────────────────────────────

  /**
   * A datagram arrived on `to` from `from`. On any port but 500 (4500, or a configured NAT-T
   * port) the non-ESP marker is removed here; ESP and keepalives are not for this function.
   */
  receive(data: Uint8Array, from: UdpAddress, to: UdpAddress): void {
    if (this.closed) return;
    let bytes = data;
    if (to.port !== 500) {
      if (bytes.length < 4 || bytes[0] | bytes[1] | bytes[2] | bytes[3]) return; // ESP or keepalive: not ours
      bytes = bytes.subarray(4);
    }
    let m: IkeMessage;
    let hdr;
    try {
      hdr = decodeHeaderLoose(bytes);
    } catch {
      this.log(2, `dropped a datagram from ${from.address}:${from.port} that is not IKEv2`);
      return;
    }
    const k = key(hdr.spiI, hdr.spiR);
    let sa = this.sas.get(k) ?? (hdr.flags.response && hdr.exchangeType === C.IKE_SA_INIT ? this.sas.get(`${hex(hdr.spiI)}:`) : undefined);
    if (!sa && hdr.exchangeType === C.IKE_SA_INIT && !hdr.flags.response && hdr.messageId === 0 && isZero(hdr.spiR)) {
      return this.onInitRequest(bytes, from, to);
    }
    if (!sa) {
      this.log(2, `message for unknown IKE_SA ${hex(hdr.spiI)}_i ${hex(hdr.spiR)}_r from ${from.address}`);
      return;
    }
    try {
      m = decodeIkeMessage(bytes, sa.codec);
    } catch (e) {
      this.log(1, `malformed message from ${from.address}: ${(e as Error).message}`);
      // §2.5 / §2.21.2: a request of this IKE_SA whose ICV verified and whose decrypted
      // content breaks a rule with a defined error is answered with that notify, consuming its
      // message ID; responses are only dropped. Anything found before the ICV was checked (the
      // unencrypted chain, the SK framing) is unauthenticated: it changes nothing, or a forged
      // datagram with the right SPIs could advance the window and cut the real peer off.
      const { notifyType: n, authenticated } = e as { notifyType?: number; authenticated?: boolean };
      if (authenticated && n !== undefined && !hdr.flags.response && hdr.messageId === sa.nextIn && sa.codec && (n === C.N_UNSUPPORTED_CRITICAL_PAYLOAD || n === C.N_INVALID_SYNTAX)) {
        sa.nextIn++;
        const data = (e as { notifyData?: Uint8Array }).notifyData ?? new Uint8Array(0);
        this.respond(sa, { header: { ...hdr, exchangeType: hdr.exchangeType, messageId: hdr.messageId } } as unknown as IkeMessage, [notify(n, data)]);
      }
      return;
    }
    (m as IkeMessage & { raw?: Uint8Array }).raw = bytes.slice();
    if (m.icv === "bad") {
      this.log(1, `message with a bad ICV from ${from.address} ignored`);
      return;
    }
    // Any authentic message shows the peer alive (§2.4); a late one on a rekeyed IKE_SA too.
    sa.lastInbound = this.heir(sa).lastInbound = performance.now();
    if (m.header.flags.response) {
      const p = sa.pending;
      if (!p || p.msgId !== m.header.messageId) return; // late or unexpected response
      if (p.timer) clearTimeout(p.timer);
      sa.pending = undefined;
      // The peer may have floated its port (NAT): follow it.
      if (sa.natt && from.port !== sa.remote.port) sa.remote = from;
      p.onReply(m);
      return;
    }
    // A request: retransmission of the last one → resend the cached response (§2.1).
    if (sa.lastResponse && m.header.messageId === sa.lastResponse.msgId) {
      this.transmit(sa, sa.lastResponse.bytes);
      return;
    }
    if (m.header.messageId !== sa.nextIn) {
      this.log(1, `request with message ID ${m.header.messageId}, expected ${sa.nextIn}: ignored`);
      return;
    }
    sa.nextIn++;
    if (sa.natt) {
      // Follow the peer's NAT mapping, and answer from the socket it reached (§2.23).
      sa.remote = from;
      sa.local = to;
    }
    switch (m.header.exchangeType) {
      case C.IKE_AUTH:
        return this.onAuthRequest(sa, m);
      case C.INFORMATIONAL:
        return this.onInformational(sa, m);
      case C.CREATE_CHILD_SA:
        return this.onCreateChild(sa, m);
      default:
        return this.respond(sa, m, []);
    }
  }

  /** Responder IKE_SAs between IKE_SA_INIT and IKE_AUTH (§2.6: what COOKIEs protect). */
  private readonly halfOpenSas = new Set<IkeSa>();

  private halfOpen(): number {
    return this.halfOpenSas.size;
  }

  /** A responder IKE_SA answered IKE_SA_INIT: count it, and destroy it if IKE_AUTH does not come in time. */
  private enterHalfOpen(sa: IkeSa, peer: string): void {
    this.halfOpenSas.add(sa);
    this.halfOpenPeers.set(peer, (this.halfOpenPeers.get(peer) ?? 0) + 1);
    const ms = this.opt.halfOpenTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      if (this.closed || !sa.halfOpen) return;
      this.counters.halfOpenExpired++;
      this.log(1, `half-open IKE_SA ${sa.conn.name}[${sa.id}] from ${peer} not authenticated within ${ms} ms: destroying it`);
      this.destroy(sa, "half-open timeout");
    }, ms);
    (timer as { unref?: () => void }).unref?.();
    sa.halfOpen = { peer, timer };
  }

  private leaveHalfOpen(sa: IkeSa): void {
    this.halfOpenSas.delete(sa);
    const h = sa.halfOpen;
    if (!h) return;
    sa.halfOpen = undefined;
    clearTimeout(h.timer);
    const n = (this.halfOpenPeers.get(h.peer) ?? 1) - 1;
    if (n > 0) this.halfOpenPeers.set(h.peer, n);
    else this.halfOpenPeers.delete(h.peer);
  }

  /** Whether the half-open limits refuse a new IKE_SA from `peer` (then the request is dropped silently). */
  private overHalfOpenLimits(peer: string): boolean {
    const limit = this.opt.halfOpenLimit ?? 1000;
    const perPeer = this.opt.halfOpenPerPeer ?? 5;
    let why: string;
    if (this.halfOpenSas.size >= limit) {
      this.counters.initDroppedLimit++;
      why = `${this.halfOpenSas.size} half-open IKE_SAs (halfOpenLimit ${limit})`;
    } else if ((this.halfOpenPeers.get(peer) ?? 0) >= perPeer) {
      this.counters.initDroppedPerPeer++;
      why = `${peer} holds ${this.halfOpenPeers.get(peer)} half-open IKE_SAs (halfOpenPerPeer ${perPeer})`;
    } else return false;
    const now = this.opt.now ? this.opt.now() : Date.now();
    if (now - this.lastInitDropLog >= 1000) {
      this.lastInitDropLog = now;
      const c = this.counters;
      this.log(1, `dropping IKE_SA_INIT requests: ${why} (dropped so far: ${c.initDroppedLimit} over the limit, ${c.initDroppedPerPeer} per peer)`);
    }
    return true;
  }

  /** Connections by exact remote address, and those with wider remote_addrs (built once). */
  private connIndex?: { exact: Map<string, Connection[]>; wide: Connection[] };

  private connectionFor(from: string, to: string): Connection | undefined {
    if (!this.connIndex) {
      const exact = new Map<string, Connection[]>();
      const wide: Connection[] = [];
      for (const c of Object.values(this.cfg.connections)) {
        const addrs = c.remote_addrs.filter((a) => a.kind === "address");
        if (addrs.length && addrs.length === c.remote_addrs.length) {
          for (const a of addrs) if (a.kind === "address") exact.set(a.address, [...(exact.get(a.address) ?? []), c]);
        } else wide.push(c);
      }
      this.connIndex = { exact, wide };
    }
    const candidates = [...(this.connIndex.exact.get(from) ?? []), ...this.connIndex.wide];
    return candidates.find((c) => matchesAddr(c.remote_addrs, from) && matchesAddr(c.local_addrs, to));
  }

  /** §2.6: a stateless cookie = SHA-256(Ni | IPi | SPIi | secret). */
  private cookieFor(ni: Uint8Array, from: UdpAddress, spiI: Uint8Array): Uint8Array {
    return new Uint8Array(createHash("sha256").update(ni).update(parseIp(from.address)!.bytes).update(spiI).update(this.cookieSecret).digest()).subarray(0, 16);
  }

  /** Send a response outside any IKE_SA: `from` is the peer, `to` our address it came to. */
  private sendPlain(bytes: Uint8Array, from: UdpAddress, to: UdpAddress): void {
    this.opt.send(to.port !== 500 ? concat([new Uint8Array(4), bytes]) : bytes, to, from);
  }

  private initError(hdr: { spiI: Uint8Array }, type: number, data: Uint8Array, from: UdpAddress, to: UdpAddress): void {
    const bytes = encodeIkeMessage({ header: { spiI: hdr.spiI, spiR: new Uint8Array(8), exchangeType: C.IKE_SA_INIT, flags: { response: true }, messageId: 0 }, payloads: [notify(type, data)] });
    this.sendPlain(bytes, from, to);
  }

  private onInitRequest(bytes: Uint8Array, from: UdpAddress, to: UdpAddress): void {
    let m: IkeMessage;
    try {
      m = decodeIkeMessage(bytes);
    } catch (e) {
      this.log(1, `malformed IKE_SA_INIT from ${from.address}: ${(e as Error).message}`);
      // §2.5: an unknown payload marked critical is answered with UNSUPPORTED_CRITICAL_PAYLOAD
      // (its type as data); other malformed IKE_SA_INIT requests are dropped (§2.21.1).
      const ie = e as { notifyType?: number; notifyData?: Uint8Array };
      if (ie.notifyType === C.N_UNSUPPORTED_CRITICAL_PAYLOAD && bytes.length >= 8) {
        this.initError({ spiI: bytes.slice(0, 8) }, C.N_UNSUPPORTED_CRITICAL_PAYLOAD, ie.notifyData ?? new Uint8Array(0), from, to);
      }
      return;
    }
    const cacheKey = `${hex(m.header.spiI)}|${from.address}:${from.port}`;
    const cached = this.initResponses.get(cacheKey);
    if (cached) return this.sendPlain(cached, from, to);
    const conn = this.connectionFor(from.address, to.address);
    const n = notifies(m.payloads);
    const saP = m.payloads.find((p) => p.type === C.PT_SA);
    const ke = m.payloads.find((p) => p.type === C.PT_KE);
    const nonce = m.payloads.find((p) => p.type === C.PT_NONCE);
    if (!conn) {
      this.log(1, `no connection for IKE_SA_INIT from ${from.address} to ${to.address}`);
      return this.initError(m.header, C.N_NO_PROPOSAL_CHOSEN, new Uint8Array(0), from, to);
    }
    if (!saP || !ke || !nonce) return this.initError(m.header, C.N_INVALID_SYNTAX, new Uint8Array(0), from, to);
    const ni = fromHexField(nonce.fields.nonce);
    if (ni.length < 16 || ni.length > 256) return this.initError(m.header, C.N_INVALID_SYNTAX, new Uint8Array(0), from, to);
    // §2.6: cookies when too many IKE_SAs are half-open.
    const threshold = this.opt.cookieThreshold ?? 100;
    if (this.halfOpen() >= threshold) {
      const want = this.cookieFor(ni, from, m.header.spiI);
      const got = n.find((x) => x.type === C.N_COOKIE);
      if (!got || !eq(got.data, want)) return this.initError(m.header, C.N_COOKIE, want, from, to);
    }
    // Hard limits (after the COOKIE, so that the peer's address is not a spoofed one).
    if (this.overHalfOpenLimits(from.address)) return;
    const c = choose(ikeProposals(conn.proposals), parseSa(saP.fields), C.PROTO_IKE);
    if (!c) return this.initError(m.header, C.N_NO_PROPOSAL_CHOSEN, new Uint8Array(0), from, to);
    const keGroup = ke.fields.group as number;
    if (keGroup !== c.chosen.group) {
      // §1.2 / §3.10.1: INVALID_KE_PAYLOAD with the group we want.
      return this.initError(m.header, C.N_INVALID_KE_PAYLOAD, Uint8Array.of(c.chosen.group! >> 8, c.chosen.group! & 0xff), from, to);
    }
    const sa: IkeSa = {
      id: this.nextId++,
      conn,
      initiator: false,
      state: "init-sent",
      spiI: m.header.spiI,
      spiR: this.spi8(),
      local: to,
      remote: from,
      natt: false,
      ni,
      nr: this.rand(32),
      group: keGroup,
      nextOut: 0,
      nextIn: 1,
      queue: [],
      children: [],
      timers: new Set(),
      peerSigHashes: sigHashes(n),
    };
    let gir: Uint8Array;
    sa.dh = createDh(keGroup);
    try {
      gir = sa.dh.computeSecret(fromHexField(ke.fields.keyData));
    } catch {
      return this.initError(m.header, C.N_INVALID_SYNTAX, new Uint8Array(0), from, to);
    }
    sa.msg1 = bytes.slice();
    this.keyIkeSa(sa, c.chosen, gir);
    const payloads: IkePayloadInput[] = [
      { type: C.PT_SA, fields: saFields([c.reply]) },
      { type: C.PT_KE, fields: { group: keGroup, keyData: sa.dh.publicValue } },
      { type: C.PT_NONCE, fields: { nonce: sa.nr } },
      notify(C.N_NAT_DETECTION_SOURCE_IP, conn.encap ? this.rand(20) : this.natd(sa.spiI, sa.spiR, to)),
      notify(C.N_NAT_DETECTION_DESTINATION_IP, this.natd(sa.spiI, sa.spiR, from)),
      ...(usesPubkey(conn) ? [notify(C.N_SIGNATURE_HASH_ALGORITHMS, hashList(OUR_SIGNATURE_HASHES))] : []),
      ...this.certreqPayloads(conn),
    ];
    const resp = encodeIkeMessage({ header: { spiI: sa.spiI, spiR: sa.spiR, exchangeType: C.IKE_SA_INIT, flags: { response: true }, messageId: 0 }, payloads });
    sa.msg2 = resp;
    this.initResponses.set(cacheKey, resp);
    setTimeout(() => this.initResponses.delete(cacheKey), 30_000).unref?.();
    this.sas.set(key(sa.spiI, sa.spiR), sa);
    this.enterHalfOpen(sa, from.address);
    // NAT detection from the request's notifies (the initiator hashed SPIr = 0).
    const src = n.filter((x) => x.type === C.N_NAT_DETECTION_SOURCE_IP);
    const dst = n.filter((x) => x.type === C.N_NAT_DETECTION_DESTINATION_IP);
    const peerNat = src.length > 0 && !src.some((x) => eq(x.data, this.natd(sa.spiI, new Uint8Array(8), from)));
    const ourNat = dst.length > 0 && !dst.some((x) => eq(x.data, this.natd(sa.spiI, new Uint8Array(8), to)));
    sa.natt = conn.encap || peerNat || ourNat || to.port !== 500;
    this.sendPlain(resp, from, to);
    if (sa.natt && to.port === 500) {
      sa.local = { address: to.address, port: 4500 };
      this.log(1, "NAT-T: IKE and ESP move to UDP 4500");
    }
    this.log(1, `IKE_SA_INIT from ${from.address}: ${conn.name}[${sa.id}] half-open`);
  }

  private onAuthRequest(sa: IkeSa, m: IkeMessage): void {
    const inner = m.decrypted ?? [];
    const idi = inner.find((p) => p.type === C.PT_IDI);
    const auth = inner.find((p) => p.type === C.PT_AUTH);
    const authFailed = (why: string) => {
      this.log(0, `IKE_AUTH from ${sa.remote.address} refused: ${why}`);
      this.respond(sa, m, [notify(C.N_AUTHENTICATION_FAILED, new Uint8Array(0))]);
      this.destroy(sa, why);
    };
    if (!idi || !auth) return authFailed("IKE_AUTH without IDi or AUTH");
    // PAD: the peer's identity and its method.
    if (!idMatches(sa.conn.remote.id, idi.fields, sa.remote.address)) return authFailed(`identity ${String(idi.fields.value)} is not allowed for ${sa.conn.name}`);
    const why = this.checkPeerAuth(sa, true, idi, auth, inner);
    if (why) return authFailed(why);
    sa.peerId = identityOf(idi.fields);
    const idr = idFields(sa.conn.local.id, sa.local.address);
    const ours = this.ourAuth(sa, false, idBodyOf(idr));
    if (typeof ours === "string") return authFailed(ours);
    const out: IkePayloadInput[] = [{ type: C.PT_IDR, fields: idr }, ...ours];
    sa.state = "established";
    this.leaveHalfOpen(sa);
    if (notifies(inner).some((x) => x.type === C.N_INITIAL_CONTACT)) this.initialContact(sa);
    this.ikeLifetimes(sa);
    this.liveness(sa);
    this.log(0, `IKE_SA ${sa.conn.name}[${sa.id}] established between ${sa.local.address}...${sa.remote.address}[${String(idi.fields.value)}]`);
    this.emit({ type: "ike-up", sa: this.info(sa) });
    out.push(...this.childForRequest(sa, inner, sa.ni, sa.nr));
    this.respond(sa, m, out);
  }

  /** The responder's side of a CHILD_SA (IKE_AUTH or CREATE_CHILD_SA): choose, narrow, install. */
  private childForRequest(sa: IkeSa, inner: IkePayload[], ni: Uint8Array, nr: Uint8Array): IkePayloadInput[] {
    return this.childForRequestX(sa, inner, ni, nr).reply;
  }

  /**
   * `createChild`: a CREATE_CHILD_SA request, where our proposals carry their DH groups and a
   * KE payload brings PFS (§1.3.1): the group we choose must be the KE payload's, or we ask for
   * ours with INVALID_KE_PAYLOAD (also when the peer proposed a group but sent no KE).
   */
  private childForRequestX(sa: IkeSa, inner: IkePayload[], ni: Uint8Array, nr: Uint8Array, deferOutbound = false, createChild = false, rekeyOf?: Child): { reply: IkePayloadInput[]; child?: ChildSa } {
    const wrap = (reply: IkePayloadInput[], child?: ChildSa) => ({ reply, child });
    const saP = inner.find((p) => p.type === C.PT_SA);
    const tsiP = inner.find((p) => p.type === C.PT_TSI);
    const tsrP = inner.find((p) => p.type === C.PT_TSR);
    if (!saP || !tsiP || !tsrP) return wrap([notify(C.N_INVALID_SYNTAX, new Uint8Array(0))]);
    const transport = notifies(inner).some((x) => x.type === C.N_USE_TRANSPORT_MODE);
    const tsi = parseTs(tsiP.fields);
    const tsr = parseTs(tsrP.fields);
    // Which child: a rekey keeps its own (its proposals, PFS, lifetimes). Otherwise, as charon
    // does (peer_cfg select_child_cfg), the child whose selectors are the proposed ones exactly,
    // then one that holds them whole, then one that narrows them; ties in configuration order.
    const score = (proposed: Ts[], configured: Ts[]) => (sameTs(proposed, configured) ? 2 : within(proposed, configured) ? 1 : 0);
    const candidates = (rekeyOf ? [rekeyOf] : Object.values(sa.conn.children)).flatMap((child, order) => {
      if ((child.mode === "transport") !== transport) return [];
      const cfgRemote = tsFromConfig(child.remote_ts, sa.remote.address);
      const cfgLocal = tsFromConfig(child.local_ts, sa.local.address);
      const remoteTs = narrow(tsi, cfgRemote);
      const localTs = narrow(tsr, cfgLocal);
      if (!remoteTs.length || !localTs.length) return [];
      return [{ child, remoteTs, localTs, order, rank: score(tsi, cfgRemote) + score(tsr, cfgLocal) }];
    });
    candidates.sort((a, b) => b.rank - a.rank || a.order - b.order);
    if (candidates.length) {
      const { child, remoteTs, localTs } = candidates[0];
      // PAD child authorization: the peer may only claim what the configuration gives it.
      const ourSpi = this.rand(4);
      const ke = createChild ? inner.find((p) => p.type === C.PT_KE) : undefined;
      const keGroup = ke ? (ke.fields.group as number) : undefined;
      const ours = espProposals(child.esp_proposals, ourSpi, createChild);
      const theirs = parseSa(saP.fields);
      const c = keGroup !== undefined ? chooseWithGroup(ours, theirs, C.PROTO_ESP, keGroup) : choose(ours, theirs, C.PROTO_ESP);
      if (!c) return wrap([notify(C.N_NO_PROPOSAL_CHOSEN, new Uint8Array(0))]);
      if (c.chosen.spi.length !== 4) return wrap([notify(C.N_INVALID_SYNTAX, new Uint8Array(0))]);
      // PFS: group 0 (NONE) chosen means none, and a KE payload sent anyway is ignored.
      const group = c.chosen.group || undefined;
      let girNew: Uint8Array | undefined;
      let keReply: IkePayloadInput | undefined;
      if (group !== undefined) {
        if (keGroup !== group) {
          this.log(1, `CREATE_CHILD_SA: DH group ${keGroup ?? "none"} sent, ${group} chosen: INVALID_KE_PAYLOAD`);
          return wrap([notify(C.N_INVALID_KE_PAYLOAD, Uint8Array.of(group >> 8, group & 0xff))]);
        }
        try {
          const dh = createDh(group);
          girNew = dh.computeSecret(fromHexField(ke!.fields.keyData));
          keReply = { type: C.PT_KE, fields: { group, keyData: dh.publicValue } };
        } catch {
          return wrap([notify(C.N_INVALID_SYNTAX, new Uint8Array(0))]);
        }
      }
      const cs = this.installChild(sa, child, c.chosen, ourSpi, c.chosen.spi, localTs, remoteTs, ni, nr, false, deferOutbound, girNew);
      return wrap([
        ...(transport ? [notify(C.N_USE_TRANSPORT_MODE, new Uint8Array(0))] : []),
        { type: C.PT_SA, fields: saFields([{ ...c.reply, spi: ourSpi }]) },
        ...(keReply ? [keReply] : []),
        { type: C.PT_TSI, fields: tsFields(remoteTs) },
        { type: C.PT_TSR, fields: tsFields(localTs) },
      ], cs);
    }
    this.log(0, `no child of ${sa.conn.name} accepts TS ${tsText(tsi)} === ${tsText(tsr)} (${transport ? "transport" : "tunnel"} mode)`);
    return wrap([notify(C.N_TS_UNACCEPTABLE, new Uint8Array(0))]);
  }

  // ───────────────────────────── INFORMATIONAL, CREATE_CHILD_SA ─────────────────────────────

  private onInformational(sa: IkeSa, m: IkeMessage): void {
    const inner = m.decrypted ?? [];
    const out: IkePayloadInput[] = [];
    let deleteIke = false;
    for (const d of inner.filter((p) => p.type === C.PT_DELETE)) {
      if (d.fields.protocolId === C.PROTO_IKE) deleteIke = true;
      else if (d.fields.protocolId === C.PROTO_ESP) {
        const ours: Uint8Array[] = [];
        for (const s of (d.fields.spis as string[]) ?? []) {
          const spi = parseInt(s, 16) >>> 0;
          const owner = this.heir(sa);
          const c = owner.children.find((x) => x.info.spiOut === spi) ?? sa.children.find((x) => x.info.spiOut === spi);
          if (!c) continue;
          const home = this.ownerOf(c) ?? sa;
          this.removeChild(home, c, "deleted by peer", !!c.rekeyed);
          home.children = home.children.filter((x) => x !== c);
          ours.push(u32b(c.info.spiIn));
          this.log(0, `CHILD_SA ${c.info.name} with SPIs ${hex4(c.info.spiIn)}_i ${hex4(c.info.spiOut)}_o deleted by peer`);
        }
        if (ours.length) out.push({ type: C.PT_DELETE, fields: { protocolId: C.PROTO_ESP, spiSize: 4, spis: ours.map(hex) } });
      }
    }
    this.respond(sa, m, deleteIke ? [] : out);
    if (deleteIke) {
      // An IKE_SA replaced by a rekey the peer made (its CHILD_SAs may still be here when the
      // Delete overtook our own rekey's answer, §2.8.2): they live on with the new one.
      const heir = sa.peerRekey?.sa;
      if (sa.children.length && heir && heir.state !== "dead") this.moveChildren(sa, heir);
      this.log(0, `IKE_SA ${sa.conn.name}[${sa.id}] deleted by peer${sa.state === "rekeyed" ? " (rekeyed)" : ""}`);
      this.destroy(sa, "deleted by peer", "peer-deleted");
    }
  }

  private onCreateChild(sa: IkeSa, m: IkeMessage): void {
    const inner = m.decrypted ?? [];
    const rekey = notifies(inner).find((x) => x.type === C.N_REKEY_SA);
    const nonce = inner.find((p) => p.type === C.PT_NONCE);
    const saP = inner.find((p) => p.type === C.PT_SA);
    if (!nonce || !saP) return this.respond(sa, m, [notify(C.N_INVALID_SYNTAX, new Uint8Array(0))]);
    // §2.25: an IKE_SA being deleted or already replaced takes no new SAs.
    if (sa.state !== "established") return this.respond(sa, m, [notify(N_TEMPORARY_FAILURE, new Uint8Array(0))]);
    const proposals = parseSa(saP.fields);
    if (proposals.some((p) => p.protocolId === C.PROTO_IKE)) return this.onIkeRekeyRequest(sa, m, inner, proposals, fromHexField(nonce.fields.nonce));
    let old: ChildSa | undefined;
    if (rekey) {
      // REKEY_SA carries the SPI the peer receives on: our outbound SPI.
      const spi = rekey.spi.length === 4 ? u32(rekey.spi) : -1;
      old = sa.children.find((c) => c.info.spiOut === spi);
      if (!old) return this.respond(sa, m, [{ type: C.PT_NOTIFY, fields: { protocolId: C.PROTO_ESP, spi: rekey.spi, notifyType: N_CHILD_SA_NOT_FOUND } }]);
      if (old.replaced && !old.rekeying) return this.respond(sa, m, [notify(N_TEMPORARY_FAILURE, new Uint8Array(0))]);
    }
    const ni = fromHexField(nonce.fields.nonce);
    const nr = this.rand(32);
    // The rekey's responder keeps sending on the old SA until the initiator deletes it: until it
    // processed this answer, the initiator cannot decrypt the new one (strongSwan does the same).
    // Not in a collision (§2.8.1): which SA survives is decided when our own answer comes.
    const { reply, child } = this.childForRequestX(sa, inner, ni, nr, !!old && !old.rekeying, true, old?.conf);
    if (reply.some((p) => p.type === C.PT_SA)) reply.splice(1, 0, { type: C.PT_NONCE, fields: { nonce: nr } });
    this.respond(sa, m, reply);
    if (old && child) {
      // The peer deletes `old` — unless this is a collision with our own rekey of it (§2.8.1),
      // decided when our answer comes (rekeyChild).
      old.rekeyed = true;
      if (old.rekeying) old.peerRekeyed = { child, ni, nr };
      else {
        old.replaced = true;
        if (child.outboundPending) old.successor = child;
      }
      this.log(1, `CHILD_SA ${old.info.name} ${hex4(old.info.spiIn)}_i rekeyed by peer${old.rekeying ? " while we rekey it too" : ""}`);
    }
  }

  private establishedSa(saId: number): IkeSa | undefined {
    return [...new Set(this.sas.values())].find((s) => s.id === saId && s.state === "established");
  }

  /** Rekey a CHILD_SA (§1.3.3): create the new one first, then delete the old (make-before-break). */
  rekeyChild(saId: number, spiIn: number): Promise<ChildSaInfo> {
    const sa = this.establishedSa(saId);
    const old = sa?.children.find((c) => c.info.spiIn === spiIn);
    if (!sa || !old) return Promise.reject(new IpsecError("ERR_CONFIG", "no such established CHILD_SA"));
    if (old.rekeying || old.replaced) return Promise.reject(new IpsecError("ERR_CONFIG", `CHILD_SA ${hex4(spiIn)}_i is already being rekeyed or deleted`));
    old.rekeying = true;
    // PFS (§1.3.1) when the CHILD_SA's proposals name DH groups: the KE payload in the first.
    return new Promise((resolve, reject) => this.sendCreateChild(sa, old.conf, old, espPfsGroups(old.conf.esp_proposals)[0], resolve, reject));
  }

  /**
   * Another CHILD_SA of the IKE_SA's connection, with CREATE_CHILD_SA (§1.3.1): how the
   * children after the first come up (the first rides in IKE_AUTH), as strongSwan does for a
   * connection whose children all have start_action = start.
   */
  createChild(saId: number, childName: string): Promise<ChildSaInfo> {
    const sa = this.establishedSa(saId);
    if (!sa) return Promise.reject(new IpsecError("ERR_CONFIG", "no such established IKE_SA"));
    const child = sa.conn.children[childName];
    if (!child) return Promise.reject(new IpsecError("ERR_CONFIG", `connection '${sa.conn.name}' has no child '${childName}'`));
    return new Promise((resolve, reject) => this.sendCreateChild(sa, child, undefined, espPfsGroups(child.esp_proposals)[0], resolve, reject));
  }

  /** CREATE_CHILD_SA for `child`: a rekey of `old` (N(REKEY_SA), then old deleted) or a new CHILD_SA. */
  private sendCreateChild(sa: IkeSa, child: Child, old: ChildSa | undefined, group: number | undefined, resolve: (i: ChildSaInfo) => void, reject: (e: Error) => void, tried: number[] = []): void {
    const what = old ? `rekey of CHILD_SA ${child.name} ${hex4(old.info.spiIn)}_i` : `CHILD_SA ${child.name}`;
    const ourSpi = this.rand(4);
    const ni = this.rand(32);
    const failed = (e: Error) => {
      if (old) {
        old.rekeying = false;
        old.peerRekeyed = undefined;
      }
      reject(e);
    };
    let dh: DhExchange | undefined;
    try {
      dh = group !== undefined ? createDh(group) : undefined;
    } catch (e) {
      return failed(e as Error);
    }
    // The proposals with their DH groups; one whose groups we all lack is left out, not offered
    // without PFS (a configuration asking for PFS is never downgraded).
    const ours = espProposals(child.esp_proposals, ourSpi, true);
    if (ours.length === 0) return failed(new IpsecError("ERR_CONFIG", `${what}: no ESP proposal of child ${child.name} can be offered (DH groups not supported: ${child.esp_proposals.map((p) => p.ke.join("-")).join(", ")})`));
    // The proposals with the KE payload's group first (as for IKE_SA rekeys).
    if (group !== undefined) preferGroup(ours, group);
    this.sendRequest(
      sa,
      C.CREATE_CHILD_SA,
      [
        ...(old ? [{ type: C.PT_NOTIFY, fields: { protocolId: C.PROTO_ESP, spi: u32b(old.info.spiIn), notifyType: C.N_REKEY_SA } }] : []),
        ...(child.mode === "transport" ? [notify(C.N_USE_TRANSPORT_MODE, new Uint8Array(0))] : []),
        { type: C.PT_SA, fields: saFields(ours) },
        { type: C.PT_NONCE, fields: { nonce: ni } },
        ...(dh ? [{ type: C.PT_KE, fields: { group: dh.group, keyData: dh.publicValue } }] : []),
        { type: C.PT_TSI, fields: tsFields(old ? old.localTs : tsFromConfig(child.local_ts, sa.local.address)) },
        { type: C.PT_TSR, fields: tsFields(old ? old.remoteTs : tsFromConfig(child.remote_ts, sa.remote.address)) },
      ],
      (m) => {
        const inner = m.decrypted ?? [];
        const nonce = inner.find((p) => p.type === C.PT_NONCE);
        const invalidKe = notifies(inner).find((x) => x.type === C.N_INVALID_KE_PAYLOAD);
        if (invalidKe && invalidKe.data.length === 2 && group !== undefined) {
          // §1.3.1: the responder wants another of the groups we proposed: once more with it.
          const g = (invalidKe.data[0] << 8) | invalidKe.data[1];
          // Each group once: a peer asking back and forth does not keep us going.
          if (g !== group && !tried.includes(g) && espPfsGroups(child.esp_proposals).includes(g)) {
            this.log(1, `${what}: the peer asks for DH group ${g}, not ${group}`);
            return this.sendCreateChild(sa, child, old, g, resolve, reject, [...tried, group]);
          }
        }
        const err = notifies(inner).find((x) => x.type < C.NOTIFY_STATUS_MIN);
        if (err || !nonce) return failed(new IpsecError("ERR_CONFIG", `${old ? "rekey" : "CHILD_SA"} refused: ${err ? (C.NOTIFY_NAMES[err.type] ?? (err.type === N_TEMPORARY_FAILURE ? "TEMPORARY_FAILURE" : err.type === N_CHILD_SA_NOT_FOUND ? "CHILD_SA_NOT_FOUND" : err.type)) : "no nonce"}`));
        const nr = fromHexField(nonce.fields.nonce);
        let fresh: ChildSa;
        try {
          fresh = this.childFromResponse(sa, child, ourSpi, inner, ni, nr, { dh });
        } catch (e) {
          return failed(e as Error);
        }
        if (!old) return resolve(fresh.info);
        old.rekeying = false;
        old.replaced = true;
        old.rekeyed = true;
        const theirs = old.peerRekeyed;
        if (theirs && this.ownerOf(theirs.child)) {
          // §2.8.1: both rekeyed; the SA made with the lowest of the four nonces is redundant
          // and goes, deleted by whoever made it; the other side deletes the old one.
          if (cmpBytes(lowest(ni, nr), lowest(theirs.ni, theirs.nr)) < 0) {
            this.log(1, `CHILD_SA rekey collision: ours (${hex4(fresh.info.spiIn)}_i) has the lowest nonce, deleting it; the peer deletes ${hex4(old.info.spiIn)}_i`);
            fresh.replaced = true;
            fresh.rekeyed = true;
            this.deleteChild(sa, fresh);
            return resolve(theirs.child.info);
          }
          this.log(1, `CHILD_SA rekey collision: the peer's (${hex4(theirs.child.info.spiIn)}_i) has the lowest nonce and is deleted by the peer`);
        }
        this.deleteChild(sa, old);
        resolve(fresh.info);
      },
      (reason) => failed(new IpsecError("ERR_IKE_TIMEOUT", `${what} not answered: IKE_SA gone (${reason})`)),
    );
  }

  private deleteChild(sa: IkeSa, c: ChildSa): void {
    c.replaced = true;
    this.clearTimers(c.timers);
    const home = this.heir(this.ownerOf(c) ?? sa);
    this.sendRequest(home, C.INFORMATIONAL, [{ type: C.PT_DELETE, fields: { protocolId: C.PROTO_ESP, spiSize: 4, spis: [hex(u32b(c.info.spiIn))] } }], () => {
      const owner = this.ownerOf(c);
      if (!owner) return;
      this.removeChild(owner, c, c.rekeyed ? "rekeyed" : "deleted", !!c.rekeyed);
      owner.children = owner.children.filter((x) => x !== c);
    });
  }

  // ───────────────────────────── IKE_SA rekeying (§1.3.2, §2.18, §2.8.2) ─────────────────────────────

  /** The IKE_SA that carries on for `sa` (itself unless rekeyed). */
  private heir(sa: IkeSa): IkeSa {
    let s = sa;
    for (let i = 0; i < 8 && s.rekeyedTo && s.rekeyedTo.state !== "dead"; i++) s = s.rekeyedTo;
    return s;
  }

  private ownerOf(c: ChildSa): IkeSa | undefined {
    for (const s of new Set(this.sas.values())) if (s.children.includes(c)) return s;
    return undefined;
  }

  /** The CHILD_SAs of `from` move to `to` (§2.18); `to` is announced. */
  private moveChildren(from: IkeSa, to: IkeSa): void {
    to.children.push(...from.children);
    from.children = [];
    from.state = "rekeyed";
    from.rekeyedTo = to;
    for (const l of this.lingering) if (l.owner === from) l.owner = to;
    this.clearTimers(from.timers);
    if (to.silent) {
      to.silent = false;
      this.log(0, `IKE_SA ${to.conn.name}[${from.id}] rekeyed: now ${to.conn.name}[${to.id}] ${hex(to.spiI)}_i ${hex(to.spiR)}_r`);
      this.emit({ type: "ike-up", sa: this.info(to) });
      this.ikeLifetimes(to);
      this.liveness(to);
    }
  }

  /** A new IKE_SA from a rekey exchange on `old` (§2.18). Not announced until it takes the CHILD_SAs. */
  private rekeyedSa(old: IkeSa, r: { initiator: boolean; spiI: Uint8Array; spiR: Uint8Array; ni: Uint8Array; nr: Uint8Array; chosen: Chosen; gir: Uint8Array }): IkeSa {
    const suite: IkeSaSuite = { prf: r.chosen.prf!, encr: r.chosen.encr, keyLen: r.chosen.keyLen, integ: r.chosen.integ };
    // SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr), with the OLD IKE_SA's PRF (§2.18).
    const seed = rekeySkeyseed(old.suite!.prf, old.keys!.skD, r.gir, r.ni, r.nr);
    r.gir.fill(0);
    const sa: IkeSa = {
      id: this.nextId++,
      conn: old.conn,
      initiator: r.initiator,
      state: "established",
      spiI: r.spiI,
      spiR: r.spiR,
      local: old.local,
      remote: old.remote,
      natt: old.natt,
      ni: r.ni,
      nr: r.nr,
      suite,
      group: r.chosen.group!,
      nextOut: 0, // §2.18: message IDs start again at 0
      nextIn: 0,
      queue: [],
      children: [],
      timers: new Set(),
      silent: true,
      peerId: old.peerId,
      peerSigHashes: old.peerSigHashes,
    };
    sa.keys = deriveIkeSaKeys(suite, { ni: r.ni, nr: r.nr, spiI: r.spiI, spiR: r.spiR, skeyseed: seed });
    sa.codec = toIkeSaKeys(suite, r.spiI, r.spiR, sa.keys);
    this.sas.set(key(sa.spiI, sa.spiR), sa);
    return sa;
  }

  /** Delete an IKE_SA that was replaced or is redundant, without announcing it (its CHILD_SAs live elsewhere). */
  private retire(sa: IkeSa): void {
    if (sa.state === "established") sa.state = "rekeyed";
    sa.silent = true;
    this.clearTimers(sa.timers);
    this.sendRequest(sa, C.INFORMATIONAL, [{ type: C.PT_DELETE, fields: { protocolId: C.PROTO_IKE, spiSize: 0, spis: [] } }], () => this.destroy(sa, "rekeyed"));
  }

  /** Rekey an IKE_SA (§1.3.2): resolves with the new IKE_SA, which carries the CHILD_SAs on. */
  rekeyIkeSa(saId: number): Promise<IkeSaInfo> {
    const sa = this.establishedSa(saId);
    if (!sa) return Promise.reject(new IpsecError("ERR_CONFIG", "no such established IKE_SA"));
    if (sa.rekey) return Promise.reject(new IpsecError("ERR_CONFIG", `IKE_SA ${saId} is already being rekeyed`));
    return new Promise((resolve, reject) => this.sendIkeRekey(sa, sa.group, resolve, reject));
  }

  private sendIkeRekey(sa: IkeSa, group: number, resolve: (i: IkeSaInfo) => void, reject: (e: Error) => void): void {
    const spi = this.spi8();
    const ni = this.rand(32);
    let dh: DhExchange;
    try {
      dh = createDh(group);
    } catch (e) {
      return reject(e as Error);
    }
    sa.rekey = { spi, ni };
    const ours = ikeProposals(sa.conn.proposals, spi as Uint8Array<ArrayBuffer>);
    // Offer the proposal with the current group first, so the KE payload matches it.
    preferGroup(ours, group);
    this.log(1, `rekeying IKE_SA ${sa.conn.name}[${sa.id}]`);
    this.sendRequest(
      sa,
      C.CREATE_CHILD_SA,
      [
        { type: C.PT_SA, fields: saFields(ours) },
        { type: C.PT_NONCE, fields: { nonce: ni } },
        { type: C.PT_KE, fields: { group, keyData: dh.publicValue } },
      ],
      (m) => {
        const inner = m.decrypted ?? [];
        const n = notifies(inner);
        const fail = (why: string) => {
          sa.rekey = undefined;
          this.log(0, `IKE_SA ${sa.conn.name}[${sa.id}] rekey failed: ${why}`);
          reject(new IpsecError("ERR_IKE_REFUSED", `IKE_SA rekey failed: ${why}`));
        };
        const invalidKe = n.find((x) => x.type === C.N_INVALID_KE_PAYLOAD);
        if (invalidKe) {
          const g = (invalidKe.data[0] << 8) | invalidKe.data[1];
          const offered = ours.some((p) => p.transforms.some((t) => t.type === C.TRANSFORM_KE && t.id === g));
          if (!offered || g === group) return fail(`peer asked for DH group ${g}`);
          sa.rekey = undefined;
          return this.sendIkeRekey(sa, g, resolve, reject);
        }
        const err = n.find((x) => x.type < C.NOTIFY_STATUS_MIN);
        if (err) return fail(C.NOTIFY_NAMES[err.type] ?? (err.type === N_TEMPORARY_FAILURE ? "TEMPORARY_FAILURE" : String(err.type)));
        const saP = inner.find((p) => p.type === C.PT_SA);
        const ke = inner.find((p) => p.type === C.PT_KE);
        const nonce = inner.find((p) => p.type === C.PT_NONCE);
        if (!saP || !ke || !nonce) return fail("response lacks SA, KE or Nr");
        const picked = parseSa(saP.fields);
        const c = picked.length === 1 ? choose(ours, picked, C.PROTO_IKE) : undefined;
        if (!c || c.chosen.group !== group || (ke.fields.group as number) !== group || c.chosen.spi.length !== 8) return fail("response chose no proposal we made");
        let gir: Uint8Array;
        try {
          gir = dh.computeSecret(fromHexField(ke.fields.keyData));
        } catch (e) {
          return fail((e as Error).message);
        }
        const nr = fromHexField(nonce.fields.nonce);
        sa.rekey = undefined;
        if (sa.state === "dead") return fail("the IKE_SA went away meanwhile");
        const fresh = this.rekeyedSa(sa, { initiator: true, spiI: spi, spiR: c.chosen.spi, ni, nr, chosen: c.chosen, gir });
        const theirs = sa.peerRekey;
        if (theirs && theirs.sa.state !== "dead") {
          // §2.8.2: both rekeyed; the new IKE_SA made with the lowest of the four nonces is
          // redundant and deleted by its initiator; the other side deletes the old one.
          if (cmpBytes(lowest(ni, nr), lowest(theirs.ni, theirs.nr)) < 0) {
            this.log(1, `IKE_SA rekey collision: ours ([${fresh.id}]) has the lowest nonce, deleting it; the peer deletes [${sa.id}]`);
            if (sa.children.length || sa.state === "established") this.moveChildren(sa, theirs.sa);
            this.retire(fresh);
            return resolve(this.info(theirs.sa));
          }
          this.log(1, `IKE_SA rekey collision: the peer's ([${theirs.sa.id}]) has the lowest nonce and is deleted by the peer`);
          theirs.sa.children.length && this.moveChildren(theirs.sa, fresh);
        }
        this.moveChildren(sa, fresh);
        this.retire(sa);
        resolve(this.info(fresh));
      },
      (reason) => {
        sa.rekey = undefined;
        reject(new IpsecError("ERR_IKE_TIMEOUT", `rekey of IKE_SA ${sa.conn.name}[${sa.id}] not answered: IKE_SA gone (${reason})`));
      },
    );
  }

  /** The responder's side of an IKE_SA rekey (§1.3.2). */
  private onIkeRekeyRequest(sa: IkeSa, m: IkeMessage, inner: IkePayload[], theirs: Proposal[], ni: Uint8Array): void {
    const ke = inner.find((p) => p.type === C.PT_KE);
    if (!ke) return this.respond(sa, m, [notify(C.N_INVALID_SYNTAX, new Uint8Array(0))]);
    const group = ke.fields.group as number;
    const c = chooseWithGroup(ikeProposals(sa.conn.proposals), theirs, C.PROTO_IKE, group);
    if (!c) return this.respond(sa, m, [notify(C.N_NO_PROPOSAL_CHOSEN, new Uint8Array(0))]);
    if (c.chosen.spi.length !== 8 || isZero(c.chosen.spi)) return this.respond(sa, m, [notify(C.N_INVALID_SYNTAX, new Uint8Array(0))]);
    if (c.chosen.group !== group) return this.respond(sa, m, [notify(C.N_INVALID_KE_PAYLOAD, Uint8Array.of(c.chosen.group! >> 8, c.chosen.group! & 0xff))]);
    let dh: DhExchange;
    let gir: Uint8Array;
    try {
      dh = createDh(group);
      gir = dh.computeSecret(fromHexField(ke.fields.keyData));
    } catch {
      return this.respond(sa, m, [notify(C.N_INVALID_SYNTAX, new Uint8Array(0))]);
    }
    const nr = this.rand(32);
    const spiR = this.spi8();
    const fresh = this.rekeyedSa(sa, { initiator: false, spiI: c.chosen.spi, spiR, ni, nr, chosen: c.chosen, gir });
    this.respond(sa, m, [
      { type: C.PT_SA, fields: saFields([{ ...c.reply, spi: spiR }]) },
      { type: C.PT_NONCE, fields: { nonce: nr } },
      { type: C.PT_KE, fields: { group, keyData: dh.publicValue } },
    ]);
    sa.peerRekey = { sa: fresh, ni, nr };
    if (sa.rekey) {
      this.log(1, `IKE_SA ${sa.conn.name}[${sa.id}] rekeyed by the peer while we rekey it too (§2.8.2): decided when our answer comes`);
      return;
    }
    // The peer deletes the old IKE_SA; the CHILD_SAs live on with the new one from now on.
    this.moveChildren(sa, fresh);
  }

  // ───────────────────────────── lifetimes ─────────────────────────────

  private later(set: Set<Timer>, seconds: number, fn: () => void): void {
    const t = setTimeout(() => {
      set.delete(t);
      if (!this.closed) fn();
    }, Math.max(0, seconds * (this.opt.secondMs ?? 1000)));
    (t as { unref?: () => void }).unref?.();
    set.add(t);
  }

  private clearTimers(set: Set<Timer>): void {
    for (const t of set) clearTimeout(t);
    set.clear();
  }

  /** A random amount in [0, max). */
  private jitter(max: number): number {
    return max > 0 ? (u32(this.rand(4)) / 2 ** 32) * max : 0;
  }

  private childLifetimes(cs: ChildSa): void {
    if (this.opt.lifetimes === false) return;
    const c = cs.conf;
    if (c.rekey_time > 0) this.later(cs.timers, c.rekey_time - this.jitter(Math.min(c.rand_time, c.rekey_time)), () => this.autoRekeyChild(cs, `rekey_time ${c.rekey_time}s`));
    if (c.life_time > 0) this.later(cs.timers, c.life_time, () => this.expireChild(cs, `life_time ${c.life_time}s`));
    cs.limits = {
      bytes: c.rekey_bytes > 0 ? c.rekey_bytes - Math.floor(this.jitter(Math.min(c.rand_bytes, c.rekey_bytes))) : 0,
      packets: c.rekey_packets > 0 ? c.rekey_packets - Math.floor(this.jitter(Math.min(c.rand_packets, c.rekey_packets))) : 0,
    };
    if (this.dp && !this.poll) {
      this.poll = setInterval(() => this.checkVolumes(), this.opt.pollMs ?? 1000);
      (this.poll as { unref?: () => void }).unref?.();
    }
  }

  private autoRekeyChild(cs: ChildSa, why: string): void {
    const sa = this.ownerOf(cs);
    if (!sa || cs.replaced || cs.rekeying) return;
    if (sa.state !== "established" || sa.rekey) return this.later(cs.timers, 1, () => this.autoRekeyChild(cs, why));
    this.log(1, `rekeying CHILD_SA ${cs.info.name}{${sa.id}} ${hex4(cs.info.spiIn)}_i: ${why}`);
    this.rekeyChild(sa.id, cs.info.spiIn).catch((e: Error) => {
      this.log(0, `rekeying CHILD_SA ${cs.info.name} ${hex4(cs.info.spiIn)}_i failed: ${e.message}; retrying`);
      if (!cs.replaced && this.ownerOf(cs)) this.later(cs.timers, 2, () => this.autoRekeyChild(cs, why));
    });
  }

  private expireChild(cs: ChildSa, why: string): void {
    const sa = this.ownerOf(cs);
    if (!sa) return;
    this.log(0, `CHILD_SA ${cs.info.name}{${sa.id}} ${hex4(cs.info.spiIn)}_i expired (${why}): deleting it`);
    if (sa.state === "established" || sa.state === "rekeyed") this.deleteChild(sa, cs);
    else {
      this.removeChild(sa, cs, `expired (${why})`);
      sa.children = sa.children.filter((x) => x !== cs);
    }
  }

  /** The volume lifetimes, and sequence number exhaustion, from the dataplane's counters. */
  private checkVolumes(): void {
    if (!this.dp || this.closed) return;
    for (const sa of new Set(this.sas.values())) {
      for (const cs of [...sa.children]) {
        // Traffic on a rekey's new inbound SA: the initiator has it installed, we may send on it.
        if (cs.outboundPending && cs.inbound && this.dp.esp.stats(cs.inbound).packets > 0n) this.switchOutbound(cs, "the peer sends on it");
        if (!cs.outbound || !cs.inbound || cs.replaced) continue;
        const o = this.dp.esp.stats(cs.outbound);
        const i = this.dp.esp.stats(cs.inbound);
        const bytes = Number(o.octets > i.octets ? o.octets : i.octets);
        const packets = Number(o.packets > i.packets ? o.packets : i.packets);
        const c = cs.conf;
        if ((c.life_bytes > 0 && bytes >= c.life_bytes) || (c.life_packets > 0 && packets >= c.life_packets)) {
          this.expireChild(cs, c.life_bytes > 0 && bytes >= c.life_bytes ? `life_bytes ${c.life_bytes}` : `life_packets ${c.life_packets}`);
          continue;
        }
        if (cs.rekeying) continue;
        if (o.spent) this.autoRekeyChild(cs, "outbound sequence numbers exhausted");
        else if (cs.limits.bytes > 0 && bytes >= cs.limits.bytes) this.autoRekeyChild(cs, `rekey_bytes ${c.rekey_bytes} (${bytes} bytes)`);
        else if (cs.limits.packets > 0 && packets >= cs.limits.packets) this.autoRekeyChild(cs, `rekey_packets ${c.rekey_packets} (${packets} packets)`);
      }
    }
  }

  private ikeLifetimes(sa: IkeSa): void {
    if (this.opt.lifetimes === false) return;
    const c = sa.conn;
    if (c.rekey_time <= 0) return;
    this.later(sa.timers, c.rekey_time - this.jitter(Math.min(c.rand_time, c.rekey_time)), () => this.autoRekeyIke(sa));
    if (c.over_time > 0)
      this.later(sa.timers, c.rekey_time + c.over_time, () => {
        this.log(0, `IKE_SA ${c.name}[${sa.id}] not rekeyed within rekey_time + over_time: deleting it`);
        void this.deleteIkeSa(sa.id);
      });
  }

  private autoRekeyIke(sa: IkeSa): void {
    if (sa.state !== "established" || sa.rekey) return;
    this.rekeyIkeSa(sa.id).catch(() => {
      if (sa.state === "established") this.later(sa.timers, 2, () => this.autoRekeyIke(sa));
    });
  }

  // ───────────────────────────── liveness (§2.4, swanctl.conf's dpd_delay) ─────────────────────────────

  /**
   * With the connection's dpd_delay, an IKE_SA whose peer sent nothing for dpd_delay (no
   * authentic IKE message, no ESP packet on one of its CHILD_SAs) gets a liveness check: an empty
   * INFORMATIONAL request (§1.4, §2.4). It is retransmitted like any request; when that gives up
   * (the retransmit settings, charon's retransmit_timeout/_base/_tries: strongSwan's
   * dpd_timeout is IKEv1-only) the peer is declared dead and the IKE_SA destroyed with its
   * CHILD_SAs (ike-down, cause "peer-dead"). ESP is noticed by the inbound SAs' packet counters,
   * looked at every pollMs (strongSwan asks the kernel for the SAs' last use time instead).
   * Clocks: performance.now() (monotonic) and real timers; dpd_delay is scaled by secondMs like lifetimes.
   */
  private liveness(sa: IkeSa): void {
    if (sa.conn.dpd_delay <= 0) return;
    sa.lastInbound ??= performance.now();
    this.livenessTimer(sa, 0);
  }

  private livenessTimer(sa: IkeSa, ms: number): void {
    const t = setTimeout(() => {
      sa.timers.delete(t);
      if (!this.closed) this.livenessTick(sa);
    }, ms);
    (t as { unref?: () => void }).unref?.();
    sa.timers.add(t);
  }

  private livenessTick(sa: IkeSa): void {
    // Rekeyed (the new IKE_SA checks), being deleted or dead: nothing more to check here.
    if (sa.state !== "established") return;
    const delay = sa.conn.dpd_delay * (this.opt.secondMs ?? 1000);
    const now = performance.now();
    if (this.espSeen(sa)) sa.lastInbound = now;
    let idle = now - (sa.lastInbound ?? now);
    if (idle >= delay) {
      // A request in flight is a liveness check already: its retransmissions decide.
      if (!sa.pending) {
        this.log(1, `sending DPD request: nothing from ${sa.remote.address} on IKE_SA ${sa.conn.name}[${sa.id}] for ${(idle / 1000).toFixed(1)}s`);
        this.sendRequest(sa, C.INFORMATIONAL, [], () => this.log(2, `IKE_SA ${sa.conn.name}[${sa.id}]: DPD response from ${sa.remote.address}`));
      }
      sa.lastInbound = now;
      idle = 0;
    }
    this.livenessTimer(sa, Math.min(delay - idle, this.opt.pollMs ?? 1000));
  }

  /** Whether an inbound SA of the IKE_SA's CHILD_SAs counted packets since the last look. */
  private espSeen(sa: IkeSa): boolean {
    if (!this.dp) return false;
    let seen = false;
    for (const c of sa.children) {
      if (!c.inbound) continue;
      const n = this.dp.esp.stats(c.inbound).packets;
      if (n !== (c.seenIn ?? 0n)) seen = true;
      c.seenIn = n;
    }
    return seen;
  }

  /** Delete an IKE_SA and its CHILD_SAs (INFORMATIONAL with D(IKE)). Resolves when the peer answered or gave up. */
  deleteIkeSa(saId: number): Promise<void> {
    const sa = [...this.sas.values()].find((s) => s.id === saId);
    if (!sa) return Promise.resolve();
    if (sa.state !== "established") {
      this.destroy(sa, "deleted locally");
      return Promise.resolve();
    }
    sa.state = "deleting";
    return new Promise((resolve) => {
      this.sendRequest(sa, C.INFORMATIONAL, [{ type: C.PT_DELETE, fields: { protocolId: C.PROTO_IKE, spiSize: 0, spis: [] } }], () => {
        this.destroy(sa, "deleted locally");
        resolve();
      });
      setTimeout(() => {
        this.destroy(sa, "deleted locally");
        resolve();
      }, 2000).unref?.();
    });
  }

  /** Liveness check (§1.4: an empty INFORMATIONAL request). Resolves true when answered, false when the IKE_SA dies first. */
  ping(saId: number): Promise<boolean> {
    const sa = [...this.sas.values()].find((s) => s.id === saId && s.state === "established");
    if (!sa) return Promise.resolve(false);
    return new Promise((resolve) =>
      this.sendRequest(
        sa,
        C.INFORMATIONAL,
        [],
        () => resolve(true),
        () => resolve(false),
      ),
    );
  }

  /** Stop: delete every IKE_SA (and their SAs in the dataplane), stop timers. */
  async close(): Promise<void> {
    await Promise.all(this.list().map((s) => this.deleteIkeSa(s.id)));
    this.closed = true;
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
    for (const sa of new Set(this.sas.values())) this.destroy(sa, "closed");
    for (const l of [...this.lingering]) this.unlinger(l);
  }

  // ───────────────────────────── identities and secrets ─────────────────────────────

  private secretFor(conn: Connection, local: Identity | null, remote: Identity): Uint8Array | undefined {
    const secrets = Object.values(this.cfg.secrets);
    const has = (s: { ids: Identity[] }, id: Identity | null) => !!id && s.ids.some((x) => x.type === id.type && x.value.toLowerCase() === id.value.toLowerCase());
    void conn;
    return (
      secrets.find((s) => has(s, local) && has(s, remote)) ??
      secrets.find((s) => has(s, remote)) ??
      secrets.find((s) => has(s, local)) ??
      secrets.find((s) => s.ids.length === 0)
    )?.secret;
  }
}

// ───────────────────────────── small helpers ─────────────────────────────

interface Notify {
  type: number;
  spi: Uint8Array;
  data: Uint8Array;
}

function notifies(ps: IkePayload[]): Notify[] {
  return ps
    .filter((p) => p.type === C.PT_NOTIFY)
    .map((p) => ({ type: p.fields.notifyType as number, spi: fromHexField(p.fields.spi), data: fromHexField(p.fields.data) }));
}

function notify(type: number, data: Uint8Array): IkePayloadInput {
  return { type: C.PT_NOTIFY, fields: { protocolId: 0, notifyType: type, data } };
}

function fromHexField(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  return new Uint8Array(Buffer.from(String(v ?? ""), "hex"));
}

function usesPubkey(conn: Connection): boolean {
  return conn.local.auth === "pubkey" || conn.remote.auth === "pubkey";
}

/** SIGNATURE_HASH_ALGORITHMS notify data: 16-bit hash algorithm IDs (RFC 7427 §4). */
function hashList(ids: number[]): Uint8Array {
  return Uint8Array.from(ids.flatMap((i) => [i >> 8, i & 0xff]));
}

function sigHashes(n: Notify[]): number[] | undefined {
  const x = n.find((y) => y.type === C.N_SIGNATURE_HASH_ALGORITHMS);
  if (!x) return undefined;
  const out: number[] = [];
  for (let i = 0; i + 1 < x.data.length; i += 2) out.push((x.data[i] << 8) | x.data[i + 1]);
  return out;
}

/** §2.8: octet-by-octet comparison; a nonce that is a prefix of the other is the lower. */
function cmpBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function lowest(a: Uint8Array, b: Uint8Array): Uint8Array {
  return cmpBytes(a, b) <= 0 ? a : b;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

function hex4(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function key(spiI: Uint8Array, spiR: Uint8Array): string {
  return `${hex(spiI)}:${hex(spiR)}`;
}

function isZero(b: Uint8Array): boolean {
  return b.every((x) => x === 0);
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function u32(b: Uint8Array): number {
  return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
}

function u32b(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function wipeKeys(k: IkeSaKeyMaterial): void {
  for (const v of Object.values(k)) if (v instanceof Uint8Array) v.fill(0);
}

function firstAddress(specs: Connection["local_addrs"]): string | undefined {
  const a = specs.find((s) => s.kind === "address");
  return a && a.kind === "address" ? a.address : undefined;
}

function matchesAddr(specs: Connection["local_addrs"], address: string): boolean {
  if (specs.length === 0) return true;
  const v = parseIp(address);
  if (!v) return false;
  return specs.some((s) => {
    if (s.kind === "any") return !s.family || s.family === v.family;
    if (s.kind === "address") return s.address === address;
    if (s.kind === "subnet") {
      const p = parseIp(s.address)!;
      if (p.family !== v.family) return false;
      const bits = (v.family === 4 ? 32 : 128) - s.length;
      return big(v.bytes) >> BigInt(bits) === big(p.bytes) >> BigInt(bits);
    }
    if (s.kind === "range") return big(parseIp(s.from)!.bytes) <= big(v.bytes) && big(v.bytes) <= big(parseIp(s.to)!.bytes);
    return false;
  });
}

function big(b: Uint8Array): bigint {
  return BigInt(`0x${hex(b) || "0"}`);
}

const ID_TYPES: Record<string, number> = { ipv4: C.ID_IPV4_ADDR, ipv6: C.ID_IPV6_ADDR, fqdn: C.ID_FQDN, rfc822: C.ID_RFC822_ADDR, keyid: C.ID_KEY_ID };

function addrId(address: string): Identity {
  return { type: address.includes(":") ? "ipv6" : "ipv4", value: address };
}

/** ID payload fields for a configured identity (null: our IKE address). */
function idFields(id: Identity | null, address: string): Record<string, unknown> {
  const i = id ?? addrId(address);
  const t = ID_TYPES[i.type];
  if (t === undefined) throw new IpsecError("ERR_CONFIG", `identity type ${i.type} is not supported for IKE_AUTH yet`);
  return t === C.ID_KEY_ID ? { idType: t, data: i.value.replace(/^#/, "") } : { idType: t, value: i.value };
}

/** RestOfIDPayload (§2.15): ID Type ‖ RESERVED ‖ Identification Data. */
function idBodyOf(f: Record<string, unknown>): Uint8Array {
  const type = f.idType as number;
  let data: Uint8Array;
  if (typeof f.data === "string" && f.value === undefined) data = fromHexField(f.data);
  else if (type === C.ID_IPV4_ADDR || type === C.ID_IPV6_ADDR) data = parseIp(String(f.value))!.bytes;
  else if (typeof f.data === "string") data = fromHexField(f.data);
  else data = new TextEncoder().encode(String(f.value));
  return concat([Uint8Array.of(type, 0, 0, 0), data]);
}

function identityOf(f: Record<string, unknown>): Identity {
  const t = f.idType as number;
  const type = (Object.entries(ID_TYPES).find(([, v]) => v === t)?.[0] ?? "keyid") as Identity["type"];
  return { type, value: String(f.value ?? f.data ?? "") };
}

function idMatches(want: Identity, got: Record<string, unknown>, address: string): boolean {
  if (want.type === "any") return true;
  const g = identityOf(got);
  void address;
  return g.type === want.type && g.value.toLowerCase() === want.value.toLowerCase();
}

function idText(id: Identity | null, address: string): string {
  return id ? id.value : address;
}

/** Header only, without verifying Length against trailing bytes (the full decode does that). */
function decodeHeaderLoose(b: Uint8Array): { spiI: Uint8Array; spiR: Uint8Array; exchangeType: number; flags: { response: boolean }; messageId: number } {
  if (b.length < C.IKE_HEADER_LEN || b[17] >> 4 !== 2) throw new IpsecError("ERR_IKE_MALFORMED", "not an IKEv2 header");
  return {
    spiI: b.slice(0, 8),
    spiR: b.slice(8, 16),
    exchangeType: b[18],
    flags: { response: (b[19] & C.IKE_FLAG_RESPONSE) !== 0 },
    messageId: ((b[20] << 24) | (b[21] << 16) | (b[22] << 8) | b[23]) >>> 0,
  };
}

export { formatIPv4, type Proposal };
