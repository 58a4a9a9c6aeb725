// What callchart's JavaScript adds per echoed RTP packet, without sockets in the way:
// RtpSession's receive path (parse, strict RTP latch, RFC 3550 statistics) and the pass-through
// echo's send path (header, payload copy, send buffer) against a bare echo's one dgram call.
//
//   npx tsx bench/rtp-echo-path.ts      (ECHO_PATH_CALLS=400 ECHO_PATH_ROUNDS=2000 ECHO_PATH_REPEATS=5)
//
// Each measurement is a fresh child process (fresh JIT) holding ECHO_PATH_CALLS sessions (or bare
// sockets) and feeding each, in turn, a datagram as dgram hands it over (a new Buffer and rinfo),
// ECHO_PATH_ROUNDS times. Sends are replaced by a no-op on both sides, so what is left is
// JavaScript: the harness alone for bare, the harness plus callchart's path for callchart.
// "Cold" reads 64 KiB of other memory between two packets, as the kernel's and Node's work between
// two datagrams does in a real server: a session's fields are then out of the CPU's near caches
// when its next packet comes, and the path pays for each cache line it loads (docs/architecture.md,
// "What an echoed RTP packet loads", stop 55). Medians of the repeats, interleaved.
import dgram from 'node:dgram';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { printTable, percentile } from './table.js';

const thisFile = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(thisFile), '..');
const LO = '127.0.0.1';
const CALLS = Number(process.env.ECHO_PATH_CALLS ?? 400);
const ROUNDS = Number(process.env.ECHO_PATH_ROUNDS ?? 2000);
const REPEATS = Number(process.env.ECHO_PATH_REPEATS ?? 5);
/** Cache lines (64 B) of other memory read between two packets in the "cold" rows. */
const COLD_LINES = 1024;

type Kind = 'bare' | 'callchart';
interface Measure {
  userUs: number;
  echoed: number;
  /** The sum of the cold reads, returned so that the loop doing them is not optimised away. */
  sink: number;
}

async function measure(kind: Kind, coldLines: number): Promise<Measure> {
  const { RtpSession, PortAllocator, rtpLeg, startEcho } = await import('../src/media/index.js');
  const allocator = new PortAllocator({ range: '45000-47999', host: LO });
  const echo: Array<(msg: Buffer, rinfo: dgram.RemoteInfo) => void> = [];
  const peers: number[] = [];
  const frames: Array<() => number> = [];
  const closers: Array<() => unknown> = [];
  for (let i = 0; i < CALLS; i++) {
    // The peer each call's datagrams come from (never read: sends are no-ops).
    const peer = dgram.createSocket('udp4');
    await new Promise<void>((r) => peer.bind(0, LO, () => r()));
    peers.push(peer.address().port);
    closers.push(() => peer.close());
    if (kind === 'bare') {
      const s = dgram.createSocket('udp4');
      await new Promise<void>((r) => s.bind(0, LO, () => r()));
      let sent = 0;
      (s as unknown as { send: () => void }).send = () => void sent++;
      echo.push((msg, r) => s.send(msg, r.port, r.address));
      frames.push(() => sent);
      closers.push(() => s.close());
    } else {
      const session = await RtpSession.create({ allocator, codec: 'PCMU', timeoutMs: 0 });
      session.setRemote(LO, peers[i]!);
      (session as unknown as { link: { send: () => void } }).link.send = () => {};
      const e = startEcho(rtpLeg(session));
      const onRtp = (session as unknown as { onRtp: (m: Buffer, r: dgram.RemoteInfo) => void }).onRtp;
      echo.push((m, r) => onRtp.call(session, m, r));
      frames.push(() => e.frames);
      closers.push(() => session.close());
    }
  }
  const template = Array.from({ length: CALLS }, (_, i) => {
    const b = Buffer.alloc(172, 0xff);
    b[0] = 0x80;
    b[1] = 0;
    b.writeUInt32BE(0x10000000 + i, 8);
    return b;
  });
  const seq = new Uint16Array(CALLS);
  const other = new Int32Array((32 << 20) / 4);
  let at = 0;
  let sink = 0;
  const round = (): void => {
    for (let i = 0; i < CALLS; i++) {
      const b = Buffer.from(template[i]!); // dgram hands over a new buffer per datagram
      const s = seq[i]!++;
      b.writeUInt16BE(s, 2);
      b.writeUInt32BE(s * 160, 4);
      echo[i]!(b, { address: LO, family: 'IPv4', port: peers[i]!, size: b.length });
      for (let k = 0; k < coldLines; k++) {
        sink += other[at]!;
        at = (at + 16) & (other.length - 1);
      }
    }
  };
  for (let k = 0; k < 20; k++) {
    round();
    await new Promise((r) => setTimeout(r, 20)); // paced like a stream while the latch takes it
  }
  const c0 = process.cpuUsage();
  for (let k = 0; k < ROUNDS; k++) {
    round();
    if (k % 4 === 0) await new Promise((r) => setImmediate(r));
  }
  const c = process.cpuUsage(c0);
  const n = CALLS * ROUNDS;
  const echoed = frames.reduce((a, f) => a + f(), 0);
  await Promise.all(closers.map((f) => f()));
  await allocator.close();
  return { userUs: c.user / n, echoed, sink };
}

function child(kind: Kind, cold: number): Promise<Measure> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', thisFile, '--measure', kind, String(cold)], { cwd: root, maxBuffer: 1 << 20 }, (err, stdout) => {
      if (err) reject(err);
      else resolve(JSON.parse(stdout.trim().split('\n').at(-1)!) as Measure);
    });
  });
}

const median = (xs: number[]): number => percentile(xs, 50);

async function main(): Promise<void> {
  const i = process.argv.indexOf('--measure');
  if (i >= 0) {
    const r = await measure(process.argv[i + 1] as Kind, Number(process.argv[i + 2]));
    process.stdout.write(`${JSON.stringify(r)}\n`);
    process.exit(0);
  }
  const rows: Record<string, number[]> = {};
  for (let r = 0; r < REPEATS; r++) {
    for (const cold of [0, COLD_LINES]) {
      for (const kind of ['bare', 'callchart'] as const) {
        const m = await child(kind, cold);
        // Every packet must have been echoed, or the row measures a path that sent nothing.
        if (m.echoed < CALLS * ROUNDS) throw new Error(`${kind}: ${m.echoed} of ${CALLS * ROUNDS} packets echoed`);
        (rows[`${kind} ${cold}`] ??= []).push(m.userUs);
        process.stderr.write(`[bench] ${kind}, ${cold ? 'cold' : 'warm'}: ${m.userUs.toFixed(2)} µs user per packet\n`);
      }
    }
  }
  const table = [0, COLD_LINES].map((cold) => {
    const bare = median(rows[`bare ${cold}`]!);
    const cc = median(rows[`callchart ${cold}`]!);
    return [cold ? `cold (${(cold * 64) / 1024} KiB read between packets)` : 'warm (packets back to back)', bare.toFixed(2), cc.toFixed(2), (cc - bare).toFixed(2)];
  });
  printTable(`RTP echo path: user CPU per packet, sends stubbed (${CALLS} calls, ${ROUNDS} rounds, median of ${REPEATS})`, ['caches', 'bare µs', 'callchart µs', 'callchart adds µs'], table);
}

await main();
