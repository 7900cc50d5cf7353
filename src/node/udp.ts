/**
 * The Node transport of an RFC 4891 endpoint over UDP (node:dgram), needing no privileges
 * beyond the ports: IKE on its port (500, or another), and the NAT-T port (4500, or another)
 * shared by IKE (after the non-ESP marker) and UDP-encapsulated ESP (RFC 3948).
 *
 *   datagram on the IKE port                → IkeEndpoint.receive
 *   datagram on the NAT-T port: marker      → IkeEndpoint.receive
 *                               0xFF        → NAT-keepalive, counted
 *                               otherwise   → ESP: queued, and per event-loop turn the batch
 *                                              goes through the dataplane's inbound pipeline
 *                                              (the outer IPv4/UDP header is rebuilt from the
 *                                              socket's addresses so every RFC 4213/4891 check
 *                                              runs as for a raw packet)
 *   send(ipv6 packets)                      → dataplane outbound; UDP-encapsulated results go
 *                                              out of the NAT-T socket, ICMPv6 Packet Too Big
 *                                              back to `deliver`
 *
 * Raw ESP (IP protocol 50) needs a raw socket, which is the native addon's job (src/node/raw).
 */
import { INSPECT_SYMBOL } from "../redact.js";
import { createSocket, type Socket } from "node:dgram";
import { IkeEndpoint, type IkeEndpointOptions, type UdpAddress } from "../ike/endpoint.js";
import { slotBytesForTunnels, type Dataplane, type PipelineBatch } from "../pipeline.js";
import type { Config } from "../config/model.js";
import { ipv4HeaderChecksum } from "../reassembly.js";
import { parseIp } from "../addr.js";
import { copyOut } from "../core/wasm.js";
import { IpsecError } from "../errors.js";

export interface UdpNodeOptions {
  config: Config;
  dataplane: Dataplane;
  /** Local IPv4 address to bind. */
  address: string;
  /** IKE port (default 500). */
  ikePort?: number;
  /** NAT-T port (default 4500). */
  nattPort?: number;
  /** Inner IPv6 packets that came out of a tunnel (and Packet Too Big messages for local senders). */
  deliver(packet: Uint8Array, tunnel: number): void;
  /** IKE options passed through (log, retransmit, events, …). */
  ike?: Partial<Omit<IkeEndpointOptions, "config" | "dataplane" | "send">>;
  /** Packets per batch through the pipelines (default 64). */
  batch?: number;
  /**
   * RFC 3948 §4: NAT-keepalive interval in ms for IKE_SAs that use UDP encapsulation (default
   * 20,000, charon's keep_alive; 0 disables).
   */
  keepaliveMs?: number;
}

export interface UdpNodeStats {
  ikeIn: number;
  keepalivesSent: number;
  espIn: number;
  espOut: number;
  keepalives: number;
  delivered: number;
  sendErrors: number;
  /** Outbound packets that needed raw ESP (no UDP encapsulation): not possible without the addon. */
  rawNeeded: number;
}

const KEEPALIVE = Uint8Array.of(0xff);

export class UdpNode {
  /** A summary in util.inspect / JSON.stringify (the endpoint inside holds keys). */
  [INSPECT_SYMBOL](): string {
    return `UdpNode { address: '${this.opt.address}', stats: ${JSON.stringify(this.stats)} }`;
  }

  toJSON(): object {
    return { address: this.opt.address, stats: this.stats };
  }

  readonly ike: IkeEndpoint;
  readonly stats: UdpNodeStats = { ikeIn: 0, keepalivesSent: 0, espIn: 0, espOut: 0, keepalives: 0, delivered: 0, sendErrors: 0, rawNeeded: 0 };
  readonly dp: Dataplane;
  private readonly opt: UdpNodeOptions;
  private readonly ikeSock: Socket;
  private readonly nattSock: Socket;
  private readonly local: Uint8Array;
  private readonly rx: PipelineBatch;
  private readonly tx: PipelineBatch;
  private queued = false;
  private closed = false;

  private constructor(opt: UdpNodeOptions, ikeSock: Socket, nattSock: Socket) {
    this.opt = opt;
    this.dp = opt.dataplane;
    this.ikeSock = ikeSock;
    this.nattSock = nattSock;
    const a = parseIp(opt.address);
    if (!a || a.family !== 4) throw new IpsecError("ERR_CONFIG", `'${opt.address}' is not an IPv4 address to bind`);
    this.local = a.bytes;
    const n = opt.batch ?? 64;
    // Slots hold the largest packet of any configured tunnel, encapsulated.
    const slotBytes = slotBytesForTunnels(Object.values(opt.config.tunnels));
    this.rx = this.dp.createBatch({ packets: n, slotBytes });
    this.tx = this.dp.createBatch({ packets: n, slotBytes });
    this.ike = new IkeEndpoint({
      ...opt.ike,
      config: opt.config,
      dataplane: opt.dataplane,
      send: (data, from, to) => this.sendUdp(from.port === this.ikePort ? this.ikeSock : this.nattSock, data, to),
    });
    ikeSock.on("message", (msg, r) => this.onIke(msg, r.address, r.port, this.ikePort));
    nattSock.on("message", (msg, r) => this.onNatt(msg, r.address, r.port));
    const every = opt.keepaliveMs ?? 20_000;
    if (every > 0) {
      this.keepalive = setInterval(() => this.sendKeepalives(), every);
      this.keepalive.unref?.();
    }
  }

  private keepalive?: ReturnType<typeof setInterval>;

  /** One 0xFF byte to every peer we reach through UDP encapsulation (keeps NAT mappings alive). */
  private sendKeepalives(): void {
    for (const sa of this.ike.list()) {
      if (sa.state !== "established" || !sa.natt) continue;
      this.sendUdp(this.nattSock, KEEPALIVE, sa.remote);
      this.stats.keepalivesSent++;
    }
  }

  get ikePort(): number {
    return this.opt.ikePort ?? 500;
  }

  get nattPort(): number {
    return this.opt.nattPort ?? 4500;
  }

  /** Bind both sockets; rejects with the OS error (EACCES for ports below 1024 without privileges, EADDRINUSE). */
  static async bind(opt: UdpNodeOptions): Promise<UdpNode> {
    const open = (port: number) =>
      new Promise<Socket>((resolve, reject) => {
        const s = createSocket({ type: "udp4", reuseAddr: false });
        s.once("error", reject);
        s.bind(port, opt.address, () => {
          s.off("error", reject);
          resolve(s);
        });
      });
    const ike = await open(opt.ikePort ?? 500);
    let natt: Socket;
    try {
      natt = await open(opt.nattPort ?? 4500);
    } catch (e) {
      ike.close();
      throw e;
    }
    const node = new UdpNode(opt, ike, natt);
    for (const s of [ike, natt]) s.on("error", () => node.stats.sendErrors++);
    return node;
  }

  private sendUdp(sock: Socket, data: Uint8Array, to: UdpAddress): void {
    if (this.closed) return;
    sock.send(data, to.port, to.address, (err) => {
      if (err) this.stats.sendErrors++;
    });
  }

  private onIke(msg: Buffer, address: string, port: number, localPort: number): void {
    this.stats.ikeIn++;
    this.ike.receive(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { address, port }, { address: this.opt.address, port: localPort });
  }

  private onNatt(msg: Buffer, address: string, port: number): void {
    if (msg.length >= 4 && msg.readUInt32BE(0) === 0) {
      // ESP that arrived before this IKE message is processed first: a Delete must not remove
      // an SA while packets sent on it are still queued (the order the socket gave us).
      this.flushIn();
      return this.onIke(msg, address, port, this.nattPort);
    }
    if (msg.length === 1 && msg[0] === 0xff) {
      this.stats.keepalives++;
      return;
    }
    this.stats.espIn++;
    if (!this.rx.fits(28 + msg.length)) {
      this.dp.countNoRoom(); // larger than any tunnel's packets: dropped, never thrown
      return;
    }
    // Rebuild the outer IPv4 + UDP header: the pipeline checks the endpoints as for raw packets.
    const src = parseIp(address);
    if (!src || src.family !== 4) return;
    const pkt = new Uint8Array(28 + msg.length);
    pkt.set([0x45, 0, pkt.length >> 8, pkt.length & 0xff, 0, 0, 0, 0, 64, 17, 0, 0]);
    pkt.set(src.bytes, 12);
    pkt.set(this.local, 16);
    const c = ipv4HeaderChecksum(pkt.subarray(0, 20));
    pkt[10] = c >> 8;
    pkt[11] = c & 0xff;
    const ulen = 8 + msg.length;
    // The socket layer has already told ESP from IKE on this port; to the pipeline it is NAT-T (4500).
    pkt.set([port >> 8, port & 0xff, 4500 >> 8, 4500 & 0xff, ulen >> 8, ulen & 0xff, 0, 0], 20);
    pkt.set(msg, 28);
    if (this.rx.length >= this.rx.capacity) this.flushIn();
    this.rx.addPacket(pkt);
    if (!this.queued) {
      this.queued = true;
      setImmediate(() => this.flushIn());
    }
  }

  private flushIn(): void {
    this.queued = false;
    if (this.rx.length === 0 || this.closed) return;
    this.dp.inbound(this.rx);
    for (let i = 0; i < this.rx.length; i++) {
      const v = this.rx.verdict(i);
      if (v === "deliver") {
        this.stats.delivered++;
        this.opt.deliver(copyOut(this.rx.output(i)), this.rx.tunnelIndex(i));
      }
    }
    this.rx.clear();
  }

  /**
   * Send inner IPv6 packets into their tunnels. Returns the verdict of each ("send",
   * "packet-too-big", or the drop reason).
   */
  send(packets: Uint8Array[]): string[] {
    // All checked before any is sent: a bad argument sends nothing.
    for (const p of packets) if (!(p instanceof Uint8Array)) throw new IpsecError("ERR_INPUT_TYPE", "packets must be Uint8Arrays");
    const out: string[] = new Array<string>(packets.length);
    const at: number[] = [];
    const run = () => {
      this.dp.outbound(this.tx);
      for (let i = 0; i < this.tx.length; i++) {
        const v = this.tx.verdict(i);
        out[at[i]] = v === "dropped" ? this.tx.reason(i) : v;
        if (v === "packet-too-big") this.opt.deliver(copyOut(this.tx.output(i)), this.tx.tunnelIndex(i));
        if (v !== "send") continue;
        const o = this.tx.output(i);
        if (o[9] !== 17) {
          this.stats.rawNeeded++;
          continue;
        }
        const dst = `${o[16]}.${o[17]}.${o[18]}.${o[19]}`;
        const dport = (o[22] << 8) | o[23];
        this.stats.espOut++;
        this.sendUdp(this.nattSock, o.slice(28), { address: dst, port: dport });
      }
      this.tx.clear();
      at.length = 0;
    };
    this.tx.clear();
    for (let k = 0; k < packets.length; k++) {
      if (!this.tx.fits(packets[k].length)) {
        // Larger than a slot, so than every tunnel's MTU: dropped and counted (the pipeline never sees it, so no Packet Too Big).
        out[k] = "no-room";
        this.dp.countNoRoom();
        continue;
      }
      this.tx.addPacket(packets[k]);
      at.push(k);
      if (this.tx.length === this.tx.capacity) run();
    }
    if (this.tx.length > 0) run();
    return out;
  }

  /** Delete every IKE_SA, then close the sockets. */
  async close(): Promise<void> {
    if (this.keepalive) clearInterval(this.keepalive);
    await this.ike.close();
    this.closed = true;
    this.ikeSock.close();
    this.nattSock.close();
    this.rx.destroy();
    this.tx.destroy();
  }
}
