/**
 * What the daemon does when an IKE_SA goes: swanctl.conf's `dpd_action` and `close_action`
 * (strongSwan 5.9 semantics; the config model maps strongSwan's aliases, so `restart` reads as
 * "start", `clear` as "none", `hold`/`route` as "trap"), and how long it waits between attempts.
 *
 *   cause "peer-dead"     a liveness check (dpd_delay) or any other request went unanswered
 *                         through all retransmissions (RFC 7296 §2.4): the children with
 *                         `dpd_action = restart` are initiated again under a fresh IKE_SA
 *   cause "peer-deleted"  the peer's Delete: the children with `close_action = start`
 *   "replaced"            the peer authenticated a new IKE_SA with INITIAL_CONTACT, which has
 *                         taken over: nothing to do (a restart would make a duplicate)
 *   "failed", "local"     nothing (`down`, shutdown, lifetimes, protocol failures)
 *
 * Trap policies (`trap`: negotiate when traffic matches) do not exist in ipsec6in4; such a
 * child waits for the peer. Attempts that fail are retried, as far as `keyingtries` allows
 * (0: for ever), each a little later than the one before (retryDelayMs).
 */
import type { Connection } from "./config/model.js";
import type { IkeDownCause } from "./ike/endpoint.js";

export interface Restart {
  /**
   * The children negotiated again, in configuration order: the first with the new IKE_SA
   * (IKE_AUTH carries one), the others with CREATE_CHILD_SA once it is up, as charon does.
   */
  children: string[];
  /** The setting that asked for it, for the log. */
  setting: "dpd_action = restart" | "close_action = start";
}

/** The children to initiate again after an IKE_SA of `conn` went for `cause`, or undefined. */
export function restartFor(conn: Connection, cause: IkeDownCause): Restart | undefined {
  const children = Object.values(conn.children);
  if (cause === "peer-dead") {
    const c = children.filter((x) => x.dpd_action === "start").map((x) => x.name);
    return c.length ? { children: c, setting: "dpd_action = restart" } : undefined;
  }
  if (cause === "peer-deleted") {
    const c = children.filter((x) => x.close_action === "start").map((x) => x.name);
    return c.length ? { children: c, setting: "close_action = start" } : undefined;
  }
  return undefined;
}

/** Delay before the next attempt after `failures` failed ones: 1 s, 2 s, 4 s … at most 30 s. */
export function retryDelayMs(failures: number): number {
  return Math.min(1000 * 2 ** Math.max(0, failures - 1), 30_000);
}
