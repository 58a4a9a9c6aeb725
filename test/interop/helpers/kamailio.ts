// Kamailio (deploy/kamailio/kamailio.cfg) and redis-server as interop peers: each started on
// loopback with its own ports and temp dir, tracked so a failed test cannot leave one running.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOOPBACK, Tail, exited, requireBinary, sleep, terminate, track, udpPortBound, waitUntil } from './procs.js';

export const KAMAILIO_CFG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'deploy', 'kamailio', 'kamailio.cfg');

export class RedisPeer {
  readonly out = new Tail();
  proc: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://${LOOPBACK}:${this.port}`;
  }

  /** Start (again, after stop/kill) on the same port; resolves once it answers PING. */
  async start(): Promise<void> {
    const bin = requireBinary('redis-server', 'redis-server');
    const p = track(spawn(bin, ['--port', String(this.port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] }));
    p.stdout!.on('data', (d) => this.out.push(d));
    p.stderr!.on('data', (d) => this.out.push(d));
    this.proc = p;
    const cli = requireBinary('redis-cli', 'redis-tools');
    const t0 = Date.now();
    while (spawnSync(cli, ['-h', LOOPBACK, '-p', String(this.port), 'ping'], { encoding: 'utf8' }).stdout.trim() !== 'PONG') {
      if (exited(p) || Date.now() - t0 > 10_000) throw new Error(`redis-server did not start on ${this.port}\n${this.out.toString()}`);
      await sleep(50);
    }
  }

  kill(): Promise<void> {
    return this.proc ? terminate(this.proc, 'SIGKILL', 0) : Promise.resolve();
  }
}

function modulesDir(): string {
  for (const d of ['/usr/lib/x86_64-linux-gnu/kamailio/modules', '/usr/lib/aarch64-linux-gnu/kamailio/modules', '/usr/lib/kamailio/modules']) {
    if (existsSync(path.join(d, 'dispatcher.so'))) return `${d}/`;
  }
  throw new Error('kamailio dispatcher.so not found (apt-get install kamailio)');
}

export interface KamailioOptions {
  port: number;
  /** The dispatcher list file. */
  list: string;
  /** OPTIONS probing period, seconds. */
  pingIntervalS: number;
  /** A new INVITE without a final answer from a node within this is failed over (ms). */
  inviteTimeoutMs?: number;
}

export class KamailioPeer {
  readonly out = new Tail();
  readonly dir = mkdtempSync(path.join(tmpdir(), 'callchart-kamailio-'));
  readonly ctl = path.join(this.dir, 'ctl');
  proc: ChildProcess | undefined;
  constructor(readonly o: KamailioOptions) {}

  async start(): Promise<void> {
    const bin = requireBinary('kamailio', 'kamailio');
    requireBinary('kamcmd', 'kamailio');
    const args = [
      '-f', KAMAILIO_CFG, '-DD', '-E', '-m', '64', '-M', '8',
      '-Y', this.dir, '-w', this.dir, '-P', path.join(this.dir, 'kamailio.pid'),
      '-A', `LISTEN=udp:${LOOPBACK}:${this.o.port}`,
      '-A', `DS_LIST="${this.o.list}"`,
      '-A', `CTL_SOCK="unix:${this.ctl}"`,
      '-A', `MPATH="${modulesDir()}"`,
      '-A', `PING_INTERVAL=${this.o.pingIntervalS}`,
      '-A', `INVITE_TIMEOUT_MS=${this.o.inviteTimeoutMs ?? 2000}`,
    ];
    const p = track(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    p.stdout!.on('data', (d) => this.out.push(d));
    p.stderr!.on('data', (d) => this.out.push(d));
    this.proc = p;
    try {
      await waitUntil(() => exited(p) || (udpPortBound(this.o.port) && existsSync(this.ctl)), 15_000, 'kamailio to listen');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${this.out.toString()}`);
    }
    if (exited(p)) throw new Error(`kamailio exited at start-up\n${this.out.toString()}`);
  }

  /** `kamcmd <args>` against this instance. */
  kamcmd(...args: string[]): string {
    const r = spawnSync('kamcmd', ['-s', `unix:${this.ctl}`, ...args], { encoding: 'utf8', timeout: 5000 });
    if (r.status !== 0) throw new Error(`kamcmd ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
    return r.stdout;
  }

  /** The dispatcher's destinations: URI → flags (e.g. `AP` active+probing, `IP` inactive). */
  destinations(): Map<string, string> {
    const out = new Map<string, string>();
    for (const m of this.kamcmd('dispatcher.list').matchAll(/URI: (\S+)\s+FLAGS: (\S+)/g)) out.set(m[1]!, m[2]!);
    return out;
  }

  async stop(): Promise<void> {
    if (this.proc) await terminate(this.proc, 'SIGTERM', 3000);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
