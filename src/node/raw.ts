/**
 * Raw IPv4 sockets over the native addon: IP protocol 50 (ESP, RFC 4303 — RFC 4891's
 * transport mode without UDP encapsulation) and 41 (clear-text IPv6-in-IPv4, RFC 4213, which
 * the inbound pipeline lets through for BYPASS tunnels and drops for PROTECT ones).
 *
 * Received packets carry their IPv4 header (as raw IPv4 sockets always deliver them), which is
 * what the dataplane's inbound pipeline takes. Sending uses IP_HDRINCL: the pipeline's output
 * is a complete IPv4 packet (the kernel fills in the identification and checksum if zero).
 * A kernel with its own ESP would consume protocol 50 itself; the daemon's kernel has none,
 * and where one exists the XFRM policy decides who sees what.
 */
import { errnoName, nativeError, NativeError, type NativeAddon } from "./addon.js";

export interface RawStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
}

export class RawSocket {
  readonly protocol: number;
  readonly stats: RawStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
  lastSendError?: string;
  private fd: number;
  private readonly addon: NativeAddon;
  private handle?: object;

  private constructor(addon: NativeAddon, fd: number, protocol: number, onPackets: (p: Buffer[]) => void, onError: (e: NativeError) => void, batch: number) {
    this.addon = addon;
    this.fd = fd;
    this.protocol = protocol;
    this.handle = addon.watch(fd, batch, (errno, packets) => {
      if (errno !== 0 || !packets) return onError(new NativeError(`raw socket for protocol ${protocol}: ${addon.strerror(errno)} [${errnoName(errno)}]`, errno));
      for (const p of packets) {
        this.stats.rxPackets++;
        this.stats.rxBytes += p.length;
      }
      onPackets(packets);
    });
  }

  /** Open socket(AF_INET, SOCK_RAW, protocol) with IP_HDRINCL. Throws NativeError (EPERM without CAP_NET_RAW). */
  static open(addon: NativeAddon, protocol: number, onPackets: (p: Buffer[]) => void, onError: (e: NativeError) => void, batch = 64): RawSocket {
    let fd: number;
    try {
      fd = addon.rawOpen(protocol);
    } catch (e) {
      throw nativeError(e, `cannot open a raw socket for IP protocol ${protocol}`);
    }
    return new RawSocket(addon, fd, protocol, onPackets, onError, batch);
  }

  /** Send a complete IPv4 packet to its destination address (bytes 16..19). */
  send(packet: Uint8Array): boolean {
    if (this.fd < 0 || packet.length < 20) {
      this.stats.txErrors++;
      return false;
    }
    const dst = ((packet[16] << 24) | (packet[17] << 16) | (packet[18] << 8) | packet[19]) >>> 0;
    const n = this.addon.sendTo(this.fd, packet, dst);
    if (n < 0) {
      this.stats.txErrors++;
      this.lastSendError = errnoName(n);
      return false;
    }
    this.stats.txPackets++;
    this.stats.txBytes += packet.length;
    return true;
  }

  close(): void {
    if (this.handle) this.addon.unwatch(this.handle);
    this.handle = undefined;
    if (this.fd >= 0) this.addon.close(this.fd);
    this.fd = -1;
  }
}
