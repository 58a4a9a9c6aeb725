// The cluster's shared state in Redis: node records (membership), per-key leases, fenced data.
//
// Layout (every key under `prefix`, default `callchart:`):
//   node:<id>   a node's record (JSON, see ClusterNodeRecord), SET with PX = ttlMs; a node that stops
//               heartbeating disappears by itself
//   nodes       a set of node ids, so the records can be listed without SCAN; ids whose record has
//               expired are removed by whoever lists them
//   lease:<key> "<node> <token>", PX ttl: which node holds a keyed object (a room), renewed with
//               the holder's heartbeat, deleted on release; expires when the holder dies
//   fence:<key> the key's fencing-token counter (INCR per new holder)
//   <name>      data a lease holder writes with fencedSet (the playback space's state, a room's
//               saved state): written only while the writer's lease still reads "<node> <token>"
//
// The client is built to fail fast while Redis is unreachable (no offline queue, one retry, a
// command timeout): a call never waits on Redis, and the membership statechart sees the failure
// and reports the node degraded. ioredis keeps reconnecting in the background.
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { ClusterNodeStatus } from '../../machines/clusterMember.machine.js';

/** One node as registered in Redis. */
export interface ClusterNodeRecord {
  id: string;
  /** `host:port` peers and Kamailio send SIP to (UDP); absent when SIP is off. */
  sip?: string;
  /** `host:port` of the WebSocket/HTTP listener; absent when there is none. */
  ws?: string;
  status: ClusterNodeStatus;
  liveCalls: number;
  /** ms since the epoch, when the record was written. */
  updatedAt: number;
  startedAt: number;
  /** A random key peers put in the address of a room leg to this node (src/cluster/room-cascade.ts). */
  joinKey?: string;
}

export interface ClusterStoreOptions {
  /** `redis://[:password@]host:port[/db]` or ioredis options. */
  redis: string | RedisOptions;
  /** Key prefix (default `callchart:`); clusters sharing a Redis use distinct prefixes. */
  prefix?: string;
  logger: Logger;
  /** Redis command timeout, ms (default 1000). */
  commandTimeoutMs?: number;
}

const DEFAULT_PREFIX = 'callchart:';

// Lease values are "<node> <token>"; node ids hold no spaces.
const ACQUIRE = `
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
local t = redis.call('INCR', KEYS[2])
local v = ARGV[1] .. ' ' .. t
redis.call('SET', KEYS[1], v, 'PX', ARGV[2])
return v`;
const RENEW = `
local n = 0
local mine = ARGV[1] .. ' '
for _, k in ipairs(KEYS) do
  local cur = redis.call('GET', k)
  if cur and string.sub(cur, 1, #mine) == mine then
    redis.call('PEXPIRE', k, ARGV[2])
    n = n + 1
  end
end
return n`;
const FENCED_SET = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[2])
return 1`;
const FENCED_DEL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
return 1`;
const RELEASE = `
local cur = redis.call('GET', KEYS[1])
local mine = ARGV[1] .. ' '
if cur and string.sub(cur, 1, #mine) == mine then redis.call('DEL', KEYS[1]) end
return 0`;

export class ClusterStore {
  readonly redis: Redis;
  readonly prefix: string;
  private readonly log: Logger;
  private lastError: string | undefined;
  private closed = false;

  constructor(opts: ClusterStoreOptions) {
    this.prefix = opts.prefix ?? DEFAULT_PREFIX;
    this.log = opts.logger.child({ component: 'cluster-store' });
    const common: RedisOptions = {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: opts.commandTimeoutMs ?? 1000,
      connectTimeout: 2000,
      // Reconnect forever, at most every 2 s: Redis coming back must be noticed without a restart.
      retryStrategy: (times: number) => Math.min(200 * times, 2000),
    };
    this.redis = typeof opts.redis === 'string' ? new Redis(opts.redis, common) : new Redis({ ...common, ...opts.redis });
    // Without a listener ioredis reports every failed reconnect as an unhandled 'error' event.
    this.redis.on('error', (err: Error) => {
      if (err.message === this.lastError) return;
      this.lastError = err.message;
      this.log.warn({ err: err.message }, 'redis error');
    });
    this.redis.on('ready', () => {
      this.lastError = undefined;
    });
  }

  key(...parts: string[]): string {
    return this.prefix + parts.join(':');
  }

  /** Connect if not connected yet (the client then reconnects by itself). */
  async ensureConnected(): Promise<void> {
    // Closed for good: a late release (a room ending after the node left) must not reconnect.
    if (this.closed) throw new Error('cluster store closed');
    const s = this.redis.status;
    if (s === 'wait' || s === 'end') await this.redis.connect();
    else if (s !== 'ready') throw new Error(`redis not ready (${s})`);
  }

  /** Write a node's record with a TTL and list its id. */
  async putNode(rec: ClusterNodeRecord, ttlMs: number): Promise<void> {
    await this.ensureConnected();
    await this.redis.multi().set(this.key('node', rec.id), JSON.stringify(rec), 'PX', ttlMs).sadd(this.key('nodes'), rec.id).exec();
  }

  async removeNode(id: string): Promise<void> {
    await this.ensureConnected();
    await this.redis.multi().del(this.key('node', id)).srem(this.key('nodes'), id).exec();
  }

  /** Every registered node whose record has not expired, sorted by id. */
  async nodes(): Promise<ClusterNodeRecord[]> {
    await this.ensureConnected();
    const ids = await this.redis.smembers(this.key('nodes'));
    if (!ids.length) return [];
    const raw = await this.redis.mget(ids.map((id) => this.key('node', id)));
    const out: ClusterNodeRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const r = raw[i];
      if (r == null) return void gone.push(id);
      try {
        out.push(JSON.parse(r) as ClusterNodeRecord);
      } catch {
        gone.push(id);
      }
    });
    if (gone.length) await this.redis.srem(this.key('nodes'), ...gone);
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Get-or-create the lease `lease:<key>` for `node`: when free, a fencing token is taken from
   * `fence:<key>` (INCR, so every new holder gets a larger one) and the lease is set with PX ttl.
   * Answers the holder, whoever it is (one atomic script: two nodes cannot both win).
   */
  async acquireLease(key: string, node: string, ttlMs: number): Promise<{ node: string; token: number }> {
    await this.ensureConnected();
    const v = (await this.redis.eval(ACQUIRE, 2, this.key('lease', key), this.key('fence', key), node, String(ttlMs))) as string;
    const i = v.lastIndexOf(' ');
    return { node: v.slice(0, i), token: Number(v.slice(i + 1)) };
  }

  /** Extend every lease of `keys` that `node` still holds; answers how many it held. */
  async renewLeases(keys: readonly string[], node: string, ttlMs: number): Promise<number> {
    if (!keys.length) return 0;
    await this.ensureConnected();
    return (await this.redis.eval(RENEW, keys.length, ...keys.map((k) => this.key('lease', k)), node, String(ttlMs))) as number;
  }

  /** Who holds `lease:<key>` now (undefined: nobody). */
  async leaseHolder(key: string): Promise<{ node: string; token: number } | undefined> {
    await this.ensureConnected();
    const v = await this.redis.get(this.key('lease', key));
    if (v == null) return undefined;
    const i = v.lastIndexOf(' ');
    return { node: v.slice(0, i), token: Number(v.slice(i + 1)) };
  }

  /**
   * SET `<prefix><dataKey>` to `value` only if `lease:<leaseKey>` is still `<node> <token>`: a
   * holder that lost its lease (paused, partitioned) cannot overwrite its successor's writes.
   * Answers false when fenced off.
   */
  async fencedSet(leaseKey: string, holder: { node: string; token: number }, dataKey: string, value: string): Promise<boolean> {
    await this.ensureConnected();
    const n = (await this.redis.eval(FENCED_SET, 2, this.key('lease', leaseKey), this.prefix + dataKey, `${holder.node} ${holder.token}`, value)) as number;
    return n === 1;
  }

  /** Delete `dataKey` only while `holder` still holds `leaseKey`. */
  async fencedDel(leaseKey: string, holder: { node: string; token: number }, dataKey: string): Promise<boolean> {
    await this.ensureConnected();
    const n = (await this.redis.eval(FENCED_DEL, 2, this.key('lease', leaseKey), this.prefix + dataKey, `${holder.node} ${holder.token}`)) as number;
    return n === 1;
  }

  /** Release `key` if `node` holds it. */
  async releaseLease(key: string, node: string): Promise<void> {
    await this.ensureConnected();
    await this.redis.eval(RELEASE, 1, this.key('lease', key), node);
  }

  /** One node's record (undefined when it has expired or never was). */
  async node(id: string): Promise<ClusterNodeRecord | undefined> {
    await this.ensureConnected();
    const raw = await this.redis.get(this.key('node', id));
    return raw ? (JSON.parse(raw) as ClusterNodeRecord) : undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.redis.status === 'end' || this.redis.status === 'wait') {
      this.redis.disconnect();
      return;
    }
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }
}
