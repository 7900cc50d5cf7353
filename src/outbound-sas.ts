/**
 * The outbound SAs of one tunnel, in the order the outbound pipeline tries them (RFC 4301 §5.1:
 * the first whose selectors cover the packet carries it): most specific selectors first — the
 * order the Linux kernel gives strongSwan's policies, by prefix length — and newest first among
 * equals, so a rekey's new SA takes over from the old one (make-before-break) and a narrow
 * CHILD_SA keeps its traffic next to a wide one, whichever was made last. SAs without selectors
 * (transport mode) carry everything and come last.
 *
 * A doubly linked list with the first node of each breadth kept in a sorted array: insert is
 * O(log b) for b distinct breadths, remove O(1), so 100,000 SAs on one tunnel cost nothing
 * quadratic. Each change reports the neighbours, which the caller mirrors into wasm memory
 * (the tunnel's head, each SA record's next).
 */
import type { AddrRange } from "./addr.js";
import type { SaHandle } from "./esp.js";

export interface OutboundNode {
  readonly sa: SaHandle;
  /** log2 of the addresses the selectors cover, local plus remote; Infinity without selectors. */
  readonly breadth: number;
  prev?: OutboundNode;
  next?: OutboundNode;
}

/** log2 of how many addresses the selectors cover, local plus remote: smaller is more specific. */
export function selectorBreadth(sel?: { local: AddrRange[]; remote: AddrRange[] }): number {
  if (!sel) return Infinity;
  const bits = (ranges: AddrRange[]) => {
    const n = ranges.reduce((a, r) => a + (r.end - r.start + 1n), 0n);
    return n > 0n ? n.toString(2).length - 1 : 0;
  };
  return bits(sel.local) + bits(sel.remote);
}

export class OutboundSas {
  head?: OutboundNode;
  private tail?: OutboundNode;
  /** The first node of each breadth present, breadth ascending. */
  private readonly groups: { breadth: number; first: OutboundNode }[] = [];

  /** Where the first group of breadth ≥ b is. */
  private groupAt(b: number): number {
    let lo = 0;
    let hi = this.groups.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.groups[mid].breadth < b) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Insert first among its breadth. */
  insert(node: OutboundNode): void {
    const g = this.groupAt(node.breadth);
    const group = this.groups[g];
    let next: OutboundNode | undefined;
    if (group && group.breadth === node.breadth) {
      next = group.first;
      group.first = node;
    } else {
      next = group?.first;
      this.groups.splice(g, 0, { breadth: node.breadth, first: node });
    }
    const prev = next ? next.prev : this.tail;
    node.prev = prev;
    node.next = next;
    if (prev) prev.next = node;
    else this.head = node;
    if (next) next.prev = node;
    else this.tail = node;
  }

  remove(node: OutboundNode): void {
    const g = this.groupAt(node.breadth);
    const group = this.groups[g];
    if (group && group.first === node) {
      if (node.next && node.next.breadth === node.breadth) group.first = node.next;
      else this.groups.splice(g, 1);
    }
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = undefined;
  }

  *[Symbol.iterator](): IterableIterator<OutboundNode> {
    for (let n = this.head; n; n = n.next) yield n;
  }
}
