// The browser packet decoder page (web/, built into dist/web/ by npm run build), served by
// `ipsec6in4 web` (src/cli-web.ts) and driven in headless Chromium (Debian's, through
// playwright-core; never a downloaded browser):
//
//  1. a capture made here (ESP sealed by the independent node:crypto ESP of
//     bench/esp-node-crypto.mjs, IKE, clear 6in4, a tampered packet, unknown SPIs, spoofed
//     sources) and a Wireshark esp_sa file go in through #capture and #keys; rows carry the
//     decode core's verdicts in data-verdict; a typed --sa spec decrypts one more SPI
//  2. the layer tree, the hex view (a field's exact bytes, in the frame or the decrypted
//     source), the layout drawing (boxes and byte offsets), keyboard navigation
//  3. tunnel verdicts: spoofed sources and ingress filtering show their drop reasons
//  4. no request leaves the page's own files; a screenshot (docs/ for the README with UPDATE_SCREENSHOT=1)
//  5. 100,000 packets: decoded in the worker while the main thread keeps drawing frames
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { espSealNode } from "../bench/esp-node-crypto.mjs";
import { startWebServer, webCommand, type WebServer } from "../src/cli-web.js";
import { writePcap } from "../src/decode/pcap.js";
import { ensureDebian } from "./helpers/apt.js";
import { inetChecksum, ipv4Wrap } from "./helpers/pcap.js";
import { icmpv6Echo, ikeSaInit, udp4, udp6 } from "./fixtures/decode/packets.js";
import { Prng } from "./helpers/prng.js";

const ROOT = new URL("../", import.meta.url).pathname;
const WEB = join(ROOT, "dist/web");
const A = "192.0.2.1"; // the peer
const B = "192.0.2.2"; // the local endpoint
const rng = new Prng(0x3eb);
const KEY_AB = rng.bytes(20); // AES-128 key ‖ salt, SPI 0x1001 (A → B)
const KEY_BA = rng.bytes(20); // SPI 0x2001 (B → A)
const KEY_3003 = rng.bytes(20); // only given as a typed SA spec
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ESP_SA =
  `"IPv4","${A}","${B}","0x00001001","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(KEY_AB)}","NULL",""\n` +
  `"IPv4","${B}","${A}","0x00002001","AES-GCM with 16 octet ICV [RFC4106]","0x${hex(KEY_BA)}","NULL",""\n`;
const CHROME_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

const seqs = new Map<number, number>();
function esp(spi: number, keymat: Uint8Array, inner: Uint8Array, src = A, dst = B): Uint8Array {
  const seq = (seqs.get(spi) ?? 0) + 1;
  seqs.set(spi, seq);
  return ipv4Wrap(src, dst, 50, espSealNode({ spi, keymat, seq }, inner), seq);
}
function spoofOuter(p: Uint8Array, src: string): Uint8Array {
  const q = p.slice();
  q.set(src.split(".").map(Number), 12);
  q[10] = q[11] = 0;
  const c = inetChecksum(q.subarray(0, 20));
  q[10] = c >> 8;
  q[11] = c & 0xff;
  return q;
}

const IN_A = "2001:db8:1::10";
const IN_B = "2001:db8:2::20";
const echo = (seq: number, len: number, reply = false) =>
  reply ? icmpv6Echo(IN_B, IN_A, 0x77, seq, rng.bytes(len), 129) : icmpv6Echo(IN_A, IN_B, 0x77, seq, rng.bytes(len));

/** The test capture: frame numbers are the comments; expected verdicts in EXPECT / EXPECT_TUNNEL. */
function buildCapture(): { pcap: Uint8Array; frames: Uint8Array[]; inner1: Uint8Array } {
  const inner1 = echo(1, 56);
  const tamper = (p: Uint8Array) => {
    p[20 + 16 + 5] ^= 0x40; // a ciphertext byte
    return p;
  };
  const frames = [
    esp(0x1001, KEY_AB, inner1), // 1 good ESP
    esp(0x2001, KEY_BA, echo(1, 56, true), B, A), // 2 reply from the local endpoint
    ipv4Wrap(A, B, 17, udp4(500, 500, ikeSaInit(rng.bytes(8)))), // 3 IKE_SA_INIT
    ipv4Wrap(A, B, 41, echo(3, 24)), // 4 clear-text 6in4
    tamper(esp(0x1001, KEY_AB, echo(2, 56))), // 5 ciphertext modified
    esp(0x9999, rng.bytes(20), echo(4, 32)), // 6 an SPI nobody has a key for
    spoofOuter(esp(0x1001, KEY_AB, echo(5, 40)), "198.51.100.7"), // 7 outer source spoofed
    esp(0x1001, KEY_AB, icmpv6Echo("2001:db8:99::1", IN_B, 0x77, 6, rng.bytes(40))), // 8 inner source outside the allowed prefix
    esp(0x3003, KEY_3003, echo(7, 40)), // 9 keyed by the typed SA only
  ];
  for (let i = 0; i < 16; i++) {
    const k = 8 + i;
    if (i % 5 === 4) frames.push(ipv4Wrap(A, B, 17, udp4(4500, 4500, espSealNode({ spi: 0x1001, keymat: KEY_AB, seq: bump(0x1001) }, udp6(IN_A, IN_B, 53000 + i, 53, rng.bytes(30 + i)))))); // ESP in UDP
    else if (i % 2 === 0) frames.push(esp(0x1001, KEY_AB, echo(k, 32 + 8 * i)));
    else frames.push(esp(0x2001, KEY_BA, echo(k - 1, 32 + 8 * (i - 1), true), B, A));
  }
  const pcap = writePcap(frames.map((data, i) => ({ data, time: 1_732_000_000 + i * 0.0173 })), 101);
  return { pcap, frames, inner1 };
}
function bump(spi: number): number {
  const s = (seqs.get(spi) ?? 0) + 1;
  seqs.set(spi, s);
  return s;
}

// Frame 7: the esp_sa entry names the peer's address, so a packet from elsewhere finds no key
// (as in Wireshark); the tunnel's pipeline looks SAs up by destination and SPI and names the spoof.
const EXPECT = ["ok", "ok", "ok", "ok", "integrity-failure", "no-key", "no-key", "ok", "no-key"];
const EXPECT_WITH_SA = ["ok", "ok", "ok", "ok", "integrity-failure", "no-key", "no-key", "ok", "ok"];
const EXPECT_TUNNEL = ["accept", "outbound", "accept", "cleartext-protected", "integrity-failure", "unknown-spi", "spoofed-outer-source", "ingress-prefix", "accept"];

let server: WebServer;
let browser: Browser | undefined;
let skip: string | undefined;
const tmp = mkdtempSync(join(tmpdir(), "web-test-"));

beforeAll(async () => {
  for (const f of ["index.html", "app.js", "worker.js", "style.css"]) {
    if (!existsSync(join(WEB, f))) throw new Error(`dist/web/${f} is missing: build the page first (npm run build, or npm run build:web after build:ts)`);
  }
  skip = ensureDebian("/usr/bin/chromium", ["chromium"]);
  server = await startWebServer({ port: 0, root: WEB });
  if (skip) return;
  const { chromium } = await import("playwright-core");
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: CHROME_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function openPage(viewport = { width: 1440, height: 900 }): Promise<{ page: Page; requests: string[]; errors: string[] }> {
  const page = await browser!.newPage({ viewport, deviceScaleFactor: 1 });
  const requests: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => requests.push(`${r.method()} ${r.url()}`));
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await page.goto(server.url);
  return { page, requests, errors };
}

/** Every row's verdict, in frame order: the list is virtualized, so scroll through it. */
const verdicts = (page: Page) =>
  page.evaluate(async () => {
    const vp = document.getElementById("viewport")!;
    const seen = new Map<number, string>();
    const top = vp.scrollTop;
    const frame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
    for (let y = 0; ; y += vp.clientHeight / 2) {
      vp.scrollTop = y;
      await frame();
      for (const r of Array.from(document.querySelectorAll<HTMLElement>("#rows .row"))) seen.set(Number(r.dataset.frame), r.dataset.verdict!);
      if (y >= vp.scrollHeight) break;
    }
    vp.scrollTop = top;
    await frame();
    return [...seen.entries()].sort((x, y) => x[0] - y[0]).map((e) => e[1]);
  });
const waitDone = (page: Page, timeout = 30_000) => page.waitForSelector("body[data-state='done']", { timeout });
/** Wait for a fresh decode (after keys or tunnel changed) to finish. */
async function redecode(page: Page, action: () => Promise<void>): Promise<void> {
  await page.evaluate(() => document.body.setAttribute("data-state", "waiting"));
  await action();
  await waitDone(page);
}
const highlighted = (page: Page) =>
  page.$$eval("#hex .b.hl", (bs) => ({ offsets: bs.map((b) => Number((b as HTMLElement).dataset.o)), hex: bs.map((b) => b.textContent).join("") }));

describe("ipsec6in4 web", () => {
  it("the page's synchronous IKE crypto (HMAC-SHA, AES-CBC, AES-GCM with short ICVs) agrees with node:crypto", async () => {
    const { createCipheriv, createHmac, randomBytes } = await import("node:crypto");
    const { hmac, syncIkeCrypto } = await import("../web/ike-crypto.js");
    for (const h of ["sha1", "sha256", "sha384", "sha512"] as const) {
      for (const n of [0, 3, 55, 56, 64, 111, 112, 128, 300]) {
        for (const kl of [4, 20, 64, 130]) {
          const k = randomBytes(kl);
          const d = randomBytes(n);
          expect(hex(hmac(h, k, d)), `${h} ${n} ${kl}`).toBe(createHmac(h, k).update(d).digest("hex"));
        }
      }
    }
    for (const tl of [8, 12, 16]) {
      const k = randomBytes(16);
      const nonce = randomBytes(12);
      const aad = randomBytes(8);
      const pt = randomBytes(37);
      const c = createCipheriv("aes-128-gcm", k, nonce, { authTagLength: tl });
      c.setAAD(aad);
      const sealed = Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
      expect(hex(syncIkeCrypto.aeadSeal("aes-gcm", k, nonce, aad, pt, tl))).toBe(hex(sealed));
      expect(hex(syncIkeCrypto.aeadOpen("aes-gcm", k, nonce, aad, sealed, tl)!)).toBe(hex(pt));
      sealed[3] ^= 1;
      expect(syncIkeCrypto.aeadOpen("aes-gcm", k, nonce, aad, sealed, tl)).toBeNull();
    }
    const k = randomBytes(32);
    const iv = randomBytes(16);
    const d = randomBytes(64);
    const c = createCipheriv("aes-256-cbc", k, iv);
    c.setAutoPadding(false);
    expect(hex(syncIkeCrypto.aesCbc(true, k, iv, d))).toBe(Buffer.concat([c.update(d), c.final()]).toString("hex"));
  });

  it("webCommand serves the page on localhost with a strict CSP, and only GET/HEAD of its own files", async () => {
    const ac = new AbortController();
    let out = "";
    const listening = new Promise<WebServer>((r) => {
      void webCommand(["--port", "0"], (s) => (out += s), () => {}, { signal: ac.signal, root: WEB, onListening: r }).then((code) => expect(code).toBe(0));
    });
    const s = await listening;
    expect(out).toMatch(/^ipsec6in4 packet decoder: http:\/\/127\.0\.0\.1:\d+\/\n$/);
    const index = await fetch(s.url);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-security-policy")).toContain("connect-src 'none'");
    expect(await index.text()).toContain('id="capture"');
    expect((await fetch(new URL("worker.js", s.url))).headers.get("content-type")).toMatch(/^text\/javascript/);
    expect((await fetch(new URL("../../etc/passwd", s.url))).status).toBe(404);
    expect((await fetch(new URL("/%2e%2e/package.json", s.url))).status).toBe(404);
    expect((await fetch(s.url, { method: "POST", body: "x" })).status).toBe(405);
    ac.abort();
    let err = "";
    expect(await webCommand(["--port", "x"], () => {}, (t) => (err += t))).toBe(2);
    expect(err).toMatch(/ERR_USAGE: --port must be an integer/);
    expect(await webCommand(["--bogus"], () => {}, () => {})).toBe(2);
    let help = "";
    expect(await webCommand(["--help"], (t) => (help += t), () => {})).toBe(0);
    expect(help).toMatch(/usage: ipsec6in4 web/);
    // The port in use: a named error, status 1.
    const busy = await startWebServer({ port: 0, root: WEB });
    let err2 = "";
    const busyPort = (busy.server.address() as { port: number }).port;
    expect(await webCommand(["--port", String(busyPort)], () => {}, (t) => (err2 += t), { root: WEB })).toBe(1);
    expect(err2).toMatch(/ERR_LISTEN: port \d+ on 127\.0\.0\.1 is in use/);
    await busy.close();
  });

  it("decodes a capture with key files and an SA spec; tree, hex, layout, keyboard; tunnel verdicts; offline", async (ctx) => {
    if (skip) return ctx.skip(skip);
    const { pcap, frames, inner1 } = buildCapture();
    const { page, requests, errors } = await openPage();
    await page.setInputFiles("#keys", { name: "esp_sa", mimeType: "text/plain", buffer: Buffer.from(ESP_SA) });
    await page.setInputFiles("#capture", { name: "tunnel.pcap", mimeType: "application/vnd.tcpdump.pcap", buffer: Buffer.from(pcap) });
    await waitDone(page);
    expect(await page.getAttribute("body", "data-packets")).toBe(String(frames.length));
    const v = await verdicts(page);
    expect(v.length).toBe(frames.length);
    expect(v.slice(0, 9)).toEqual(EXPECT);
    expect(v.slice(9).every((x) => x === "ok")).toBe(true);
    expect(await page.textContent("#keybar")).toContain("esp_sa: 2 ESP SAs");

    // A typed SA spec decrypts SPI 0x3003.
    await redecode(page, async () => {
      await page.fill("#sa", `spi=0x00003003,enc=aes128gcm16,key=0x${hex(KEY_3003)}`);
      await page.press("#sa", "Enter");
    });
    expect((await verdicts(page)).slice(0, 9)).toEqual(EXPECT_WITH_SA);
    // A bad spec is reported, and changes nothing.
    await redecode(page, async () => {
      await page.fill("#sa", "spi=0x1,enc=aes128gcm16,key=0x00");
      await page.press("#sa", "Enter");
    });
    expect(await page.textContent("#keybar .msg.error")).toMatch(/SA #2: .*aes128gcm16 needs a 128-bit key and a 4-byte salt/);
    await redecode(page, () => page.click("#keybar .chip[data-source='SA #2'] button"));
    expect((await verdicts(page)).slice(0, 9)).toEqual(EXPECT_WITH_SA);

    // The layer tree of frame 1.
    await page.click("#rows .row[data-frame='1']");
    await page.waitForSelector("#tree .layer[data-layer='0']");
    const titles = await page.$$eval("#tree .layer-head .title", (t) => t.map((x) => x.textContent));
    expect(titles).toEqual([
      `Frame 1: ${frames[0].length} bytes on wire (${frames[0].length * 8} bits), ${frames[0].length} bytes captured`,
      `Internet Protocol Version 4, Src: ${A}, Dst: ${B}`,
      "Encapsulating Security Payload, SPI: 0x00001001, Seq: 1",
      `Internet Protocol Version 6, Src: ${IN_A}, Dst: ${IN_B}`,
      "Internet Control Message Protocol v6, Echo (ping) request",
    ]);
    expect(await page.textContent("#tree .layer[data-layer='2'] .layer-head")).toContain("decrypted");
    expect(await page.textContent("#tree .layer[data-layer='1'] .layer-head")).toContain("ICV ok");

    // A field's bytes, exactly: the SPI in the frame, the ICMPv6 sequence number in the decrypted bytes.
    await page.click("#tree .field[data-layer='1'][data-field='spi']");
    expect(await highlighted(page)).toEqual({ offsets: [20, 21, 22, 23], hex: "00001001" });
    expect(await page.getAttribute("#hex", "data-source")).toBe("frame");
    expect(await page.textContent("#hex-caption")).toMatch(/ESP › ESP SPI — frame bytes 20–23 \(4 bytes\)/);
    await page.click("#tree .field[data-layer='3'][data-field='seq']");
    expect(await page.getAttribute("#hex", "data-source")).toBe("decrypted");
    expect(await highlighted(page)).toEqual({ offsets: [46, 47], hex: "0001" });
    expect(await page.getAttribute("#hex-tabs .tab[aria-selected='true']", "data-name")).toBe("decrypted");
    await page.click("#tree .field[data-layer='1'][data-field='icv']");
    const icv = await highlighted(page);
    expect(icv.offsets).toEqual(Array.from({ length: 16 }, (_, k) => frames[0].length - 16 + k));
    expect(icv.hex).toBe(hex(frames[0].subarray(frames[0].length - 16)));
    const pad = (4 - ((inner1.length + 2) % 4)) % 4; // RFC 4303 §2.4: 4-byte alignment
    await page.click("#tree .field[data-layer='1'][data-field='padding']");
    expect(await highlighted(page)).toEqual({ offsets: Array.from({ length: pad }, (_, k) => inner1.length + k), hex: "0102".slice(0, 2 * pad) });
    await page.click("#tree .field[data-layer='1'][data-field='nextHeader']");
    expect(await highlighted(page)).toEqual({ offsets: [inner1.length + pad + 1], hex: "29" });
    expect(await page.getAttribute("#hex", "data-source")).toBe("decrypted");
    // Clicking a byte selects the field it belongs to.
    await page.click("#hex-tabs .tab[data-name='frame']");
    await page.click("#hex .b[data-o='9']");
    expect(await page.getAttribute("#tree .field.selected", "data-field")).toBe("protocol");

    // The layout drawing: RFC 4891 Table 1 with byte offsets.
    const boxes = await page.$$eval("#layout .lay-box", (bs) => bs.map((b) => `${(b as HTMLElement).dataset.label}@${(b as HTMLElement).dataset.offset}+${(b as HTMLElement).dataset.length}`));
    const n = frames[0].length;
    expect(boxes).toEqual([
      "IPv4@0+20",
      "ESP@20+8",
      "IV@28+8",
      "IPv6@36+40",
      `ICMPv6@76+${inner1.length - 40}`,
      `trailer@${36 + inner1.length}+${pad + 2}`,
      `ICV@${n - 16}+16`,
    ]);
    const ticks = await page.$$eval("#layout .lay-offsets span", (s) => s.map((x) => x.textContent));
    expect(ticks).toEqual(["0", "20", "28", "36", "76", String(36 + inner1.length), String(n - 16), String(n)]);
    expect(await page.$$eval("#layout .bracket", (b) => b.map((x) => `${x.textContent} ${(x as HTMLElement).dataset.from}-${(x as HTMLElement).dataset.to}`))).toEqual([
      `integrity (ICV) 20-${n - 16}`,
      `encrypted 36-${n - 16}`,
    ]);
    await page.click("#layout .lay-box[data-label='IV']");
    expect((await highlighted(page)).offsets).toEqual([28, 29, 30, 31, 32, 33, 34, 35]);
    // The tampered packet: the ICV box is marked, the tree says so; no key: one encrypted box.
    await page.click("#rows .row[data-frame='5']");
    await page.waitForSelector("#tree .field[data-layer='1'][data-field='icv'] .bad");
    expect(await page.$$eval("#layout .lay-box.k-icv.bad", (b) => b.length)).toBe(1);
    await page.click("#rows .row[data-frame='6']");
    await page.waitForFunction(() => document.querySelector("#tree .layer-head .title")?.textContent?.startsWith("Frame 6"));
    expect(await page.$$eval("#layout .lay-box", (bs) => bs.map((b) => (b as HTMLElement).dataset.label))).toEqual(["IPv4", "ESP", "encrypted"]);

    // Keyboard navigation in the packet list.
    const sel = async () => {
      await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
      return page.$eval("#rows .row[aria-selected='true']", (r) => Number((r as HTMLElement).dataset.frame));
    };
    await page.focus("#viewport");
    await page.keyboard.press("ArrowDown");
    expect(await sel()).toBe(7);
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("ArrowUp");
    expect(await sel()).toBe(5);
    await page.keyboard.press("End");
    expect(await sel()).toBe(frames.length);
    await page.keyboard.press("Home");
    expect(await sel()).toBe(1);
    await page.keyboard.press("PageDown");
    expect(await sel()).toBeGreaterThan(5);
    await page.keyboard.press("PageUp");
    expect(await sel()).toBe(1);
    await page.waitForFunction(() => document.querySelector("#tree .layer-head .title")?.textContent?.startsWith("Frame 1:"));

    // The display filter and the verdict chips.
    const frameNos = () => page.$$eval("#rows .row", (rs) => rs.map((r) => Number((r as HTMLElement).dataset.frame)));
    await page.fill("#filter", "verdict:integrity-failure");
    await page.waitForFunction(() => document.querySelectorAll("#rows .row").length === 1);
    expect(await frameNos()).toEqual([5]);
    await page.fill("#filter", "");
    await page.waitForFunction(() => document.querySelectorAll("#rows .row").length > 1);
    await page.click("#status-verdicts .vchip[data-verdict='no-key']");
    await page.waitForFunction(() => document.querySelectorAll("#rows .row").length === 2);
    expect(await frameNos()).toEqual([6, 7]);
    await page.click("#status-verdicts .vchip[data-verdict='no-key']");
    await page.waitForFunction(() => document.querySelectorAll("#rows .row").length > 1);
    expect((await verdicts(page)).length).toBe(frames.length);

    // Tunnel verdicts: judged as the inbound pipeline of B.
    await page.click("#tunnel-toggle");
    await page.fill("#tunnel-local", B);
    await page.fill("#tunnel-remote", A);
    await page.fill("#tunnel-allow", "2001:db8:1::/48");
    await redecode(page, () => page.click("#tunnel-apply"));
    const tv = await verdicts(page);
    expect(tv.slice(0, 9)).toEqual(EXPECT_TUNNEL);
    expect(new Set(tv.slice(9))).toEqual(new Set(["accept", "outbound"]));
    // The spoofed packet shows why it was dropped.
    await page.click("#rows .row[data-frame='7']");
    await page.waitForFunction(() => document.querySelector("#tree .layer-head")?.textContent?.includes("spoofed-outer-source"));
    expect(await page.getAttribute("#rows .row[data-frame='7']", "class")).toContain("v-drop");
    expect(await page.getAttribute("#rows .row[data-frame='5']", "class")).toContain("v-bad");
    // A bad tunnel is a named error.
    await page.fill("#tunnel-local", "not-an-address");
    await page.evaluate(() => document.body.setAttribute("data-state", "waiting"));
    await page.click("#tunnel-apply");
    await page.waitForSelector("body[data-state='error']");
    expect(await page.textContent("#keybar .msg.error")).toMatch(/local=not-an-address is not an IPv4 address/);
    await page.fill("#tunnel-local", B);
    await redecode(page, () => page.click("#tunnel-apply"));

    // The screenshot for the README: a good ESP packet with a decrypted field selected.
    await page.click("#tunnel-toggle"); // hide the form; the tunnel chip stays in the key bar
    await page.click("#rows .row[data-frame='1']");
    await page.waitForSelector("#tree .field[data-layer='2'][data-field='src']");
    await page.click("#tree .field[data-layer='2'][data-field='src']");
    expect((await highlighted(page)).offsets).toEqual(Array.from({ length: 16 }, (_, k) => 8 + k));
    // Into the test's temporary directory; UPDATE_SCREENSHOT=1 refreshes the README's copy in docs/.
    const shot = process.env.UPDATE_SCREENSHOT === "1" ? join(ROOT, "docs/screenshot-decoder.png") : join(tmp, "screenshot-decoder.png");
    mkdirSync(join(shot, ".."), { recursive: true });
    const png = await page.screenshot({ path: shot });
    expect(png.subarray(1, 4).toString()).toBe("PNG");

    // Offline and private: the page's own files only, all GET.
    const origin = new URL(server.url).origin;
    const paths = new Set(requests.map((r) => {
      const [method, url] = r.split(" ");
      expect(method).toBe("GET");
      expect(url.startsWith(origin + "/")).toBe(true);
      return new URL(url).pathname;
    }));
    expect([...paths].sort()).toEqual(["/", "/app.js", "/style.css", "/worker.js"]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it("stays responsive while decoding 100,000 packets (worker + virtualized list)", async (ctx) => {
    if (skip) return ctx.skip(skip);
    const N = 100_000;
    const frames: { data: Uint8Array; time: number }[] = [];
    let seq = 0;
    for (let i = 0; i < N; i++) {
      const inner = icmpv6Echo(IN_A, IN_B, 0x77, i & 0xffff, new Uint8Array(16 + (i % 64)).fill(i & 0xff));
      frames.push({ data: ipv4Wrap(A, B, 50, espSealNode({ spi: 0x1001, keymat: KEY_AB, seq: ++seq }, inner), i), time: 1_732_000_000 + i * 0.001 });
    }
    const file = join(tmp, "big.pcap");
    const pcap = writePcap(frames, 101);
    writeFileSync(file, pcap);
    const { page, errors } = await openPage();
    await page.setInputFiles("#keys", { name: "esp_sa", mimeType: "text/plain", buffer: Buffer.from(ESP_SA) });
    // Frame gaps on the main thread while the worker decodes (rAF), and long tasks.
    await page.evaluate(() => {
      const w = window as unknown as { gaps: number[]; longtasks: number[]; stop: boolean };
      w.gaps = [];
      w.longtasks = [];
      w.stop = false;
      new PerformanceObserver((l) => {
        for (const e of l.getEntries()) w.longtasks.push(e.duration);
      }).observe({ type: "longtask", buffered: false });
      let last = performance.now();
      const tick = (t: number) => {
        w.gaps.push(t - last);
        last = t;
        if (!w.stop) requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    const t0 = Date.now();
    await page.setInputFiles("#capture", file);
    await waitDone(page, 120_000);
    const wall = Date.now() - t0;
    const m = await page.evaluate(() => {
      const w = window as unknown as { gaps: number[]; longtasks: number[]; stop: boolean };
      w.stop = true;
      const g = w.gaps.slice(1);
      const sorted = [...g].sort((a, b) => a - b);
      return {
        decodeMs: Number(document.body.dataset.decodeMs),
        packets: Number(document.body.dataset.packets),
        frames: g.length,
        maxGap: Math.max(...g),
        p99: sorted[Math.floor(sorted.length * 0.99)],
        longtasks: w.longtasks.length,
        maxLongtask: Math.max(0, ...w.longtasks),
        domRows: document.querySelectorAll("#rows .row").length,
        page: (window as unknown as { ipsec6in4Page: { perf: Record<string, number> } }).ipsec6in4Page.perf,
      };
    });
    console.log(
      `web decode of ${N} ESP packets (${(pcap.length / 1e6).toFixed(1)} MB): ${m.decodeMs} ms in the page (${wall} ms wall incl. file input); ` +
        `${m.frames} frames drawn, longest frame gap ${m.maxGap.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms; ` +
        `${m.longtasks} long tasks (longest ${m.maxLongtask.toFixed(0)} ms); ${m.domRows} rows in the DOM; ` +
        `page work: ${m.page.messages} worker messages (longest ${m.page.maxMessageMs.toFixed(1)} ms), ${m.page.renders} renders (longest ${m.page.maxRenderMs.toFixed(1)} ms)`,
    );
    writeFileSync(join(tmp, "web-perf.json"), JSON.stringify({ N, bytes: pcap.length, wall, ...m, sha: createHash("sha256").update(pcap).digest("hex").slice(0, 16) }));
    expect(m.packets).toBe(N);
    expect(m.domRows).toBeLessThan(100);
    // Target: no frame longer than 100 ms. On a machine busier than its cores (other test files,
    // benchmarks), every thread waits for a CPU, so the bound grows with the load average.
    const load = loadavg()[0] / Math.max(1, cpus().length);
    const budget = 100 * Math.max(1, load);
    console.log(`longest frame gap ${m.maxGap.toFixed(1)} ms; budget ${budget.toFixed(0)} ms (load ${load.toFixed(2)} per CPU)`);
    expect(m.maxGap).toBeLessThan(budget + 17); // + one frame of rAF quantization
    // Navigation at the end of the list still works.
    await page.focus("#viewport");
    await page.keyboard.press("End");
    await page.waitForFunction((n) => document.querySelector("#rows .row[aria-selected='true']")?.getAttribute("data-frame") === String(n), N);
    await page.waitForFunction((n) => document.querySelector("#tree .layer-head .title")?.textContent?.startsWith(`Frame ${n}:`), N);
    expect(await page.$$eval("#rows .row", (r) => r.every((x) => (x as HTMLElement).dataset.verdict === "ok"))).toBe(true);
    expect(errors).toEqual([]);
    await page.close();
  });
});
