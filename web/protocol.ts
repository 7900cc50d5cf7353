/**
 * Messages between the page (web/app.ts) and its decode worker (web/worker.ts). The capture
 * and the key files go to the worker and nowhere else; the worker sends back one row per
 * packet while it decodes, and a packet's layers and bytes when the page asks for them.
 */
import type { Layer, Span, TunnelSpec } from "../src/decode/index.js";

export interface KeySource {
  /** File name, or "SA #n" for a typed --sa specification. */
  name: string;
  kind: "esp_sa" | "ikev2" | "sa";
  text: string;
}

export type ToWorker =
  | { type: "open"; name: string; buffer: ArrayBuffer }
  | { type: "config"; keys: KeySource[]; tunnel: TunnelSpec | null }
  | { type: "detail"; gen: number; index: number };

/** One packet-list row: frame, relative time, source, destination, protocol, length, info, verdict. */
export type Row = [frame: number, time: number, src: string, dst: string, proto: string, length: number, info: string, verdict: string];

/**
 * Rows in columns, so that 100,000 of them cost the page a few typed arrays and strings, not
 * 800,000 small objects: addresses, protocols and verdicts are ids into a string table that
 * grows by `strings` with each chunk; the info texts are one string cut at `infoEnd`.
 */
export interface RowChunk {
  /** Index of the first row (frame numbers are index + 1). */
  start: number;
  count: number;
  /** New entries of the string table, appended in order. */
  strings: string[];
  time: Float64Array;
  length: Uint32Array;
  src: Uint32Array;
  dst: Uint32Array;
  proto: Uint32Array;
  verdict: Uint32Array;
  info: string;
  infoEnd: Uint32Array;
}

export interface KeyInfo {
  origin: string;
  spi: string;
  alg: string;
  src: string;
  dst: string;
  esn: boolean;
}

export interface PacketDetail {
  frame: number;
  time: number;
  linktype: number;
  capturedLength: number;
  originalLength: number;
  verdict: string;
  layers: Layer[];
  spans: Record<string, Span>[];
  sources: Uint8Array[];
  sourceNames: string[];
  fragments?: number[];
}

export type FromWorker =
  | { type: "ready" }
  | { type: "keys"; keys: KeyInfo[]; ikeKeys: number; warnings: string[]; errors: string[] }
  | { type: "start"; gen: number; name: string; size: number; tunnel: boolean }
  | { type: "rows"; gen: number; chunk: RowChunk; bytesDone: number }
  | { type: "done"; gen: number; count: number; ms: number; verdicts: Record<string, number> }
  | { type: "error"; gen: number; message: string }
  | { type: "detail"; gen: number; index: number; packet: PacketDetail };
