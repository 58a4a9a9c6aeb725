// Heap snapshot → bytes and counts per constructor (objects, closures) or per type, so that two
// snapshots taken around N live calls diff into "what one call holds". Internal arrays and hidden
// objects are named by what holds them (`(array) ← Owner.edge`), which is where a call's bytes hide.
import v8 from 'node:v8';

export type HeapTotals = Map<string, { size: number; count: number }>;

export interface ObjectRow {
  object: string;
  bytes: number;
  count: number;
}

function readStream(s: NodeJS.ReadableStream): string {
  const chunks: Buffer[] = [];
  let c: Buffer | string | null;
  const r = s as unknown as { read(): Buffer | null };
  while ((c = r.read()) !== null) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

export function snapshotTotals(): HeapTotals {
  const snap = JSON.parse(readStream(v8.getHeapSnapshot())) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
    nodes: number[];
    edges: number[];
    strings: string[];
  };
  const meta = snap.snapshot.meta;
  const f = meta.node_fields;
  const w = f.length;
  const iType = f.indexOf('type');
  const iName = f.indexOf('name');
  const iSize = f.indexOf('self_size');
  const iEdges = f.indexOf('edge_count');
  const ew = meta.edge_fields.length;
  const eType = meta.edge_fields.indexOf('type');
  const eName = meta.edge_fields.indexOf('name_or_index');
  const eTo = meta.edge_fields.indexOf('to_node');
  const types = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const nodeName = (i: number): string => {
    const type = types[snap.nodes[i + iType]!]!;
    if (type === 'object' || type === 'native') return snap.strings[snap.nodes[i + iName]!]!.slice(0, 40);
    if (type === 'closure') return `closure ${snap.strings[snap.nodes[i + iName]!]! || '(anon)'}`.slice(0, 50);
    return `(${type})`;
  };
  // First owner of each array/hidden node (the first retaining edge that is not weak).
  const owner = new Map<number, string>();
  let e = 0;
  for (let i = 0; i < snap.nodes.length; i += w) {
    const n = snap.nodes[i + iEdges]!;
    for (let k = 0; k < n; k++, e += ew) {
      const to = snap.edges[e + eTo]!;
      const tt = types[snap.nodes[to + iType]!];
      if ((tt !== 'array' && tt !== 'hidden' && tt !== 'object shape') || owner.has(to)) continue;
      const et = edgeTypes[snap.edges[e + eType]!];
      if (et === 'weak') continue;
      const en = et === 'element' || et === 'hidden' ? `[${snap.edges[e + eName]}]` : snap.strings[snap.edges[e + eName]!]!;
      owner.set(to, `${nodeName(i)}.${String(en).slice(0, 30)}`);
    }
  }
  const out: HeapTotals = new Map();
  for (let i = 0; i < snap.nodes.length; i += w) {
    let key = nodeName(i);
    const via = owner.get(i);
    if (via !== undefined) key = `${key} ← ${via}`;
    const x = out.get(key) ?? { size: 0, count: 0 };
    x.size += snap.nodes[i + iSize]!;
    x.count++;
    out.set(key, x);
  }
  return out;
}

/** Per-unit difference `after - before` divided by `n`, largest first, rows under `minBytes` left out. */
export function diffTotals(before: HeapTotals, after: HeapTotals, n: number, minBytes = 8): ObjectRow[] {
  const rows: ObjectRow[] = [];
  for (const [k, v] of after) {
    const b = before.get(k) ?? { size: 0, count: 0 };
    const d = (v.size - b.size) / n;
    if (Math.abs(d) >= minBytes) rows.push({ object: k, bytes: d, count: (v.count - b.count) / n });
  }
  return rows.sort((a, b) => b.bytes - a.bytes);
}

/** Markdown table of the first `top` rows, with the total of all of them. */
export function objectTable(rows: readonly ObjectRow[], top = 40, unit = 'call'): string {
  let s = `| object (constructor / type) | bytes per ${unit} | objects per ${unit} |\n|---|---|---|\n`;
  for (const r of rows.slice(0, top)) s += `| ${r.object.replace(/\|/g, '/')} | ${r.bytes.toFixed(0)} | ${r.count.toFixed(2)} |\n`;
  s += `| total (all rows ≥ 8 B) | ${rows.reduce((a, r) => a + r.bytes, 0).toFixed(0)} | |\n`;
  return s;
}
