/**
 * A TUN device (IFF_TUN | IFF_NO_PI: every read is one IPv6 packet, every write too) over the
 * native addon, and its configuration with iproute2: MTU, the tunnel's IPv6 address (nodad:
 * usable at once), link up, routes into it.
 *
 * Reads are event-driven (libuv poll inside the addon), writes are non-blocking: a full
 * queue drops the packet and counts it, as a kernel interface would. If the device is
 * deleted underneath (`ip link del`), the addon reports EBADFD and `onError` fires once.
 * Closing the descriptor removes the (non-persistent) device with its addresses and routes.
 */
import { execFile } from "node:child_process";
import { errnoName, nativeError, NativeError, type NativeAddon } from "./addon.js";

export interface TunStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  txErrors: number;
}

export interface TunOptions {
  /** Packets read from the device (IPv6, sent by the local stack into the tunnel). */
  onPackets(packets: Buffer[]): void;
  /** The device failed (deleted underneath: EBADFD); no more packets will come. */
  onError(error: NativeError): void;
  /** Packets handed over per callback (default 64). */
  batch?: number;
}

export interface TunConfig {
  /** IPv6 address with prefix length, e.g. "2001:db8:1::1/64". */
  address?: string;
  mtu?: number;
  /** IPv6 prefixes routed into the device. */
  routes?: string[];
}

/** Valid Linux interface name (IFNAMSIZ-1 = 15 characters, no '/', ':', or whitespace). */
export function validIfname(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== "." && name !== "..";
}

/** Run a command; rejects with "<argv> failed: <stderr>" (or the spawn error). */
export function runCommand(argv: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      const why =
        e.code === "ENOENT" ? `'${argv[0]}' not found (install iproute2)` : e.killed ? `timed out after ${timeoutMs} ms` : (stderr || e.message).trim();
      reject(new Error(`\`${argv.join(" ")}\` failed: ${why}`));
    });
  });
}

export class TunDevice {
  readonly name: string;
  readonly stats: TunStats = { rxPackets: 0, rxBytes: 0, txPackets: 0, txBytes: 0, txErrors: 0 };
  /** errno name of the last failed write, if any. */
  lastWriteError?: string;
  private fd: number;
  private readonly addon: NativeAddon;
  private handle?: object;
  private failed = false;

  private constructor(addon: NativeAddon, fd: number, name: string, opt: TunOptions) {
    this.addon = addon;
    this.fd = fd;
    this.name = name;
    this.handle = addon.watch(fd, opt.batch ?? 64, (errno, packets) => {
      if (errno !== 0 || !packets) {
        if (this.failed || this.fd < 0) return;
        this.failed = true;
        const code = errnoName(errno);
        const why = code === "EBADFD" || code === "EBADF" || code === "ENODEV" ? "the device was removed underneath (ip link del?)" : addon.strerror(errno);
        opt.onError(new NativeError(`TUN device ${name}: ${why} [read: ${code}]`, errno));
        return;
      }
      for (const p of packets) {
        this.stats.rxPackets++;
        this.stats.rxBytes += p.length;
      }
      opt.onPackets(packets);
    });
  }

  /** Create (or attach to) TUN device `name`. Throws NativeError with the reason and a hint. */
  static open(addon: NativeAddon, name: string, opt: TunOptions): TunDevice {
    let r: { fd: number; name: string };
    try {
      r = addon.tunOpen(name);
    } catch (e) {
      throw nativeError(e, `cannot create TUN device ${name}`);
    }
    return new TunDevice(addon, r.fd, r.name, opt);
  }

  get open(): boolean {
    return this.fd >= 0 && !this.failed;
  }

  /** MTU, address (nodad), link up, routes (replace: a route equal to the address's prefix exists already). */
  async configure(c: TunConfig): Promise<void> {
    const dev = this.name;
    if (c.mtu) await runCommand(["ip", "link", "set", "dev", dev, "mtu", String(c.mtu)]);
    // No automatic link-local address: the tunnel's address is the configured one (RFC 4213 3.7).
    await runCommand(["ip", "link", "set", "dev", dev, "addrgenmode", "none"]).catch(() => undefined);
    if (c.address) await runCommand(["ip", "-6", "addr", "add", c.address, "dev", dev, "nodad"]);
    await runCommand(["ip", "link", "set", "dev", dev, "up"]);
    for (const r of c.routes ?? []) await runCommand(["ip", "-6", "route", "replace", r, "dev", dev]);
  }

  /** Write one packet; false (counted) when the device refuses it. */
  write(packet: Uint8Array): boolean {
    if (this.fd < 0 || this.failed) {
      this.stats.txErrors++;
      return false;
    }
    const n = this.addon.write(this.fd, packet);
    if (n < 0) {
      this.stats.txErrors++;
      this.lastWriteError = errnoName(n);
      return false;
    }
    this.stats.txPackets++;
    this.stats.txBytes += packet.length;
    return true;
  }

  /** Stop reading and close the descriptor: the device disappears with its addresses and routes. */
  close(): void {
    if (this.handle) this.addon.unwatch(this.handle);
    this.handle = undefined;
    if (this.fd >= 0) this.addon.close(this.fd);
    this.fd = -1;
  }
}
