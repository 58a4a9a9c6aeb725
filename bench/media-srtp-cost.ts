// What SRTP adds to an echo call, as CPU per packet rather than a ladder: on a shared box the
// ladder's pass line moves with the neighbours, CPU time per packet much less. One server child
// per kind (bench/media.ts's server and load roles, unchanged), kept warm, and rounds alternating
// plain / SRTP at the same call count; medians of the rounds.
//
//   flock /tmp/callchart-bench.lock npx tsx bench/media-srtp-cost.ts
//   (MEDIA_SRTP_COST_CALLS=200, MEDIA_SRTP_COST_ROUNDS=4, MEDIA_SRTP_COST_MS=3000,
//   MEDIA_SRTP_COST_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/p' for the servers,
//   MEDIA_SRTP_COST_BASE=<baseline checkout> to add its SRTP server to the same rounds)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { printTable, progress, median } from './table.js';
import { forkRpc, type RpcChild } from './lib/rpc.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const media = path.join(root, 'bench', 'media.ts');
const CALLS = Number(process.env.MEDIA_SRTP_COST_CALLS ?? 200);
const ROUNDS = Number(process.env.MEDIA_SRTP_COST_ROUNDS ?? 4);
const MS = Number(process.env.MEDIA_SRTP_COST_MS ?? 3000);
const WARMUP_MS = 500;
/** Extra node flags for the server children, for diagnosis (e.g. --cpu-prof, --trace-deopt). */
const SERVER_NODE_ARGS = (process.env.MEDIA_SRTP_COST_NODE_ARGS ?? '').split(' ').filter(Boolean);
type Kind = 'callchart' | 'callchart-srtp';
/** A server under test: bench/media.ts's server role of this tree, or of a baseline tree (A/B). */
interface Server {
  label: string;
  kind: Kind;
  module: string;
}
// MEDIA_SRTP_COST_BASE=<another checkout, e.g. `git archive` of main>: its SRTP server joins the
// rounds, so a change is measured against its baseline in the same run.
const BASE = process.env.MEDIA_SRTP_COST_BASE;
const SERVERS: Server[] = [
  { label: 'plain RTP', kind: 'callchart', module: media },
  { label: 'SRTP', kind: 'callchart-srtp', module: media },
  ...(BASE ? [{ label: 'SRTP (baseline tree)', kind: 'callchart-srtp' as const, module: path.join(path.resolve(BASE), 'bench', 'media.ts') }] : []),
];

interface Cpu {
  cpu: NodeJS.CpuUsage;
  at: number;
}
interface Round {
  /** Server CPU µs per echoed packet (user, system). */
  user: number;
  sys: number;
  /** Load side CPU % (it protects and verifies too for SRTP). */
  loadCpu: number;
  loss: number;
}

async function round(server: RpcChild, load: RpcChild, kind: Kind): Promise<Round> {
  const { ports } = await server.call<{ ports: number[] }>('setup', { n: CALLS }, 120_000);
  const running = load.call<{ sent: number; received: number; loadCpu: number }>('run', { ports, durationMs: MS, warmupMs: WARMUP_MS, srtp: kind === 'callchart-srtp' }, MS + 60_000);
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const c0 = await server.call<Cpu>('cpu');
  const r = await running;
  const c1 = await server.call<Cpu>('cpu');
  await server.call('teardown', undefined, 60_000);
  // The window runs to the load's end plus its drain: packets echoed in it ≈ the load's counted ones.
  const packets = Math.max(1, r.received);
  return {
    user: (c1.cpu.user - c0.cpu.user) / packets,
    sys: (c1.cpu.system - c0.cpu.system) / packets,
    loadCpu: r.loadCpu,
    loss: r.sent ? 1 - r.received / r.sent : 1,
  };
}


const load = forkRpc(media, ['--role=load'], { cwd: root });
const children = SERVERS.map((s) => forkRpc(s.module, ['--role=server', `--kind=${s.kind}`], { cwd: root, nodeArgs: SERVER_NODE_ARGS }));
try {
  await Promise.all([load.ready, ...children.map((c) => c.ready)]);
  const rounds = SERVERS.map((): Round[] => []);
  for (let i = 0; i < ROUNDS; i++) {
    // Rotate which server goes first, so a neighbour's burst does not always hit the same one.
    for (let j = 0; j < SERVERS.length; j++) {
      const k = (i + j) % SERVERS.length;
      const s = SERVERS[k]!;
      const r = await round(children[k]!, load, s.kind);
      rounds[k]!.push(r);
      progress(`${s.label} round ${i + 1}: server ${(r.user + r.sys).toFixed(1)} µs/packet (user ${r.user.toFixed(1)}, sys ${r.sys.toFixed(1)}), load CPU ${r.loadCpu.toFixed(0)} %, loss ${(r.loss * 100).toFixed(3)} %`);
    }
  }
  const row = (k: number) => {
    const rs = rounds[k]!;
    return [SERVERS[k]!.label, CALLS, median(rs.map((r) => r.user + r.sys)).toFixed(1), median(rs.map((r) => r.user)).toFixed(1), median(rs.map((r) => r.sys)).toFixed(1), median(rs.map((r) => r.loadCpu)).toFixed(0), (median(rs.map((r) => r.loss)) * 100).toFixed(3)];
  };
  printTable(
    `Echo server CPU per echoed packet (receive + send), plain RTP vs SRTP AES_CM_128_HMAC_SHA1_80, ${CALLS} calls, median of ${ROUNDS} interleaved ${MS / 1000} s rounds`,
    ['server', 'calls', 'µs/packet', 'user µs', 'sys µs', 'load CPU %', 'loss %'],
    SERVERS.map((_, k) => row(k)),
  );
} finally {
  await Promise.all([load.stop(), ...children.map((c) => c.stop())]);
}
