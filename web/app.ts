/**
 * The ipsec6in4 packet decoder page: open a capture (file picker or drop), add keys (Wireshark
 * esp_sa / ikev2_decryption_table files, or --sa specs), optionally a tunnel to judge packets
 * as its endpoint would; see the packet list (virtualized, colour by verdict, keyboard), the
 * layer tree, the packet layout (RFC 4891 Table 1 style) and the bytes with the selected field
 * highlighted. All decoding happens in a Web Worker (web/worker.ts); nothing is uploaded.
 */
import type { FieldValue, Layer, Span } from "../src/decode/layers.js";
import { bytesHex, fieldLabel, fieldValue, layerTitle, LINKTYPES, packetLayout, SHORT, verdictClass, type Layout } from "./describe.js";
import type { FromWorker, KeyInfo, KeySource, PacketDetail, Row, RowChunk, ToWorker } from "./protocol.js";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};

const ROW_H = 22;
const HEX_MAX = 16384;

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module", name: "ipsec6in4-decode" });
const send = (m: ToWorker, transfer: Transferable[] = []) => worker.postMessage(m, transfer);

// ---- state ----

/** The packet list as the worker sends it: column chunks, a row built only when drawn or filtered. */
class RowStore {
  strings: string[] = [];
  chunks: RowChunk[] = [];
  length = 0;
  private last = 0;

  add(c: RowChunk): void {
    for (const s of c.strings) this.strings.push(s);
    this.chunks.push(c);
    this.length = c.start + c.count;
  }

  private find(i: number): RowChunk {
    let c = this.chunks[this.last];
    if (c && i >= c.start && i < c.start + c.count) return c;
    let lo = 0;
    let hi = this.chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.chunks[mid].start <= i) lo = mid;
      else hi = mid - 1;
    }
    this.last = lo;
    c = this.chunks[lo];
    return c;
  }

  verdict(i: number): string {
    const c = this.find(i);
    return this.strings[c.verdict[i - c.start]];
  }

  row(i: number): Row {
    const c = this.find(i);
    const k = i - c.start;
    const t = this.strings;
    const info = c.info.slice(k ? c.infoEnd[k - 1] : 0, c.infoEnd[k]);
    return [i + 1, c.time[k], t[c.src[k]], t[c.dst[k]], t[c.proto[k]], c.length[k], info, t[c.verdict[k]]];
  }
}

let gen = 0;
let rows = new RowStore();
let view: number[] | null = null; // indices into rows when a filter is on
let filterText = "";
let selected = -1; // index into rows
let reselectFrame = -1; // after a re-decode, select this frame again when it arrives
let detail: PacketDetail | undefined;
let layout: Layout | undefined;
let selField: { layer: number; field: string } | null = null; // layer -1 = frame
let hexSource = 0;
let hexSpan: Span | null = null;
let hexRange: Span | null = null; // the layer's extent (lighter)
let captureName = "";
let captureSize = 0;
let bytesDone = 0;
let decoding = false;
let decodeMs = 0;
let tStart = 0;
let verdictCounts: Record<string, number> = {};
let verdictFilter: string | null = null;
let keySources: KeySource[] = [];
let saCount = 0;
let keyInfo: { keys: KeyInfo[]; ikeKeys: number; warnings: string[]; errors: string[] } = { keys: [], ikeKeys: 0, warnings: [], errors: [] };
let tunnel: { local: string; remote: string; allow: string[]; policy: "protect" | "bypass"; replayWindow: number } | null = null;
let decodeError = "";

const viewport = $("viewport");
const spacer = $("spacer");
const rowsEl = $("rows");

// ---- worker messages ----

/** Main-thread cost of the page's own work, for the responsiveness test (window.ipsec6in4Page). */
const perf = { messages: 0, maxMessageMs: 0, renders: 0, maxRenderMs: 0 };
(window as unknown as { ipsec6in4Page: unknown }).ipsec6in4Page = { perf };

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const t = performance.now();
  onWorkerMessage(ev.data);
  perf.messages++;
  perf.maxMessageMs = Math.max(perf.maxMessageMs, performance.now() - t);
};

function onWorkerMessage(m: FromWorker): void {
  switch (m.type) {
    case "keys":
      keyInfo = m;
      renderKeybar();
      break;
    case "start":
      gen = m.gen;
      rows = new RowStore();
      view = filterText || verdictFilter ? [] : null;
      verdictCounts = {};
      if (selected >= 0 && detail) reselectFrame = detail.frame;
      selected = -1;
      decoding = true;
      if (decodeError) {
        decodeError = "";
        renderKeybar();
      }
      bytesDone = 0;
      tStart = performance.now();
      document.body.dataset.state = "decoding";
      scheduleRender();
      break;
    case "rows": {
      if (m.gen !== gen) return;
      const c = m.chunk;
      rows.add(c);
      const counts = new Map<number, number>();
      for (const v of c.verdict) counts.set(v, (counts.get(v) ?? 0) + 1);
      for (const [v, n] of counts) verdictCounts[rows.strings[v]] = (verdictCounts[rows.strings[v]] ?? 0) + n;
      if (view) for (let i = c.start; i < rows.length; i++) if (matchesAt(i)) view.push(i);
      bytesDone = m.bytesDone;
      if (reselectFrame > 0 && reselectFrame <= rows.length) {
        select(reselectFrame - 1, false);
        reselectFrame = -1;
      }
      scheduleRender();
      break;
    }
    case "done":
      if (m.gen !== gen) return;
      decoding = false;
      decodeMs = m.ms;
      document.body.dataset.state = "done";
      document.body.dataset.decodeMs = String(Math.round(performance.now() - tStart));
      document.body.dataset.packets = String(rows.length);
      if (reselectFrame > 0) reselectFrame = -1;
      scheduleRender();
      break;
    case "error":
      if (m.gen !== gen && m.gen !== gen + 1) return;
      gen = m.gen;
      decoding = false;
      decodeError = m.message;
      document.body.dataset.state = "error";
      scheduleRender();
      renderKeybar();
      break;
    case "detail":
      if (m.gen !== gen || m.index !== selected) return;
      detail = m.packet;
      showDetail();
      break;
  }
}

// ---- opening files ----

const PCAP_MAGICS = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a]);

async function isCapture(f: File): Promise<boolean> {
  const b = new Uint8Array(await f.slice(0, 4).arrayBuffer());
  if (b.length < 4) return false;
  return PCAP_MAGICS.has(((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0);
}

async function openCapture(f: File): Promise<void> {
  captureName = f.name;
  captureSize = f.size;
  document.body.dataset.state = "decoding";
  const buffer = await f.arrayBuffer();
  send({ type: "open", name: f.name, buffer }, [buffer]);
  viewport.focus();
}

/** esp_sa lines start with a protocol field ("IPv4", "IPv6", "Any"); ikev2_decryption_table lines with an SPI. */
function keyKind(name: string, text: string): KeySource["kind"] {
  if (/ikev2/i.test(name)) return "ikev2";
  if (/esp_sa/i.test(name)) return "esp_sa";
  const line = text.split(/\r?\n/).find((l) => l.trim() && !l.trim().startsWith("#")) ?? "";
  return /^\s*"?(IPv4|IPv6|Any|\*)"?\s*,/i.test(line) ? "esp_sa" : "ikev2";
}

async function addKeyFiles(files: File[]): Promise<void> {
  for (const f of files) {
    const text = await f.text();
    keySources = keySources.filter((s) => s.name !== f.name);
    keySources.push({ name: f.name, kind: keyKind(f.name, text), text });
  }
  sendConfig();
}

function sendConfig(): void {
  send({ type: "config", keys: keySources, tunnel });
}

$<HTMLInputElement>("capture").addEventListener("change", (e) => {
  const input = e.target as HTMLInputElement;
  const f = input.files?.[0];
  if (f) void openCapture(f);
  input.value = "";
});
$<HTMLInputElement>("keys").addEventListener("change", (e) => {
  const input = e.target as HTMLInputElement;
  const files = [...(input.files ?? [])];
  input.value = "";
  void addKeyFiles(files);
});
$<HTMLFormElement>("sa-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const input = $<HTMLInputElement>("sa");
  const spec = input.value.trim();
  if (!spec) return;
  keySources.push({ name: `SA #${++saCount}`, kind: "sa", text: spec });
  input.value = "";
  sendConfig();
});

// Drag and drop anywhere: captures open, anything else is read as a key file.
let dragDepth = 0;
window.addEventListener("dragenter", (e) => {
  e.preventDefault();
  dragDepth++;
  $("drop").hidden = false;
});
window.addEventListener("dragleave", () => {
  if (--dragDepth <= 0) {
    dragDepth = 0;
    $("drop").hidden = true;
  }
});
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", async (e) => {
  e.preventDefault();
  dragDepth = 0;
  $("drop").hidden = true;
  const files = [...(e.dataTransfer?.files ?? [])];
  const keys: File[] = [];
  let cap: File | undefined;
  for (const f of files) {
    if (!cap && (await isCapture(f))) cap = f;
    else keys.push(f);
  }
  if (keys.length) await addKeyFiles(keys);
  if (cap) await openCapture(cap);
});

// ---- tunnel ----

const tunnelPanel = $<HTMLFormElement>("tunnel-panel");
$("tunnel-toggle").addEventListener("click", () => {
  tunnelPanel.hidden = !tunnelPanel.hidden;
  $("tunnel-toggle").setAttribute("aria-expanded", String(!tunnelPanel.hidden));
  if (!tunnelPanel.hidden) $("tunnel-local").focus();
});
tunnelPanel.addEventListener("submit", (e) => {
  e.preventDefault();
  const v = (id: string) => $<HTMLInputElement>(id).value.trim();
  tunnel = {
    local: v("tunnel-local"),
    remote: v("tunnel-remote"),
    allow: v("tunnel-allow").split(/[\s,]+/).filter(Boolean),
    policy: $<HTMLSelectElement>("tunnel-policy").value as "protect" | "bypass",
    replayWindow: Number(v("tunnel-replay") || 1024),
  };
  $("tunnel-toggle").classList.add("on");
  sendConfig();
  renderKeybar();
});
$("tunnel-clear").addEventListener("click", () => {
  tunnel = null;
  $("tunnel-toggle").classList.remove("on");
  sendConfig();
  renderKeybar();
});

// ---- key bar ----

function renderKeybar(): void {
  const bar = $("keybar");
  bar.replaceChildren();
  if (keySources.length || tunnel) bar.append(el("span", "label", "Keys:"));
  for (const s of keySources) {
    const mine = keyInfo.keys.filter((k) => k.origin === s.name || k.origin.startsWith(`${s.name}:`));
    const chip = el("span", "chip");
    chip.dataset.source = s.name;
    const what = s.kind === "ikev2" ? "IKEv2 keys" : s.kind === "sa" ? mine.map((k) => `SPI ${k.spi} ${k.alg}`).join(", ") || s.text : `${mine.length} ESP SA${mine.length === 1 ? "" : "s"}`;
    chip.append(el("span", undefined, s.kind === "sa" ? what : `${s.name}: ${what}`));
    chip.title = s.kind === "ikev2" ? `${s.name}: ikev2_decryption_table` : mine.map((k) => `${k.origin}  SPI ${k.spi}  ${k.alg}  ${k.src} → ${k.dst}${k.esn ? "  ESN" : ""}`).join("\n") || s.text;
    const x = el("button", undefined, "×");
    x.type = "button";
    x.title = `Remove ${s.name}`;
    x.addEventListener("click", () => {
      keySources = keySources.filter((k) => k !== s);
      sendConfig();
      renderKeybar();
    });
    chip.append(x);
    bar.append(chip);
  }
  if (tunnel) {
    const chip = el("span", "chip tunnel", `tunnel local=${tunnel.local} remote=${tunnel.remote} allow=${tunnel.allow.join(",") || "∅"}${tunnel.policy === "bypass" ? " policy=bypass" : ""}`);
    bar.append(chip);
  }
  for (const e of keyInfo.errors) bar.append(el("span", "msg error", e));
  for (const w of keyInfo.warnings) bar.append(el("span", "msg warn", w));
  if (decodeError) bar.append(el("span", "msg error", decodeError));
}

// ---- filter ----

function matchesAt(i: number): boolean {
  if (verdictFilter && rows.verdict(i) !== verdictFilter) return false;
  return !filterText || matches(rows.row(i));
}

function matches(r: Row): boolean {
  if (verdictFilter && r[7] !== verdictFilter) return false;
  if (!filterText) return true;
  const hay = `${r[0]} ${r[2]} ${r[3]} ${r[4]} ${r[5]} ${r[6]} ${r[7]}`.toLowerCase();
  for (const tok of filterText.toLowerCase().split(/\s+/)) {
    if (!tok) continue;
    if (tok.startsWith("verdict:") || tok.startsWith("v:")) {
      if (r[7] !== tok.slice(tok.indexOf(":") + 1)) return false;
    } else if (tok.startsWith("!")) {
      const t = tok.slice(1);
      if (t && (r[7] === t || hay.includes(t))) return false;
    } else if (!hay.includes(tok)) return false;
  }
  return true;
}

function applyFilter(): void {
  if (!filterText && !verdictFilter) view = null;
  else {
    view = [];
    for (let i = 0; i < rows.length; i++) if (matchesAt(i)) view.push(i);
  }
  scheduleRender();
  if (selected >= 0) ensureVisible(selected);
}

let filterTimer = 0;
$<HTMLInputElement>("filter").addEventListener("input", (e) => {
  clearTimeout(filterTimer);
  filterTimer = window.setTimeout(() => {
    filterText = (e.target as HTMLInputElement).value.trim();
    applyFilter();
  }, 120);
});

// ---- packet list (virtualized: only the visible rows are in the DOM) ----

const count = () => (view ? view.length : rows.length);
const rowAt = (pos: number) => (view ? view[pos] : pos);
function posOf(index: number): number {
  if (!view) return index;
  let lo = 0;
  let hi = view.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (view[mid] === index) return mid;
    if (view[mid] < index) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

let renderQueued = false;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    const t = performance.now();
    renderList();
    renderStatus();
    perf.renders++;
    perf.maxRenderMs = Math.max(perf.maxRenderMs, performance.now() - t);
  });
}

const pool: HTMLDivElement[] = [];
function makeRow(): HTMLDivElement {
  const d = el("div", "row row-grid");
  d.setAttribute("role", "option");
  for (let i = 0; i < 8; i++) d.append(el("span", i === 5 ? "num" : i === 6 ? "verdict" : undefined));
  return d;
}

/** What each pooled row element shows (a row's text never changes within one decode). */
const shown = new WeakMap<HTMLDivElement, { store: RowStore; index: number }>();
let spacerRows = -1;
let rowsTop = -1;

function renderList(): void {
  const n = count();
  // Geometry first (no layout forced by our own writes), then only what changed: while a
  // capture decodes, the visible rows stay the same and only the spacer grows.
  const top = viewport.scrollTop;
  const h = viewport.clientHeight || 400;
  if (n !== spacerRows) {
    spacer.style.height = `${n * ROW_H}px`;
    spacerRows = n;
  }
  const first = Math.max(0, Math.floor(top / ROW_H) - 4);
  const last = Math.min(n, Math.ceil((top + h) / ROW_H) + 4);
  if (first !== rowsTop) {
    rowsEl.style.transform = `translateY(${first * ROW_H}px)`;
    rowsTop = first;
  }
  const need = last - first;
  while (pool.length < need) pool.push(makeRow());
  const kids = rowsEl.children;
  for (let k = 0; k < need; k++) {
    const d = pool[k];
    const i = rowAt(first + k);
    const was = shown.get(d);
    if (!was || was.store !== rows || was.index !== i) {
      const r = rows.row(i);
      const c = d.children;
      c[0].textContent = String(r[0]);
      c[1].textContent = r[1].toFixed(6);
      c[2].textContent = r[2];
      c[3].textContent = r[3];
      c[4].textContent = r[4];
      c[5].textContent = String(r[5]);
      c[6].textContent = r[7];
      c[7].textContent = r[6];
      (c[2] as HTMLElement).title = r[2];
      (c[3] as HTMLElement).title = r[3];
      (c[7] as HTMLElement).title = r[6];
      d.className = `row row-grid v-${verdictClass(r[7])}`;
      d.dataset.index = String(i);
      d.dataset.frame = String(r[0]);
      d.dataset.verdict = r[7];
      d.id = `row-${i}`;
      shown.set(d, { store: rows, index: i });
    }
    const sel = String(i === selected);
    if (d.getAttribute("aria-selected") !== sel) d.setAttribute("aria-selected", sel);
    if (kids[k] !== d) rowsEl.insertBefore(d, kids[k] ?? null);
  }
  while (rowsEl.children.length > need) rowsEl.lastElementChild!.remove();
  if (selected >= 0) viewport.setAttribute("aria-activedescendant", `row-${selected}`);
}

viewport.addEventListener("scroll", scheduleRender, { passive: true });
new ResizeObserver(() => {
  scheduleRender();
  if (layout) drawLayout();
}).observe(viewport);

rowsEl.addEventListener("mousedown", (e) => {
  const r = (e.target as HTMLElement).closest<HTMLElement>(".row");
  if (!r) return;
  select(Number(r.dataset.index));
  viewport.focus({ preventScroll: true });
});

viewport.addEventListener("keydown", (e) => {
  const n = count();
  if (!n) return;
  const page = Math.max(1, Math.floor(viewport.clientHeight / ROW_H) - 1);
  let pos = selected >= 0 ? posOf(selected) : -1;
  switch (e.key) {
    case "ArrowDown": pos = pos < 0 ? 0 : Math.min(n - 1, pos + 1); break;
    case "ArrowUp": pos = pos < 0 ? 0 : Math.max(0, pos - 1); break;
    case "PageDown": pos = Math.min(n - 1, Math.max(0, pos) + page); break;
    case "PageUp": pos = Math.max(0, pos - page); break;
    case "Home": pos = 0; break;
    case "End": pos = n - 1; break;
    case "Enter": if (selected >= 0) $("tree").querySelector<HTMLElement>(".layer-head")?.focus(); return;
    default: return;
  }
  e.preventDefault();
  select(rowAt(pos));
});

function ensureVisible(index: number): void {
  const pos = posOf(index);
  if (pos < 0) return;
  const y = pos * ROW_H;
  if (y < viewport.scrollTop) viewport.scrollTop = y;
  else if (y + ROW_H > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = y + ROW_H - viewport.clientHeight;
}

function select(index: number, scroll = true): void {
  if (index < 0 || index >= rows.length) return;
  const changed = index !== selected;
  selected = index;
  if (scroll) ensureVisible(index);
  for (const r of rowsEl.children) r.setAttribute("aria-selected", String((r as HTMLElement).dataset.index === String(index)));
  scheduleRender();
  if (changed || !detail) {
    send({ type: "detail", gen, index });
  }
}

// ---- status bar ----

/**
 * 12,345 (an integer count as en-US shows it), without Intl: the first toLocaleString call
 * loads ICU's number formatting, a long task in the middle of the first render of a decode.
 */
function grouped(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

let statusText = "";
let statusChips = "";
let progressFill: HTMLElement | undefined;

function renderStatus(): void {
  // Rebuilt only when its text changes; while decoding, the progress bar's fill moves in place.
  const file = $("status-file");
  const progress = captureName && decoding ? `${captureSize ? Math.round((100 * bytesDone) / captureSize) : 0}%` : "";
  let text = "No capture";
  if (captureName) {
    const shown = view ? ` · ${grouped(view.length)} shown` : "";
    const tail = decoding ? "decoding…" : decodeError ? "error" : `decoded in ${(decodeMs / 1000).toFixed(2)} s`;
    text = `${captureName} · ${grouped(rows.length)} packets${shown} · ${tail}`;
  }
  if (text !== statusText || !!progress !== !!progressFill) {
    statusText = text;
    file.replaceChildren();
    progressFill = undefined;
    if (progress) {
      const bar = el("span", "progress");
      progressFill = el("i");
      bar.append(progressFill);
      file.append(bar);
    }
    file.append(text);
    file.title = captureName ? `${captureName} (${grouped(captureSize)} bytes)` : "";
  }
  if (progressFill && progressFill.style.width !== progress) progressFill.style.width = progress;
  const chips = Object.entries(verdictCounts).sort((a, b) => b[1] - a[1]);
  const sig = `${verdictFilter}|${chips.map(([k, c]) => `${k} ${c}`).join("|")}`;
  if (sig !== statusChips) {
    statusChips = sig;
    const v = $("status-verdicts");
    v.replaceChildren();
    for (const [k, c] of chips) {
      const chip = el("span", `vchip v-${verdictClass(k)}${verdictFilter === k ? " active" : ""}`, `${k} ${grouped(c)}`);
      chip.dataset.verdict = k;
      chip.title = verdictFilter === k ? "Show all packets" : `Show only “${k}”`;
      v.append(chip);
    }
  }
  const keys = keyInfo.keys.length + keyInfo.ikeKeys;
  const right = `${keys} key${keys === 1 ? "" : "s"}${tunnel ? " · tunnel verdicts" : ""}`;
  const r = $("status-right");
  if (r.textContent !== right) r.textContent = right;
}

$("status-verdicts").addEventListener("click", (e) => {
  const chip = (e.target as HTMLElement).closest<HTMLElement>(".vchip");
  if (!chip) return;
  verdictFilter = verdictFilter === chip.dataset.verdict ? null : chip.dataset.verdict!;
  applyFilter();
});

// ---- details: tree, layout, hex ----

function showDetail(): void {
  const d = detail!;
  selField = null;
  hexSpan = null;
  hexRange = null;
  hexSource = 0;
  layout = packetLayout(d);
  renderTree();
  drawLayout();
  renderHex();
}

function renderTree(): void {
  const tree = $("tree");
  tree.replaceChildren();
  const d = detail;
  if (!d) return;
  // The frame itself.
  const frame = layerNode(-1, `Frame ${d.frame}: ${d.originalLength} bytes on wire (${d.originalLength * 8} bits), ${d.capturedLength} bytes captured`, [
    ["time", "Arrival Time", new Date(d.time * 1000).toISOString().replace("T", " ").replace("Z", " UTC")],
    ["linktype", "Link Type", `${LINKTYPES[d.linktype] ?? "?"} (${d.linktype})`],
    ["verdict", "Verdict", d.verdict],
    ["sources", "Byte sources", d.sourceNames.map((n, i) => `${n} (${d.sources[i].length} bytes)`).join(", ")],
    ...(d.fragments ? [["fragments", "Reassembled from frames", d.fragments.join(", ")] as [string, string, string]] : []),
  ]);
  const vtag = el("span", `tag ${verdictClass(d.verdict) === "good" ? "good" : verdictClass(d.verdict) === "nokey" ? "warn" : verdictClass(d.verdict)}`, d.verdict);
  frame.querySelector(".layer-head")!.append(vtag);
  setCollapsed(frame, collapsedState("frame"));
  tree.append(frame);
  d.layers.forEach((l, i) => {
    const spans = d.spans[i];
    const keys = Object.keys(l.fields);
    for (const k of Object.keys(spans)) if (!(k in l.fields) && !k.includes(".")) keys.push(k);
    const node = layerNode(i, layerTitle(l), []);
    const head = node.querySelector(".layer-head")!;
    const srcName = d.sourceNames[l.source];
    if (srcName === "decrypted") head.append(el("span", "tag dec", "decrypted"));
    if (srcName === "reassembled") head.append(el("span", "tag reasm", "reassembled"));
    if (l.name === "esp") {
      const icv = l.fields.icv;
      head.append(el("span", `tag ${icv === "ok" ? "good" : icv === "bad" ? "bad" : "warn"}`, icv === "ok" ? "ICV ok" : icv === "bad" ? "ICV bad" : "no key"));
    }
    const fields = node.querySelector(".fields")!;
    for (const k of keys) addField(fields, i, l, k, k in l.fields ? l.fields[k] : spanValue(d, spans[k]));
    node.dataset.key = `${l.name}@${srcName}`;
    setCollapsed(node, collapsedState(node.dataset.key));
    tree.append(node);
  });
}

// Which layers are folded, remembered by protocol (and byte source) from packet to packet, as
// Wireshark does; by default the frame, the link layer and the outer IPv4 header are folded.
const folded = new Map<string, boolean>();
function collapsedState(key: string): boolean {
  return folded.get(key) ?? (key === "frame" || /^(eth|sll|sll2|null|ipv4)@frame$/.test(key));
}
function setCollapsed(node: HTMLElement, c: boolean): void {
  node.dataset.collapsed = String(c);
  const tw = node.querySelector(".tw");
  if (tw) tw.textContent = c ? "▸" : "▾";
  node.querySelector(".layer-head")?.setAttribute("aria-expanded", String(!c));
}
function toggle(node: HTMLElement, c = node.dataset.collapsed !== "true"): void {
  setCollapsed(node, c);
  folded.set(node.dataset.key ?? "frame", c);
}

function spanValue(d: PacketDetail, s: Span | undefined): FieldValue {
  if (!s) return null;
  return d.sources[s.source].subarray(s.offset, s.offset + s.length);
}

function layerNode(i: number, title: string, frameFields: [string, string, string][]): HTMLDivElement {
  const node = el("div", "layer");
  node.dataset.layer = String(i);
  const head = el("div", "layer-head");
  head.setAttribute("role", "treeitem");
  head.tabIndex = -1;
  head.dataset.layer = String(i);
  head.append(el("span", "tw", "▾"), el("span", "title", title));
  node.append(head);
  const fields = el("div", "fields");
  fields.setAttribute("role", "group");
  for (const [k, label, value] of frameFields) {
    const f = el("div", "field");
    f.dataset.layer = String(i);
    f.dataset.field = k;
    f.tabIndex = -1;
    f.append(el("span", "fname", `${label}:`), el("span", "fval", value));
    fields.append(f);
  }
  node.append(fields);
  return node;
}

function addField(parent: Element, i: number, l: Layer, key: string, v: FieldValue): void {
  const f = el("div", "field");
  f.dataset.layer = String(i);
  f.dataset.field = key;
  f.tabIndex = -1;
  f.setAttribute("role", "treeitem");
  const { text, cls } = fieldValue(l.name, key, v);
  const val = el("span", `fval${cls ? ` ${cls}` : ""}`, text);
  f.append(el("span", "fname", `${fieldLabel(l.name, key)}:`), val);
  parent.append(f);
  // IKEv2 payload lists: one row per payload (each with its byte span), details below it.
  if (Array.isArray(v)) {
    (v as readonly FieldValue[]).forEach((item, n) => {
      const row = el("div", "field sub");
      row.dataset.layer = String(i);
      row.dataset.field = `${key}.${n}`;
      row.tabIndex = -1;
      if (item && typeof item === "object" && !(item instanceof Uint8Array) && !Array.isArray(item)) {
        const o = item as { [k: string]: FieldValue };
        const name = o.name ?? o.type;
        const rest = Object.entries(o)
          .filter(([k]) => !["name", "offset", "length", "type"].includes(k))
          .map(([k, x]) => `${k}=${x instanceof Uint8Array ? bytesHex(x, 16) : typeof x === "object" && x !== null ? JSON.stringify(x).slice(0, 120) : String(x)}`)
          .join(" ");
        row.append(el("span", "fname", `${String(name)}${o.length !== undefined ? ` (${o.length} bytes)` : ""}`), el("span", "fval", rest));
      } else row.append(el("span", "fval", String(item)));
      parent.append(row);
    });
  }
}

$("tree").addEventListener("click", (e) => {
  const t = e.target as HTMLElement;
  const head = t.closest<HTMLElement>(".layer-head");
  if (head) {
    const node = head.parentElement!;
    if (t.classList.contains("tw") || e.detail === 2) toggle(node);
    selectLayer(Number(head.dataset.layer));
    return;
  }
  const f = t.closest<HTMLElement>(".field");
  if (f) selectField(Number(f.dataset.layer), f.dataset.field!);
});

$("tree").addEventListener("keydown", (e) => {
  const items = [...$("tree").querySelectorAll<HTMLElement>(".layer-head, .layer:not([data-collapsed='true']) > .fields > .field")];
  const cur = document.activeElement as HTMLElement;
  const k = items.indexOf(cur);
  if (k < 0) return;
  let next = -1;
  if (e.key === "ArrowDown") next = Math.min(items.length - 1, k + 1);
  else if (e.key === "ArrowUp") next = Math.max(0, k - 1);
  else if ((e.key === "ArrowRight" || e.key === "ArrowLeft") && cur.classList.contains("layer-head")) {
    toggle(cur.parentElement!, e.key === "ArrowLeft");
    e.preventDefault();
    return;
  } else if (e.key === "Escape") {
    viewport.focus();
    return;
  } else return;
  e.preventDefault();
  const n = items[next];
  n.focus();
  n.click();
});

function layerRange(i: number): Span | null {
  if (!detail) return null;
  if (i < 0) return { source: 0, offset: 0, length: detail.sources[0].length };
  const l = detail.layers[i];
  return { source: l.source, offset: l.offset, length: l.length };
}

function markTree(): void {
  for (const n of $("tree").querySelectorAll(".selected")) n.classList.remove("selected");
  if (!selField) return;
  const sel = selField.field
    ? `.field[data-layer="${selField.layer}"][data-field="${CSS.escape(selField.field)}"]`
    : `.layer-head[data-layer="${selField.layer}"]`;
  const n = $("tree").querySelector<HTMLElement>(sel);
  if (n) {
    const node = n.closest<HTMLElement>(".layer")!;
    if (n.classList.contains("field") && node.dataset.collapsed === "true") setCollapsed(node, false);
    n.classList.add("selected");
    n.scrollIntoView({ block: "nearest" });
  }
}

function selectLayer(i: number): void {
  selField = { layer: i, field: "" };
  hexRange = layerRange(i);
  hexSpan = hexRange;
  if (hexSpan) hexSource = hexSpan.source;
  markTree();
  markLayout();
  renderHex();
}

function selectField(i: number, field: string): void {
  if (!detail) return;
  selField = { layer: i, field };
  hexRange = layerRange(i);
  const span = i >= 0 ? detail.spans[i][field] : field === "sources" || field === "time" ? null : null;
  hexSpan = span ?? null;
  if (hexSpan) hexSource = hexSpan.source;
  else if (hexRange) hexSource = hexRange.source;
  markTree();
  markLayout();
  renderHex();
}

// Layout drawing: boxes sized by byte count (with a readable minimum), offsets under the
// boundaries, and the ESP encryption and integrity extents drawn as brackets above.
function drawLayout(): void {
  const host = $("layout");
  host.replaceChildren();
  const d = detail;
  const L = layout;
  if (!d || !L || L.boxes.length === 0) {
    host.append(el("div", "layout-empty", d ? "No layers to draw." : "Select a packet."));
    $("layout-caption").textContent = "";
    return;
  }
  $("layout-caption").textContent = `byte offsets in the ${d.sourceNames[L.base] === "reassembled" ? "reassembled datagram" : "frame"}${L.boxes.some((b) => b.kind === "inner" || b.kind === "payload") && L.encrypted ? " · decrypted parts drawn over their ciphertext" : ""}`;
  layoutWidth = host.clientWidth;
  const avail = Math.max(420, host.clientWidth - 26);
  const MIN = 46;
  const total = L.boxes.reduce((n, b) => n + b.length, 0);
  // Widths: proportional, but at least MIN; the rest shared by the big boxes.
  let widths = L.boxes.map((b) => (b.length / total) * avail);
  const small = widths.map(() => false);
  for (let round = 0; round < 4; round++) {
    widths.forEach((w, i) => (small[i] ||= w < MIN));
    const fixed = small.filter(Boolean).length * MIN;
    const bigLen = L.boxes.reduce((n, b, i) => n + (small[i] ? 0 : b.length), 0);
    widths = L.boxes.map((b, i) => (small[i] ? MIN : bigLen ? (b.length / bigLen) * Math.max(0, avail - fixed) : MIN));
  }
  widths = widths.map((w) => Math.max(MIN, Math.floor(w)));
  const xs: number[] = [0];
  for (const w of widths) xs.push(xs[xs.length - 1] + w - 1);
  const xAt = (off: number) => {
    const k = L.boxes.findIndex((b) => off >= b.offset && off < b.offset + b.length);
    if (k < 0) return xs[xs.length - 1];
    const b = L.boxes[k];
    return xs[k] + ((off - b.offset) / b.length) * (widths[k] - 1);
  };
  const brackets = el("div", "lay-brackets");
  const bracket = (range: [number, number] | undefined, cls: string, label: string) => {
    if (!range) return;
    const x0 = xAt(range[0]);
    const x1 = range[1] >= L.boxes[L.boxes.length - 1].offset + L.boxes[L.boxes.length - 1].length ? xs[xs.length - 1] : xAt(range[1]);
    const b = el("div", `bracket ${cls}`);
    b.style.left = `${x0}px`;
    b.style.width = `${Math.max(4, x1 - x0)}px`;
    b.append(el("span", undefined, label));
    b.dataset.from = String(range[0]);
    b.dataset.to = String(range[1]);
    brackets.append(b);
  };
  bracket(L.integrity, "b0", "integrity (ICV)");
  bracket(L.encrypted, "b1", "encrypted");
  const boxes = el("div", "lay-boxes");
  const offs = el("div", "lay-offsets");
  L.boxes.forEach((b, k) => {
    const box = el("div", `lay-box k-${b.kind}${b.bad ? " bad" : ""}`);
    box.style.width = `${widths[k]}px`;
    box.dataset.label = b.label;
    box.dataset.offset = String(b.offset);
    box.dataset.length = String(b.length);
    box.dataset.k = String(k);
    box.title = `${b.label}: bytes ${b.offset}–${b.offset + b.length - 1} (${b.length} bytes)${b.span.source !== L.base ? `; ${d.sourceNames[b.span.source]} bytes ${b.span.offset}–${b.span.offset + b.span.length - 1}` : ""}`;
    box.append(el("b", undefined, b.label), el("small", undefined, String(b.length)));
    boxes.append(box);
    const o = el("span", undefined, String(b.offset));
    o.style.left = `${xs[k]}px`;
    offs.append(o);
  });
  const last = L.boxes[L.boxes.length - 1];
  const endTick = el("span", "end", String(last.offset + last.length));
  endTick.style.left = `${xs[xs.length - 1]}px`;
  offs.append(endTick);
  host.append(brackets, boxes, offs);
  markLayout();
}

// Redraw when the pane's width changes (the drawing is sized to fit it).
let layoutWidth = 0;
new ResizeObserver(() => {
  if (layout && $("layout").clientWidth !== layoutWidth) drawLayout();
}).observe($("layout"));

$("layout").addEventListener("click", (e) => {
  const box = (e.target as HTMLElement).closest<HTMLElement>(".lay-box");
  if (!box || !layout || !detail) return;
  const b = layout.boxes[Number(box.dataset.k)];
  selField = b.layer !== undefined ? { layer: b.layer, field: "" } : null;
  hexRange = b.layer !== undefined ? layerRange(b.layer) : null;
  hexSpan = b.span;
  hexSource = b.span.source;
  markTree();
  markLayout(Number(box.dataset.k));
  renderHex();
});

function markLayout(k = -1): void {
  const host = $("layout");
  for (const n of host.querySelectorAll(".lay-box.selected")) n.classList.remove("selected");
  if (!layout) return;
  if (k < 0 && hexSpan) {
    // The box whose bytes contain the highlighted span.
    k = layout.boxes.findIndex((b) => b.span.source === hexSpan!.source && hexSpan!.offset >= b.span.offset && hexSpan!.offset < b.span.offset + b.span.length);
  }
  if (k >= 0) host.querySelector(`.lay-box[data-k="${k}"]`)?.classList.add("selected");
}

// Hex view: offset, 16 bytes in two groups of 8, ASCII; one tab per byte source.
let hexShowAll = false;
function renderHex(): void {
  const d = detail;
  const tabs = $("hex-tabs");
  const hex = $("hex");
  const cap = $("hex-caption");
  tabs.replaceChildren();
  hex.replaceChildren();
  cap.replaceChildren();
  if (!d) return;
  d.sourceNames.forEach((n, i) => {
    const t = el("button", `tab${n === "decrypted" ? " dec" : ""}`, `${n[0].toUpperCase()}${n.slice(1)} (${d.sources[i].length})`);
    t.type = "button";
    t.setAttribute("role", "tab");
    t.setAttribute("aria-selected", String(i === hexSource));
    t.dataset.source = String(i);
    t.dataset.name = n;
    tabs.append(t);
  });
  const src = d.sources[hexSource];
  const name = d.sourceNames[hexSource];
  hex.dataset.source = name;
  hex.classList.toggle("decrypted", name === "decrypted");
  if (hexSpan && hexSpan.source === hexSource) {
    const what = selField ? (selField.layer < 0 ? "Frame" : `${SHORT[d.layers[selField.layer].name] ?? d.layers[selField.layer].name}${selField.field ? ` › ${fieldLabel(d.layers[selField.layer].name, selField.field)}` : ""}`) : "selection";
    cap.append(el("b", undefined, what), ` — ${name} bytes ${hexSpan.offset}–${hexSpan.offset + hexSpan.length - 1} (${hexSpan.length} byte${hexSpan.length === 1 ? "" : "s"})`);
  } else cap.append(`${name} bytes`);
  const n = hexShowAll ? src.length : Math.min(src.length, HEX_MAX);
  const hl = hexSpan && hexSpan.source === hexSource ? hexSpan : null;
  const rg = hexRange && hexRange.source === hexSource ? hexRange : null;
  const frag = document.createDocumentFragment();
  for (let o = 0; o < n; o += 16) {
    const line = el("div", "hl-row");
    line.append(el("span", "off", o.toString(16).padStart(4, "0")), "  ");
    const asc = el("span", "asc");
    for (let j = 0; j < 16; j++) {
      const x = o + j;
      if (j === 8) line.append(el("span", "gap"));
      if (x >= n) {
        line.append(j < 15 ? "   " : "  ");
        continue;
      }
      const v = src[x];
      const b = el("span", "b", v.toString(16).padStart(2, "0"));
      b.dataset.o = String(x);
      const a = el("span", "a", v >= 0x20 && v < 0x7f ? String.fromCharCode(v) : "·");
      a.dataset.o = String(x);
      if (v < 0x20 || v >= 0x7f) a.classList.add("np");
      if (v === 0) b.classList.add("z");
      if (hl && x >= hl.offset && x < hl.offset + hl.length) {
        b.classList.add("hl");
        a.classList.add("hl");
      } else if (rg && x >= rg.offset && x < rg.offset + rg.length) {
        b.classList.add("in");
        a.classList.add("in");
      }
      line.append(b);
      asc.append(a);
      if (j === 15) continue;
      if (j === 7 || x + 1 >= n) line.append(" ");
      else {
        // The space between two bytes is highlighted with them, so a field reads as one block.
        const sp = el("span", "s", " ");
        if (hl && x >= hl.offset && x + 1 < hl.offset + hl.length) sp.classList.add("hl");
        line.append(sp);
      }
    }
    line.append("   ", asc);
    frag.append(line);
  }
  hex.append(frag);
  if (n < src.length) {
    const more = el("button", "btn hex-more", `Show all ${src.length} bytes`);
    more.type = "button";
    more.addEventListener("click", () => {
      hexShowAll = true;
      renderHex();
    });
    hex.append(more);
  }
  hex.querySelector(".hl")?.scrollIntoView({ block: "nearest" });
}

$("hex-tabs").addEventListener("click", (e) => {
  const t = (e.target as HTMLElement).closest<HTMLElement>(".tab");
  if (!t) return;
  hexSource = Number(t.dataset.source);
  renderHex();
});

// Clicking a byte selects the smallest field (or layer) that contains it.
$("hex").addEventListener("click", (e) => {
  const b = (e.target as HTMLElement).closest<HTMLElement>(".b, .a");
  if (!b || !detail) return;
  const x = Number(b.dataset.o);
  let best: { layer: number; field: string; len: number } | null = null;
  detail.spans.forEach((spans, i) => {
    for (const [k, s] of Object.entries(spans)) {
      if (s.source === hexSource && x >= s.offset && x < s.offset + s.length && (!best || s.length < best.len)) best = { layer: i, field: k, len: s.length };
    }
    const l = detail!.layers[i];
    if (l.source === hexSource && x >= l.offset && x < l.offset + l.length && (!best || l.length < best.len)) best = { layer: i, field: "", len: l.length };
  });
  const found = best as { layer: number; field: string; len: number } | null;
  if (!found) return;
  if (found.field) selectField(found.layer, found.field);
  else selectLayer(found.layer);
});

// ---- splitter between the list and the details ----

const split = $("split");
split.addEventListener("pointerdown", (e) => {
  const list = $("list");
  const startY = e.clientY;
  const startH = list.getBoundingClientRect().height;
  split.setPointerCapture(e.pointerId);
  const move = (ev: PointerEvent) => {
    list.style.flexBasis = `${Math.max(90, startH + ev.clientY - startY)}px`;
  };
  const up = () => {
    split.removeEventListener("pointermove", move);
    split.removeEventListener("pointerup", up);
    scheduleRender();
    if (layout) drawLayout();
  };
  split.addEventListener("pointermove", move);
  split.addEventListener("pointerup", up);
});

// Start with the tunnel panel's values empty and the key bar rendered.
renderKeybar();
renderStatus();
$("tree").append(el("div", "tree-empty", "Select a packet to see its layers."));
drawLayout();
sendConfig();
