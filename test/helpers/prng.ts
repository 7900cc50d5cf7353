/**
 * A seeded PRNG (splitmix32) so that random tests can be replayed: every test prints or
 * names its seed, and IPSEC6IN4_SEED=<n> reruns a failure exactly.
 */
export function seedFromEnv(fallback: number): number {
  const s = process.env.IPSEC6IN4_SEED;
  return s !== undefined ? Number(s) >>> 0 : fallback >>> 0;
}

export class Prng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  u32(): number {
    this.s = (this.s + 0x9e3779b9) >>> 0;
    let z = this.s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + (this.u32() % (hi - lo + 1));
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.u32() % xs.length];
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.u32() & 0xff;
    return b;
  }
}
