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
// BENCH_SIP_CPU_METRICS=both adds this tree once more with CALLCHART_METRICS=off (what Prometheus
// metrics cost per call). BENCH_SIP_CPU_PROF=<dir> runs the servers with --cpu-prof into that directory (profiles cost CPU:
// read them for where, not how much). BENCH_SIP_CPU_NODE_ARGS adds node flags to the servers.
//
// A second table, in process and for this tree only, times the SIP machines' share of a call (the
// INVITE session's start and its events, plain and with its transitions remembered as the UA runs
// it, the dialog's) with no sockets: far less noisy than the whole server on a shared box. BENCH_SIP_CPU_MACHINES=only prints just that table.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSipp, scenarioPath } from '../test/interop/helpers/sipp.js';
import { Tail, freeUdpPort, sleep, terminate, track, udpPortBound, waitUntil, whichBinary, exited } from '../test/interop/helpers/procs.js';
import { createActor } from 'xstate';
import { printTable, progress, type Cell, median } from './table.js';
import { sipInviteSessionMachine, type SipInviteSessionEvent, type SipInviteSessionInput } from '../machines/sipInviteSession.machine.js';
import { sipDialogMachine, type SipDialogInput } from '../machines/sipDialog.machine.js';
import { initialSessionSnapshots, memoizedSessions } from '../src/sip/ua/invite-session.js';

const here = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CALLS = Math.max(100, Number(process.env.BENCH_SIP_CPU_CALLS ?? 4000));
const RATE = Math.max(10, Number(process.env.BENCH_SIP_CPU_RATE ?? 400));
const ROUNDS = Math.max(1, Number(process.env.BENCH_SIP_CPU_ROUNDS ?? 3));
const TAIL_MS = Math.max(0, Number(process.env.BENCH_SIP_CPU_TAIL_MS ?? 1000));
const PROF_DIR = process.env.BENCH_SIP_CPU_PROF;
/** Extra node flags for the servers, e.g. `--trace-gc-nvp` (BENCH_SIP_CPU_NODE_ARGS). */
const NODE_ARGS = process.env.BENCH_SIP_CPU_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
const ROOTS = [here, ...(process.env.BENCH_SIP_CPU_ROOTS ?? '').split(',').map((s) => s.trim()).filter(Boolean)];
const METRICS_BOTH = process.env.BENCH_SIP_CPU_METRICS === 'both';
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

async function startServer(root: string, env: NodeJS.ProcessEnv = process.env): Promise<Server> {
  const entry = path.join(root, 'dist/src/cli.js');
  if (!existsSync(entry)) throw new Error(`${entry} missing: build that tree first`);
  const port = await freeUdpPort();
  const out = new Tail(16 * 1024);
  const node = [...(PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', PROF_DIR] : []), ...NODE_ARGS];
  const args = ['serve', '--host', '127.0.0.1', '--sip-port', String(port), '--ws-port', '0', '--log-level', 'warn', '--rtp-ports', '30000-39999', '--sip-invite-rate', '100000'];
  const child = track(spawn(process.execPath, [...node, entry, ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] }));
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


/** CPU µs per run of `f`, after a warm-up (JIT). */
function timeIt(n: number, f: () => void): number {
  for (let i = 0; i < Math.min(2000, n); i++) f();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) f();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / n;
}

function machineCosts(): void {
  const N = 20_000;
  const noop = () => {};
  const session = sipInviteSessionMachine.provide({
    actions: Object.fromEntries(
      ['sendRinging', 'dialogEarly', 'sendInvite', 'retryWithAuth', 'sendCancel', 'notifyProgress', 'notifyAnswered', 'notifyRejected', 'retransmit2xx', 'ackTimedOut', 'sendReinvite', 'sendBye', 'notifyRemoteHold', 'notifyRemoteResume', 'startTimer', 'stopTimer'].map((n) => [n, noop]),
    ),
  });
  const input: SipInviteSessionInput = { role: 'uas', t1: 500, t2: 4000, unconfirmedLimit: 4 };
  const cached = initialSessionSnapshots(session)(input);
  // What a UAS call that is answered at once sends its session (RINGING from the 180, then the 2xx).
  const uasCall: SipInviteSessionEvent[] = [{ type: 'RINGING' }, { type: '2XX.SENT' }, { type: 'OFFER.END' }, { type: 'ACK.RECEIVED' }, { type: 'SESSION.END' }];
  const memo = memoizedSessions(session);
  const memoStart = memo.start(input);
  const run = (snapshot?: unknown, events: SipInviteSessionEvent[] = [], logic = session) => () => {
    const a = createActor(logic, { input, ...(snapshot ? { snapshot: snapshot as never } : {}) });
    a.start();
    for (const e of events) a.send(e);
    a.stop();
  };
  const dialog = sipDialogMachine.provide({ actions: { sendRequest: noop, acceptRequest: noop, rejectRequest: noop } });
  const dIn: SipDialogInput = { role: 'uas', callId: 'c', localTag: 'l', localUri: 'sip:a@b', remoteUri: 'sip:c@d', remoteTag: 'r', remoteCSeq: 1, secure: false };
  const rows: Cell[][] = [
    ['INVITE session: start afresh + stop', timeIt(N, run()).toFixed(1)],
    ['INVITE session: start from the cached initial snapshot (the UA) + stop', timeIt(N, run(cached)).toFixed(1)],
    ['INVITE session: a UAS call (cached start, RINGING … SESSION.END)', timeIt(N, run(cached, uasCall)).toFixed(1)],
    ['INVITE session: the same call as the UA runs it (transitions remembered: memoizedSessions)', timeIt(N, run(memoStart, uasCall, memo.logic)).toFixed(1)],
    [
      'dialog: a UAS call (start, DIALOG.CONFIRMED, BYE.RECEIVED)',
      timeIt(N, () => {
        const a = createActor(dialog, { input: dIn });
        a.start();
        a.send({ type: 'DIALOG.CONFIRMED', remoteTarget: 'sip:c@d' });
        a.send({ type: 'BYE.RECEIVED', cseq: 2 });
        a.stop();
      }).toFixed(1),
    ],
  ];
  printTable('SIP machines per call, in process (CPU µs, this tree)', ['what', 'µs'], rows);
}

async function main(): Promise<void> {
  machineCosts();
  if (process.env.BENCH_SIP_CPU_MACHINES === 'only') return;
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
    const targets = ROOTS.map((root) => ({ root, name: `${path.basename(root)} @ ${gitDescribe(root)}`, env: process.env }));
    if (METRICS_BOTH) targets.splice(1, 0, { root: here, name: `${targets[0]!.name}, metrics off`, env: { ...process.env, CALLCHART_METRICS: 'off' } });
    for (const t of targets) {
      const s = await startServer(t.root, t.env);
      servers.push({ name: t.name, s, idlePerMs: 0, per: [], sys: [], rss: NaN, retrans: 0, bad: '' });
    }
    await sleep(1000);
    for (const t of servers) {
      progress(`${t.name}: warm-up ${Math.min(CALLS, 2000)} calls …`);
      await batch(t.s, Math.min(CALLS, 2000));
    }
    // Idle CPU over 5 s, every server after every warm-up. Read one server at a time between the
    // warm-ups, the second server showed ~30 ms/s, which an idle server started alone does not spend.
    // The clock ticks are 10 ms, so a shorter window reads as 0.
    const i0 = servers.map((t) => cpuMicros(t.s.pid));
    await sleep(5000);
    servers.forEach((t, i) => (t.idlePerMs = (cpuMicros(t.s.pid) - i0[i]!) / 5000));
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
