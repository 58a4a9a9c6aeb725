// Conference with real softphones: three baresips dial examples/conference.ts (every inbound call
// into room "conf"); each plays its own tone file (500, 1100, 1700 Hz) and records what it hears
// (sndfile). Each must hear the other two and never itself, measured by frequency in its own
// recording over the seconds all three were in the room. The app's log must show the three joins,
// talker events for each member and the three leaves.
// Needs `baresip` (apt-get install baresip-core). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { heardBy, withDiagnostics } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip, type Baresip } from './helpers/baresip.js';
import { eventually } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';
import { encodeWav, generateTone, toneRatio } from '../../src/media/index.js';

before(() => {
  requireBaresip();
});

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const dir = mkdtempSync(path.join(tmpdir(), 'callchart-conf-baresip-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const FREQS = [500, 1100, 1700] as const;
const NAMES = ['alice', 'bob', 'carol'] as const;

test('three baresips in one conference room: each hears the other two and not itself', { timeout: 90_000 }, async () => {
  // The app under test, as a user runs it (RTP inside this helper's fixed range 42000-42999).
  const env = { ...process.env, CALLCHART_SIP_PORT: '0', CALLCHART_WS_PORT: '0', CALLCHART_RTP_PORTS: '42600-42699' };
  const app = spawn(process.execPath, ['--import', 'tsx', 'examples/conference.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  app.stdout.on('data', (d) => (out += d));
  app.stderr.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => app.on('exit', (code) => r(code)));
  const peers: Baresip[] = [];
  try {
    await eventually(() => /"msg":"example ready"/.test(out) || app.exitCode !== null, 20_000, 'the conference app to start');
    const sipPort = Number(/"sipPort":(\d+)/.exec(out)?.[1]);
    assert.ok(sipPort > 0, out);
    for (let i = 0; i < 3; i++) {
      const file = path.join(dir, `${NAMES[i]}.wav`);
      writeFileSync(file, encodeWav(generateTone([FREQS[i]!], 30_000, { amplitude: 8000 })));
      peers.push(await startBaresip({ user: NAMES[i], playFile: file, recordTo: path.join(dir, NAMES[i]!), timeoutMs: 80_000 }));
    }
    for (const p of peers) {
      const dialed = await p.dial(`sip:conf@127.0.0.1:${sipPort}`);
      assert.ok(dialed.ok, dialed.data);
    }
    for (const p of peers) await p.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, `${p.aor} CALL_ESTABLISHED`);
    await eventually(() => (out.match(/"msg":"example: joined"/g) ?? []).length === 3, 10_000, 'three members joined room conf');
    await sleep(3500); // all three in the room
    await Promise.all(peers.map((p) => p.hangup()));
    for (const p of peers) await p.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, `${p.aor} CALL_CLOSED`);
    await eventually(() => (out.match(/"msg":"example: left"/g) ?? []).length === 3, 10_000, 'three members left room conf');

    for (let i = 0; i < 3; i++) {
      const all = await heardBy(peers[i]!);
      // The last seconds before the hang-ups, when all three were in the room (not the joins).
      const heard = all.subarray(Math.max(0, all.length - 8000 * 2.5), all.length - 8000 * 0.5);
      const r = FREQS.map((hz) => toneRatio(heard, 8000, hz));
      const shares = FREQS.map((hz, j) => `${hz} Hz ${r[j]!.toFixed(3)}`).join(', ');
      for (let j = 0; j < 3; j++) {
        if (j === i) assert.ok(r[j]! < 0.02, `${NAMES[i]} must not hear its own ${FREQS[j]} Hz (${shares})`);
        else assert.ok(r[j]! > 0.2, `${NAMES[i]} should hear ${NAMES[j]}'s ${FREQS[j]} Hz (${shares})`);
      }
    }
    // Talker detection saw each caller speak (a loud tone).
    const talkers = new Set([...out.matchAll(/"member":(\d+),"talking":true/g)].map((m) => m[1]));
    assert.equal(talkers.size, 3, `talker events for three members: ${[...talkers].join(',')}`);
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- conference app log (tail) ---\n${out.slice(-2000)}`;
    withDiagnostics(err, peers);
  } finally {
    app.kill('SIGTERM');
    await exited;
    for (const p of peers) await p.stop();
  }
});
