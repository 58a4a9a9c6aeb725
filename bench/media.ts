// Media plane: how many concurrent G.711 echo calls (50 packets/s each way, 20 ms) one Node
// process serves with < 0.1 % loss and ≤ 5 ms p99 added jitter, callchart vs a bare dgram loop.
//
//   tsx bench/media.ts            (or: npm run bench -- media)
//
// Three processes: this orchestrator, a SERVER child (callchart: one RtpSession per call from a
// PortAllocator + startEcho(rtpLeg(session)), told the call's load socket as a SIP call's SDP would
// tell it; bare: one dgram socket per call that sends back what it gets — the limit), and LOAD
// children (MEDIA_BENCH_LOADS, default 2, each a share of the calls) that send PCMU RTP (real
// headers, seq/timestamps, 20 ms per call, phases staggered over the 20 ms) from one socket per
// call and time every echo.
// Each packet's load-generator sequence number is carried in the payload (4 nibbles in μ-law codes
// that survive a decode/encode round trip), so echoes are matched whether the server returns the
// bytes or re-encodes them under its own RTP header.
//
// Per packet: latency = echo arrival − send (same clock, load process); added jitter = latency −
// that call's minimum latency. A ladder step passes with loss < 0.1 % and p99 added jitter ≤ 5 ms.
import dgram from 'node:dgram';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, percentile, progress, type Cell } from './table.js';
import { serveRpc, forkRpc as forkChild, type RpcChild } from './lib/rpc.js';
import { pin } from './lib/pin.js';
import { readMarker, writeMarker } from './lib/rtp-marker.js';
import { SrtpLoad, SRTP_LOAD_MODE } from './lib/srtp-load.js';
import { HeapSampler } from './lib/heap-sampler.js';
import { cpuProfiler } from './lib/cpu-profiler.js';

const thisFile = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(thisFile), '..');
const LO = '127.0.0.1';

const LADDER = process.env.MEDIA_BENCH_LADDER ? process.env.MEDIA_BENCH_LADDER.split(',').map(Number) : [100, 200, 300, 500, 750, 1000, 1250, 1500];
const KINDS = (process.env.MEDIA_BENCH_KINDS ?? 'bare,callchart,callchart-srtp').split(',');
const STEP_MS = Number(process.env.MEDIA_BENCH_STEP_MS ?? 8000);
/** Wall-clock allowance per ladder (MEDIA_BENCH_BUDGET_S); longer steps get proportionally more. */
const LADDER_BUDGET_MS = Number(process.env.MEDIA_BENCH_BUDGET_S ?? 0) * 1000 || Math.round(80_000 * Math.max(1, STEP_MS / 8000));
// MEDIA_BENCH_PIN=1: servers on CPU 0, load (and bot) processes on the others (bench/lib/pin.ts).
const PIN = process.env.MEDIA_BENCH_PIN === '1';
// MEDIA_BENCH_LOAD_SPIN=1 (diagnostic, with MEDIA_BENCH_LOADS=1 on a two-core box): the load process
// polls instead of sleeping between its 1 ms groups, so an echo never has to wake it on the other
// vCPU (a cost the server pays per wake-up that a remote peer would not put on it).
const LOAD_SPIN = process.env.MEDIA_BENCH_LOAD_SPIN === '1';
// MEDIA_BENCH_NO_SDP=1 (diagnostic): the callchart sessions are not told the load's address, as
// before stop 55, so they latch the first source after a probation (see serverRole's setup).
const NO_SDP = process.env.MEDIA_BENCH_NO_SDP === '1';
// MEDIA_BENCH_SERVER_NODE_ARGS: extra node flags for the server children (e.g. --perf-basic-prof).
const SERVER_NODE_ARGS = process.env.MEDIA_BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
function forkRpc(file: string, argv: string[], opts: { cwd: string }): RpcChild {
  const server = argv.includes('--role=server');
  const c = forkChild(file, argv, server ? { ...opts, nodeArgs: SERVER_NODE_ARGS } : opts);
  if (PIN) pin(c.child, server ? 'server' : 'load');
  return c;
}
const WARMUP_MS = 1000;
const DRAIN_MS = 300;
const MAX_LOSS = 0.001;
const MAX_JITTER_P99_MS = 5;
const RTP_RANGE = '45000-47999'; // 1500 RTP/RTCP pairs
const FRAME = 160;
const PACKET = 12 + FRAME;

type Kind = 'bare' | 'callchart' | 'callchart-pcm' | 'callchart-srtp' | 'callchart-stream' | 'callchart-unconnected';

// callchart-unconnected (diagnostic): the callchart echo with strictRtp.connect false, so its RTP
// sockets stay unconnected and every send carries the address, as before stop 42: what the
// connected socket saves, in the same run (MEDIA_BENCH_KINDS=…,callchart-unconnected).

// SRTP echo (kind callchart-srtp): fixed SDES-style keys, the load side protects with the client
// key and checks the echo with the server's, as a softphone would (so it pays for SRTP too).
const SRTP_SUITE = 'AES_CM_128_HMAC_SHA1_80';
const SRTP_CLIENT_KEY = Buffer.alloc(30, 0x11);
const SRTP_SERVER_KEY = Buffer.alloc(30, 0x22);

// callchart-stream: each RTP leg is streamed (call.stream's runtime) to a local Twilio-format echo
// bot whose μ-law comes back through the paced playout queue: the voice-bot path, next to the plain
// echo. The bot (engine.mediaStreams, callchart standing in for a bot) runs in its own process on
// the same box, as a deployed bot would, so the server's CPU is the platform side's;
// MEDIA_BENCH_BOT=inline puts it in the server process (both ends counted). Opt in:
// MEDIA_BENCH_KINDS=…,callchart-stream. Its table adds the bot audio waiting in each stream's
// playout queue (mean frames over the window): a real-time bot's frame waits less than one beat,
// so a mean above one frame is a standing queue, latency every frame pays.
/** The voice-bot path re-times audio on the pacer: its pass line is the issue's p99 added latency ≤ 40 ms. */
const MAX_STREAM_JITTER_P99_MS = 40;

// ---- server child --------------------------------------------------------------------------

/** Where the echo bot runs: its own process (default, as a real bot would) or inside the server. */
const BOT_PLACE = process.env.MEDIA_BENCH_BOT === 'inline' ? 'inline' : 'process';

/** A Twilio-format echo bot (engine.mediaStreams, callchart standing in for a bot) on a WebSocket port. */
async function startEchoBot(): Promise<string> {
  const { createEngine } = await import('../src/index.js');
  const engine = createEngine({ host: LO, wsPort: 0, metrics: false, security: { maxConnections: 0, maxConnectionsPerIp: 0 } });
  engine.mediaStreams('/echo', (session) => void session.on('media', (ulaw) => void session.send(ulaw)), { textRate: false });
  await engine.listen();
  return `ws://${LO}:${engine.wsPort}/echo`;
}

/** The bot child (--role=bot): the bot's CPU is not the server's, as with any real voice bot. */
async function botRole(): Promise<void> {
  const url = await startEchoBot();
  serveRpc({ cpu: () => ({ cpu: process.cpuUsage(), at: performance.now() }), profile: cpuProfiler(process.env.MEDIA_BENCH_PROFILE, 'media-bot') });
  process.send?.({ ready: { url } });
}

/** A stream runtime pointed at the echo bot (in its own process unless MEDIA_BENCH_BOT=inline). */
async function startStreamBot(): Promise<{
  stream: (leg: import('../src/media/index.js').MediaLeg) => Promise<void>;
  /** The bot process's RPC (cpu, profile), none when it runs inline. */
  bot?: RpcChild;
  /** The streams started since the last teardown (their playout queues are sampled per window). */
  live: import('../src/index.js').MediaStream[];
  close: () => Promise<void>;
}> {
  const { createEngine } = await import('../src/index.js');
  let url: string;
  let bot: RpcChild | undefined;
  let engine: import('../src/index.js').Engine;
  if (BOT_PLACE === 'inline') {
    url = await startEchoBot();
    engine = createEngine({ metrics: false });
  } else {
    bot = forkRpc(thisFile, ['--role=bot'], { cwd: root });
    url = ((await bot.ready) as { url: string }).url;
    engine = createEngine({ metrics: false });
  }
  const live: import('../src/index.js').MediaStream[] = [];
  return {
    bot,
    live,
    // Resolves once the bot has the stream: setup waits for every handshake, so a loaded box's slow
    // connects are not counted as lost audio in the measured window.
    stream: (leg) =>
      new Promise<void>((resolve, reject) => {
        const s = engine.streams.start({ id: leg.id, leg, hangup: () => {}, onDtmf: () => () => {} }, url, { maxReconnects: 0, fallback: 'continue' });
        live.push(s);
        const timer = setTimeout(() => reject(new Error(`stream of ${leg.id} not connected within 15 s`)), 15_000);
        s.once('connected', () => {
          clearTimeout(timer);
          resolve();
        });
      }),
    close: async () => {
      await bot?.stop();
    },
  };
}

async function serverRole(kind: Kind): Promise<void> {
  const { RtpSession, PortAllocator } = await import('../src/media/index.js');
  const { rtpLeg, startEcho } = await import('../src/media/index.js');
  // A fresh allocator per step, closed at teardown: released pairs stay bound (parked) otherwise.
  let allocator = new PortAllocator({ range: RTP_RANGE, host: LO });
  const streamBot = kind === 'callchart-stream' ? await startStreamBot() : undefined;
  let closers: Array<() => Promise<void> | void> = [];
  const loopDelay = monitorEventLoopDelay({ resolution: 1 });
  let gcMax = 0;
  let gcTotal = 0;
  // callchart-stream: how much of the bot's audio waits in the playout queues, sampled every 37 ms
  // (prime to the 20 ms beat, so the samples fall at every phase of it) on QUEUE_SAMPLE_STREAMS
  // streams in turn: each read of `stats` makes an object, and reading all 250 streams cost the
  // server ~2 % of its CPU in a profile. A real-time bot's frame waits up to one beat, so a mean
  // over one frame per stream is a standing queue.
  const QUEUE_SAMPLE_STREAMS = 16;
  let queueTimer: NodeJS.Timeout | undefined;
  let queuedSum = 0;
  let queueSamples = 0;
  let queueNext = 0;
  const sampleQueues = (): void => {
    const live = streamBot!.live;
    const n = Math.min(QUEUE_SAMPLE_STREAMS, live.length);
    for (let i = 0; i < n; i++) queuedSum += live[(queueNext + i) % live.length]!.stats.queuedBytes;
    queueNext = (queueNext + n) % Math.max(1, live.length);
    queueSamples += n;
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcTotal += e.duration;
      if (e.duration > gcMax) gcMax = e.duration;
    }
  }).observe({ entryTypes: ['gc'] });
  // MEDIA_BENCH_PROFILE=<dir>: a CPU profile of each measured window (the bot's too).
  const profile = cpuProfiler(process.env.MEDIA_BENCH_PROFILE, `media-${kind}`);
  // BENCH_HEAP_SAMPLE=<dir>: what outlived the young generation during each measured window.
  const sampler = new HeapSampler();
  let windows = 0;
  const bareSocket = (): Promise<{ port: number; close: () => Promise<void> }> =>
    new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.on('message', (msg, r) => s.send(msg, r.port, r.address));
      s.once('error', reject);
      s.bind(0, LO, () => resolve({ port: s.address().port, close: () => new Promise<void>((res) => s.close(() => res())) }));
    });
  serveRpc({
    async setup({ n, peers }: { n: number; peers: number[] }) {
      // The peer's address as a call's SDP gives it: strict RTP takes the first packet from it and
      // connects the socket at once. Without it (MEDIA_BENCH_NO_SDP=1) the latch puts the source on
      // probation and connects only after its learning time (5 s of each step).
      const toPeer = (session: import('../src/media/index.js').RtpSession, i: number): void => {
        if (!NO_SDP) session.setRemote(LO, peers[i]!);
      };
      const ports: number[] = [];
      const connecting: Array<Promise<void>> = [];
      for (let i = 0; i < n; i++) {
        if (kind === 'bare') {
          const s = await bareSocket();
          ports.push(s.port);
          closers.push(s.close);
        } else if (streamBot) {
          const session = await RtpSession.create({ allocator, codec: 'PCMU', timeoutMs: 0 });
          toPeer(session, i);
          const leg = rtpLeg(session, `bench-${i}`);
          connecting.push(streamBot.stream(leg));
          ports.push(session.localPort);
          closers.push(() => session.close());
        } else {
          const session = await RtpSession.create({ allocator, codec: 'PCMU', timeoutMs: 0, strictRtp: { connect: kind !== 'callchart-unconnected' } });
          toPeer(session, i);
          if (kind === 'callchart-srtp') session.setSrtp({ suite: SRTP_SUITE, localKey: SRTP_SERVER_KEY, remoteKey: SRTP_CLIENT_KEY });
          startEcho(rtpLeg(session), { mode: kind === 'callchart-pcm' ? 'pcm' : 'auto' });
          ports.push(session.localPort);
          closers.push(() => session.close());
        }
      }
      await Promise.all(connecting);
      return { ports };
    },
    async teardown() {
      const c = closers;
      closers = [];
      await Promise.all(c.map((f) => f()));
      await allocator.close();
      allocator = new PortAllocator({ range: RTP_RANGE, host: LO });
      if (streamBot) streamBot.live.length = 0;
      return true;
    },
    cpu: () => ({ cpu: process.cpuUsage(), at: performance.now() }),
    /** Start a measurement window: event-loop delay and GC pauses. */
    watch() {
      loopDelay.reset();
      loopDelay.enable();
      gcMax = 0;
      gcTotal = 0;
      queuedSum = queueSamples = 0;
      if (streamBot) queueTimer = setInterval(sampleQueues, 37);
      return true;
    },
    watched() {
      loopDelay.disable();
      clearInterval(queueTimer);
      // μ-law at 8 kHz: 160 bytes per 20 ms frame.
      const botQueueFrames = queueSamples ? queuedSum / queueSamples / 160 : undefined;
      return { loopP99: loopDelay.percentile(99) / 1e6, loopMax: loopDelay.max / 1e6, gcMax, gcTotal, botQueueFrames };
    },
    async profile(args: { start: boolean }) {
      await streamBot?.bot?.call('profile', args);
      if (args.start) await sampler.start();
      else await sampler.stop(`media-${kind}-${++windows}`);
      return profile(args);
    },
    /** The bot process's CPU clock (null without one), for the box's budget beside the server's. */
    botCpu: () => streamBot?.bot?.call('cpu') ?? null,
  });
  process.send?.({ ready: { pid: process.pid } });
}

// ---- load child ----------------------------------------------------------------------------

interface LoadResult {
  sent: number;
  received: number;
  late: number;
  latP50: number;
  latP99: number;
  jitP99: number;
  jitMax: number;
  sendLagP99: number;
  /** Load generator's own CPU % and event-loop delay p99 (ms): when these are high, the load side is the limit. */
  loadCpu: number;
  loadLoopP99: number;
  /** SRTP echoes that failed a full unprotect (counted as lost). */
  authFailed: number;
  /** Sampled latencies and added jitters (ms), for merging the percentiles of several load processes. */
  latSample: number[];
  jitSample: number[];
}

/** Call i's first RTP packet (payload 0xff, SSRC by index) and its first seq / timestamp. */
function callTemplate(i: number, srtp: boolean): Buffer {
  const b = Buffer.alloc(PACKET + (srtp ? 10 : 0), 0xff);
  b[0] = 0x80;
  b[1] = 0; // PT 0 = PCMU
  b.writeUInt32BE((0x10000000 + i) >>> 0, 8);
  return b;
}
const callStart = (i: number) => ({ seq: (i * 7919) & 0xffff, ts: i * 160 });

async function loadRole(): Promise<void> {
  /** SRTP state made by `prepare` for the next run (its packets encrypted ahead, light mode). */
  let ready: SrtpLoad | undefined;
  const newSrtp = (n: number) => new SrtpLoad(SRTP_LOAD_MODE, SRTP_SUITE, SRTP_CLIENT_KEY, SRTP_SERVER_KEY, n);
  /** Sockets bound by `bind` for the next run, so the server can be told their ports first. */
  let bound: dgram.Socket[] = [];
  const bindOne = (): Promise<dgram.Socket> =>
    new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.bind(0, LO, () => resolve(s));
    });
  serveRpc({
    async bind({ calls }: { calls: number }): Promise<number[]> {
      for (const s of bound) s.close();
      bound = await Promise.all(Array.from({ length: calls }, bindOne));
      return bound.map((s) => s.address().port);
    },
    prepare({ calls, durationMs, warmupMs }: { calls: number; durationMs: number; warmupMs: number }): boolean {
      ready = newSrtp(calls);
      // Every packet the run can send: warm-up and window at one per 20 ms, and a margin.
      const count = Math.ceil((warmupMs + durationMs) / 20) + 50;
      ready.prepare(Array.from({ length: calls }, (_, i) => callStart(i)), (i) => callTemplate(i, true), count, PACKET, FRAME);
      return true;
    },
    async run({ ports, durationMs, warmupMs, srtp }: { ports: number[]; durationMs: number; warmupMs: number; srtp?: boolean }): Promise<LoadResult> {
      const n = ports.length;
      const srtpLoad = srtp ? (ready?.calls === n ? ready : newSrtp(n)) : undefined;
      ready = undefined;
      const RING = 4096;
      const sentAt = new Float64Array(n * RING).fill(-1);
      const minLat = new Float64Array(n).fill(Infinity);
      // Latencies of counted packets, per call, appended into one big array.
      const maxSamples = Math.ceil((durationMs / 20) * n) + n * 4;
      const lat = new Float64Array(maxSamples);
      const latCall = new Uint32Array(maxSamples);
      let nLat = 0;
      let sent = 0;
      let received = 0;
      let late = 0;
      const sendLag: number[] = [];
      const socks: dgram.Socket[] = bound.length === n ? bound : await Promise.all(Array.from({ length: n }, bindOne));
      bound = [];
      const bufs: Buffer[] = [];
      const seqs = new Uint16Array(n);
      const tss = new Uint32Array(n);
      const t0 = performance.now();
      const lagHist = monitorEventLoopDelay({ resolution: 1 });
      let cpu0: NodeJS.CpuUsage | null = null;
      let cpuAt = 0;
      const countFrom = t0 + warmupMs;
      const stopAt = countFrom + durationMs;
      const countedSeq = new Uint8Array(n * RING);
      await Promise.all(
        ports.map(
          (port, i) =>
            new Promise<void>((resolve) => {
              const s = socks[i]!;
              s.on('message', (msg) => {
                const now = performance.now();
                const k = srtpLoad ? srtpLoad.marker(i, msg) : readMarker(msg, 12);
                if (k < 0) return;
                const slot = i * RING + (k % RING);
                const at = sentAt[slot]!;
                if (at < 0) return;
                sentAt[slot] = -1;
                const l = now - at;
                if (l < minLat[i]!) minLat[i] = l;
                if (countedSeq[slot]) {
                  countedSeq[slot] = 0;
                  received++;
                  lat[nLat] = l;
                  latCall[nLat++] = i;
                }
              });
              s.connect(port, LO, () => resolve());
              bufs[i] = callTemplate(i, srtpLoad !== undefined);
              const first = callStart(i);
              seqs[i] = first.seq;
              tss[i] = first.ts;
            }),
        ),
      );
      // 20 groups, one per millisecond of the 20 ms period: call i sends at (tick × 20 + i % 20) ms.
      const GROUPS = 20;
      const groups: number[][] = Array.from({ length: GROUPS }, () => []);
      for (let i = 0; i < n; i++) groups[i % GROUPS]!.push(i);
      const start = performance.now();
      let step = 0; // global 1 ms step index
      await new Promise<void>((done) => {
        const loop = (): void => {
          const now = performance.now();
          // Send every group whose slot is due (catch up if the timer was late).
          while (start + step <= now) {
            const due = start + step;
            const g = groups[step % GROUPS]!;
            const counting = due >= countFrom && due < stopAt;
            if (counting && !cpu0) {
              cpu0 = process.cpuUsage();
              cpuAt = performance.now();
              lagHist.enable();
            }
            if (due >= stopAt) {
              lagHist.disable();
              setTimeout(done, DRAIN_MS);
              return;
            }
            const lag = now - due;
            if (counting && step % 50 === 0) sendLag.push(lag);
            for (let j = 0; j < g.length; j++) {
              const i = g[j]!;
              const b = bufs[i]!;
              const seq = seqs[i]!;
              b.writeUInt16BE(seq, 2);
              b.writeUInt32BE(tss[i]!, 4);
              writeMarker(b, 12, seq);
              const slot = i * RING + (seq % RING);
              if (counting) {
                countedSeq[slot] = 1;
                sent++;
              }
              sentAt[slot] = performance.now();
              if (srtpLoad) {
                const [buf, off, len] = srtpLoad.next(i, b, PACKET);
                socks[i]!.send(buf, off, len);
              } else socks[i]!.send(b);
              seqs[i] = (seq + 1) & 0xffff;
              tss[i] = (tss[i]! + FRAME) >>> 0;
            }
            step++;
          }
          if (LOAD_SPIN) setImmediate(loop);
          else setTimeout(loop, Math.max(0, start + step - performance.now()));
        };
        loop();
      });
      const c = process.cpuUsage(cpu0 ?? undefined);
      const loadCpu = ((c.user + c.system) / 1000 / (performance.now() - DRAIN_MS - cpuAt)) * 100;
      for (let k = 0; k < countedSeq.length; k++) if (countedSeq[k] && sentAt[k]! >= 0) late++;
      await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
      // Percentiles over a sample (sorting 400 k values is fine, but keep it bounded).
      const stride = Math.max(1, Math.floor(nLat / 100_000));
      const lats: number[] = [];
      const jits: number[] = [];
      let jitMax = 0;
      for (let k = 0; k < nLat; k += stride) {
        lats.push(lat[k]!);
      }
      for (let k = 0; k < nLat; k++) {
        const j = lat[k]! - minLat[latCall[k]!]!;
        if (j > jitMax) jitMax = j;
        if (k % stride === 0) jits.push(j);
      }
      return {
        sent,
        received,
        late,
        latP50: percentile(lats, 50),
        latP99: percentile(lats, 99),
        jitP99: percentile(jits, 99),
        jitMax,
        sendLagP99: percentile(sendLag, 99),
        loadCpu,
        loadLoopP99: lagHist.percentile(99) / 1e6,
        authFailed: srtpLoad?.authFailed ?? 0,
        latSample: lats,
        jitSample: jits,
      };
    },
  });
  process.send?.({ ready: true });
}

// ---- orchestrator --------------------------------------------------------------------------

/**
 * The load side: MEDIA_BENCH_LOADS processes (default 2), each sending and timing every k-th
 * call. One process queued echoes behind its own sends and SRTP work: a bare dgram echo behind an
 * SRTP load failed 500 calls at 12 ms p99 with one load process, passed at 3.1 ms with two.
 */
const LOADS = Math.max(1, Number(process.env.MEDIA_BENCH_LOADS ?? 2));

class LoadPool {
  private constructor(private readonly children: RpcChild[]) {}

  static async start(): Promise<LoadPool> {
    const children = Array.from({ length: LOADS }, () => forkRpc(thisFile, ['--role=load'], { cwd: root }));
    await Promise.all(children.map((c) => c.ready));
    return new LoadPool(children);
  }

  private shares(ports: number[]): number[][] {
    const k = this.children.length;
    return this.children.map((_, j) => ports.filter((_, i) => i % k === j));
  }

  /** Each load process binds its share's sockets; their ports in call order (what each call's SDP would say). */
  async bind(n: number): Promise<number[]> {
    const k = this.children.length;
    const counts = this.children.map((_, j) => Math.ceil((n - j) / k));
    const each = await Promise.all(this.children.map((c, j) => c.call<number[]>('bind', { calls: counts[j] }, 60_000)));
    return Array.from({ length: n }, (_, i) => each[i % k]![Math.floor(i / k)]!);
  }

  /** SRTP: each load process encrypts its calls' packets for the step ahead (bench/lib/srtp-load.ts). */
  async prepare(ports: number[]): Promise<void> {
    const shares = this.shares(ports);
    await Promise.all(this.children.map((c, j) => c.call('prepare', { calls: shares[j]!.length, durationMs: STEP_MS, warmupMs: WARMUP_MS }, 120_000)));
  }

  async run(ports: number[], srtp: boolean): Promise<LoadResult> {
    const shares = this.shares(ports);
    const rs = await Promise.all(
      this.children.map((c, j) => c.call<LoadResult>('run', { ports: shares[j], durationMs: STEP_MS, warmupMs: WARMUP_MS, srtp }, STEP_MS + 60_000)),
    );
    const lats = rs.flatMap((r) => r.latSample);
    const jits = rs.flatMap((r) => r.jitSample);
    const sum = (f: (r: LoadResult) => number): number => rs.reduce((a, r) => a + f(r), 0);
    const max = (f: (r: LoadResult) => number): number => Math.max(...rs.map(f));
    return {
      sent: sum((r) => r.sent),
      received: sum((r) => r.received),
      late: sum((r) => r.late),
      latP50: percentile(lats, 50),
      latP99: percentile(lats, 99),
      jitP99: percentile(jits, 99),
      jitMax: max((r) => r.jitMax),
      sendLagP99: max((r) => r.sendLagP99),
      loadCpu: sum((r) => r.loadCpu),
      loadLoopP99: max((r) => r.loadLoopP99),
      authFailed: sum((r) => r.authFailed),
      latSample: [],
      jitSample: [],
    };
  }

  stop(): Promise<void[]> {
    return Promise.all(this.children.map((c) => c.stop()));
  }
}

interface StepRow {
  kind: Kind;
  n: number;
  r: LoadResult;
  serverCpu: number;
  /** Server CPU per call-packet (one in, one out; n × 50 per second), user and kernel (µs). */
  serverUserUs: number;
  serverSysUs: number;
  /** The echo bot process's CPU % (callchart-stream with the bot in its own process). */
  botCpu?: number;
  pass: boolean;
  /** Server event-loop delay p99/max and GC pauses during the measured window (ms). */
  loopP99: number;
  loopMax: number;
  gcMax: number;
  gcTotal: number;
  /** callchart-stream: the bot's audio queued per stream, mean over the window, in 20 ms frames. */
  botQueueFrames?: number;
}

async function step(server: RpcChild, load: LoadPool, kind: Kind, n: number): Promise<StepRow> {
  const peers = await load.bind(n);
  const { ports } = await server.call<{ ports: number[] }>('setup', { n, peers }, 120_000);
  if (kind === 'callchart-srtp') await load.prepare(ports);
  await server.call('profile', { start: true });
  const c0 = await server.call<{ cpu: NodeJS.CpuUsage; at: number }>('cpu');
  const b0 = await server.call<{ cpu: NodeJS.CpuUsage; at: number } | null>('botCpu');
  const running = load.run(ports, kind === 'callchart-srtp');
  await new Promise((res) => setTimeout(res, WARMUP_MS));
  await server.call('watch');
  const r = await running;
  const w = await server.call<Pick<StepRow, 'loopP99' | 'loopMax' | 'gcMax' | 'gcTotal' | 'botQueueFrames'>>('watched');
  const c1 = await server.call<{ cpu: NodeJS.CpuUsage; at: number }>('cpu');
  const b1 = await server.call<{ cpu: NodeJS.CpuUsage; at: number } | null>('botCpu');
  await server.call('profile', { start: false });
  await server.call('teardown', undefined, 60_000);
  const cpuUs = c1.cpu.user - c0.cpu.user + (c1.cpu.system - c0.cpu.system);
  const serverCpu = (cpuUs / 1000 / (c1.at - c0.at)) * 100;
  // The load sends n × 50 packets a second from before c0 to after c1, so this is per echoed packet.
  const packets = (n * 50 * (c1.at - c0.at)) / 1000;
  const serverUserUs = (c1.cpu.user - c0.cpu.user) / packets;
  const serverSysUs = (c1.cpu.system - c0.cpu.system) / packets;
  const botCpu = b0 && b1 ? ((b1.cpu.user - b0.cpu.user + (b1.cpu.system - b0.cpu.system)) / 1000 / (b1.at - b0.at)) * 100 : undefined;
  const loss = r.sent ? 1 - r.received / r.sent : 1;
  const pass = loss < MAX_LOSS && r.jitP99 <= (kind === 'callchart-stream' ? MAX_STREAM_JITTER_P99_MS : MAX_JITTER_P99_MS);
  return { kind, n, r, serverCpu, serverUserUs, serverSysUs, botCpu, pass, ...w };
}

// The kinds' ladders interleaved (each count for every kind still passing, then the next count):
// a box that slows down during a run (this one does) then weighs on every kind alike.
async function ladders(kinds: Kind[], load: LoadPool, budgetMs: number): Promise<Map<Kind, StepRow[]>> {
  const servers = new Map(kinds.map((k) => [k, forkRpc(thisFile, ['--role=server', `--kind=${k}`], { cwd: root })] as const));
  const rows = new Map<Kind, StepRow[]>(kinds.map((k) => [k, []]));
  const active = new Set(kinds);
  const t0 = performance.now();
  try {
    await Promise.all([...servers.values()].map((s) => s.ready));
    for (const n of LADDER) {
      if (active.size === 0) break;
      if (performance.now() - t0 > budgetMs) {
        progress('time budget reached');
        break;
      }
      for (const kind of kinds) {
        if (!active.has(kind)) continue;
        const server = servers.get(kind)!;
        progress(`${kind}: ${n} calls`);
        let row = await step(server, load, kind, n);
        if (!row.pass) {
          // The box is shared (other processes, the load generator itself): one retry before a
          // step counts as failed, for every server kind alike.
          progress(`${kind}: ${n} calls failed (loss ${((1 - row.r.received / Math.max(1, row.r.sent)) * 100).toFixed(3)} %, p99 jitter ${row.r.jitP99.toFixed(2)} ms); retrying once`);
          row = await step(server, load, kind, n);
        }
        rows.get(kind)!.push(row);
        const loss = row.r.sent ? (1 - row.r.received / row.r.sent) * 100 : 100;
        progress(`${kind}: ${n} calls → loss ${loss.toFixed(3)} %, p99 jitter ${row.r.jitP99.toFixed(2)} ms, server CPU ${row.serverCpu.toFixed(0)} % (${row.serverUserUs.toFixed(1)} µs user + ${row.serverSysUs.toFixed(1)} µs kernel per packet)${row.botCpu === undefined ? '' : `, bot CPU ${row.botCpu.toFixed(0)} %`}${row.botQueueFrames === undefined ? '' : `, bot audio queued ${row.botQueueFrames.toFixed(2)} frames`}, loop delay p99 ${row.loopP99.toFixed(1)} max ${row.loopMax.toFixed(1)} ms, GC max ${row.gcMax.toFixed(1)} ms; load CPU ${row.r.loadCpu.toFixed(0)} %, loop p99 ${row.r.loadLoopP99.toFixed(1)} ms${row.r.authFailed ? `, ${row.r.authFailed} echoes failed SRTP authentication` : ''} ${row.pass ? 'PASS' : 'FAIL'}`);
        if (!row.pass) active.delete(kind);
      }
    }
  } finally {
    await Promise.all([...servers.values()].map((s) => s.stop()));
  }
  return rows;
}

async function orchestrate(): Promise<void> {
  if (LOAD_SPIN && LOADS > 1) progress(`MEDIA_BENCH_LOAD_SPIN with ${LOADS} load processes: they take ${LOADS} cores polling (MEDIA_BENCH_LOADS=1 leaves the server one)`);
  const load = await LoadPool.start();
  try {
    const laddered = (['bare', 'callchart', 'callchart-unconnected', 'callchart-srtp', 'callchart-stream'] as const).filter((k) => KINDS.includes(k));
    const all = await ladders(laddered, load, LADDER_BUDGET_MS * laddered.length);
    const bare = all.get('bare') ?? [];
    const cc = all.get('callchart') ?? [];
    const srtp = all.get('callchart-srtp') ?? [];
    const streamed = all.get('callchart-stream') ?? [];
    const unconnected = all.get('callchart-unconnected') ?? [];
    // Echo implementation choice: same load, pass-through vs decode + encode.
    const cmpN = Math.max(100, Math.min(500, ...[bare, cc].map((rows) => Math.max(0, ...rows.filter((r) => r.pass).map((r) => r.n)))));
    progress(`echo mode comparison at ${cmpN} calls`);
    const cmp = [...(cc.find((r) => r.n === cmpN) ? [cc.find((r) => r.n === cmpN)!] : []), ...(await ladderAt('callchart-pcm', load, cmpN))];
    if (cmp.length === 1) cmp.unshift(...(await ladderAt('callchart', load, cmpN)));

    const fmtRow = (s: StepRow): Cell[] => {
      const loss = s.r.sent ? (1 - s.r.received / s.r.sent) * 100 : 100;
      const secs = STEP_MS / 1000;
      return [
        s.kind,
        s.n,
        Math.round(s.r.sent / secs),
        Math.round(s.r.received / secs),
        loss.toFixed(3),
        s.r.latP50.toFixed(2),
        s.r.latP99.toFixed(2),
        s.r.jitP99.toFixed(2),
        s.r.jitMax.toFixed(1),
        s.botCpu === undefined ? s.serverCpu.toFixed(0) : `${s.serverCpu.toFixed(0)} (bot ${s.botCpu.toFixed(0)})`,
        `${s.loopP99.toFixed(1)} / ${s.loopMax.toFixed(1)}`,
        s.gcMax.toFixed(1),
        s.r.loadCpu.toFixed(0),
        s.r.loadLoopP99.toFixed(1),
        s.pass ? 'yes' : 'no',
      ];
    };
    const headers = ['server', 'calls', 'pkt/s in', 'pkt/s echoed', 'loss %', 'lat p50 ms', 'lat p99 ms', 'added jitter p99 ms', 'max ms', 'server CPU %', 'server loop delay p99 / max ms', 'server GC max ms', 'load CPU %', 'load loop p99 ms', 'pass'];
    printTable(`Media echo ladder (G.711 PCMU, 20 ms, ${STEP_MS / 1000} s per step; pass: loss < ${MAX_LOSS * 100} %, p99 added jitter ≤ ${MAX_JITTER_P99_MS} ms; callchart-srtp: SRTP AES_CM_128_HMAC_SHA1_80 both ways, ${SRTP_LOAD_MODE === 'light' ? 'the load side sending packets encrypted before the step and checking one echo in 16 in full (the rest: the marker block decrypted; MEDIA_BENCH_SRTP_LOAD=full to check all)' : 'the load side encrypting and checking every packet in the window'}${PIN ? '; pinned: servers on CPU 0, load processes on the others' : ''}${LOAD_SPIN ? '; load processes polling without sleeping (MEDIA_BENCH_LOAD_SPIN=1: a diagnostic, not the target\'s setup)' : ''})`, headers, [...bare, ...cc, ...unconnected, ...srtp].map(fmtRow));
    printTable(`Echo implementation at ${cmpN} calls: payload pass-through vs decode → PCM → encode`, headers, cmp.map(fmtRow));
    if (streamed.length) {
      printTable(
        `RTP legs streamed to a local Twilio-format echo bot (pass: loss < ${MAX_LOSS * 100} %, p99 added latency ≤ ${MAX_STREAM_JITTER_P99_MS} ms; server CPU % with the bot process's beside it)`,
        [...headers.slice(0, -1), 'bot audio queued (frames per stream, mean)', 'pass'],
        streamed.map((s) => {
          const row = fmtRow(s);
          row.splice(row.length - 1, 0, s.botQueueFrames === undefined ? 'n/a' : s.botQueueFrames.toFixed(2));
          return row;
        }),
      );
    }
    const best = (rows: StepRow[]) => Math.max(0, ...rows.filter((r) => r.pass).map((r) => r.n));
    const bBest = best(bare);
    const cBest = best(cc);
    const capped = (rows: StepRow[]) => (rows.length && rows.every((r) => r.pass) ? ` (ladder top${rows.at(-1)!.n === LADDER.at(-1) ? '' : ' / time budget'})` : '');
    printTable('Most concurrent echo calls passing', ['server', 'calls', 'packets/s in + out', 'vs bare'], [
      ['bare dgram echo (limit)', `${bBest}${capped(bare)}`, bBest * 100, '100 %'],
      ['callchart RtpSession + startEcho', `${cBest}${capped(cc)}`, cBest * 100, bBest ? `${Math.round((cBest / bBest) * 100)} %` : 'n/a'],
      ...(unconnected.length
        ? [['callchart echo, RTP sockets unconnected (diagnostic)', `${best(unconnected)}${capped(unconnected)}`, best(unconnected) * 100, bBest ? `${Math.round((best(unconnected) / bBest) * 100)} %` : 'n/a'] as Cell[]]
        : []),
      ...(srtp.length
        ? [[`callchart SRTP echo (vs plain RTP echo: ${cBest ? `${Math.round((best(srtp) / cBest) * 100)} %` : 'n/a'})`, `${best(srtp)}${capped(srtp)}`, best(srtp) * 100, bBest ? `${Math.round((best(srtp) / bBest) * 100)} %` : 'n/a'] as Cell[]]
        : []),
      ...(streamed.length
        ? [['callchart RtpSession streamed to an echo bot', `${best(streamed)}${capped(streamed)}`, best(streamed) * 100, cBest ? `${Math.round((best(streamed) / cBest) * 100)} % of startEcho` : 'n/a'] as Cell[]]
        : []),
    ]);
  } finally {
    await load.stop();
  }
}

async function ladderAt(kind: Kind, load: LoadPool, n: number): Promise<StepRow[]> {
  const server = forkRpc(thisFile, ['--role=server', `--kind=${kind}`], { cwd: root });
  try {
    await server.ready;
    progress(`${kind}: ${n} calls`);
    return [await step(server, load, kind, n)];
  } finally {
    await server.stop();
  }
}

const role = process.argv.find((a) => a.startsWith('--role='))?.slice(7);
const kindArg = process.argv.find((a) => a.startsWith('--kind='))?.slice(7) as Kind | undefined;
if (role === 'server') await serverRole(kindArg ?? 'callchart');
else if (role === 'load') await loadRole();
else if (role === 'bot') await botRole();
else await orchestrate();
