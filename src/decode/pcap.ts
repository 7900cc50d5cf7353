/**
 * Capture files: classic pcap (both byte orders, microsecond and nanosecond magic) and pcapng
 * (Section Header, Interface Description, Enhanced / Simple / obsolete Packet blocks; several
 * interfaces with their own link types and timestamp resolutions; several sections).
 *
 * Formats: pcap — https://www.tcpdump.org/manpages/pcap-savefile.5.txt;
 * pcapng — draft-ietf-opsawg-pcapng (§4.1 SHB, §4.2 IDB, §4.3 EPB, §4.4 SPB, Appendix A OPB).
 *
 * Frames are views into the file's bytes (no copy). No Node imports: also runs in a browser.
 */
import { DecodeError } from "./errors.js";
import { view } from "./layers.js";

export class CaptureError extends DecodeError {
  constructor(message: string) {
    super("ERR_CAPTURE", message);
    this.name = "CaptureError";
  }
}

export interface CaptureFrame {
  /** 1-based frame number, as tshark counts. */
  number: number;
  /** Link type (LINKTYPE_*) of the interface the frame was captured on. */
  linktype: number;
  /** Seconds since the epoch (fractional). */
  time: number;
  /** Bytes captured (a view into the file). */
  data: Uint8Array;
  /** Length on the wire (≥ data.length when the snap length cut it). */
  originalLength: number;
  /** Byte offset of data within the file (for hex views of the whole file). */
  fileOffset: number;
}

export type CaptureFormat = "pcap" | "pcapng";

const PCAP_MAGIC_US = 0xa1b2c3d4;
const PCAP_MAGIC_NS = 0xa1b23c4d;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const PCAPNG_IDB = 0x00000001;
const PCAPNG_OPB = 0x00000002; // obsolete Packet Block
const PCAPNG_SPB = 0x00000003;
const PCAPNG_EPB = 0x00000006;
const IDB_OPT_TSRESOL = 9;

/** What kind of capture file the bytes are, or undefined. */
export function captureFormat(file: Uint8Array): CaptureFormat | undefined {
  if (file.length < 4) return undefined;
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const le = dv.getUint32(0, true);
  if (le === PCAPNG_SHB) return "pcapng";
  if (le === PCAP_MAGIC_US || le === PCAP_MAGIC_NS) return "pcap";
  const be = dv.getUint32(0, false);
  if (be === PCAP_MAGIC_US || be === PCAP_MAGIC_NS) return "pcap";
  return undefined;
}

/** Read every frame of a pcap or pcapng file, in file order. Throws CaptureError on bad files. */
export function readCapture(file: Uint8Array): Generator<CaptureFrame> {
  // The reader itself, not a generator delegating to it (yield* costs a resume per frame).
  const f = captureFormat(file);
  if (f === "pcap") return readPcap(file);
  if (f === "pcapng") return readPcapng(file);
  return notACapture();
}

function* notACapture(): Generator<CaptureFrame> {
  throw new CaptureError("not a pcap or pcapng file (unknown magic number)");
}

function* readPcap(file: Uint8Array): Generator<CaptureFrame> {
  if (file.length < 24) throw new CaptureError("pcap file header truncated (need 24 bytes)");
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const m = dv.getUint32(0, true);
  const le = m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS;
  const magic = dv.getUint32(0, le);
  const tsDiv = magic === PCAP_MAGIC_NS ? 1e9 : 1e6;
  // The link type is the low 16 bits (the upper bits carry FCS information, pcap-savefile(5)).
  const linktype = dv.getUint32(20, le) & 0xffff;
  let o = 24;
  let n = 0;
  while (o < file.length) {
    if (o + 16 > file.length) throw new CaptureError(`frame ${n + 1}: record header truncated at byte ${o}`);
    const sec = dv.getUint32(o, le);
    const frac = dv.getUint32(o + 4, le);
    const incl = dv.getUint32(o + 8, le);
    const orig = dv.getUint32(o + 12, le);
    if (o + 16 + incl > file.length) throw new CaptureError(`frame ${n + 1}: ${incl} bytes announced at byte ${o}, file ends first`);
    if (incl > 0x4000000) throw new CaptureError(`frame ${n + 1}: captured length ${incl} is not plausible`);
    yield {
      number: ++n,
      linktype,
      time: sec + frac / tsDiv,
      data: view(file, o + 16, incl),
      originalLength: orig,
      fileOffset: o + 16,
    };
    o += 16 + incl;
  }
}

interface Iface {
  linktype: number;
  /** Units per second of timestamps. */
  tsPerSec: number;
}

function* readPcapng(file: Uint8Array): Generator<CaptureFrame> {
  const dv = new DataView(file.buffer, file.byteOffset, file.byteLength);
  let le = true;
  let ifaces: Iface[] = [];
  let o = 0;
  let n = 0;
  while (o < file.length) {
    if (o + 12 > file.length) throw new CaptureError(`pcapng block at byte ${o} truncated`);
    let type = dv.getUint32(o, le);
    if (dv.getUint32(o, true) === PCAPNG_SHB) {
      // §4.1: the byte-order magic decides the endianness of this section.
      const bom = dv.getUint32(o + 8, true);
      if (bom === PCAPNG_BOM) le = true;
      else if (dv.getUint32(o + 8, false) === PCAPNG_BOM) le = false;
      else throw new CaptureError(`pcapng section at byte ${o}: bad byte-order magic`);
      type = PCAPNG_SHB;
      ifaces = [];
    }
    const len = dv.getUint32(o + 4, le);
    if (len < 12 || len % 4 !== 0 || o + len > file.length) {
      throw new CaptureError(`pcapng block at byte ${o}: bad length ${len}`);
    }
    if (dv.getUint32(o + len - 4, le) !== len) throw new CaptureError(`pcapng block at byte ${o}: trailing length differs`);
    const body = o + 8;
    const bodyEnd = o + len - 4;
    switch (type) {
      case PCAPNG_IDB: {
        if (bodyEnd - body < 8) throw new CaptureError(`pcapng interface block at byte ${o} truncated`);
        const linktype = dv.getUint16(body, le);
        let tsPerSec = 1e6; // §4.2: default resolution 10^-6 s
        // Options: code, length, value padded to 32 bits.
        let p = body + 8;
        while (p + 4 <= bodyEnd) {
          const code = dv.getUint16(p, le);
          const olen = dv.getUint16(p + 2, le);
          if (code === 0) break;
          if (code === IDB_OPT_TSRESOL && olen >= 1) {
            const r = file[p + 4];
            tsPerSec = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** (r & 0x7f);
          }
          p += 4 + ((olen + 3) & ~3);
        }
        ifaces.push({ linktype, tsPerSec });
        break;
      }
      case PCAPNG_EPB:
      case PCAPNG_OPB: {
        if (bodyEnd - body < 20) throw new CaptureError(`frame ${n + 1}: pcapng packet block at byte ${o} truncated`);
        const ifId = type === PCAPNG_EPB ? dv.getUint32(body, le) : dv.getUint16(body, le);
        const iface = ifaces[ifId];
        if (!iface) throw new CaptureError(`frame ${n + 1}: pcapng packet block names interface ${ifId}, which was not described`);
        const tsHi = dv.getUint32(body + 4, le);
        const tsLo = dv.getUint32(body + 8, le);
        const incl = dv.getUint32(body + 12, le);
        const orig = dv.getUint32(body + 16, le);
        if (body + 20 + incl > bodyEnd) throw new CaptureError(`frame ${n + 1}: captured length ${incl} overruns its pcapng block`);
        yield {
          number: ++n,
          linktype: iface.linktype,
          time: (tsHi * 4294967296 + tsLo) / iface.tsPerSec,
          data: view(file, body + 20, incl),
          originalLength: orig,
          fileOffset: body + 20,
        };
        break;
      }
      case PCAPNG_SPB: {
        const iface = ifaces[0];
        if (!iface) throw new CaptureError(`frame ${n + 1}: simple packet block before any interface block`);
        const orig = dv.getUint32(body, le);
        const incl = Math.min(orig, bodyEnd - body - 4);
        yield { number: ++n, linktype: iface.linktype, time: 0, data: view(file, body + 4, incl), originalLength: orig, fileOffset: body + 4 };
        break;
      }
      default:
        break; // SHB handled above; name resolution, statistics, custom blocks: skipped
    }
    o += len;
  }
}

/** Write a classic pcap file (little-endian, microseconds). */
export function writePcap(frames: ReadonlyArray<Uint8Array | { data: Uint8Array; time?: number }>, linktype: number): Uint8Array {
  const items = frames.map((f) => (f instanceof Uint8Array ? { data: f, time: undefined } : f));
  const total = 24 + items.reduce((s, f) => s + 16 + f.data.length, 0);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, PCAP_MAGIC_US, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setUint32(16, 262144, true); // snaplen
  dv.setUint32(20, linktype, true);
  let o = 24;
  items.forEach((f, i) => {
    const t = f.time ?? i;
    const sec = Math.floor(t);
    dv.setUint32(o, sec, true);
    dv.setUint32(o + 4, Math.min(999999, Math.round((t - sec) * 1e6)), true);
    dv.setUint32(o + 8, f.data.length, true);
    dv.setUint32(o + 12, f.data.length, true);
    out.set(f.data, o + 16);
    o += 16 + f.data.length;
  });
  return out;
}

/** Write a pcapng file: one section, one interface per distinct link type, microsecond timestamps. */
export function writePcapng(frames: ReadonlyArray<{ data: Uint8Array; linktype: number; time?: number }>): Uint8Array {
  const linktypes = [...new Set(frames.map((f) => f.linktype))];
  const pad4 = (n: number) => (n + 3) & ~3;
  let total = 28 + linktypes.length * 20;
  for (const f of frames) total += 32 + pad4(f.data.length);
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  let o = 0;
  // SHB: type, length, BOM, version 1.0, section length −1, (no options), length.
  dv.setUint32(o, PCAPNG_SHB, true);
  dv.setUint32(o + 4, 28, true);
  dv.setUint32(o + 8, PCAPNG_BOM, true);
  dv.setUint16(o + 12, 1, true);
  dv.setUint16(o + 14, 0, true);
  dv.setInt32(o + 16, -1, true);
  dv.setInt32(o + 20, -1, true);
  dv.setUint32(o + 24, 28, true);
  o += 28;
  for (const lt of linktypes) {
    dv.setUint32(o, PCAPNG_IDB, true);
    dv.setUint32(o + 4, 20, true);
    dv.setUint16(o + 8, lt, true);
    dv.setUint32(o + 12, 262144, true);
    dv.setUint32(o + 16, 20, true);
    o += 20;
  }
  frames.forEach((f, i) => {
    const len = 32 + pad4(f.data.length);
    const ts = Math.round((f.time ?? i) * 1e6);
    dv.setUint32(o, PCAPNG_EPB, true);
    dv.setUint32(o + 4, len, true);
    dv.setUint32(o + 8, linktypes.indexOf(f.linktype), true);
    dv.setUint32(o + 12, Math.floor(ts / 4294967296), true);
    dv.setUint32(o + 16, ts >>> 0, true);
    dv.setUint32(o + 20, f.data.length, true);
    dv.setUint32(o + 24, f.data.length, true);
    out.set(f.data, o + 28);
    dv.setUint32(o + len - 4, len, true);
    o += len;
  });
  return out;
}
