// The feature-server's `dial` verb between two real softphones: baresip alice (500 Hz) calls an
// engine running a jambonz app (in-process hook handler over ws.jambonz.org); the app answers
// `dial` to baresip bob's URI (1500 Hz, his own SIP port); callchart bridges the legs on answer.
// Each recording (sndfile `-dec.wav`) must hold the other's tone and not its own; when bob hangs
// up, the dial's actionHook gets dial_call_status completed and its reply (hangup) ends alice.
// Needs `baresip` (apt-get install baresip-core). Run: npm run test:interop.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { withDiagnostics, assertHearEachOther } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip } from './helpers/baresip.js';
import { eventually } from './helpers/engine.js';
import { LOOPBACK, sleep } from './helpers/procs.js';
import { createEngine, type Engine } from '../../src/index.js';
import type { JambonzHookData } from '../../src/jambonz/index.js';

before(() => {
  requireBaresip();
});

const root = mkdtempSync(path.join(tmpdir(), 'callchart-jfs-dial-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('jambonz dial bridges baresip alice to baresip bob: each hears the other; bob hangs up → actionHook completed, alice hung up', { timeout: 60_000 }, async () => {
  const alice = await startBaresip({ user: 'alice', sineHz: 500, recordTo: path.join(root, 'alice'), timeoutMs: 60_000 });
  const bob = await startBaresip({ user: 'bob', sineHz: 1500, recordTo: path.join(root, 'bob'), timeoutMs: 60_000 });
  let e: Engine | undefined;
  const hooks: JambonzHookData[] = [];
  try {
    e = createEngine({
      host: LOOPBACK,
      wsPort: 0,
      sipPort: 0,
      rtpPorts: '43500-43599',
      inboundCall: false,
      logger: pino({ level: 'silent' }),
      jambonzApp: {
        handler: (s) => {
          s.reply([{ verb: 'dial', answerOnBridge: true, actionHook: '/dialed', timeout: 20, target: [{ type: 'sip', sipUri: bob.uri }] }]);
          s.on('/dialed', (data) => {
            hooks.push(data);
            s.reply([{ verb: 'hangup' }]);
          });
        },
      },
    });
    await e.listen();
    const dialed = await alice.dial(`sip:app@127.0.0.1:${e.sipPort}`);
    assert.ok(dialed.ok, dialed.data);
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'incoming', 10_000, 'bob answered the dial');
    await alice.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'outgoing', 10_000, 'alice answered on bridge');
    await sleep(2500);
    await bob.hangup();
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'bob CALL_CLOSED');
    await alice.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'alice CALL_CLOSED (the hook reply hung her up)');
    await eventually(() => hooks.length === 1, 5000, 'the dial actionHook');
    assert.equal(hooks[0]!.dial_call_status, 'completed');
    assert.equal(hooks[0]!.dial_sip_status, 200);

    await assertHearEachOther(alice, bob);
  } catch (err) {
    withDiagnostics(err, [alice, bob]);
  } finally {
    await e?.close();
    await alice.stop();
    await bob.stop();
  }
});
