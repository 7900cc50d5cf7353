/**
 * Keys never leave through util.inspect, console.log, JSON.stringify or String() (SECURITY.md,
 * "Secrets"). Classes that hold keys print a summary of their own (an inspect method and
 * toJSON); plain records that carry a key field — a configured PSK, a key given by --sa or a
 * key file — get `redactKeys`, which keeps the record's fields and types as they are (code
 * reads `.secret`, `.keymat`, `.skEi` as before) and adds, not enumerable, an inspect method and
 * toJSON that show each key field as `<N-byte key>`.
 */
const INSPECT = Symbol.for("nodejs.util.inspect.custom");

type Inspect = (depth: number, options: object, inspect: (v: unknown, o?: object) => string) => string;

/** What a key field shows instead of its bytes. */
export function keyPlaceholder(key: Uint8Array | undefined): string {
  return key === undefined ? "<no key>" : `<${key.length}-byte key>`;
}

/** Add to `record` (in place) an inspect method and toJSON that show `fields` as placeholders. */
export function redactKeys<T extends object>(record: T, fields: readonly (keyof T & string)[]): T {
  const shown = (): Record<string, unknown> => {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(record)) o[k] = fields.includes(k as keyof T & string) ? keyPlaceholder(v as Uint8Array | undefined) : v;
    return o;
  };
  const inspect: Inspect = (depth, options, inspectFn) => (depth < 0 ? "[Object]" : inspectFn(shown(), { ...options, depth: (options as { depth?: number }).depth ?? 2 }));
  Object.defineProperty(record, INSPECT, { value: inspect, enumerable: false, configurable: true });
  Object.defineProperty(record, "toJSON", { value: shown, enumerable: false, configurable: true });
  return record;
}

/** For classes: `[INSPECT_SYMBOL]() { return summary }`. */
export const INSPECT_SYMBOL: typeof INSPECT = INSPECT;
