// A conference room of calls across two cluster nodes: redis-server and two processes of
// examples/conference.ts with CALLCHART_CLUSTER set. alice and bob call node n1, carol calls n2;
// the room "conf" lives on whichever node took the lease first, and the call on the other node is
// relayed to it over a SIP leg between the nodes (src/cluster/room-cascade.ts). Each baresip plays
// its own tone and records what it hears: each must hear the other two and never itself.
// A forged room leg (wrong key) is refused with 403 and never reaches the app.
// Needs baresip and redis-server (Debian packages). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { heardBy, withDiagnostics } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip, type Baresip } from './helpers/baresip.js';
import { eventually } from './helpers/engine.js';
import { freeTcpPort, requireBinary, sleep } from './helpers/procs.js';
import { RedisPeer } from './helpers/kamailio.js';
import { createEngine, silentLogger } from '../../src/index.js';
import { encodeWav, generateTone, toneRatio } from '../../src/media/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'callchart-cluster-conf-'));
let redis: RedisPeer;

before(async () => {
  requireBaresip();
  requireBinary('redis-server', 'redis-server');
  redis = new RedisPeer(await freeTcpPort());
  await redis.start();
});
after(async () => {
  await redis?.kill();
  rmSync(dir, { recursive: true, force: true });
});

interface Node {
  proc: ChildProcess;
  out: () => string;
  sipPort: number;
  exited: Promise<number | null>;
}

async function startNode(id: string, rtp: string): Promise<Node> {
  const env = { ...process.env, CALLCHART_SIP_PORT: '0', CALLCHART_WS_PORT: '0', CALLCHART_RTP_PORTS: rtp, CALLCHART_CLUSTER: redis.url, CALLCHART_NODE_ID: id };
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/conference.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  await eventually(() => /"msg":"example ready"/.test(out) || proc.exitCode !== null, 20_000, `node ${id} to start`);
  const sipPort = Number(/"sipPort":(\d+)/.exec(out)?.[1]);
  assert.ok(sipPort > 0, out);
  return { proc, out: () => out, sipPort, exited };
}

const FREQS = [500, 1100, 1700] as const;
const NAMES = ['alice', 'bob', 'carol'] as const;

test('a room of calls across two nodes: callers on either node hear each other, a forged leg is refused', { timeout: 120_000 }, async () => {
  const nodes = [await startNode('n1', '44000-44099'), await startNode('n2', '44100-44199')];
  const peers: Baresip[] = [];
  const log = () => nodes.map((n, i) => `--- n${i + 1} (tail) ---\n${n.out().slice(-2500)}`).join('\n');
  try {
    // A leg addressed like a peer node's but with a made-up key: refused before any app sees it.
    const outsider = createEngine({ host: '127.0.0.1', sipPort: 0, wsPort: false, inboundCall: false, logger: silentLogger() });
    await outsider.listen();
    try {
      const forged = await outsider.call(`sip:ccroom-${'0'.repeat(32)}-conf@127.0.0.1:${nodes[0]!.sipPort}`);
      const end = await forged.waitForEnd();
      assert.equal(end.code, 403, `forged room leg: ${JSON.stringify(end)}`);
    } finally {
      await outsider.close();
    }
    assert.doesNotMatch(nodes[0]!.out(), /"msg":"example: joined"/, 'the forged leg reached the app');

    for (let i = 0; i < 3; i++) {
      const file = path.join(dir, `${NAMES[i]}.wav`);
      writeFileSync(file, encodeWav(generateTone([FREQS[i]!], 30_000, { amplitude: 8000 })));
      peers.push(await startBaresip({ user: NAMES[i], playFile: file, recordTo: path.join(dir, NAMES[i]!), timeoutMs: 100_000 }));
    }
    // alice first, so n1 takes the room's lease; carol's call on n2 is relayed there.
    const targets = [nodes[0]!, nodes[0]!, nodes[1]!];
    for (let i = 0; i < 3; i++) {
      const dialed = await peers[i]!.dial(`sip:conf@127.0.0.1:${targets[i]!.sipPort}`);
      assert.ok(dialed.ok, dialed.data);
      await peers[i]!.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, `${peers[i]!.aor} CALL_ESTABLISHED`);
      if (i === 0) await eventually(() => /"msg":"example: joined"/.test(nodes[0]!.out()), 10_000, 'alice in the room on n1');
    }
    await eventually(() => (nodes[0]!.out().match(/"msg":"example: joined"/g) ?? []).length === 2, 10_000, 'alice and bob joined on n1');
    await eventually(() => /"node":"n1","msg":"example: joined"|"msg":"example: joined".*"node":"n1"/.test(nodes[1]!.out()), 10_000, "carol's call on n2 joined the room on n1");
    await eventually(() => /peer leg joined the room/.test(nodes[0]!.out()), 5000, 'the relayed leg in the room on n1');
    await sleep(3500);
    await Promise.all(peers.map((p) => p.hangup()));
    for (const p of peers) await p.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, `${p.aor} CALL_CLOSED`);
    // carol's hang-up on n2 ends the relay leg too: the room on n1 is left with nobody.
    await eventually(() => /"msg":"example: left"/.test(nodes[1]!.out()), 10_000, "carol's join on n2 ended");

    for (let i = 0; i < 3; i++) {
      const all = await heardBy(peers[i]!);
      const heard = all.subarray(Math.max(0, all.length - 8000 * 2.5), all.length - 8000 * 0.5);
      const r = FREQS.map((hz) => toneRatio(heard, 8000, hz));
      const shares = FREQS.map((hz, j) => `${hz} Hz ${r[j]!.toFixed(3)}`).join(', ');
      for (let j = 0; j < 3; j++) {
        if (j === i) assert.ok(r[j]! < 0.02, `${NAMES[i]} must not hear its own ${FREQS[j]} Hz (${shares})`);
        else assert.ok(r[j]! > 0.2, `${NAMES[i]} should hear ${NAMES[j]}'s ${FREQS[j]} Hz (${shares})`);
      }
    }
  } catch (err) {
    if (err instanceof Error) err.message += `\n${log()}`;
    withDiagnostics(err, peers);
  } finally {
    for (const n of nodes) n.proc.kill('SIGTERM');
    await Promise.all(nodes.map((n) => n.exited));
    for (const p of peers) await p.stop();
  }
});
