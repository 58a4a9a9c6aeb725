// An engine in a child process, so that a crash is observed rather than suffered: the fuzz tests,
// the process-guard test and the hostile-network probe drive it over real loopback sockets and
// read its pino JSON lines to see what it logged. By default it is `callchart serve` from source
// (`node --import tsx src/cli.ts serve`) with an ephemeral WebSocket port, a free SIP port and a
// temporary data dir; `root` runs another checkout (the probe measures fe89b32 that way).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exited, freeTcpPort, freeUdpPort, terminate, track, udpPortBound, waitUntil } from '../interop/helpers/procs.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface EngineChildOptions {
  /** Checkout whose `src/cli.ts` runs (default: FUZZ_ROOT, else this repository). */
  root?: string;
  /** Script (relative to `root`) and its arguments instead of `src/cli.ts serve …`. */
  script?: string[];
  /** Extra `serve` flags. */
  args?: string[];
  /** `--rtp-ports` (default 50000-51999). */
  rtpPorts?: string;
  /** SIP port (default: a free one; false = SIP off: `--sip-port off`, or `0` in another checkout). */
  sipPort?: number | false;
  logLevel?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra node flags (e.g. --max-old-space-size). */
  nodeArgs?: string[];
  startTimeoutMs?: number;
}

export interface LogEntry {
  level?: number;
  msg?: string;
  [k: string]: unknown;
}

/** The last lines kept from each stream (a long fuzz run logs a lot). */
const MAX_LINES = 20_000;

export class EngineChild {
  wsPort = 0;
  sipPort = 0;
  readonly lines: string[] = [];
  readonly stderrLines: string[] = [];
  /** Every stdout line ever seen that looks like a crash, kept even when `lines` is trimmed. */
  readonly alarms: string[] = [];
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private partial = '';
  private partialErr = '';

  private constructor(
    readonly proc: ChildProcess,
    readonly dataDir: string,
  ) {}

  get pid(): number {
    return this.proc.pid!;
  }

  static async start(o: EngineChildOptions = {}): Promise<EngineChild> {
    // FUZZ_ROOT runs the fuzz suite against another checkout (e.g. an export of fe89b32).
    const root = o.root ?? (o.script ? undefined : process.env.FUZZ_ROOT) ?? REPO_ROOT;
    const dataDir = mkdtempSync(path.join(tmpdir(), 'callchart-child-'));
    // A custom script binds what it binds: no SIP port is waited for unless one is given.
    const sipPort = o.sipPort === false ? 0 : (o.sipPort ?? (o.script ? 0 : await freeUdpPort()));
    // A known port rather than 0: readiness is then seen whatever the log level (GET /status).
    const wsPort = o.script ? 0 : await freeTcpPort();
    const argv = o.script ?? [
      'src/cli.ts',
      'serve',
      '--host',
      '127.0.0.1',
      '--ws-port',
      String(wsPort),
      '--sip-port',
      // Older checkouts (FUZZ_ROOT) know `0` as off; this one reads 0 as an ephemeral port.
      o.sipPort === false ? (root === REPO_ROOT ? 'off' : '0') : String(sipPort),
      '--rtp-ports',
      o.rtpPorts ?? '50000-51999',
      '--data-dir',
      dataDir,
      '--log-level',
      o.logLevel ?? 'info',
      ...(o.args ?? []),
    ];
    const proc = track(
      spawn(process.execPath, [...(o.nodeArgs ?? []), '--import', 'tsx', ...argv], {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CALLCHART_DATA_DIR: dataDir, ...o.env },
      }),
    );
    const child = new EngineChild(proc, dataDir);
    child.sipPort = sipPort;
    proc.stdout!.on('data', (d: Buffer) => child.take(d, false));
    proc.stderr!.on('data', (d: Buffer) => child.take(d, true));
    proc.once('exit', (code, signal) => (child.exit = { code, signal }));
    let answered = false;
    const poll = setInterval(() => {
      if (!wsPort || answered) return;
      fetch(`http://127.0.0.1:${wsPort}/status`, { signal: AbortSignal.timeout(500) }).then(
        (r) => void r.text().then(() => (answered = r.status === 200)),
        () => {},
      );
    }, 100);
    try {
      await waitUntil(() => (wsPort ? answered : child.wsPort > 0) || exited(proc), o.startTimeoutMs ?? 30_000, 'the engine child to listen');
      if (wsPort) child.wsPort = wsPort;
      // HTTP listens first, then SIP binds: wait for both.
      if (sipPort) await waitUntil(() => udpPortBound(sipPort) || exited(proc), 10_000, 'the engine child to bind SIP');
    } catch (err) {
      clearInterval(poll);
      await child.stop();
      throw new Error(`${(err as Error).message}\n${child.tail()}`);
    }
    clearInterval(poll);
    if (exited(proc)) throw new Error(`engine child exited at start-up (code ${proc.exitCode})\n${child.tail()}`);
    return child;
  }

  private take(d: Buffer, isErr: boolean): void {
    const text = (isErr ? this.partialErr : this.partial) + d.toString();
    const parts = text.split('\n');
    const rest = parts.pop() ?? '';
    if (isErr) this.partialErr = rest;
    else this.partial = rest;
    const into = isErr ? this.stderrLines : this.lines;
    for (const line of parts) {
      if (!line) continue;
      into.push(line);
      if (isCrashLine(line, isErr)) this.alarms.push(isErr ? `stderr: ${line}` : line);
      if (!isErr && this.wsPort === 0 && line.includes('websocket/http listening')) {
        try {
          const port = (JSON.parse(line) as { port?: number }).port;
          if (typeof port === 'number') this.wsPort = port;
        } catch {
          /* not JSON */
        }
      }
    }
    if (into.length > MAX_LINES) into.splice(0, into.length - MAX_LINES);
  }

  alive(): boolean {
    return !exited(this.proc);
  }

  /** Parsed stdout JSON lines (those still kept). */
  logs(): LogEntry[] {
    const out: LogEntry[] = [];
    for (const l of this.lines) {
      try {
        out.push(JSON.parse(l) as LogEntry);
      } catch {
        /* not a log line */
      }
    }
    return out;
  }

  /** Log entries whose msg matches. */
  find(re: RegExp): LogEntry[] {
    return this.logs().filter((e) => typeof e.msg === 'string' && re.test(e.msg));
  }

  /** Resident set size in KiB (Linux /proc), undefined once gone. */
  rssKiB(): number | undefined {
    try {
      const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) : undefined;
    } catch {
      return undefined;
    }
  }

  /** Open file descriptors (Linux /proc). */
  fdCount(): number | undefined {
    try {
      return readdirSync(`/proc/${this.pid}/fd`).length;
    } catch {
      return undefined;
    }
  }

  /** The last lines of both streams, for failure messages. */
  tail(n = 40): string {
    const cut = (l: string) => (l.length > 400 ? `${l.slice(0, 400)}…` : l);
    return [...this.lines.slice(-n).map(cut), ...this.stderrLines.slice(-n).map((l) => `stderr: ${cut(l)}`)].join('\n');
  }

  /** SIGTERM (SIGKILL after `graceMs`); resolves with the exit status. Removes the data dir. */
  async stop(graceMs = 8000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    await terminate(this.proc, 'SIGTERM', graceMs);
    const status = this.exit ?? { code: this.proc.exitCode, signal: this.proc.signalCode };
    rmSync(this.dataDir, { recursive: true, force: true });
    return status;
  }
}

/**
 * A line that says the process hit a bug it did not handle: a pino fatal, the process guard's
 * uncaught/unhandled entries, or Node's own crash output on stderr.
 */
export function isCrashLine(line: string, isErr: boolean): boolean {
  if (isErr) return /Uncaught|uncaught|unhandled|FATAL|RangeError|TypeError|ReferenceError|SyntaxError|^\s+at /.test(line);
  if (!line.startsWith('{')) return false;
  try {
    const e = JSON.parse(line) as LogEntry;
    return (typeof e.level === 'number' && e.level >= 60) || (typeof e.msg === 'string' && /uncaught|unhandled/i.test(e.msg));
  } catch {
    return false;
  }
}
