// The cluster's CLI surface (src/cli.ts stays the one entry point): `serve --cluster …` flags and
// `callchart cluster dispatcher-list`.
import { parseArgs } from 'node:util';
import { argsError, UsageError } from '../cli-args.js';
import { silentLogger } from '../logger.js';
import type { ClusterOptions } from './member.js';
import { ClusterStore } from './store.js';
import { dispatcherList, syncDispatcher } from './dispatcher-sync.js';

/** `serve`'s cluster flags, parsed. */
export type ServeClusterConfig = Pick<ClusterOptions, 'nodeId' | 'advertiseHost' | 'prefix'> & { redis: string };

function int(name: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

const REDIS_URL = /^rediss?:\/\/[^\s/]+(\/\d+)?$/;

export function parseCluster(v: Record<string, string | boolean | string[] | undefined>, env: NodeJS.ProcessEnv): ServeClusterConfig | undefined {
  const str = (flag: string, envName: string) => (v[flag] as string | undefined) ?? (env[envName] || undefined);
  const redis = str('cluster', 'CALLCHART_CLUSTER');
  const nodeId = str('node-id', 'CALLCHART_NODE_ID');
  const advertiseHost = str('advertise-host', 'CALLCHART_ADVERTISE_HOST');
  const prefix = str('cluster-prefix', 'CALLCHART_CLUSTER_PREFIX');
  if (redis === undefined) {
    if (v['node-id'] !== undefined || v['advertise-host'] !== undefined || v['cluster-prefix'] !== undefined) {
      throw new UsageError('--node-id, --advertise-host and --cluster-prefix need --cluster <redis-url>');
    }
    return undefined;
  }
  if (!REDIS_URL.test(redis)) throw new UsageError(`--cluster takes redis://[:password@]host:port[/db], got ${JSON.stringify(redis.replace(/:[^:@/]*@/, ':…@'))}`);
  if (nodeId !== undefined && !/^[\w.-]{1,64}$/.test(nodeId)) throw new UsageError(`--node-id must be 1-64 of A-Z a-z 0-9 _ . -, got ${JSON.stringify(nodeId)}`);
  if (advertiseHost !== undefined && !/^[\w.:-]+$/.test(advertiseHost)) throw new UsageError(`--advertise-host must be a host name or address, got ${JSON.stringify(advertiseHost)}`);
  return { redis, ...(nodeId ? { nodeId } : {}), ...(advertiseHost ? { advertiseHost } : {}), ...(prefix ? { prefix } : {}) };
}

export interface DispatcherListArgs {
  redis: string;
  prefix?: string;
  out?: string;
  reload?: string[];
  setId: number;
  watchMs?: number;
}

/** `callchart cluster dispatcher-list …`. */
export function parseDispatcherListArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): DispatcherListArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        cluster: { type: 'string' },
        'cluster-prefix': { type: 'string' },
        out: { type: 'string' },
        reload: { type: 'string' },
        set: { type: 'string' },
        watch: { type: 'string' },
      },
    });
  } catch (err) {
    throw argsError(err, 'cluster dispatcher-list');
  }
  const v = parsed.values;
  const redis = v.cluster ?? (env.CALLCHART_CLUSTER || undefined);
  if (!redis) throw new UsageError('cluster dispatcher-list needs --cluster <redis-url> (or CALLCHART_CLUSTER)');
  if (!REDIS_URL.test(redis)) throw new UsageError('--cluster takes redis://[:password@]host:port[/db]');
  const prefix = v['cluster-prefix'] ?? (env.CALLCHART_CLUSTER_PREFIX || undefined);
  const reload = v.reload?.split(/\s+/).filter(Boolean);
  if (reload && !v.out) throw new UsageError('--reload needs --out <file>: Kamailio reloads the file it reads');
  const setId = int('--set', v.set, 1) ?? 1;
  const watchMs = int('--watch', v.watch, 100);
  return { redis, setId, ...(prefix ? { prefix } : {}), ...(v.out ? { out: v.out } : {}), ...(reload?.length ? { reload } : {}), ...(watchMs ? { watchMs } : {}) };
}

export async function dispatcherListCommand(a: DispatcherListArgs): Promise<number> {
  const store = new ClusterStore({ redis: a.redis, prefix: a.prefix, logger: silentLogger() });
  let stop = false;
  const onSignal = () => (stop = true);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (;;) {
      try {
        if (a.out) {
          const r = await syncDispatcher({ store, out: a.out, setId: a.setId, ...(a.reload ? { reload: a.reload } : {}) });
          if (r.changed || !a.watchMs) process.stderr.write(`callchart: ${a.out}: ${r.nodes} node(s)${r.changed ? (a.reload ? ', reloaded' : ', written') : ', unchanged'}\n`);
        } else {
          process.stdout.write(dispatcherList(await store.nodes(), { setId: a.setId }));
        }
      } catch (err) {
        process.stderr.write(`callchart: dispatcher-list: ${err instanceof Error ? err.message : String(err)}\n`);
        if (!a.watchMs) return 1;
      }
      if (!a.watchMs || stop) return 0;
      await new Promise((r) => setTimeout(r, a.watchMs));
      if (stop) return 0;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await store.close();
  }
}

