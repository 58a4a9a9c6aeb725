// Kamailio's dispatcher list from the nodes registered in Redis (deploy/kamailio/kamailio.cfg):
// one line per node with a SIP address, `<set> sip:<host:port> <flags> <priority> duid=<id>`.
// A draining node is listed inactive (flag 1): Kamailio sends it no new call, and its OPTIONS
// probing (which a draining node answers 503) keeps it out until it takes calls again.
// The file is replaced atomically and Kamailio is told to reload only when the list changed.
import { spawn } from 'node:child_process';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { ClusterNodeRecord, ClusterStore } from './store.js';

/** Kamailio dispatcher flag: destination inactive. */
const DS_INACTIVE = 1;

export interface DispatcherListOptions {
  /** Dispatcher set id (default 1, as in deploy/kamailio/kamailio.cfg). */
  setId?: number;
}

/** The dispatcher.list text for these nodes (sorted by id, so the same nodes give the same text). */
export function dispatcherList(nodes: readonly ClusterNodeRecord[], o: DispatcherListOptions = {}): string {
  const set = o.setId ?? 1;
  const lines = ['# written by `callchart cluster dispatcher-list` from the nodes registered in Redis'];
  for (const n of [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))) {
    if (!n.sip) continue;
    // Node ids are [A-Za-z0-9_.-]; the address is host:port written by the node itself.
    if (!/^[\w.:[\]-]+$/.test(n.sip)) continue;
    lines.push(`${set} sip:${n.sip} ${n.status === 'draining' ? DS_INACTIVE : 0} 0 duid=${n.id}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface DispatcherSyncOptions extends DispatcherListOptions {
  store: ClusterStore;
  /** The dispatcher list file Kamailio reads (its `list_file`). */
  out: string;
  /** Command run after the file changed, e.g. `['kamcmd', 'dispatcher.reload']`; none when absent. */
  reload?: readonly string[];
}

export interface DispatcherSyncResult {
  nodes: number;
  changed: boolean;
  text: string;
}

/** Write the list from Redis; run `reload` if its text changed. Throws when the reload fails. */
export async function syncDispatcher(o: DispatcherSyncOptions): Promise<DispatcherSyncResult> {
  const nodes = await o.store.nodes();
  const text = dispatcherList(nodes, o);
  const before = await readFile(o.out, 'utf8').catch(() => undefined);
  const changed = before !== text;
  if (changed) {
    const tmp = `${o.out}.${process.pid}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, o.out);
    if (o.reload?.length) await run(o.reload);
  }
  return { nodes: nodes.filter((n) => n.sip).length, changed, text };
}

function run(argv: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} exited ${code}: ${out.trim().slice(0, 500)}`))));
  });
}
