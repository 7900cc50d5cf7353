/**
 * `ipsec6in4 web [--port N] [--host 127.0.0.1]`: serve the packet decoder page (dist/web/ of
 * the installed package) over HTTP and print its URL. The page decodes in the browser (a Web
 * Worker running the same decode core as `ipsec6in4 decode`); this server only hands out the
 * page's own files, GET and HEAD, and never receives a capture or a key.
 */
import { createServer, type Server } from "node:http";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

type Out = (s: string) => void;

const USAGE = `usage: ipsec6in4 web [--port N] [--host ADDRESS]

  Serve the packet decoder page on http://ADDRESS:N/ (default 127.0.0.1:8046; --port 0 picks
  a free port). Open a capture and key files in the page: they are decoded in the browser and
  never uploaded. Ctrl-C stops the server.
`;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".json": "application/json; charset=utf-8",
};

/** The page's CSP, sent on every response (the worker's scripts get theirs from the header). */
export const WEB_CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

declare const __dirname: string | undefined;

/** Where the built page is: dist/web next to the running cli.js (or dist/web of the repository). */
export function webRoot(): string | undefined {
  const here = typeof __dirname === "string" ? __dirname : dirname(fileURLToPath(import.meta.url));
  for (const c of [join(here, "web"), join(here, "..", "dist", "web")]) {
    if (existsSync(join(c, "index.html")) && existsSync(join(c, "app.js"))) return c;
  }
  return undefined;
}

export interface WebServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Start serving `root` (default: webRoot()). */
export async function startWebServer(options: { port?: number; host?: string; root?: string } = {}): Promise<WebServer> {
  const root = options.root ?? webRoot();
  if (!root) throw new WebError("ERR_FILE", "the page is not built: dist/web/index.html is missing (run npm run build)");
  const base = resolve(root);
  const cache = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const headers = {
      "content-security-policy": WEB_CSP,
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "cross-origin-opener-policy": "same-origin",
      "cross-origin-resource-policy": "same-origin",
      "cache-control": "no-cache",
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { ...headers, allow: "GET, HEAD", "content-type": "text/plain" }).end("method not allowed\n");
      return;
    }
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      res.writeHead(400, { ...headers, "content-type": "text/plain" }).end("bad request\n");
      return;
    }
    if (path.endsWith("/")) path += "index.html";
    const file = resolve(base, "." + normalize(path));
    if (file !== base && !file.startsWith(base + sep)) {
      res.writeHead(404, { ...headers, "content-type": "text/plain" }).end("not found\n");
      return;
    }
    let body = cache.get(file);
    if (!body) {
      try {
        if (!statSync(file).isFile()) throw new Error("not a file");
        body = readFileSync(file);
        cache.set(file, body);
      } catch {
        res.writeHead(404, { ...headers, "content-type": "text/plain" }).end("not found\n");
        return;
      }
    }
    res.writeHead(200, { ...headers, "content-type": TYPES[extname(file)] ?? "application/octet-stream", "content-length": body.length });
    res.end(req.method === "HEAD" ? undefined : body);
  });
  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(options.port ?? 8046, host, () => {
      server.off("error", fail);
      ok();
    });
  });
  const port = (server.address() as { port: number }).port;
  const shown = host.includes(":") ? `[${host}]` : host === "0.0.0.0" ? "127.0.0.1" : host;
  return {
    server,
    url: `http://${shown}:${port}/`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections?.();
        server.close(() => r());
      }),
  };
}

class WebError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

export interface WebCommandOptions {
  /** Stop serving when aborted (default: on SIGINT or SIGTERM). */
  signal?: AbortSignal;
  /** Serve this directory instead of the package's dist/web. */
  root?: string;
  /** Called once the server listens. */
  onListening?: (s: WebServer) => void;
}

/** `ipsec6in4 web …`: serves until interrupted; returns the exit status. */
export async function webCommand(args: string[], out: Out, err: Out, options: WebCommandOptions = {}): Promise<number> {
  let port = 8046;
  let host = "127.0.0.1";
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf("=");
    const name = a.startsWith("--") && eq > 0 ? a.slice(0, eq) : a;
    const value = () => {
      const v = eq > 0 && a.startsWith("--") ? a.slice(eq + 1) : args[++i];
      if (v === undefined) throw new WebError("ERR_USAGE", `${name} needs a value`);
      return v;
    };
    try {
      if (name === "--help" || name === "-h") {
        out(USAGE);
        return 0;
      } else if (name === "--port") {
        const v = value();
        if (!/^\d{1,5}$/.test(v) || Number(v) > 65535) throw new WebError("ERR_USAGE", `--port must be an integer from 0 to 65535, not '${v}'`);
        port = Number(v);
      } else if (name === "--host") {
        host = value();
        if (!host) throw new WebError("ERR_USAGE", "--host needs an address");
      } else throw new WebError("ERR_USAGE", `unknown argument '${a}'`);
    } catch (e) {
      err(`ipsec6in4 web: ERR_USAGE: ${(e as Error).message}\n`);
      err(USAGE);
      return 2;
    }
  }
  let s: WebServer;
  try {
    s = await startWebServer({ port, host, root: options.root });
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why =
      code === "EADDRINUSE" ? `port ${port} on ${host} is in use (try --port 0)` :
      code === "EADDRNOTAVAIL" ? `${host} is not an address of this machine` :
      code === "EACCES" ? `not allowed to listen on port ${port}` :
      (e as Error).message;
    err(`ipsec6in4 web: ${code === "ERR_FILE" ? "ERR_FILE" : "ERR_LISTEN"}: ${why}\n`);
    return 1;
  }
  out(`ipsec6in4 packet decoder: ${s.url}\n`);
  if (!["127.0.0.1", "::1", "localhost"].includes(host)) {
    err(`ipsec6in4 web: note: listening on ${host}, not only this machine; the page still decodes in each visitor's browser and receives no captures\n`);
  }
  options.onListening?.(s);
  await new Promise<void>((done) => {
    const stop = () => done();
    if (options.signal) {
      if (options.signal.aborted) return done();
      options.signal.addEventListener("abort", stop, { once: true });
    } else {
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    }
  });
  await s.close();
  return 0;
}
