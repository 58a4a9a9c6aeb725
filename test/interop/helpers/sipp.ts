// Run SIPp (v3.6.x) as a test peer: one foreground run per call to runSipp(), with statistics read
// from the CSV SIPp writes (-trace_stat -stf), unexpected messages from -trace_err, and per-call
// response times from -trace_rtt. startSippUas() keeps a SIPp UAS running in the background for tests
// where callchart is the caller.
//
// Every run is bounded: SIPp gets -timeout/-timeout_error, every receive gets -recv_timeout, and the
// helper SIGKILLs the process if it is still alive `timeoutMs + 5 s` after start.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOPBACK, Tail, exited, freePortBlock, freeUdpPort, requireBinary, terminate, track, udpPortBound, waitUntil } from './procs.js';

const here = path.dirname(fileURLToPath(import.meta.url));
/** test/interop/scenarios */
export const SCENARIO_DIR = path.resolve(here, '..', 'scenarios');

/** Absolute path of one of our scenarios by base name, e.g. scenarioPath('uac-cancel'). */
export function scenarioPath(name: string): string {
  const p = path.join(SCENARIO_DIR, name.endsWith('.xml') ? name : `${name}.xml`);
  if (!existsSync(p)) throw new Error(`no SIPp scenario ${p}`);
  return p;
}

export function requireSipp(): string {
  return requireBinary('sipp', 'sip-tester');
}

export interface SippOptions {
  /** A built-in scenario name (`uac`, `uas`, …, passed as -sn) or a path to an XML file (-sf). */
  scenario: string;
  /** host:port of the peer (the UAC's target; omit for a UAS). */
  remote?: string;
  /** Local SIP port (-p); a free one is picked when omitted. */
  localPort?: number;
  /** Local IP (-i), default 127.0.0.1. */
  localIp?: string;
  /** -m: stop after this many calls (default 1). */
  calls?: number;
  /** -r: calls per rate period. */
  rate?: number;
  /** -rp in ms (default SIPp's 1000). */
  ratePeriodMs?: number;
  /** -l: cap on simultaneous calls. */
  limit?: number;
  /** -lost: percentage of packets SIPp drops (sent and received) to exercise retransmissions. */
  lost?: number;
  /** -mp: RTP port for [media_port] and pcap play; a free even port pair is picked when omitted. */
  mediaPort?: number;
  /** -recv_timeout (ms) for every <recv> without its own timeout. Default 10000. */
  recvTimeoutMs?: number;
  /** Whole-run bound in ms (SIPp's -timeout, plus a hard kill 5 s later). Default 30000. */
  timeoutMs?: number;
  /** Keep the SIP messages (-trace_msg) in `messages`. */
  traceMessages?: boolean;
  /** Record every response time (-trace_rtt -rtt_freq 1) in `rttMs`. */
  traceRtt?: boolean;
  /** -set name value pairs for the scenario's [$name] variables. */
  vars?: Record<string, string | number>;
  /** Extra arguments appended as they are. */
  extraArgs?: string[];
  /** Working directory for SIPp's trace files (default: a fresh temp dir). */
  cwd?: string;
  /** Called once SIPp is spawned (e.g. to record its pid). */
  onSpawn?: (pid: number) => void;
}

export interface SippStats {
  totalCallsCreated: number;
  /** Calls still open when the stats were written: 0 at the end of a clean run. */
  currentCalls: number;
  successfulCalls: number;
  failedCalls: number;
  retransmissions: number;
  outOfCallMsgs: number;
  deadCallMsgs: number;
  failedUnexpectedMessage: number;
  failedTimeoutOnRecv: number;
  failedMaxUdpRetrans: number;
  failedRegexpDoesntMatch: number;
  failedCallRejected: number;
  autoAnswered: number;
  warnings: number;
  fatalErrors: number;
  /** ResponseTimeRepartition1_* buckets: upper bound in ms (Infinity for ">=") → count. */
  rtdRepartition: Array<{ ltMs: number; count: number }>;
  /** Every column of the last CSV line, keyed by SIPp's header (e.g. `SuccessfulCall(C)`). */
  raw: Record<string, string>;
}

export interface SippResult {
  /** SIPp's exit code: 0 all calls succeeded, 1 some failed, 97 internal exit, 99 no call processed, 255 fatal. */
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The helper had to kill SIPp. */
  killed: boolean;
  stats: SippStats | undefined;
  stdout: string;
  stderr: string;
  /** Contents of the -trace_err file (unexpected messages), '' when none. */
  errorLog: string;
  /** Contents of the -trace_msg file when traceMessages. */
  messages: string;
  /** Response times (ms, SIPp's clock has 1 ms resolution) when traceRtt, in order. */
  rttMs: number[];
  localPort: number;
  mediaPort: number;
  cwd: string;
  durationMs: number;
  /** The command line, for failure messages. */
  command: string;
}

const num = (raw: Record<string, string>, key: string) => {
  const v = raw[key];
  const n = v === undefined ? NaN : Number(v);
  return Number.isFinite(n) ? n : 0;
};

/** Parse SIPp's -trace_stat CSV (';'-separated, one header line) and return its last line. */
export function parseSippStats(csv: string): SippStats | undefined {
  const lines = csv.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines.length < 2) return undefined;
  const header = lines[0]!.split(';');
  const values = lines[lines.length - 1]!.split(';');
  const raw: Record<string, string> = {};
  header.forEach((h, i) => {
    if (h) raw[h] = (values[i] ?? '').trim();
  });
  const rtdRepartition: SippStats['rtdRepartition'] = [];
  for (const h of header) {
    const m = /^ResponseTimeRepartition1_(<|>=)(\d+)$/.exec(h);
    if (m) rtdRepartition.push({ ltMs: m[1] === '<' ? Number(m[2]) : Infinity, count: num(raw, h) });
  }
  return {
    totalCallsCreated: num(raw, 'TotalCallCreated'),
    currentCalls: num(raw, 'CurrentCall'),
    successfulCalls: num(raw, 'SuccessfulCall(C)'),
    failedCalls: num(raw, 'FailedCall(C)'),
    retransmissions: num(raw, 'Retransmissions(C)'),
    outOfCallMsgs: num(raw, 'OutOfCallMsgs(C)'),
    deadCallMsgs: num(raw, 'DeadCallMsgs(C)'),
    failedUnexpectedMessage: num(raw, 'FailedUnexpectedMessage(C)'),
    failedTimeoutOnRecv: num(raw, 'FailedTimeoutOnRecv(C)'),
    failedMaxUdpRetrans: num(raw, 'FailedMaxUDPRetrans(C)'),
    failedRegexpDoesntMatch: num(raw, 'FailedRegexpDoesntMatch(C)'),
    failedCallRejected: num(raw, 'FailedCallRejected(C)'),
    autoAnswered: num(raw, 'AutoAnswered(C)'),
    warnings: num(raw, 'Warnings(C)'),
    fatalErrors: num(raw, 'FatalErrors(C)'),
    rtdRepartition,
    raw,
  };
}

/** Response times from SIPp's -trace_rtt file (`Date_ms;response_time_ms;rtd_no`). */
export function parseRttFile(text: string): number[] {
  const out: number[] = [];
  for (const line of text.split(/\r?\n/)) {
    const [, rt] = line.split(';');
    if (rt === undefined) continue;
    const n = Number(rt);
    if (Number.isFinite(n) && !/[a-z]/i.test(rt)) out.push(n);
  }
  return out;
}

function readIf(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

function scenarioArgs(scenario: string): string[] {
  return scenario.endsWith('.xml') || scenario.includes('/') ? ['-sf', scenario] : ['-sn', scenario];
}

interface Prepared {
  args: string[];
  cwd: string;
  localPort: number;
  mediaPort: number;
  files: { stats: string; errors: string; messages: string; screen: string };
}

async function prepare(opts: SippOptions, statFreqS: number): Promise<Prepared> {
  const cwd = opts.cwd ?? mkdtempSync(path.join(tmpdir(), 'callchart-sipp-'));
  const mediaPort = opts.mediaPort ?? (await freePortBlock(4, { even: true }));
  // Both ports were only "free a moment ago": never let the SIP port land in SIPp's media block
  // (it binds media port .. media port + 3 for audio and video).
  let localPort = opts.localPort ?? (await freeUdpPort());
  while (opts.localPort === undefined && localPort >= mediaPort && localPort < mediaPort + 4) localPort = await freeUdpPort();
  const timeoutS = Math.max(1, Math.ceil((opts.timeoutMs ?? 30_000) / 1000));
  const files = {
    stats: path.join(cwd, 'stats.csv'),
    errors: path.join(cwd, 'errors.log'),
    messages: path.join(cwd, 'messages.log'),
    screen: path.join(cwd, 'screen.log'),
  };
  const args = [
    ...scenarioArgs(opts.scenario),
    ...(opts.remote ? [opts.remote] : []),
    '-i', opts.localIp ?? LOOPBACK,
    '-p', String(localPort),
    '-mi', opts.localIp ?? LOOPBACK,
    '-mp', String(mediaPort),
    '-m', String(opts.calls ?? 1),
    '-nostdin',
    '-timeout', `${timeoutS}s`,
    '-timeout_error',
    '-recv_timeout', String(opts.recvTimeoutMs ?? 10_000),
    '-trace_stat', '-stf', files.stats, '-fd', String(statFreqS),
    '-trace_err', '-error_file', files.errors,
    '-trace_screen', '-screen_file', files.screen,
  ];
  if (opts.rate !== undefined) args.push('-r', String(opts.rate));
  if (opts.ratePeriodMs !== undefined) args.push('-rp', `${opts.ratePeriodMs}ms`);
  if (opts.limit !== undefined) args.push('-l', String(opts.limit));
  if (opts.lost !== undefined) args.push('-lost', String(opts.lost));
  if (opts.traceMessages) args.push('-trace_msg', '-message_file', files.messages);
  if (opts.traceRtt) args.push('-trace_rtt', '-rtt_freq', '1');
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-set', k, String(v));
  args.push(...(opts.extraArgs ?? []));
  return { args, cwd, localPort, mediaPort, files };
}

function collect(p: Prepared, opts: SippOptions, out: Tail, err: Tail, exit: { code: number | null; signal: NodeJS.Signals | null; killed: boolean }, t0: number, bin: string): SippResult {
  let rttMs: number[] = [];
  if (opts.traceRtt) {
    for (const f of readdirSync(p.cwd)) if (f.endsWith('_rtt.csv')) rttMs = rttMs.concat(parseRttFile(readIf(path.join(p.cwd, f))));
  }
  return {
    exitCode: exit.code,
    signal: exit.signal,
    killed: exit.killed,
    stats: parseSippStats(readIf(p.files.stats)),
    stdout: out.toString(),
    stderr: err.toString(),
    errorLog: readIf(p.files.errors),
    messages: readIf(p.files.messages),
    rttMs,
    localPort: p.localPort,
    mediaPort: p.mediaPort,
    cwd: p.cwd,
    durationMs: Date.now() - t0,
    command: [bin, ...p.args].join(' '),
  };
}

/** Run SIPp in the foreground until it exits (or the bound expires) and collect its results. */
/**
 * When SIPp last put a request of `method` on the wire, as epoch ms, read off a -trace_msg log
 * (`traceMessages`). SIPp stamps each message with its local wall-clock time; copies it dropped
 * itself (-lost) are logged without a message and do not count.
 */
export function lastSentAt(messages: string, method: string): number | undefined {
  let last: number | undefined;
  const re = /-{10,} (\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}\.\d{3})\d*\r?\nUDP message sent \(\d+ bytes\):\r?\n\r?\n(\S+) /g;
  for (const m of messages.matchAll(re)) {
    if (m[3] === method) last = new Date(`${m[1]}T${m[2]}`).getTime();
  }
  return last;
}

/**
 * The engine must hold no call within `withinMs` of the last BYE SIPp put on the wire (the run must
 * have `traceMessages`). `live` counts the engine's calls and dialogs, possibly asynchronously.
 */
export async function assertNoCallSoonAfterLastBye(r: SippResult, live: () => number | Promise<number>, withinMs = 5_000): Promise<void> {
  const lastBye = lastSentAt(r.messages, 'BYE');
  if (lastBye === undefined) throw new Error(`no BYE in SIPp's message trace (traceMessages?)\n${describeSipp(r)}`);
  const deadline = lastBye + withinMs;
  let n = await live();
  while (n > 0 && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 50));
    n = await live();
  }
  if (n > 0) throw new Error(`${n} call(s)/dialog(s) still held ${Date.now() - lastBye} ms after SIPp's last BYE\n${describeSipp(r)}`);
}

export async function runSipp(opts: SippOptions): Promise<SippResult> {
  const bin = requireSipp();
  const p = await prepare(opts, 1);
  const out = new Tail();
  const err = new Tail();
  const t0 = Date.now();
  const child = track(spawn(bin, p.args, { cwd: p.cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  if (child.pid) opts.onSpawn?.(child.pid);
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => err.push(d));
  const exit = { code: null as number | null, signal: null as NodeJS.Signals | null, killed: false };
  const hardMs = (opts.timeoutMs ?? 30_000) + 5000;
  await new Promise<void>((resolve) => {
    const hard = setTimeout(() => {
      exit.killed = true;
      child.kill('SIGKILL');
    }, hardMs);
    child.once('error', (e) => {
      err.push(String(e));
      clearTimeout(hard);
      resolve();
    });
    child.once('exit', (code, signal) => {
      clearTimeout(hard);
      exit.code = code;
      exit.signal = signal;
      resolve();
    });
  });
  return collect(p, opts, out, err, exit, t0, bin);
}

/** One-line summary of a run for assertion messages. */
export function describeSipp(r: SippResult): string {
  const s = r.stats;
  const stats = s
    ? `created=${s.totalCallsCreated} ok=${s.successfulCalls} failed=${s.failedCalls} current=${s.currentCalls} retrans=${s.retransmissions} ` +
      `unexpected=${s.failedUnexpectedMessage} recvTimeout=${s.failedTimeoutOnRecv} maxRetrans=${s.failedMaxUdpRetrans} ` +
      `regexp=${s.failedRegexpDoesntMatch} outOfCall=${s.outOfCallMsgs} dead=${s.deadCallMsgs}`
    : 'no stats file';
  const tail = (t: string, n: number) => t.split('\n').filter((l) => l.trim()).slice(-n).join('\n');
  return (
    `sipp exit=${r.exitCode}${r.signal ? ` signal=${r.signal}` : ''}${r.killed ? ' (killed at bound)' : ''} ${stats}\n` +
    `command: ${r.command}\n` +
    (r.errorLog ? `--- error log (tail) ---\n${tail(r.errorLog, 40)}\n` : '') +
    (r.stderr.trim() ? `--- stderr (tail) ---\n${tail(r.stderr, 20)}\n` : '')
  );
}

// ---------------------------------------------------------------------------------------------

export interface SippUasOptions extends Omit<SippOptions, 'remote' | 'calls' | 'rate' | 'scenario'> {
  /** Default: SIPp's built-in `uas`. */
  scenario?: string;
  /** -m: the UAS exits after this many calls (default: effectively unbounded). */
  calls?: number;
}

export interface SippUas {
  port: number;
  pid: number;
  /** The running UAS's stats (written every second) — undefined before the first dump. */
  stats(): SippStats | undefined;
  /** Wait until `pred(stats)` holds. */
  waitForStats(pred: (s: SippStats) => boolean, timeoutMs?: number): Promise<SippStats>;
  /** Stop SIPp (SIGUSR1 = quit after the final stats dump, then SIGKILL) and return its results. */
  stop(): Promise<SippResult>;
}

/** Start SIPp as a UAS in the background; resolves once its SIP port is bound. */
export async function startSippUas(opts: SippUasOptions = {}): Promise<SippUas> {
  const bin = requireSipp();
  const full: SippOptions = { ...opts, scenario: opts.scenario ?? 'uas', calls: opts.calls ?? 1_000_000, timeoutMs: opts.timeoutMs ?? 120_000 };
  const p = await prepare(full, 1);
  const out = new Tail();
  const err = new Tail();
  const t0 = Date.now();
  const child = track(spawn(bin, p.args, { cwd: p.cwd, stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.on('data', (d) => out.push(d));
  child.stderr!.on('data', (d) => err.push(d));
  const exit = { code: null as number | null, signal: null as NodeJS.Signals | null, killed: false };
  const done = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit.code = code;
      exit.signal = signal;
      resolve();
    });
    child.once('error', (e) => {
      err.push(String(e));
      resolve();
    });
  });
  const hard = setTimeout(() => {
    exit.killed = true;
    child.kill('SIGKILL');
  }, (full.timeoutMs ?? 120_000) + 5000);
  hard.unref();
  try {
    await waitUntil(() => udpPortBound(p.localPort) || exited(child), 10_000, `SIPp UAS to bind UDP ${p.localPort}`);
  } catch (e) {
    await terminate(child, 'SIGKILL');
    throw e;
  }
  if (exited(child)) {
    clearTimeout(hard);
    const r = collect(p, full, out, err, exit, t0, bin);
    throw new Error(`SIPp UAS exited at start-up\n${describeSipp(r)}\n${r.stdout.slice(-2000)}`);
  }
  const stats = () => parseSippStats(readIf(p.files.stats));
  return {
    port: p.localPort,
    pid: child.pid!,
    stats,
    async waitForStats(pred, timeoutMs = 10_000) {
      let last: SippStats | undefined;
      await waitUntil(() => {
        last = stats();
        return last !== undefined && pred(last);
      }, timeoutMs, `SIPp UAS stats condition (last: ${last ? JSON.stringify({ ok: last.successfulCalls, failed: last.failedCalls, current: last.currentCalls }) : 'none'})`);
      return last!;
    },
    async stop() {
      clearTimeout(hard);
      if (!exited(child)) {
        // SIGUSR1 makes SIPp quit like the 'q' key (stats are dumped on the way out).
        await terminate(child, "SIGUSR1", 8000);
      }
      await done;
      return collect(p, full, out, err, exit, t0, bin);
    },
  };
}
