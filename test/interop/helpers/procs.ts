// Shared plumbing for the interop helpers: locating peer binaries, picking free loopback ports,
// waiting for a peer to bind, and making sure every peer process we spawn is killed — on stop(),
// on test failure and, as a last resort, when the test process exits.
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { readFileSync } from 'node:fs';

export const LOOPBACK = '127.0.0.1';

const found = new Map<string, string | undefined>();

/** Absolute path of `name` on PATH, or undefined. */
export function whichBinary(name: string): string | undefined {
  if (!found.has(name)) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    found.set(name, r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined);
  }
  return found.get(name);
}

/**
 * The binary's path, or throw a clear error. Interop tests call this first so a missing peer is a
 * loud failure that says what to install, never a silent skip.
 */
export function requireBinary(name: string, aptPackage: string): string {
  const p = whichBinary(name);
  if (!p) {
    throw new Error(
      `interop peer '${name}' is not installed (apt-get install ${aptPackage}). ` +
        `The interop suite (npm run test:interop) needs it; CI installs it.`,
    );
  }
  return p;
}

/** A UDP port that was free on 127.0.0.1 a moment ago (the OS picked it). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, LOOPBACK, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, LOOPBACK, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether `port` on loopback can be bound for UDP right now. */
export function canBindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, LOOPBACK, () => s.close(() => resolve(true)));
  });
}

/** Whether `port` on loopback can be listened on for TCP right now. */
export function canBindTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, LOOPBACK, () => srv.close(() => resolve(true)));
  });
}

/**
 * A port p such that p .. p+span-1 are all free for UDP (and TCP when `tcp`), chosen at random in
 * [lo, hi). Peers that bind a block of ports (SIPp's media port and media port + 2, baresip's SIP
 * UDP + TCP + TLS on port + 1) need this; even start when `even`.
 */
export async function freePortBlock(span: number, opts: { lo?: number; hi?: number; tcp?: boolean; even?: boolean } = {}): Promise<number> {
  const lo = opts.lo ?? 40000;
  const hi = opts.hi ?? 59000;
  for (let attempt = 0; attempt < 200; attempt++) {
    let p = lo + Math.floor(Math.random() * (hi - lo - span));
    if (opts.even && p % 2) p++;
    let ok = true;
    for (let i = 0; i < span && ok; i++) {
      ok = (await canBindUdp(p + i)) && (!opts.tcp || (await canBindTcp(p + i)));
    }
    if (ok) return p;
  }
  throw new Error(`no free block of ${span} ports in ${lo}-${hi}`);
}

/** Whether some process has a UDP socket bound to `port` (reads /proc/net/udp; Linux only). */
export function udpPortBound(port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const local = line.trim().split(/\s+/)[1];
      if (local && local.endsWith(`:${hex}`)) return true;
    }
  }
  return false;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll `cond` every 20 ms until it holds; throw `what` after `timeoutMs`. */
export async function waitUntil(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------------------------
// Every child we spawn is tracked so a crashed or timed-out test cannot leave a peer running.

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          /* already gone */
        }
      }
    });
  }
  return child;
}

/** Has the child exited (or been killed and reaped)? */
export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Ask the child to stop with `signal`, escalate to SIGKILL after `graceMs`; resolves once it has
 * exited. Kills only this child, by its pid.
 */
export function terminate(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 3000): Promise<void> {
  if (exited(child)) return Promise.resolve();
  return new Promise((resolve) => {
    const t = setTimeout(() => {
      if (!exited(child)) child.kill('SIGKILL');
    }, graceMs);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill(signal);
  });
}

/** Keep the last `max` characters of a stream (peers print a lot: SIPp redraws its screen). */
export class Tail {
  private text = '';
  constructor(private readonly max = 64 * 1024) {}
  push(chunk: Buffer | string): void {
    this.text += chunk.toString();
    if (this.text.length > this.max * 2) this.text = this.text.slice(-this.max);
  }
  toString(): string {
    return this.text.length > this.max ? this.text.slice(-this.max) : this.text;
  }
}
