/**
 * The entry of one dataplane worker thread (see workers.ts): its own wasm instance and
 * Dataplane holding the SAs the main thread assigned to it, and every tunnel (replicated).
 *
 * Messages arrive in order on one port, so an SA installed before a batch is there for it.
 * Packets come and go in batches packed into one transferred ArrayBuffer:
 *
 *   u32 count, then per packet: u32 meta, u32 length, bytes (padded to 4)
 *   input meta:  0
 *   output meta: kind (PacketKind index, 0 dropped) | drop reason << 8 | tunnel << 16 (0xffff: none)
 *
 * Only send / deliver / packet-too-big / ike / other outputs carry their bytes.
 */
import { parentPort, workerData } from "node:worker_threads";
import { createDataplane, type Dataplane, type PipelineBatch, type SaSelectors, type TunnelPolicy } from "../pipeline.js";
import type { SaHandle } from "../esp.js";
import type { TunnelConfig } from "../tunnel.js";
import { IpsecError } from "../errors.js";

// Row fields as assembly/esp/descriptor.ts.
const ROW = 12;
const E_SA = 0;
const E_KIND = 5;
const E_RESULT = 6;
const E_TUNNEL = 10;

export interface WorkerInit {
  id: number;
  sas: number;
  tunnels: number;
  batch: number;
  /** Bytes per packet slot; the main thread drops larger packets before they get here. */
  slotBytes: number;
  /** BigInt64Array view: per global SA index 4 slots: packets, octets, sequence, flags. */
  stats: SharedArrayBuffer;
}

type Msg =
  | { t: "tunnel"; config: TunnelConfig; policy: TunnelPolicy }
  | { t: "untunnel"; name: string }
  | { t: "policy"; name: string; policy: TunnelPolicy }
  | { t: "sa"; g: number; dir: "in" | "out"; params: Record<string, unknown>; key: ArrayBuffer }
  | { t: "bind"; g: number; tunnel: string; sel?: SaSelectors }
  | { t: "rm"; g: number }
  | { t: "seq"; g: number; last: bigint }
  | { t: "in" | "out"; buf: ArrayBuffer; seq: number; now: number }
  | { t: "drops"; id: number }
  | { t: "debug"; id: number; op: "crash" | "record" | "scan" | "throw"; g?: number; needle?: Uint8Array };

async function main(): Promise<void> {
  const init = workerData as WorkerInit;
  const port = parentPort!;
  const dp = await createDataplane({ sas: init.sas, tunnels: init.tunnels });
  const stats = new BigInt64Array(init.stats);
  const handles = new Map<number, SaHandle>(); // global index → local handle
  const globalOf = new Int32Array(init.sas).fill(-1); // local index → global index
  const recordPtr = new Map<number, number>(); // global → record address (for the zeroing test)
  const x = dp.core.x as unknown as Record<string, unknown> & { saPtr(i: number): number; saRecordBytes(): number };
  const g = (k: string) => (x[k] as WebAssembly.Global).value as number;
  const L = { flags: g("SA_FLAGS"), seq: g("SA_SEQ"), pkts: g("SA_PKTS"), octets: g("SA_OCTETS") };
  const batch: PipelineBatch = dp.createBatch({ packets: init.batch, slotBytes: init.slotBytes });
  let wasmNs = 0n;
  let jsNs = 0n;
  let packets = 0;
  let batches = 0;

  const publish = (local: number) => {
    const gi = globalOf[local];
    if (gi < 0) return;
    const base = x.saPtr(local);
    const dv = new DataView(dp.core.x.memory.buffer);
    const o = gi * 4;
    stats[o] = dv.getBigInt64(base + L.pkts, true);
    stats[o + 1] = dv.getBigInt64(base + L.octets, true);
    stats[o + 2] = dv.getBigInt64(base + L.seq, true);
    stats[o + 3] = BigInt(dv.getUint32(base + L.flags, true));
  };

  const fail = (e: unknown, g?: number) => {
    const err = e as IpsecError;
    port.postMessage({ t: "err", g, code: err.code ?? "ERR_ENGINE", message: err.message ?? String(e) });
  };

  /** Run one chunk (≤ batch capacity) through the pipeline; append results to `out`. */
  const runChunk = (dir: "in" | "out", now: number, out: Uint8Array[], metas: number[]) => {
    const t0 = process.hrtime.bigint();
    if (dir === "in") dp.inbound(batch, now);
    else dp.outbound(batch);
    const t1 = process.hrtime.bigint();
    wasmNs += t1 - t0;
    const i32 = dp.core.i32;
    let last = -2;
    for (let i = 0; i < batch.length; i++) {
      const row = (batch.desc >> 2) + i * ROW;
      const r = i32[row + E_RESULT];
      const kind = r < 0 ? 0 : i32[row + E_KIND];
      const tunnel = i32[row + E_TUNNEL];
      const reason = r < 0 ? -r & 0xff : 0;
      metas.push(kind | (reason << 8) | ((tunnel < 0 ? 0xffff : tunnel & 0xffff) << 16));
      out.push(r >= 0 && kind !== 0 && kind !== 6 ? batch.output(i) : EMPTY);
      const sa = i32[row + E_SA];
      if (sa >= 0 && sa !== last) {
        publish(sa);
        last = sa;
      }
    }
  };

  const EMPTY = new Uint8Array(0);

  const process_ = (m: { t: "in" | "out"; buf: ArrayBuffer; seq: number; now: number }) => {
    const t0 = process.hrtime.bigint();
    const wasm0 = wasmNs;
    const dv = new DataView(m.buf);
    const u8 = new Uint8Array(m.buf);
    const n = dv.getUint32(0, true);
    const outs: Uint8Array[] = [];
    const metas: number[] = [];
    let off = 4;
    let size = 4;
    // Results are views into wasm memory: pack each chunk before the next overwrites it.
    const packed: Uint8Array[] = [];
    for (let i = 0; i < n; i++) {
      const len = dv.getUint32(off + 4, true);
      const p = u8.subarray(off + 8, off + 8 + len);
      off += 8 + ((len + 3) & ~3);
      batch.addPacket(p);
      if (batch.length === batch.capacity || i === n - 1) {
        outs.length = 0;
        metas.length = 0;
        runChunk(m.t, m.now, outs, metas);
        let bytes = 0;
        for (const o of outs) bytes += 8 + ((o.length + 3) & ~3);
        const chunk = new Uint8Array(bytes);
        const cdv = new DataView(chunk.buffer);
        let q = 0;
        for (let k = 0; k < outs.length; k++) {
          cdv.setUint32(q, metas[k] >>> 0, true);
          cdv.setUint32(q + 4, outs[k].length, true);
          chunk.set(outs[k], q + 8);
          q += 8 + ((outs[k].length + 3) & ~3);
        }
        packed.push(chunk);
        size += bytes;
        batch.clear();
      }
    }
    // Completed reassemblies may add results beyond n (not on the sharded path: the main
    // thread reassembles outer fragments), so the count is what the chunks hold.
    let count = 0;
    const res = new Uint8Array(size);
    const rdv = new DataView(res.buffer);
    let q = 4;
    for (const c of packed) {
      res.set(c, q);
      let k = 0;
      while (k < c.length) {
        const len = new DataView(c.buffer, c.byteOffset + k + 4, 4).getUint32(0, true);
        k += 8 + ((len + 3) & ~3);
        count++;
      }
      q += c.length;
    }
    rdv.setUint32(0, count, true);
    packets += n;
    batches++;
    const total = process.hrtime.bigint() - t0;
    jsNs += total - (wasmNs - wasm0);
    port.postMessage({ t: "res", dir: m.t, seq: m.seq, n, buf: res.buffer, wasmNs, jsNs, packets, batches }, [res.buffer]);
  };

  port.on("message", (m: Msg) => {
    switch (m.t) {
      case "in":
      case "out":
        return process_(m);
      case "tunnel":
        try {
          dp.addTunnel(m.config, m.policy);
        } catch (e) {
          fail(e);
        }
        return;
      case "untunnel":
        try {
          dp.removeTunnel(m.name);
        } catch (e) {
          fail(e);
        }
        return;
      case "policy":
        try {
          dp.setPolicy(m.name, m.policy);
        } catch (e) {
          fail(e);
        }
        return;
      case "sa": {
        const keymat = new Uint8Array(m.key);
        try {
          const p = { ...m.params, keymat };
          const h = m.dir === "in" ? dp.esp.addInbound(p as never) : dp.esp.addOutbound(p as never);
          handles.set(m.g, h);
          globalOf[h.index] = m.g;
          recordPtr.set(m.g, x.saPtr(h.index));
          publish(h.index);
        } catch (e) {
          fail(e, m.g);
        } finally {
          keymat.fill(0);
        }
        return;
      }
      case "bind": {
        const h = handles.get(m.g);
        if (!h) return fail(new IpsecError("ERR_ESP_BAD_SA", `SA ${m.g} is not installed in worker ${init.id}`), m.g);
        try {
          dp.bindSa(h, m.tunnel, m.sel);
        } catch (e) {
          fail(e, m.g);
        }
        return;
      }
      case "rm": {
        const h = handles.get(m.g);
        if (!h) return;
        dp.removeSa(h);
        handles.delete(m.g);
        globalOf[h.index] = -1;
        stats.fill(0n, m.g * 4, m.g * 4 + 4);
        return;
      }
      case "seq": {
        const h = handles.get(m.g);
        if (h) {
          dp.esp.setSequence(h, m.last);
          publish(h.index);
        }
        return;
      }
      case "drops":
        port.postMessage({ t: "reply", id: m.id, value: dp.drops() });
        return;
      case "debug": {
        // An abrupt end (as an abort in native code would be): no 'error' event, only 'exit'.
        if (m.op === "crash") process.exit(70);
        if (m.op === "throw") throw new Error(`worker ${init.id}: throw requested`);
        if (m.op === "record") {
          const p = recordPtr.get(m.g!)!;
          port.postMessage({ t: "reply", id: m.id, value: dp.core.u8.slice(p, p + x.saRecordBytes()) });
          return;
        }
        if (m.op === "scan") {
          const mem = dp.core.u8;
          const nd = m.needle!;
          let hits = 0;
          outer: for (let i = 0; i + nd.length <= mem.length; i++) {
            if (mem[i] !== nd[0]) continue;
            for (let k = 1; k < nd.length; k++) if (mem[i + k] !== nd[k]) continue outer;
            hits++;
          }
          port.postMessage({ t: "reply", id: m.id, value: hits });
          return;
        }
        return;
      }
    }
  });
  port.postMessage({ t: "ready" });
}

void main().catch((e) => {
  // Reported to the main thread as the worker's 'error' event.
  setImmediate(() => {
    throw e;
  });
});
