// Conference rooms: how many 3-party rooms one Node process mixes at once with < 0.1 % loss, with
// a plain RTP echo of the same number of legs measured in the same run as the reference.
//
//   tsx bench/conference.ts          (or: npm run bench -- conference)
//   CONF_BENCH_LADDER=20,50 CONF_BENCH_STEP_MS=3000 tsx bench/conference.ts   (a brief run)
//
// Three processes: this orchestrator, a SERVER child and a LOAD child. The server makes one
// RtpSession per leg on loopback; kind `echo` runs startEcho on each (the reference), kind
// `conference` puts legs three by three into rooms of a headless engine (`engine.room(id)
// .joinLeg(rtpLeg(session))`: room actor, statechart membership, the mixer on the shared pacer,
// talker detection on, join tones off). The load child sends PCMU (a 400 Hz tone, 20 ms, staggered
// over the period) from one socket per leg and counts what comes back.
//
// Loss is counted from totals over the whole step (no window edges): echo: 1 − received/sent;
// conference: frames lost on the way in (sent by the load − received by the mixer, plus mixer queue
// overflow) + frames lost on the way out (holes in the RTP sequence numbers each leg received from
// the mixer), over frames sent. Sessions latch the first packet (strictRtp 'first', both kinds):
// the strict-RTP probation would otherwise eat each leg's first packets, which is not mixing. "gaps" is the share of mix ticks in the measured window where a leg had no frame ready
// (late arrival: a 20 ms hole in that speaker's voice for the others), reported, not a pass line.
import dgram from 'node:dgram';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, progress, type Cell } from './table.js';
import { serveRpc, forkRpc, type RpcChild } from './lib/rpc.js';

const thisFile = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(thisFile), '..');
const LO = '127.0.0.1';
const LADDER = (process.env.CONF_BENCH_LADDER ?? '50,100,150,200,300,400,500').split(',').map(Number);
const STEP_MS = Number(process.env.CONF_BENCH_STEP_MS ?? 8000);
const WARMUP_MS = 1000;
const DRAIN_MS = 400;
const MAX_LOSS = 0.001;
const RTP_RANGE = '48000-51999'; // 2000 RTP/RTCP pairs: 666 rooms of three
const FRAME = 160;

type Kind = 'echo' | 'conference';

interface LegStats {
  received: number;
  dropped: number;
  underruns: number;
  sent: number;
}

// ---- server ------------------------------------------------------------------------------------

async function serverRole(): Promise<void> {
  const { RtpSession, PortAllocator, rtpLeg, startEcho } = await import('../src/media/index.js');
  const { createEngine } = await import('../src/index.js');
  const allocator = new PortAllocator({ range: RTP_RANGE, host: LO });
  const engine = createEngine({ host: LO, wsPort: false, sipPort: false, metrics: false, rooms: { conference: { tones: false }, shutdown: { policy: 'never' } } });
  let sessions: Array<{ close(): Promise<void> }> = [];
  let roomIds: string[] = [];
  const loop = monitorEventLoopDelay({ resolution: 1 });
  let ticks0 = 0;
  let under0 = 0;
  const underruns = () => roomIds.reduce((acc, id) => acc + engine.room(id).mixStats().reduce((a, s) => a + s.underruns, 0), 0);
  serveRpc({
    async setup({ kind, rooms }: { kind: Kind; rooms: number }) {
      const ports: number[] = [];
      for (let r = 0; r < rooms; r++) {
        const id = `bench-${r}`;
        if (kind === 'conference') roomIds.push(id);
        for (let k = 0; k < 3; k++) {
          // Latch the first packet: the strict-RTP probation would eat each leg's first packets, which
          // is latching, not mixing (both kinds alike).
          const session = await RtpSession.create({ allocator, codec: 'PCMU', timeoutMs: 0, strictRtp: { mode: 'first' } });
          const leg = rtpLeg(session, `${id}-${k}`);
          if (kind === 'echo') startEcho(leg);
          else engine.room(id).joinLeg(leg);
          sessions.push(session);
          ports.push(session.localPort);
        }
      }
      return { ports };
    },
    /** Start of the measured window: loop delay and the gap counter. */
    mark() {
      loop.reset();
      loop.enable();
      ticks0 = performance.now();
      under0 = underruns();
      return true;
    },
    /** End of the measured window. */
    marked({ legs }: { legs: number }) {
      loop.disable();
      const ticks = (performance.now() - ticks0) / 20;
      return { loopP99: loop.percentile(99) / 1e6, gaps: roomIds.length ? (underruns() - under0) / Math.max(1, ticks * legs) : 0 };
    },
    /** Mixer totals per leg (conference), in port order. */
    stats(): LegStats[] {
      return roomIds.flatMap((id) => engine.room(id).mixStats().map((s) => ({ received: s.received, dropped: s.dropped, underruns: s.underruns, sent: s.sent })));
    },
    cpu: () => ({ cpu: process.cpuUsage(), at: performance.now() }),
    async teardown() {
      for (const id of roomIds) engine.room(id).close();
      roomIds = [];
      const s = sessions;
      sessions = [];
      await Promise.all(s.map((x) => x.close()));
      return true;
    },
  });
  process.send?.({ ready: true });
}

// ---- load --------------------------------------------------------------------------------------

interface LoadResult {
  sent: number[];
  received: number[];
  /** Packets missing from the RTP sequence of what each leg received (server → load loss). */
  seqLost: number[];
  loadCpu: number;
}

async function loadRole(): Promise<void> {
  const { linearToUlaw } = await import('../src/media/codecs/g711.js');
  // One 20 ms frame of a 400 Hz tone (8 whole cycles), μ-law: loud enough for talker detection.
  const tone = Buffer.alloc(FRAME);
  for (let i = 0; i < FRAME; i++) tone[i] = linearToUlaw(Math.round(6000 * Math.sin((2 * Math.PI * 400 * i) / 8000)));
  serveRpc({
    async run({ ports, durationMs }: { ports: number[]; durationMs: number }): Promise<LoadResult> {
      const n = ports.length;
      const sent = new Array<number>(n).fill(0);
      const received = new Array<number>(n).fill(0);
      const seqLost = new Array<number>(n).fill(0);
      const lastSeq = new Int32Array(n).fill(-1);
      const socks: dgram.Socket[] = [];
      const bufs: Buffer[] = [];
      await Promise.all(
        ports.map(
          (port, i) =>
            new Promise<void>((resolve) => {
              const s = dgram.createSocket('udp4');
              s.on('message', (msg) => {
                received[i]!++;
                const seq = msg.readUInt16BE(2);
                const last = lastSeq[i]!;
                if (last >= 0) {
                  const gap = (seq - last - 1 + 65536) % 65536;
                  if (gap < 1000) seqLost[i]! += gap; // larger: a reordering, not a loss
                }
                lastSeq[i] = seq;
              });
              s.bind(0, LO, () => s.connect(port, LO, () => resolve()));
              socks[i] = s;
              const b = Buffer.alloc(12 + FRAME);
              b[0] = 0x80;
              b.writeUInt32BE((0x20000000 + i) >>> 0, 8);
              tone.copy(b, 12);
              bufs[i] = b;
            }),
        ),
      );
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const GROUPS = 20;
      const start = performance.now();
      let step = 0;
      await new Promise<void>((done) => {
        const tick = (): void => {
          const now = performance.now();
          while (start + step <= now) {
            if (step >= durationMs) {
              setTimeout(done, DRAIN_MS);
              return;
            }
            for (let i = step % GROUPS; i < n; i += GROUPS) {
              const b = bufs[i]!;
              const k = sent[i]!;
              b.writeUInt16BE(k & 0xffff, 2);
              b.writeUInt32BE((k * FRAME) >>> 0, 4);
              socks[i]!.send(b);
              sent[i] = k + 1;
            }
            step++;
          }
          setTimeout(tick, Math.max(0, start + step - performance.now()));
        };
        tick();
      });
      const c = process.cpuUsage(cpu0);
      await Promise.all(socks.map((s) => new Promise<void>((r) => s.close(() => r()))));
      return { sent, received, seqLost, loadCpu: ((c.user + c.system) / 1000 / (performance.now() - t0)) * 100 };
    },
  });
  process.send?.({ ready: true });
}

// ---- orchestrator ------------------------------------------------------------------------------

interface Row {
  kind: Kind;
  rooms: number;
  legs: number;
  sent: number;
  lostIn: number;
  lostOut: number;
  loss: number;
  gaps: number;
  serverCpu: number;
  loopP99: number;
  loadCpu: number;
  pass: boolean;
}

async function step(server: RpcChild, load: RpcChild, kind: Kind, rooms: number): Promise<Row> {
  const { ports } = await server.call<{ ports: number[] }>('setup', { kind, rooms }, 120_000);
  const totalMs = WARMUP_MS + STEP_MS;
  const running = load.call<LoadResult>('run', { ports, durationMs: totalMs }, totalMs + 60_000);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const c0 = await server.call<{ cpu: NodeJS.CpuUsage; at: number }>('cpu');
  await server.call('mark');
  await new Promise((r) => setTimeout(r, STEP_MS - 100));
  const w = await server.call<{ loopP99: number; gaps: number }>('marked', { legs: ports.length });
  const c1 = await server.call<{ cpu: NodeJS.CpuUsage; at: number }>('cpu');
  const r = await running;
  const mix = kind === 'conference' ? await server.call<LegStats[]>('stats') : [];
  await server.call('teardown', undefined, 60_000);
  const sent = r.sent.reduce((a, b) => a + b, 0);
  let lostIn: number;
  let lostOut: number;
  if (kind === 'echo') {
    // Echo cannot tell the direction: everything missing counts once.
    lostIn = sent - r.received.reduce((a, b) => a + b, 0);
    lostOut = 0;
  } else {
    const mixIn = mix.reduce((a, s) => a + s.received, 0);
    const dropped = mix.reduce((a, s) => a + s.dropped, 0);
    lostIn = sent - mixIn + dropped;
    progress(`${kind}: ${rooms} rooms: load sent ${sent}, mixer received ${mixIn}, dropped on overflow ${dropped}`);
    // The mixer keeps sending after the load has stopped, so "out" is counted where it is exact:
    // holes in the RTP sequence of what each leg received.
    lostOut = r.seqLost.reduce((a, b) => a + b, 0);
  }
  const cpuUs = c1.cpu.user - c0.cpu.user + (c1.cpu.system - c0.cpu.system);
  const loss = (Math.max(0, lostIn) + Math.max(0, lostOut)) / Math.max(1, sent);
  return {
    kind,
    rooms,
    legs: ports.length,
    sent,
    lostIn,
    lostOut,
    loss,
    gaps: w.gaps,
    serverCpu: (cpuUs / 1000 / (c1.at - c0.at)) * 100,
    loopP99: w.loopP99,
    loadCpu: r.loadCpu,
    pass: loss < MAX_LOSS,
  };
}

async function ladder(kind: Kind, load: RpcChild): Promise<Row[]> {
  const server = forkRpc(thisFile, ['--role=server'], { cwd: root });
  const rows: Row[] = [];
  try {
    await server.ready;
    for (const n of LADDER) {
      progress(`${kind}: ${n} rooms (${n * 3} legs)`);
      let row = await step(server, load, kind, n);
      if (!row.pass) {
        progress(`${kind}: ${n} rooms failed (loss ${(row.loss * 100).toFixed(3)} %); retrying once`);
        row = await step(server, load, kind, n);
      }
      rows.push(row);
      progress(`${kind}: ${n} rooms → loss ${(row.loss * 100).toFixed(3)} %, gaps ${(row.gaps * 100).toFixed(3)} %, server CPU ${row.serverCpu.toFixed(0)} % ${row.pass ? 'PASS' : 'FAIL'}`);
      if (!row.pass) break;
    }
  } finally {
    await server.stop();
  }
  return rows;
}

async function orchestrate(): Promise<void> {
  const load = forkRpc(thisFile, ['--role=load'], { cwd: root });
  try {
    await load.ready;
    // Alternate per step would be fairer on a noisy box; ladders in one run on the same load child
    // keep it simple, the reference first.
    const echo = await ladder('echo', load);
    const conf = await ladder('conference', load);
    const fmt = (r: Row): Cell[] => [
      r.kind === 'echo' ? 'plain RTP echo (reference)' : 'conference rooms of 3',
      r.rooms,
      r.legs,
      r.sent,
      r.lostIn,
      r.lostOut,
      (r.loss * 100).toFixed(3),
      r.kind === 'echo' ? '-' : (r.gaps * 100).toFixed(3),
      r.serverCpu.toFixed(0),
      r.loopP99.toFixed(1),
      r.loadCpu.toFixed(0),
      r.pass ? 'yes' : 'no',
    ];
    printTable(
      `Conference ladder (PCMU 20 ms per leg, ${STEP_MS / 1000} s per step after ${WARMUP_MS / 1000} s warm-up; pass: loss < ${MAX_LOSS * 100} %)`,
      ['server', 'rooms', 'legs', 'frames sent', 'lost in', 'lost out', 'loss %', 'gaps %', 'server CPU %', 'server loop p99 ms', 'load CPU %', 'pass'],
      [...echo, ...conf].map(fmt),
    );
    const best = (rows: Row[]) => Math.max(0, ...rows.filter((r) => r.pass).map((r) => r.rooms));
    const top = (rows: Row[]) => (rows.length && rows.every((r) => r.pass) ? ' (ladder top)' : '');
    printTable('Most 3-party rooms passing', ['server', 'rooms (legs)', 'vs echo'], [
      ['plain RTP echo, same legs', `${best(echo)} (${best(echo) * 3})${top(echo)}`, '100 %'],
      ['conference rooms', `${best(conf)} (${best(conf) * 3})${top(conf)}`, best(echo) ? `${Math.round((best(conf) / best(echo)) * 100)} %` : 'n/a'],
    ]);
  } finally {
    await load.stop();
  }
}

const role = process.argv.find((a) => a.startsWith('--role='))?.slice(7);
if (role === 'server') await serverRole();
else if (role === 'load') await loadRole();
else await orchestrate();
