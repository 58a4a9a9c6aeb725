// SIP CPU per call: the server's CPU time (user + system, from /proc/<pid>/stat) spent per
// INVITE/200/ACK/BYE call, for a fixed batch of calls driven by SIPp at a modest rate. Unlike the
// cps ladder's p99 this barely moves when the box is busy (other processes take wall time, not
// this process's CPU time), so it compares builds on a shared box and guides per-call work.
//
// Each target is a built tree (`dist/src/cli.js` under it): this worktree (built first), and any
// others named in BENCH_SIP_CPU_ROOTS, e.g. a checkout of an older commit, so that before and after
// run back to back in one process:
//
//   BENCH_SIP_CPU_ROOTS=/path/to/old/checkout npx tsx bench/sip-cpu.ts
//
// Per target: a warm-up batch (not reported), then BENCH_SIP_CPU_ROUNDS batches of
// BENCH_SIP_CPU_CALLS calls at BENCH_SIP_CPU_RATE cps, the targets' batches taking turns; each batch's CPU is read from the moment
// SIPp starts until BENCH_SIP_CPU_TAIL_MS after it ends, minus the server's idle CPU over the same
// span (measured before the batches). Reported: µs of server CPU per call, per round and median.
// BENCH_SIP_CPU_PROF=<dir> runs the servers with --cpu-prof into that directory (profiles cost CPU:
// read them for where, not how much).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSipp, scenarioPath } from '../test/interop/helpers/sipp.js';
import { Tail, freeUdpPort, sleep, terminate, track, udpPortBound, waitUntil, whichBinary, exited } from '../test/interop/helpers/procs.js';
import { printTable, progress, type Cell } from './table.js';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CALLS = Math.max(100, Number(process.env.BENCH_SIP_CPU_CALLS ?? 4000));
const RATE = Math.max(10, Number(process.env.BENCH_SIP_CPU_RATE ?? 400));
const ROUNDS = Math.max(1, Number(process.env.BENCH_SIP_CPU_ROUNDS ?? 3));
const TAIL_MS = Math.max(0, Number(process.env.BENCH_SIP_CPU_TAIL_MS ?? 1000));
const PROF_DIR = process.env.BENCH_SIP_CPU_PROF;
const ROOTS = [here, ...(process.env.BENCH_SIP_CPU_ROOTS ?? '').split(',').map((s) => s.trim()).filter(Boolean)];
const CLK_TCK = 100; // Linux USER_HZ

/** utime + stime of a process in µs (clock ticks of 10 ms). */
function cpuMicros(pid: number): number {
  const { user, system } = cpuSplit(pid);
  return user + system;
}

function vmRssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

function cpuSplit(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(rest[11]) * 1e6) / CLK_TCK, system: (Number(rest[12]) * 1e6) / CLK_TCK };
}

function gitDescribe(root: string): string {
  const r = spawnSync('git', ['-C', root, 'log', '-1', '--format=%h'], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '?';
}

interface Server {
  pid: number;
  port: number;
  child: ChildProcess;
  out: Tail;
}

async function startServer(root: string): Promise<Server> {
  const entry = path.join(root, 'dist/src/cli.js');
  if (!existsSync(entry)) throw new Error(`${entry} missing: build that tree first`);
  const port = await freeUdpPort();
  const out = new Tail(16 * 1024);
  const node = PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR] : [];
  const args = ['serve', '--host', '127.0.0.1', '--sip-port', String(port), '--ws-port', '0', '--log-level', 'warn', '--rtp-ports', '30000-39999', '--sip-invite-rate', '100000'];
  const child = track(spawn(process.execPath, [...node, entry, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => out.push(d));
  await waitUntil(() => udpPortBound(port) || exited(child), 20_000, `callchart to bind SIP UDP ${port}`);
  if (exited(child)) throw new Error(`callchart exited at start-up\n${out.toString()}`);
  return { pid: child.pid!, port, child, out };
}

async function batch(s: Server, calls: number): Promise<{ ok: number; retrans: number; wallMs: number; cpuUs: number; sysUs: number }> {
  const before = cpuSplit(s.pid);
  const t0 = performance.now();
  const r = await runSipp({
    scenario: scenarioPath('uac-bench'),
    remote: `127.0.0.1:${s.port}`,
    calls,
    rate: RATE,
    recvTimeoutMs: 5000,
    timeoutMs: (calls / RATE + 30) * 1000,
  });
  await sleep(TAIL_MS);
  const after = cpuSplit(s.pid);
  const sysUs = after.system - before.system;
  return { ok: r.stats?.successfulCalls ?? 0, retrans: r.stats?.retransmissions ?? 0, wallMs: performance.now() - t0, cpuUs: after.user - before.user + sysUs, sysUs };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!whichBinary('sipp')) {
    process.stdout.write('\n(skipped: sipp is not installed)\n');
    return;
  }
  progress('building this tree (tsc -p tsconfig.build.json) …');
  const b = spawnSync(process.execPath, [path.join(here, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: here, encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`build failed:\n${b.stdout}${b.stderr}`);
  // All servers run side by side and the rounds alternate between them (A B A B …): a busy box's
  // load drifts over minutes, and alternating spreads the drift over every tree alike.
  const servers: Array<{ name: string; s: Server; idlePerMs: number; per: number[]; sys: number[]; rss: number; retrans: number; bad: string }> = [];
  try {
    for (const root of ROOTS) {
      const s = await startServer(root);
      servers.push({ name: `${path.basename(root)} @ ${gitDescribe(root)}`, s, idlePerMs: 0, per: [], sys: [], rss: NaN, retrans: 0, bad: '' });
    }
    await sleep(1000);
    for (const t of servers) {
      // Idle CPU over 5 s: the clock ticks are 10 ms, so a shorter window reads as 0.
      const i0 = cpuMicros(t.s.pid);
      await sleep(5000);
      t.idlePerMs = (cpuMicros(t.s.pid) - i0) / 5000;
      progress(`${t.name}: warm-up ${Math.min(CALLS, 2000)} calls …`);
      await batch(t.s, Math.min(CALLS, 2000));
    }
    for (let i = 0; i < ROUNDS; i++) {
      for (const t of servers) {
        const r = await batch(t.s, CALLS);
        if (r.ok !== CALLS) t.bad += ` round ${i + 1}: ${r.ok}/${CALLS} ok;`;
        t.per.push((r.cpuUs - t.idlePerMs * r.wallMs) / CALLS);
        t.sys.push(r.sysUs / CALLS);
        t.retrans += r.retrans;
        progress(`${t.name}: round ${i + 1} → ${t.per.at(-1)!.toFixed(0)} µs/call (${r.ok}/${CALLS} ok)`);
      }
    }
    for (const t of servers) t.rss = vmRssMiB(t.s.pid);
  } finally {
    for (const t of servers) await terminate(t.s.child, 'SIGTERM', 5000);
  }
  const rows: Cell[][] = servers.map((t) => [
    t.name,
    CALLS,
    RATE,
    t.per.map((x) => x.toFixed(0)).join(' / '),
    median(t.per).toFixed(0),
    median(t.sys).toFixed(0),
    (t.idlePerMs * 1000).toFixed(0),
    t.rss.toFixed(0),
    t.retrans,
    t.bad.trim() || 'ok',
  ]);
  printTable(
    'SIP server CPU per call (SIPp uac-bench: INVITE/200/ACK/BYE, zero hold; user+system CPU of the server process)',
    ['tree', 'calls/round', 'cps', 'µs/call per round', 'median µs/call', 'of it system', 'idle µs/s', 'RSS MiB at end', 'SIPp retransmissions', 'result'],
    rows,
  );
}

main().catch((e) => {
  process.stderr.write(`bench sip-cpu failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
