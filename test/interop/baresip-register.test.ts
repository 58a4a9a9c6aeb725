// Two baresips register with digest auth to a callchart engine configured like `npm start` with
// users (the demo app, the registrar on), and alice calls bob through callchart: callchart connects
// the call to bob's registered contact and bridges the two legs; each hears the other's tone.
// Needs `baresip` (apt-get install baresip-core). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine, demoApp, type Engine } from '../../src/index.js';
import { withDiagnostics, assertHearEachOther } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip } from './helpers/baresip.js';
import { eventually } from './helpers/engine.js';
import { sleep } from './helpers/procs.js';

before(() => {
  requireBaresip();
});

const root = mkdtempSync(path.join(tmpdir(), 'callchart-baresip-register-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('two baresips register with digest auth and call each other through callchart; each hears the other', { timeout: 90_000 }, async () => {
  const users = { alice: 'alice-secret', bob: 'bob-secret' };
  const engine: Engine = createEngine({
    host: '127.0.0.1',
    sipPort: 0,
    rtpPorts: '30300-30399',
    sip: { auth: { realm: '127.0.0.1', users } },
    onIncomingCall: demoApp({ registrar: () => engine }),
  });
  await engine.listen();
  const port = engine.sipPort!;
  const alice = await startBaresip({ user: 'alice', sineHz: 500, register: { port, password: users.alice }, recordTo: path.join(root, 'alice'), timeoutMs: 80_000 });
  const bob = await startBaresip({ user: 'bob', sineHz: 1500, register: { port, password: users.bob }, recordTo: path.join(root, 'bob'), timeoutMs: 80_000 });
  try {
    // baresip registers as it starts, before ctrl_tcp is connected: watched on callchart's side.
    await eventually(() => engine.registrations.lookup('alice').length === 1 && engine.registrations.lookup('bob').length === 1, 10_000, 'alice and bob registered');
    const [b] = engine.registrations.lookup('bob');
    assert.ok(b, 'bob is registered');
    assert.match(b.contact, new RegExp(`^sip:bob[^@]*@127\\.0\\.0\\.1:${bob.sipPort}`));

    const dialed = await alice.dial(`sip:bob@127.0.0.1:${port}`);
    assert.ok(dialed.ok, dialed.data);
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'incoming', 10_000, 'bob answered');
    await alice.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'outgoing', 10_000, 'alice connected');
    await sleep(2500);
    await alice.hangup();
    await alice.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'alice CALL_CLOSED');
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'bob CALL_CLOSED (callchart hung up the other leg)');

    await assertHearEachOther(alice, bob);
  } catch (err) {
    withDiagnostics(err, [alice, bob]);
  } finally {
    await alice.stop();
    await bob.stop();
    await engine.close();
  }
});
