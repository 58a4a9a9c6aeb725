// SIP call-rate ladder: SIPp (test/interop/scenarios/uac-bench.xml — INVITE/200/ACK/BYE with zero hold
// time) drives a target at increasing calls per second, each step BENCH_SIP_STEP_S seconds (default
// 30). Targets: (a) SIPp's own `-sn uas`, as the reference of what this box and SIPp can do,
// (b) callchart (`callchart serve` from the compiled build in a child process, demo app answering
// every call), SIP on the main thread, (c) the same with `--sip-workers auto` (one SIP worker
// thread per core, calls sharded by Call-ID; src/sip/workers/router.ts), and (d) callchart over TCP
// (`--sip-tcp-port`, SIPp `-t t1`: every call on one connection), the TCP ladder beside UDP.
//
// A step passes only if SIPp exits 0 with FailedCall 0, zero retransmissions and CurrentCall 0 at the
// end (no call left open); a ladder stops at its first failing step. Reported per step: INVITE→200
// response time p50/p99/max (SIPp -trace_rtt, 1 ms resolution); per target: the highest passing CPS
// and, for callchart, the server's VmRSS before and after the ladder.
//
// Env: BENCH_SIP_STEP_S (seconds per step, default 30), BENCH_SIP_RATES (comma list, default
// 200,500,1000,1500,2000,2500,3000,4000), BENCH_SIP_TARGETS (sipp,callchart,callchart-tcp,callchart-workers),
// BENCH_SIP_WORKERS (the --sip-workers value of callchart-workers, default auto),
// BENCH_SIP_FROM_SOURCE=1 (run src/ through tsx instead of the compiled build), BENCH_SIP_WARMUP_S
// (an unreported warm-up at the first rate before the ladder, default 5; 0 for none). The server
// inherits the environment: CALLCHART_METRICS=off runs the ladder without Prometheus metrics.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSipp, startSippUas, scenarioPath, type SippResult, type SippUas } from '../test/interop/helpers/sipp.js';
import { Tail, freeUdpPort, sleep, terminate, track, udpPortBound, waitUntil, whichBinary, exited } from '../test/interop/helpers/procs.js';
import { printTable, percentile, progress, type Cell } from './table.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STEP_S = Math.max(1, Number(process.env.BENCH_SIP_STEP_S ?? 30));
const RATES = (process.env.BENCH_SIP_RATES ?? '200,500,1000,1500,2000,2500,3000,4000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isFinite(n) && n > 0);
const TARGETS = (process.env.BENCH_SIP_TARGETS ?? 'sipp,callchart,callchart-tcp,callchart-workers').split(',').map((s) => s.trim());
const WORKERS = process.env.BENCH_SIP_WORKERS ?? 'auto';
const KNOWN_TARGETS = ['sipp', 'callchart', 'callchart-tcp', 'callchart-workers'];
const FROM_SOURCE = process.env.BENCH_SIP_FROM_SOURCE === '1';
const WARMUP_S = Math.max(0, Number(process.env.BENCH_SIP_WARMUP_S ?? 5));

interface Target {
  name: string;
  port: number;
  /** SIPp reaches it over TCP (`-t t1`) rather than UDP. */
  tcp?: boolean;
  pid: number;
  alive(): boolean;
  stop(): Promise<void>;
  describe(): string;
}

interface Step {
  rate: number;
  r: SippResult;
  pass: boolean;
  why: string;
}

function vmRssKiB(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function startSippTarget(): Promise<Target> {
  const uas: SippUas = await startSippUas({ timeoutMs: (RATES.length * (STEP_S + 40) + 60) * 1000, recvTimeoutMs: 5000 });
  let stopped = false;
  return {
    name: 'SIPp -sn uas',
    port: uas.port,
    pid: uas.pid,
    alive: () => !stopped,
    async stop() {
      stopped = true;
      await uas.stop();
    },
    describe: () => '',
  };
}

/**
 * The server runs as users run it: the compiled build (`npm run build`, done here first so the
 * bench never measures stale output). tsx's on-the-fly transform and source maps cost ~10 % CPU
 * per call; BENCH_SIP_FROM_SOURCE=1 measures that way instead.
 */
function buildOnce(): string {
  progress('building (tsc -p tsconfig.build.json) …');
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
  return 'dist/src/cli.js';
}

let built: string | undefined;

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function tcpPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

async function startCallchartTarget(workers?: string, tcp = false): Promise<Target> {
  const port = await freeUdpPort();
  const out = new Tail(16 * 1024);
  const entry = FROM_SOURCE ? ['--import', 'tsx', 'src/cli.ts'] : [(built ??= buildOnce())];
  // SIPp calls from one address: lift the per-source INVITE rate (default 200/s) above the ladder,
  // leaving the buckets on (their cost is part of what is measured), and the pending-INVITE cap
  // (default 1000, half per source): a pause of ~0.5 s at 1000 cps fills one source's 500 slots
  // and the flood guard's 503s would fail the step, however fast the engine catches up.
  const args = ['serve', '--host', '127.0.0.1', '--sip-port', String(port), '--ws-port', '0', '--log-level', 'warn', '--rtp-ports', '30000-39999', '--sip-invite-rate', '100000', '--sip-max-pending', '100000'];
  if (workers) args.push('--sip-workers', workers);
  // TCP on the same port number as UDP (separate port spaces).
  if (tcp) args.push('--sip-tcp-port', String(port));
  const child: ChildProcess = track(spawn(process.execPath, [...entry, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => out.push(d));
  try {
    await waitUntil(() => udpPortBound(port) || exited(child), 20_000, `callchart to bind SIP UDP ${port}`);
  } catch (e) {
    await terminate(child, 'SIGKILL');
    throw new Error(`${String(e)}\n${out.toString()}`);
  }
  if (exited(child)) throw new Error(`callchart exited at start-up (code ${child.exitCode})\n${out.toString()}`);
  for (let i = 0; tcp && !(await tcpPortOpen(port)); i++) {
    if (i > 100 || exited(child)) throw new Error(`callchart did not listen on tcp/${port}\n${out.toString()}`);
    await sleep(100);
  }
  return {
    name: workers ? `callchart --sip-workers ${workers}` : tcp ? 'callchart (TCP)' : 'callchart',
    port,
    tcp,
    pid: child.pid!,
    alive: () => !exited(child),
    stop: () => terminate(child, 'SIGTERM', 5000),
    describe: () => out.toString().slice(-1500),
  };
}

async function runStep(target: Target, rate: number, seconds = STEP_S): Promise<Step> {
  const calls = rate * seconds;
  const r = await runSipp({
    scenario: scenarioPath('uac-bench'),
    remote: `127.0.0.1:${target.port}`,
    calls,
    rate,
    recvTimeoutMs: 5000,
    timeoutMs: (seconds + 30) * 1000,
    traceRtt: true,
    // Let SIPp read and schedule more per loop at high rates.
    extraArgs: ['-max_recv_loops', '10000', '-max_sched_loops', '10000', ...(target.tcp ? ['-t', 't1'] : [])],
  });
  const s = r.stats;
  const problems: string[] = [];
  if (r.exitCode !== 0) problems.push(`exit ${r.exitCode}${r.killed ? ' (killed)' : ''}`);
  if (!s) problems.push('no stats');
  else {
    if (s.failedCalls) problems.push(`${s.failedCalls} failed`);
    if (s.retransmissions) problems.push(`${s.retransmissions} retransmissions`);
    if (s.currentCalls) problems.push(`${s.currentCalls} open`);
    if (s.successfulCalls !== calls) problems.push(`${s.successfulCalls}/${calls} ok`);
  }
  if (!target.alive()) problems.push('target died');
  return { rate, r, pass: problems.length === 0, why: problems.join(', ') || 'pass' };
}

async function ladder(target: Target): Promise<{ steps: Step[]; best: number }> {
  const steps: Step[] = [];
  let best = 0;
  for (const rate of RATES) {
    progress(`${target.name}: ${rate} cps for ${STEP_S} s …`);
    const step = await runStep(target, rate);
    steps.push(step);
    progress(`${target.name}: ${rate} cps → ${step.why}`);
    if (!step.pass) break;
    best = rate;
    await sleep(2000); // let the target drain timers (Timer J/K, dialog clean-up) between steps
  }
  return { steps, best };
}

function stepRows(name: string, steps: Step[]): Cell[][] {
  return steps.map(({ rate, r, why }) => {
    const s = r.stats;
    const rtt = r.rttMs;
    return [
      name,
      rate,
      s?.totalCallsCreated ?? '-',
      s?.successfulCalls ?? '-',
      s?.failedCalls ?? '-',
      s?.retransmissions ?? '-',
      s?.currentCalls ?? '-',
      rtt.length ? percentile(rtt, 50) : '-',
      rtt.length ? percentile(rtt, 99) : '-',
      rtt.length ? Math.max(...rtt) : '-',
      why,
    ];
  });
}

async function main(): Promise<void> {
  if (!whichBinary('sipp')) {
    process.stdout.write('\n(skipped: sipp is not installed — apt-get install sip-tester)\n');
    progress('sip: sipp not found on PATH; nothing measured');
    return;
  }
  process.stdout.write(
    `\nSIPp uac-bench.xml (INVITE/200/ACK/BYE, zero hold time) over UDP (TCP for "callchart (TCP)") on 127.0.0.1; ${STEP_S} s per step; ` +
      `rates ${RATES.join(', ')} cps${WARMUP_S > 0 ? ` after a ${WARMUP_S} s warm-up at ${RATES[0]} cps` : ''}; ` +
      `a step passes with exit 0, 0 failed, 0 retransmissions, 0 calls open.\n`,
  );
  const summary: Cell[][] = [];
  const allRows: Cell[][] = [];
  for (const t of TARGETS) {
    if (!KNOWN_TARGETS.includes(t)) {
      progress(`unknown target ${t} (known: ${KNOWN_TARGETS.join(', ')})`);
      continue;
    }
    const isCallchart = t !== 'sipp';
    let target: Target | undefined;
    try {
      target = t === 'sipp' ? await startSippTarget() : await startCallchartTarget(t === 'callchart-workers' ? WORKERS : undefined, t === 'callchart-tcp');
      progress(`${target.name} listening on ${target.tcp ? 'tcp' : 'udp'}/${target.port} (pid ${target.pid})`);
      await sleep(1000);
      const rssBefore = isCallchart ? vmRssKiB(target.pid) : undefined;
      if (WARMUP_S > 0) {
        // A server that has just started is not what a long-running one is: JIT, empty pools.
        progress(`${target.name}: warm-up, ${RATES[0]} cps for ${WARMUP_S} s (not reported) …`);
        await runStep(target, RATES[0]!, WARMUP_S);
        await sleep(2000);
      }
      const { steps, best } = await ladder(target);
      await sleep(3000);
      const rssAfter = isCallchart ? vmRssKiB(target.pid) : undefined;
      let rssSettled: number | undefined;
      if (isCallchart && target.alive()) {
        // Finished transactions linger 64*T1 (32 s) absorbing retransmissions: what is still held
        // after that is what the calls left behind.
        progress(`${target.name}: waiting 35 s for Timer J/L lingering to expire before reading RSS again …`);
        await sleep(35_000);
        rssSettled = vmRssKiB(target.pid);
      }
      allRows.push(...stepRows(target.name, steps));
      const failed = steps.find((s) => !s.pass);
      if (failed && !target.alive()) progress(`${target.name} output:\n${target.describe()}`);
      summary.push([
        target.name,
        best || 'none',
        failed ? `${failed.rate} (${failed.why})` : 'none (top of ladder)',
        rssBefore !== undefined ? (rssBefore / 1024).toFixed(1) : '-',
        rssAfter !== undefined ? (rssAfter / 1024).toFixed(1) : '-',
        rssSettled !== undefined ? (rssSettled / 1024).toFixed(1) : '-',
      ]);
    } catch (e) {
      progress(`${t}: ${e instanceof Error ? e.message : String(e)}`);
      summary.push([t, 'error', e instanceof Error ? e.message.split('\n')[0]! : String(e), '-', '-', '-']);
    } finally {
      await target?.stop();
    }
  }
  printTable(
    'SIP call-rate ladder: per step (INVITE→200 response time in ms, SIPp clock resolution 1 ms)',
    ['target', 'cps', 'calls', 'ok', 'failed', 'retrans', 'open', 'p50', 'p99', 'max', 'result'],
    allRows,
  );
  printTable('SIP call-rate ladder: summary', ['target', 'highest passing cps', 'first failing step', 'RSS before (MiB)', 'RSS after (MiB)', 'RSS +35 s (MiB)'], summary);
}

main().catch((e) => {
  process.stderr.write(`bench sip failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
