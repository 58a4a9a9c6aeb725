// What a live WebSocket call costs callchart beyond its socket, measured without sockets: the
// engine's real routes (inbound-call, jambonz audio) are handed in-memory stand-ins for `ws`
// sockets, so the figures hold only callchart's own objects and do not move with the load on the
// box. Two measurements per route:
//
//   heap per live call    N calls opened (inbound: answered), heapUsed after full GCs minus before,
//                         divided by N; with --objects, a heap-snapshot diff by constructor, per call
//   per-frame cost        M frames through K live calls: JS-heap bytes allocated per frame,
//                         scavenges and bytes promoted per 10 k frames, CPU µs per frame — next to a
//                         "bare" consumer fed the same frames (what `ws` plus a counting handler costs)
//
// Run: node --expose-gc --import tsx bench/footprint.ts [--route=inbound|jambonz-audio|all]
//      [--calls=1000] [--frames=100000] [--record=0] [--objects]
// BENCH_ENGINE_DIR=<dir>: the compiled build instead of src via tsx (see lib/engine-build.ts).
// BENCH_HEAP_SAMPLE=<dir> writes an allocation profile (every allocation, sampled) of each frames window.
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import v8 from 'node:v8';
import path from 'node:path';
import type { WebSocket } from 'ws';
import { GcMeter, gcLine, type GcWindow } from './lib/gc-meter.js';
import { HeapSampler } from './lib/heap-sampler.js';
import { snapshotTotals, diffTotals, objectTable } from './lib/heap-objects.js';
import type { HttpServer as HttpServerT, WsRoute } from '../src/http/server.js';
import type * as EngineModule from '../src/engine.js';
import type * as DemoModule from '../src/demo.js';
import { ENGINE_BUILD, loadEngineModule as load } from './lib/engine-build.js';
const { HttpServer } = await load<{ HttpServer: typeof HttpServerT }>('http/server.js');

const arg = (name: string) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3);
const CALLS = Number(arg('calls') ?? 1000);
const FRAMES = Number(arg('frames') ?? 100_000);
const LIVE_FOR_FRAMES = 200;
const RECORD = arg('record') !== '0';
const OBJECTS = process.argv.includes('--objects');
const ROUTES = (arg('route') ?? 'all') === 'all' ? ['inbound', 'jambonz-audio'] : [arg('route')!];

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function settledHeap(): Promise<number> {
  for (let i = 0; i < 4; i++) {
    gc!();
    await tick();
  }
  return process.memoryUsage().heapUsed;
}

/** The part of a `ws` WebSocket the routes use. */
class FakeWs extends EventEmitter {
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSING = 2;
  readonly CLOSED = 3;
  readyState = 1;
  sent = 0;
  send(_data: unknown, _opts?: unknown): void {
    this.sent++;
  }
  close(code = 1005): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    queueMicrotask(() => this.emit('close', code, Buffer.alloc(0)));
  }
  terminate(): void {
    this.close(1006);
  }
}

let port = 10_000;
function fakeReq(): IncomingMessage {
  return { socket: { remoteAddress: '127.0.0.1', remotePort: port++ }, headers: {}, url: '/' } as unknown as IncomingMessage;
}

/** Frames as `ws` hands them over: subarrays of a larger socket read. */
function* frames(bytes: number, stamp = false): Generator<Buffer> {
  const perChunk = Math.floor(65536 / bytes);
  for (;;) {
    const chunk = Buffer.allocUnsafe(perChunk * bytes);
    chunk.fill(0);
    for (let i = 0; i < perChunk; i++) {
      const f = chunk.subarray(i * bytes, (i + 1) * bytes);
      if (stamp) f.writeUInt32LE(i, 0);
      yield f;
    }
  }
}

interface Setup {
  label: string;
  frameBytes: number;
  route: WsRoute;
  /** Open a connection; resolves once it is a live (answered / streaming) call. */
  open(ws: FakeWs): Promise<void>;
  liveCount(): number;
  close(): Promise<void>;
}

/** Capture the routes the engine registers. */
function captureRoutes(): WsRoute[] {
  const seen: WsRoute[] = [];
  const orig = HttpServer.prototype.addWsRoute;
  HttpServer.prototype.addWsRoute = function (this: HttpServerT, r: WsRoute) {
    seen.push(r);
    orig.call(this, r);
  };
  return seen;
}

async function inboundSetup(): Promise<Setup> {
  const routes = captureRoutes();
  const { createEngine } = await load<typeof EngineModule>('engine.js');
  const { demoApp } = await load<typeof DemoModule>('demo.js');
  const engine = createEngine({
    wsPort: 0,
    host: '127.0.0.1',
    sipPort: false,
    maxCalls: 100_000,
    onIncomingCall: demoApp({ answerDelayMs: 0, hangupAfterMs: 1e9 }),
    inboundCall: { offerDelayMs: 0, binaryRate: { perSecond: 1e9, burst: 1e9 } },
  });
  const route = routes.find((r) => r.name === 'inbound-call')!;
  return {
    label: 'inbound-call (demo echo app, answered)',
    frameBytes: 320,
    route,
    async open(ws) {
      route.onConnection(ws as unknown as WebSocket, fakeReq(), {}, { principal: undefined, remoteAddress: '127.0.0.1' });
      // Answered: the `answer` message went out.
      while (ws.sent < 2) await sleep(1);
    },
    liveCount: () => engine.calls.size,
    close: () => engine.close(),
  };
}

async function audioSetup(): Promise<Setup> {
  const routes = captureRoutes();
  const { createEngine } = await load<typeof EngineModule>('engine.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'callchart-footprint-'));
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, inboundCall: false, jambonz: { recordingsDir: dir } });
  let sum = 0;
  engine.jambonz.audio(
    '/recording',
    (stream) => {
      stream.on('audio', (pcm) => (sum += pcm[0]!));
    },
    { record: RECORD, binaryRate: { perSecond: 1e9, burst: 1e9 } },
  );
  const route = routes.find((r) => r.name === 'jambonz-audio /recording')!;
  let n = 0;
  return {
    label: `jambonz audio (app 'audio' listener, record ${RECORD ? 'on' : 'off'})`,
    frameBytes: 640,
    route,
    async open(ws) {
      route.onConnection(ws as unknown as WebSocket, fakeReq(), {}, { principal: undefined, remoteAddress: '127.0.0.1' });
      const meta = Buffer.from(JSON.stringify({ callSid: `fp-${process.pid}-${++n}`, sampleRate: 16000, mixType: 'mono', direction: 'inbound', from: 'a', to: 'b' }));
      ws.emit('message', meta, false);
    },
    liveCount: () => engine.supervisor.count('recording'),
    async close() {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function heapPerCall(mk: () => Promise<Setup>): Promise<void> {
  const s = await mk();
  // Warm the paths (first call compiles code, fills caches), then measure.
  const warm = Array.from({ length: 50 }, () => new FakeWs());
  for (const ws of warm) await s.open(ws);
  for (const ws of warm) ws.close(1000);
  while (s.liveCount() > 0) await sleep(5);
  const before = OBJECTS ? snapshotTotals() : undefined;
  const base = await settledHeap();
  const socks = Array.from({ length: CALLS }, () => new FakeWs());
  for (const ws of socks) await s.open(ws);
  while (s.liveCount() < CALLS) await sleep(5);
  await sleep(50);
  const loaded = await settledHeap();
  // The FakeWs objects are the harness's, not callchart's (a real socket is counted in both servers).
  const fake = await fakeWsBytes();
  const per = (loaded - base) / CALLS - fake;
  process.stdout.write(`\n## ${s.label}: heap per live call\n${CALLS} calls: ${(per / 1024).toFixed(2)} KiB per call (heapUsed after gc, minus ${fake.toFixed(0)} B of stand-in socket)\n`);
  if (process.env.FOOTPRINT_SNAPSHOT) v8.writeHeapSnapshot(process.env.FOOTPRINT_SNAPSHOT);
  if (before) process.stdout.write(objectTable(diffTotals(before, snapshotTotals(), CALLS)));
  for (const ws of socks) ws.close(1000);
  while (s.liveCount() > 0) await sleep(5);
  await s.close();
}

async function fakeWsBytes(): Promise<number> {
  const base = await settledHeap();
  // As many as the calls: with 1000 the figure moved by ±200 B between runs.
  const keep = Array.from({ length: Math.max(CALLS, 1000) }, () => {
    const w = new FakeWs();
    w.on('message', () => {});
    w.on('close', () => {});
    w.on('error', () => {});
    return w;
  });
  const after = await settledHeap();
  const n = keep.length;
  keep.length = 0;
  return (after - base) / n;
}

interface FrameRun {
  w: GcWindow | undefined;
  cpuUs: number;
  frames: number;
}

/** Push FRAMES frames round-robin through `sinks`, a tick (setImmediate) per round. */
async function pushFrames(sinks: Array<(f: Buffer) => void>, frameBytes: number, name: string): Promise<FrameRun> {
  const sampler = new HeapSampler('all');
  const gen = frames(frameBytes);
  const rounds = Math.ceil(FRAMES / sinks.length);
  // Warm-up round trip so that the measured window is steady state.
  for (let r = 0; r < 50; r++) {
    for (const sink of sinks) sink(gen.next().value as Buffer);
    await tick();
  }
  await settledHeap();
  const m = new GcMeter();
  const c0 = process.cpuUsage();
  if (process.env.FOOTPRINT_MARK) process.stderr.write(`[mark] frames start at ${performance.now().toFixed(0)} ms\n`);
  await sampler.start(256);
  m.start();
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const sink of sinks) {
      sink(gen.next().value as Buffer);
      n++;
    }
    await tick();
  }
  const w = m.stop();
  const c = process.cpuUsage(c0);
  await sampler.stop(name);
  if (process.env.FOOTPRINT_MARK) process.stderr.write(`[mark] frames end at ${performance.now().toFixed(0)} ms\n`);
  return { w, cpuUs: (c.user + c.system) / n, frames: n };
}

async function perFrame(mk: () => Promise<Setup>): Promise<void> {
  const s = await mk();
  const socks = Array.from({ length: LIVE_FOR_FRAMES }, () => new FakeWs());
  for (const ws of socks) await s.open(ws);
  while (s.liveCount() < LIVE_FOR_FRAMES) await sleep(5);
  const cc = await pushFrames(
    socks.map((ws) => (f: Buffer) => ws.emit('message', f, true)),
    s.frameBytes,
    `footprint-${s.frameBytes === 320 ? 'inbound' : 'audio'}-callchart`,
  );
  // The bare reference over the same generator: a `message` listener that counts (or echoes).
  const bareSocks = Array.from({ length: LIVE_FOR_FRAMES }, () => {
    const ws = new FakeWs();
    let count = 0;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) {
        count += data.length;
        if (s.frameBytes === 320) ws.send(data, { binary: true });
      }
    });
    return ws;
  });
  const bare = await pushFrames(
    bareSocks.map((ws) => (f: Buffer) => ws.emit('message', f, true)),
    s.frameBytes,
    `footprint-${s.frameBytes === 320 ? 'inbound' : 'audio'}-bare`,
  );
  process.stdout.write(`\n## ${s.label}: per frame (${cc.frames} frames through ${LIVE_FOR_FRAMES} live calls, a tick per round)\n`);
  process.stdout.write(`| consumer | JS heap B allocated / frame | scavenges / 10k fr | promoted KiB / 10k fr | CPU µs / frame |\n|---|---|---|---|---|\n`);
  for (const [name, r] of [
    ['bare handler', bare],
    ['callchart', cc],
  ] as const) {
    const w = r.w!;
    process.stdout.write(`| ${name} | ${(w.allocatedBytes / r.frames).toFixed(0)} | ${((w.scavenges * 10_000) / r.frames).toFixed(2)} | ${((w.promotedBytes * 10_000) / r.frames / 1024).toFixed(1)} | ${r.cpuUs.toFixed(2)} |\n`);
  }
  process.stdout.write(`(${gcLine(cc.w, cc.frames)})\n`);
  for (const ws of socks) ws.close(1000);
  while (s.liveCount() > 0) await sleep(5);
  await s.close();
}

async function main(): Promise<void> {
  process.stdout.write(`engine: ${ENGINE_BUILD}\n`);
  for (const r of ROUTES) {
    const mk = r === 'inbound' ? inboundSetup : audioSetup;
    await heapPerCall(mk);
    await perFrame(mk);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`footprint failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
