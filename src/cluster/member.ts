// A node's membership of the cluster: runs machines/clusterMember.machine.ts under the supervisor
// and provides its effects (the Redis writes of src/cluster/store.ts) and delays.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisOptions } from 'ioredis';
import type { Actor } from 'xstate';
import type { Supervisor } from '../actors/supervisor.js';
import { clusterMemberMachine, type ClusterMemberMachine, type ClusterNodeStatus } from '../../machines/clusterMember.machine.js';
import { ClusterStore, type ClusterNodeRecord } from './store.js';

/** `createEngine({ cluster })`: join a callchart cluster coordinated through Redis (docs/scaling.md). */
export interface ClusterOptions {
  /** `redis://[:password@]host:port[/db]` or ioredis options. */
  redis: string | RedisOptions;
  /** This node's id, unique in the cluster (default `<hostname>-<pid>`). */
  nodeId?: string;
  /**
   * The address other machines (Kamailio, peer nodes) reach this node at. Default: the engine's
   * `host`, or 127.0.0.1 when that is a wildcard.
   */
  advertiseHost?: string;
  /**
   * The SIP port to advertise when this engine binds none itself (SIP served by worker threads
   * beside it); default: the engine's own SIP port.
   */
  sipPort?: number;
  /** Redis key prefix (default `callchart:`). */
  prefix?: string;
  /** A node's record lives this long without a heartbeat (default 5000 ms). */
  ttlMs?: number;
  /** Heartbeat period (default 1000 ms). */
  heartbeatMs?: number;
  /** Retry period while Redis is unreachable (default 1000 ms). */
  retryMs?: number;
}

export type ClusterMemberState = 'joining' | 'live' | 'degraded' | 'leaving' | 'left';

/** The `cluster` part of GET /health. */
export interface ClusterHealth {
  nodeId: string;
  /** `degraded`: Redis is unreachable; calls that need no shared state are still served. */
  state: ClusterMemberState;
}

export interface ClusterMemberOptions {
  cluster: ClusterOptions;
  supervisor: Supervisor;
  logger: Logger;
  /** The engine's bind host (for the default advertised host). */
  host: string;
  /** Bound ports, read at each write (they are known only after listen()). */
  ports: () => { sip?: number; ws?: number };
  liveCalls: () => number;
}

export function defaultNodeId(): string {
  return `${os.hostname()}-${process.pid}`;
}

export class ClusterMember {
  readonly nodeId: string;
  readonly store: ClusterStore;
  readonly advertiseHost: string;
  /** Published in this node's record: only cluster members (Redis readers) can address a room leg here. */
  readonly joinKey = randomBytes(16).toString('hex');
  private readonly ttlMs: number;
  private readonly logic: ClusterMemberMachine;
  private actor: Actor<ClusterMemberMachine> | undefined;
  private readonly startedAt = Date.now();
  private leaving: Promise<void> | undefined;
  private readonly leaseSources: Array<() => string[]> = [];
  private readonly leaveHooks: Array<() => Promise<void>> = [];

  constructor(private readonly opts: ClusterMemberOptions) {
    const c = opts.cluster;
    this.nodeId = c.nodeId ?? defaultNodeId();
    if (!/^[\w.-]{1,64}$/.test(this.nodeId)) throw new RangeError(`cluster nodeId must be 1-64 of [A-Za-z0-9_.-], got ${JSON.stringify(this.nodeId)}`);
    this.advertiseHost = c.advertiseHost ?? (opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host);
    this.ttlMs = c.ttlMs ?? 5000;
    const heartbeatMs = c.heartbeatMs ?? 1000;
    if (heartbeatMs >= this.ttlMs) throw new RangeError('cluster heartbeatMs must be shorter than ttlMs');
    const log = opts.logger.child({ component: 'cluster', nodeId: this.nodeId });
    this.store = new ClusterStore({ redis: c.redis, prefix: c.prefix, logger: opts.logger });
    // Each store operation answers the statechart with STORE.OK / STORE.FAILED.
    const answer = (self: { send(e: { type: 'STORE.OK' } | { type: 'STORE.FAILED' }): void }, op: Promise<void>) =>
      void op.then(
        () => self.send({ type: 'STORE.OK' }),
        () => self.send({ type: 'STORE.FAILED' }),
      );
    // Leases this node holds (rooms) are renewed with every write of its record: one heartbeat.
    const write = ({ self }: { self: Parameters<typeof answer>[0] }, p: { status: ClusterNodeStatus }) =>
      answer(self, this.store.putNode(this.record(p.status), this.ttlMs).then(() => this.renewLeases()));
    this.logic = clusterMemberMachine.provide({
      actions: {
        register: write,
        heartbeat: write,
        deregister: ({ self }) => answer(self, this.store.removeNode(this.nodeId)),
        announceLive: () => log.info({ ttlMs: this.ttlMs }, 'cluster: registered'),
        announceDegraded: (_, p) => log.warn({ failures: p.failures }, 'cluster: redis unreachable, degraded (calls without shared state go on)'),
        announceLeft: () => log.info('cluster: left'),
      },
      delays: { heartbeatInterval: heartbeatMs, retryDelay: c.retryMs ?? 1000 },
    });
  }

  /** Keys (e.g. `room:<id>`) whose leases this node renews with each heartbeat, asked at each beat. */
  holdLeases(keys: () => string[]): void {
    this.leaseSources.push(keys);
  }

  /** Run before the leases are released on leave (a homed object's last fenced write). */
  beforeLeave(fn: () => Promise<void>): void {
    this.leaveHooks.push(fn);
  }

  /** Lease time to live: the record's. */
  get leaseTtlMs(): number {
    return this.ttlMs;
  }

  private async renewLeases(): Promise<void> {
    const keys = this.leaseSources.flatMap((f) => f());
    if (keys.length) await this.store.renewLeases(keys, this.nodeId, this.ttlMs);
  }

  /** The record this node writes. */
  record(status: ClusterNodeStatus): ClusterNodeRecord {
    const p = this.opts.ports();
    p.sip ??= this.opts.cluster.sipPort;
    return {
      id: this.nodeId,
      ...(p.sip ? { sip: `${this.advertiseHost}:${p.sip}` } : {}),
      ...(p.ws ? { ws: `${this.advertiseHost}:${p.ws}` } : {}),
      status,
      liveCalls: this.opts.liveCalls(),
      updatedAt: Date.now(),
      startedAt: this.startedAt,
      joinKey: this.joinKey,
    };
  }

  /** Join (after the engine's listeners are bound). */
  start(): void {
    this.actor ??= this.opts.supervisor.spawn(this.logic, { kind: 'cluster', id: `cluster-${this.nodeId}` }).ref;
  }

  get state(): ClusterMemberState {
    const v = this.actor?.getSnapshot().value;
    if (v === undefined) return 'joining';
    return (typeof v === 'string' ? v : Object.keys(v)[0]) as ClusterMemberState;
  }

  health(): ClusterHealth {
    return { nodeId: this.nodeId, state: this.state };
  }

  /** Publish open / draining now. */
  setStatus(status: ClusterNodeStatus): void {
    this.actor?.send({ type: 'STATUS', status });
  }

  /** Remove this node's record (bounded wait), then close the Redis connection. */
  leave(timeoutMs = 2000): Promise<void> {
    this.leaving ??= (async () => {
      const a = this.actor;
      // Homed objects write their last state while they still hold their leases (bounded).
      if (this.leaveHooks.length) {
        const hooks = Promise.allSettled(this.leaveHooks.map((fn) => fn()));
        await Promise.race([hooks, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
      }
      // Leases first (the rooms are closing with the engine): the next connection anywhere may take them now.
      const keys = this.leaseSources.flatMap((f) => f());
      if (keys.length && this.store.redis.status === 'ready') await Promise.allSettled(keys.map((k) => this.store.releaseLease(k, this.nodeId)));
      if (a && a.getSnapshot().status === 'active') {
        const done = new Promise<void>((resolve) => {
          const sub = a.subscribe({ complete: () => resolve(), error: () => resolve() });
          const t = setTimeout(() => {
            sub.unsubscribe();
            resolve();
          }, timeoutMs);
          t.unref();
        });
        a.send({ type: 'LEAVE' });
        await done;
      }
      await this.store.close();
    })();
    return this.leaving;
  }
}
