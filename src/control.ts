/**
 * The daemon's control socket, client side: a Unix stream socket (default
 * /run/ipsec6in4.sock) speaking JSON lines. Each request is one line, each answer one line:
 *
 *   → {"command":"status"}                ← {"ok":true,"result":<DaemonStatus>}
 *   → {"command":"down"}                  ← {"ok":true,"result":{"stopping":true}}   (the daemon
 *                                            deletes its SAs, removes its interfaces and exits)
 *   → {"command":"down","ike":"NAME"}     ← {"ok":true,"result":{"terminated":N}}   (only that
 *                                            connection's IKE_SAs)
 *   errors                                ← {"ok":false,"error":"…"}
 *
 * A bare word ("status") is accepted in place of the JSON object. The server side is in
 * src/daemon.ts (Daemon.listen); the socket is created mode 0600.
 */
import { connect } from "node:net";

export const DEFAULT_SOCKET = "/run/ipsec6in4.sock";

export interface ControlReply<T = unknown> {
  ok: boolean;
  result?: T;
  error?: string;
}

/** Send one request and wait for its answer. Rejects with a message that names the socket. */
export function controlRequest<T = unknown>(request: { command: string; [k: string]: unknown }, socketPath = DEFAULT_SOCKET, timeoutMs = 10_000): Promise<ControlReply<T>> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let buf = "";
    let done = false;
    const finish = (f: () => void) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      f();
    };
    const timer = setTimeout(() => finish(() => reject(new Error(`no answer on ${socketPath} within ${timeoutMs} ms`))), timeoutMs);
    s.setEncoding("utf8");
    s.on("connect", () => s.write(JSON.stringify(request) + "\n"));
    s.on("data", (d: string) => {
      buf += d;
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      finish(() => {
        try {
          resolve(JSON.parse(line) as ControlReply<T>);
        } catch {
          reject(new Error(`${socketPath} answered something that is not JSON`));
        }
      });
    });
    s.on("error", (e: NodeJS.ErrnoException) => {
      const why =
        e.code === "ENOENT"
          ? "no such socket: is the daemon running (ipsec6in4 up)? pass --socket if it listens elsewhere"
          : e.code === "ECONNREFUSED"
            ? "nobody listens there (a stale socket of a daemon that is gone)"
            : e.code === "EACCES"
              ? "permission denied (the socket is root's)"
              : e.message;
      finish(() => reject(new Error(`cannot reach the daemon at ${socketPath}: ${why}`)));
    });
    s.on("close", () => finish(() => reject(new Error(`${socketPath} closed the connection without answering`))));
  });
}
