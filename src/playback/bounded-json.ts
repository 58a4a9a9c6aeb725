// A bound on client-supplied JSON that the engine stores and persists without understanding it
// (MoosicBox tracks). JSON.parse accepts any nesting, but JSON.stringify, XState's snapshot
// persistence and structured clones all recurse: a 20 000-deep array parsed fine and then crashed
// the process when the session was saved. So opaque values are walked once, iteratively, at the
// edge, and refused when they are deeper, longer or bigger than a stored value has reason to be.
import { z } from 'zod';

export interface JsonBounds {
  /** Containers nested inside each other, the checked value itself counting as 1. */
  maxDepth: number;
  /** Longest string value or object key (UTF-16 code units). */
  maxStringLength: number;
  /** Most keys in one object. */
  maxObjectKeys: number;
  /** Most items in one array. */
  maxArrayLength: number;
  /** Longest JSON text the value serialises to (code units; string escapes counted). */
  maxSize: number;
  /** Object keys refused anywhere in the value. */
  forbiddenKeys?: ReadonlySet<string>;
  /** Extra check on every object; returns a reason to refuse it. */
  checkObject?: (obj: Readonly<Record<string, unknown>>) => string | undefined;
}

export type JsonCheck = { ok: true; size: number } | { ok: false; reason: string; path: Array<string | number> };

// Only these change length when JSON.stringify escapes a string (lone surrogates too, as \uXXXX).
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;
const jsonLength = (str: string) => (NEEDS_ESCAPE.test(str) ? JSON.stringify(str).length : str.length + 2);

interface Frame {
  value: unknown;
  depth: number;
  key: string | number | undefined;
  parent: Frame | undefined;
}

function pathOf(f: Frame | undefined): Array<string | number> {
  const out: Array<string | number> = [];
  for (let x = f; x; x = x.parent) if (x.key !== undefined) out.push(x.key);
  return out.reverse();
}

/** Walk `value` without recursion; only JSON types pass (no undefined, functions, NaN, class instances). */
export function checkJson(value: unknown, bounds: JsonBounds): JsonCheck {
  const stack: Frame[] = [{ value, depth: 0, key: undefined, parent: undefined }];
  let size = 0;
  const fail = (reason: string, at: Frame | undefined): JsonCheck => ({ ok: false, reason, path: pathOf(at) });
  while (stack.length) {
    const f = stack.pop()!;
    const v = f.value;
    if (v === null) size += 4;
    else if (typeof v === 'boolean') size += v ? 4 : 5;
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return fail('not a finite number', f);
      size += String(v).length;
    } else if (typeof v === 'string') {
      if (v.length > bounds.maxStringLength) return fail(`string longer than ${bounds.maxStringLength} characters`, f);
      size += jsonLength(v);
    } else if (Array.isArray(v)) {
      const depth = f.depth + 1;
      if (depth > bounds.maxDepth) return fail(`nested deeper than ${bounds.maxDepth} levels`, f);
      if (v.length > bounds.maxArrayLength) return fail(`array longer than ${bounds.maxArrayLength} items`, f);
      size += 2 + Math.max(0, v.length - 1);
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], depth, key: i, parent: f });
    } else if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) {
      const depth = f.depth + 1;
      if (depth > bounds.maxDepth) return fail(`nested deeper than ${bounds.maxDepth} levels`, f);
      const keys = Object.keys(v);
      if (keys.length > bounds.maxObjectKeys) return fail(`object with more than ${bounds.maxObjectKeys} keys`, f);
      const obj = v as Record<string, unknown>;
      const why = bounds.checkObject?.(obj);
      if (why) return fail(why, f);
      size += 2 + Math.max(0, keys.length - 1);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!;
        if (k.length > bounds.maxStringLength) return fail(`key longer than ${bounds.maxStringLength} characters`, f);
        if (bounds.forbiddenKeys?.has(k)) return fail(`key "${k}" is reserved`, f);
        size += jsonLength(k) + 1;
        stack.push({ value: obj[k], depth, key: k, parent: f });
      }
    } else {
      return fail(`not a JSON value (${typeof v})`, f);
    }
    if (size > bounds.maxSize) return fail(`larger than ${bounds.maxSize} characters of JSON`, f.parent ?? f);
  }
  return { ok: true, size };
}

/** The same check as a zod refinement: failures become issues at the offending path. */
export function refineJson(value: unknown, bounds: JsonBounds, ctx: z.RefinementCtx, basePath: Array<string | number> = []): number | undefined {
  const r = checkJson(value, bounds);
  if (r.ok) return r.size;
  ctx.addIssue({ code: 'custom', message: r.reason, path: [...basePath, ...r.path] });
  return undefined;
}
