// The engine as `npm start` runs it: every WebSocket protocol on one port, plus /status and /rooms.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../src/cli.js';
import type { Engine } from '../../src/index.js';
import { TestClient } from '../helpers/ws-client.js';
import { JambonzSim, newCallSid } from '../helpers/jambonz-sim.js';
import { JambonzAudioSim, simMetadata } from '../helpers/jambonz-audio-sim.js';

let engine: Engine | undefined;
after(async () => {
  await engine?.close();
});

test('one engine serves the demo call protocol, the counter room, playback and the HTTP endpoints', async () => {
  engine = await serve({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: 0,
    rtpPorts: '34000-34099',
    logLevel: 'silent',
    maxCalls: 100,
    inspect: false,
    dataDir: mkdtempSync(join(tmpdir(), 'callchart-data-')),
  });
  const base = `127.0.0.1:${engine.wsPort}`;

  const status = await fetch(`http://${base}/status`);
  assert.equal(status.status, 200);
  assert.equal(await status.text(), 'ok');

  const a = new TestClient(`ws://${base}/rooms/demo`);
  const b = new TestClient(`ws://${base}/rooms/demo`);
  await Promise.all([a.opened(), b.opened()]);
  a.send('increment');
  assert.equal(await a.text(), 'new value: 1');
  assert.equal(await b.text(), 'new value: 1');
  const rooms = (await (await fetch(`http://${base}/rooms`)).json()) as Array<{ roomId: string; clients: number }>;
  assert.deepEqual(rooms, [{ roomId: 'demo', clients: 2 }]);

  const p = new TestClient(`ws://${base}/playback`);
  await p.opened();
  p.send({ type: 'GET_CONNECTION_ID' });
  const id = await p.json('CONNECTION_ID');
  assert.equal(typeof id.connectionId, 'string');
  assert.equal((await p.json('SESSIONS')).type, 'SESSIONS');

  const call = new TestClient(`ws://${base}/`);
  await call.opened();
  const inc = await call.json('incoming_call', 3000);
  assert.ok(inc.sessionId);
  [a, b, p, call].forEach((c) => c.close());
});

test('npm start serves the demo jambonz app: IVR on /hook (listen back to /recording), recorder on /recording', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'callchart-data-'));
  const e = await serve({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: 0,
    rtpPorts: '34100-34199',
    logLevel: 'silent',
    maxCalls: 100,
    inspect: false,
    dataDir,
  });
  try {
    const base = `127.0.0.1:${e.wsPort}`;
    const sim = await JambonzSim.connect(`ws://${base}/hook`);
    const callSid = newCallSid();
    const first = await sim.ack(sim.sessionNew(callSid));
    const gather = first.data?.[0] as { verb: string; actionHook: string } | undefined;
    assert.equal(gather?.verb, 'gather');
    // Pressing 1 records through listen, pointed back at this server's audio route.
    const branch = await sim.ack(sim.gatherDigits(callSid, gather!.actionHook, '1'));
    const listen = branch.data?.find((v) => (v as { verb: string }).verb === 'listen') as { url: string } | undefined;
    assert.equal(listen?.url, `ws://${base}/recording`);
    assert.equal((branch.data?.at(-1) as { verb: string }).verb, 'hangup');

    const audio = new JambonzAudioSim(listen!.url);
    await audio.open();
    audio.sendMetadata(simMetadata(callSid, { sampleRate: 16000, mixType: 'mono' }));
    await audio.stream(10, { intervalMs: 0 });
    await audio.close();
    const wav = join(dataDir, 'recordings', `${callSid}-1.wav`);
    for (let i = 0; i < 50 && !(existsSync(wav) && statSync(wav).size === 44 + 10 * 640); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(statSync(wav).size, 44 + 10 * 640);
    sim.callStatus(callSid, 'completed');
    sim.close();
  } finally {
    await e.close();
  }
});
