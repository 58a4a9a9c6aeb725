// Heap per live answered inbound-call WebSocket call, on loopback sockets, against a bare `ws`
// echo server measured the same way in the same run: N calls answered and held idle, heapUsed
// after full GCs minus before (and RSS, external), then a heap-snapshot diff of the server process
// by constructor, per call — what one live call holds, socket included (bare's rows are the
// socket's own: `WebSocket`, `Receiver`, `Sender`, `Socket`, …).
//
// Run: npm run bench -- inbound-heap    (INBOUND_HEAP_CALLS=2000, INBOUND_HEAP_TOP=40,
// INBOUND_HEAP_SNAPSHOT=/tmp/h writes /tmp/h-<server>.heapsnapshot with the calls live,
// INBOUND_HEAP_WARMUP=100 calls opened and closed before the baseline; as many as CALLS also
// moves the code the measured step would compile into the baseline: docs/architecture.md)
// The servers are bench/inbound.ts's server role (bare: WebSocketServer echo; callchart: the
// engine with the demo app answering at once), the client its load role (raw RFC 6455 client).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkRpc, type RpcChild } from './lib/rpc.js';
import { printTable, progress } from './table.js';
import { diffTotals, objectTable, type ObjectRow } from './lib/heap-objects.js';
import { ENGINE_BUILD } from './lib/engine-build.js';

const CALLS = Number(process.env.INBOUND_HEAP_CALLS ?? 2000);
const TOP = Number(process.env.INBOUND_HEAP_TOP ?? 40);
/** INBOUND_HEAP_SNAPSHOT=<path prefix>: also write each server's heap snapshot with the calls live. */
const SNAPSHOT = process.env.INBOUND_HEAP_SNAPSHOT;
/** Calls opened and closed before the baseline, so code and tables they warm are not per call. */
const WARMUP = Number(process.env.INBOUND_HEAP_WARMUP ?? 100);
const KINDS = ['bare', 'callchart'] as const;
type Kind = (typeof KINDS)[number];

/** One row of a snapshot's totals, as the server hands them over. */
type TotalsEntry = [string, { size: number; count: number }];

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');
const inbound = path.join(benchDir, 'inbound.ts');
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface HeapSample {
  heapUsed: number;
  rss: number;
  external: number;
  arrayBuffers: number;
}

interface Result {
  kind: Kind;
  calls: number;
  heap: number;
  rss: number;
  external: number;
  rows: ObjectRow[];
}

async function waitLive(server: RpcChild, want: number, timeoutMs = 10_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let n = await server.call<number>('live');
  while (n !== want && performance.now() < deadline) {
    await sleep(50);
    n = await server.call<number>('live');
  }
  return n;
}

async function measure(kind: Kind): Promise<Result> {
  const server = forkRpc(inbound, ['--role=server', `--kind=${kind}`], { exposeGc: true, cwd: root });
  const load = forkRpc(inbound, ['--role=load'], { cwd: root });
  try {
    const { port } = await server.ready;
    await load.ready;
    await load.call('init', { port, mode: kind });
    progress(`${kind}: warming the connection path`);
    await load.call('idle', { n: WARMUP }, 120_000);
    await load.call('closeAll');
    await waitLive(server, 0);
    // Totals come back to this process (the server keeps none of them), so neither snapshot counts them.
    const before = new Map(await server.call<TotalsEntry[]>('objectsTotals', undefined, 120_000));
    const base = await server.call<HeapSample>('heap');
    progress(`${kind}: ${CALLS} answered calls, held idle`);
    const idle = await load.call<{ connected: number }>('idle', { n: CALLS }, 120_000);
    const live = await waitLive(server, idle.connected);
    if (live !== idle.connected) throw new Error(`${kind}: ${live} live calls on the server, ${idle.connected} connected`);
    await sleep(200);
    const loaded = await server.call<HeapSample>('heap');
    const after = new Map(await server.call<TotalsEntry[]>('objectsTotals', undefined, 120_000));
    const rows = diffTotals(before, after, live).slice(0, 400);
    if (SNAPSHOT) progress(`${kind}: heap snapshot ${await server.call<string>('writeSnapshot', { file: `${SNAPSHOT}-${kind}.heapsnapshot` }, 120_000)}`);
    await load.call('closeAll');
    const per = (k: keyof HeapSample) => (loaded[k] - base[k]) / live;
    return { kind, calls: live, heap: per('heapUsed'), rss: per('rss'), external: per('external'), rows };
  } finally {
    await load.stop();
    await server.stop();
  }
}

async function main(): Promise<void> {
  const results: Result[] = [];
  for (const kind of KINDS) results.push(await measure(kind));
  printTable(
    `inbound-heap: per live answered call on loopback (${CALLS} idle calls, heapUsed after gc; engine: ${ENGINE_BUILD})`,
    ['server', 'calls', 'heap / call', 'rss / call', 'external / call', 'snapshot rows total / call'],
    results.map((r) => [
      r.kind,
      r.calls,
      `${(r.heap / 1024).toFixed(2)} KiB`,
      `${(r.rss / 1024).toFixed(1)} KiB`,
      `${(r.external / 1024).toFixed(2)} KiB`,
      `${(r.rows.reduce((a, x) => a + x.bytes, 0) / 1024).toFixed(2)} KiB`,
    ]),
  );
  const bare = results.find((r) => r.kind === 'bare')!;
  const bareRows = new Map(bare.rows.map((r) => [r.object, r]));
  for (const r of results) {
    process.stdout.write(`\n### inbound-heap: ${r.kind}, what one live call holds (heap-snapshot diff, largest first)\n\n`);
    process.stdout.write(objectTable(r.rows, TOP));
  }
  // callchart's rows beyond the socket: each row minus bare's same row.
  const cc = results.find((r) => r.kind === 'callchart')!;
  const over = cc.rows
    .map((r) => ({ ...r, bytes: r.bytes - (bareRows.get(r.object)?.bytes ?? 0), count: r.count - (bareRows.get(r.object)?.count ?? 0) }))
    .filter((r) => Math.abs(r.bytes) >= 8)
    .sort((a, b) => b.bytes - a.bytes);
  process.stdout.write(`\n### inbound-heap: callchart minus bare, per call (what the engine adds to a socket)\n\n`);
  process.stdout.write(objectTable(over, TOP));
  process.stdout.write(`\ncallchart heap per call ${(cc.heap / 1024).toFixed(2)} KiB against bare ${(bare.heap / 1024).toFixed(2)} KiB (${(cc.heap / bare.heap).toFixed(1)}×; target ≤ 5 KiB)\n`);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`inbound-heap bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
