/**
 * The page's decode worker: runs the decode core (src/decode, with its wasm ESP engine) off
 * the main thread. It holds the capture and the decoded packets; the page gets one list row
 * per packet as decoding goes, and a packet's layers and bytes on demand. Nothing leaves the
 * browser: the worker has no network code at all.
 */
import {
  createDecoder,
  fieldSpans,
  ikeCodec,
  KeyStore,
  parseEspSaFile,
  parseSaSpec,
  summaryColumns,
  type DecodedPacket,
  type KeyWarning,
  type Layer,
  type TunnelSpec,
} from "./decode-core.js";
import { installSyncIkeCrypto } from "./ike-crypto.js";
import type { FromWorker, KeyInfo, KeySource, PacketDetail, Row, RowChunk, ToWorker } from "./protocol.js";

installSyncIkeCrypto();

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer);

let capture: { name: string; bytes: Uint8Array } | undefined;
let keySources: KeySource[] = [];
let tunnel: TunnelSpec | null = null;
let packets: DecodedPacket[] = [];
let gen = 0;
let parsed: { keys: KeyStore; ikeKeys: unknown[] } = { keys: new KeyStore(), ikeKeys: [] };

/** Keys from every source; a source with an error is left out and named. */
function parseKeys(sources: KeySource[]): void {
  const keys = new KeyStore();
  const ikeKeys: unknown[] = [];
  const warnings: KeyWarning[] = [];
  const errors: string[] = [];
  for (const s of sources) {
    try {
      if (s.kind === "sa") keys.addSa(parseSaSpec(s.text, s.name));
      else if (s.kind === "esp_sa") keys.addFile(parseEspSaFile(s.text, s.name, warnings));
      else {
        const codec = ikeCodec();
        if (!codec) throw new Error("the IKEv2 codec is not in this build");
        ikeKeys.push(...codec.parseIkev2DecryptionTable(s.text));
      }
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      errors.push(msg.startsWith(s.name) ? msg : `${s.name}: ${msg}`);
    }
  }
  parsed = { keys, ikeKeys };
  const info: KeyInfo[] = keys.entries.map((k) => ({
    origin: k.origin,
    spi: k.spi.mask === 0xffffffff ? `0x${k.spi.value.toString(16).padStart(8, "0")}` : k.spi.text,
    alg: k.name,
    src: k.src.text,
    dst: k.dst.text,
    esn: k.esn,
  }));
  post({ type: "keys", keys: info, ikeKeys: ikeKeys.length, warnings: warnings.map((w) => `${w.origin}: ${w.message}`), errors });
}

const tick = () => new Promise<void>((r) => setTimeout(r, 0));

/** Decode the whole capture, posting rows in slices of about 30 ms; a newer decode cancels this one. */
async function decodeAll(): Promise<void> {
  const my = ++gen;
  packets = [];
  if (!capture) return;
  const { name, bytes } = capture;
  post({ type: "start", gen: my, name, size: bytes.length, tunnel: !!tunnel });
  const t0 = performance.now();
  let decoder;
  try {
    decoder = await createDecoder({ keys: parsed.keys, ikeKeys: parsed.ikeKeys.length ? parsed.ikeKeys : undefined, tunnel: tunnel ?? undefined });
  } catch (e) {
    post({ type: "error", gen: my, message: e instanceof Error ? e.message : String(e) });
    return;
  }
  const verdicts: Record<string, number> = {};
  let first: number | undefined;
  const table = new Map<string, number>();
  const flush = (rows: Row[], done: number) => {
    const c = chunkOf(rows, packets.length - rows.length, table);
    post({ type: "rows", gen: my, chunk: c, bytesDone: done }, [c.time.buffer, c.length.buffer, c.src.buffer, c.dst.buffer, c.proto.buffer, c.verdict.buffer, c.infoEnd.buffer]);
  };
  try {
    const it = decoder.decodeCapture(bytes);
    let rows: Row[] = [];
    let sliceStart = performance.now();
    for (;;) {
      const r = it.next();
      if (r.done) break;
      const p = r.value;
      first ??= p.time;
      packets.push(p);
      verdicts[p.verdict] = (verdicts[p.verdict] ?? 0) + 1;
      rows.push(rowOf(p, first));
      if ((rows.length & 255) === 0 && performance.now() - sliceStart > 30) {
        flush(rows, p.sources[0].byteOffset - bytes.byteOffset);
        rows = [];
        await tick();
        if (gen !== my) return;
        sliceStart = performance.now();
      }
    }
    flush(rows, bytes.length);
    post({ type: "done", gen: my, count: packets.length, ms: performance.now() - t0, verdicts });
  } catch (e) {
    if (gen === my) post({ type: "error", gen: my, message: e instanceof Error ? e.message : String(e) });
  } finally {
    decoder.destroy();
  }
}

/** Rows in columns, with repeated strings sent once (see RowChunk). */
function chunkOf(rows: Row[], start: number, table: Map<string, number>): RowChunk {
  const n = rows.length;
  const strings: string[] = [];
  const id = (s: string) => {
    let k = table.get(s);
    if (k === undefined) {
      k = table.size;
      table.set(s, k);
      strings.push(s);
    }
    return k;
  };
  const c: RowChunk = {
    start,
    count: n,
    strings,
    time: new Float64Array(n),
    length: new Uint32Array(n),
    src: new Uint32Array(n),
    dst: new Uint32Array(n),
    proto: new Uint32Array(n),
    verdict: new Uint32Array(n),
    info: "",
    infoEnd: new Uint32Array(n),
  };
  const info: string[] = [];
  let at = 0;
  rows.forEach((r, i) => {
    c.time[i] = r[1];
    c.src[i] = id(r[2]);
    c.dst[i] = id(r[3]);
    c.proto[i] = id(r[4]);
    c.length[i] = r[5];
    c.verdict[i] = id(r[7]);
    info.push(r[6]);
    at += r[6].length;
    c.infoEnd[i] = at;
  });
  c.info = info.join("");
  return c;
}

/** The packet-list columns: those of the one-line summary the CLI prints. */
function rowOf(p: DecodedPacket, t0: number): Row {
  const c = summaryColumns(p);
  return [p.frame, p.time - t0, c.src, c.dst, c.proto, p.originalLength, c.info, p.verdict];
}

/** A copy of the packet that clones small: byte fields and sources as their own buffers. */
function detailOf(p: DecodedPacket): PacketDetail {
  const layers: Layer[] = p.layers.map((l) => {
    const fields: Layer["fields"] = {};
    for (const k in l.fields) {
      const v = l.fields[k];
      fields[k] = v instanceof Uint8Array ? v.slice() : v;
    }
    return { ...l, fields };
  });
  return {
    frame: p.frame,
    time: p.time,
    linktype: p.linktype,
    capturedLength: p.capturedLength,
    originalLength: p.originalLength,
    verdict: p.verdict,
    layers,
    spans: p.layers.map((l) => fieldSpans(l)),
    sources: p.sources.map((s) => s.slice()),
    sourceNames: p.sourceNames.slice(),
    fragments: p.fragments?.slice(),
  };
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case "open":
      capture = { name: m.name, bytes: new Uint8Array(m.buffer) };
      void decodeAll();
      break;
    case "config":
      keySources = m.keys;
      tunnel = m.tunnel;
      parseKeys(keySources);
      if (capture) void decodeAll();
      break;
    case "detail": {
      const p = m.gen === gen ? packets[m.index] : undefined;
      if (p) post({ type: "detail", gen: m.gen, index: m.index, packet: detailOf(p) });
      break;
    }
  }
};

post({ type: "ready" });
