// Bounded, JSON-safe copies of event payloads and actor contexts for the viewer. Contexts and
// events hold things JSON cannot carry or that must not be copied whole (actor refs, Buffers of
// audio, typed arrays, sockets, cycles): each becomes a short marker, and depth, string length,
// item count and total size are capped, so one huge payload costs the viewer little.

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

export interface SummaryLimits {
  depth: number;
  /** Longest string kept whole. */
  string: number;
  /** Array items / object keys kept per level. */
  items: number;
  /** Nodes visited in all (a rough size budget). */
  nodes: number;
}

export const EVENT_LIMITS: SummaryLimits = { depth: 3, string: 120, items: 12, nodes: 80 };
export const CONTEXT_LIMITS: SummaryLimits = { depth: 6, string: 400, items: 50, nodes: 2000 };

function isActorRef(v: object): v is { id: string } {
  return typeof (v as { send?: unknown }).send === 'function' && typeof (v as { sessionId?: unknown }).sessionId === 'string';
}

/** A JSON-safe copy of `value` within `limits`. */
export function toJsonSafe(value: unknown, limits: SummaryLimits = CONTEXT_LIMITS): JsonValue {
  let budget = limits.nodes;
  const seen = new Set<object>();
  const walk = (v: unknown, depth: number): JsonValue => {
    if (--budget < 0) return '…';
    switch (typeof v) {
      case 'string':
        return v.length > limits.string ? `${v.slice(0, limits.string)}…(${v.length})` : v;
      case 'number':
        return Number.isFinite(v) ? v : String(v);
      case 'boolean':
        return v;
      case 'bigint':
        return `${v}n`;
      case 'undefined':
        return null;
      case 'function':
        return `[function ${v.name || 'anonymous'}]`;
      case 'symbol':
        return v.toString();
    }
    if (v === null) return null;
    const o = v as object;
    if (Buffer.isBuffer(o)) return `[Buffer ${o.length} B]`;
    if (ArrayBuffer.isView(o)) return `[${o.constructor.name} ${(o as { length?: number }).length ?? o.byteLength}]`;
    if (o instanceof ArrayBuffer) return `[ArrayBuffer ${o.byteLength} B]`;
    if (o instanceof Date) return Number.isNaN(o.getTime()) ? 'Invalid Date' : o.toISOString();
    if (o instanceof Error) return `[${o.name}: ${o.message.slice(0, limits.string)}]`;
    if (isActorRef(o)) return `[actor ${o.id}]`;
    if (seen.has(o)) return '[circular]';
    if (depth >= limits.depth) return Array.isArray(o) ? `[array ${o.length}]` : '[object]';
    seen.add(o);
    try {
      if (o instanceof Map) return { [`[Map ${o.size}]`]: walk(Object.fromEntries([...o.entries()].slice(0, limits.items).map(([k, x]) => [String(k), x])), depth + 1) };
      if (o instanceof Set) return { [`[Set ${o.size}]`]: walk([...o].slice(0, limits.items), depth + 1) };
      if (Array.isArray(o)) {
        const out = o.slice(0, limits.items).map((x) => walk(x, depth + 1));
        if (o.length > limits.items) out.push(`…(${o.length - limits.items} more)`);
        return out;
      }
      const proto = Object.getPrototypeOf(o) as object | null;
      if (proto !== Object.prototype && proto !== null) {
        // Class instances (sockets, timers, services) are named, not walked, unless they say
        // how they serialise.
        const toJSON = (o as { toJSON?: unknown }).toJSON;
        const name = `[${o.constructor?.name ?? 'object'}]`;
        if (typeof toJSON !== 'function') return name;
        try {
          return walk(toJSON.call(o), depth);
        } catch {
          return name;
        }
      }
      const out: Record<string, JsonValue> = {};
      let n = 0;
      for (const [k, x] of Object.entries(o)) {
        if (n++ >= limits.items) {
          out['…'] = `${Object.keys(o).length - limits.items} more keys`;
          break;
        }
        out[k] = walk(x, depth + 1);
      }
      return out;
    } finally {
      seen.delete(o);
    }
  };
  return walk(value, 0);
}

/** One line for the event log: the event's fields other than `type`, capped at `max` chars. */
export function summarizeEvent(event: Record<string, unknown>, max = 240): string {
  const keys = Object.keys(event).filter((k) => k !== 'type');
  if (!keys.length) return '';
  const rest: Record<string, unknown> = {};
  for (const k of keys) rest[k] = event[k];
  const s = JSON.stringify(toJsonSafe(rest, EVENT_LIMITS));
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
