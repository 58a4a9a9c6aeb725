// The feature-server's `sip:refer` verb against a real transferee: baresip alice calls an engine
// running a jambonz app that answers and REFERs her to baresip bob. alice accepts (202), calls bob
// and reports progress in NOTIFY sipfrags: each reaches the eventHook (`transfer-status`), the final
// one the actionHook (refer_status 202, final_referred_call_status 200); callchart then leaves
// the call and alice talks to bob.
// Needs `baresip` (apt-get install baresip-core). Run: npm run test:interop.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { withDiagnostics } from './helpers/baresip-audio.js';
import { startBaresip, requireBaresip } from './helpers/baresip.js';
import { eventually } from './helpers/engine.js';
import { LOOPBACK } from './helpers/procs.js';
import { createEngine, type Engine } from '../../src/index.js';
import type { JambonzHookData } from '../../src/jambonz/index.js';

before(() => {
  requireBaresip();
});

test('jambonz sip:refer: baresip alice is transferred to baresip bob; eventHook gets the sipfrags, actionHook refer_status 202 / final 200', { timeout: 60_000 }, async () => {
  const alice = await startBaresip({ user: 'alice', sineHz: 500, timeoutMs: 60_000 });
  const bob = await startBaresip({ user: 'bob', sineHz: 1500, timeoutMs: 60_000 });
  let e: Engine | undefined;
  const hooks: JambonzHookData[] = [];
  const events: string[] = [];
  try {
    e = createEngine({
      host: LOOPBACK,
      wsPort: 0,
      sipPort: 0,
      rtpPorts: '43600-43699',
      inboundCall: false,
      logger: pino({ level: 'silent' }),
      jambonzApp: {
        handler: (s) => {
          s.reply([{ verb: 'answer' }, { verb: 'pause', length: 1 }, { verb: 'sip:refer', referTo: bob.uri, eventHook: '/ev', actionHook: '/referred' }]);
          s.on('/ev', (d) => {
            events.push(String(d.transfer_status));
            s.reply();
          });
          s.on('/referred', (d) => {
            hooks.push(d);
            s.reply();
          });
        },
      },
    });
    await e.listen();
    const dialed = await alice.dial(`sip:app@127.0.0.1:${e.sipPort}`);
    assert.ok(dialed.ok, dialed.data);
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED' && ev.direction === 'incoming', 15_000, 'bob got the transferred call');
    await eventually(() => hooks.length === 1, 10_000, 'the sip:refer actionHook');
    assert.equal(hooks[0]!.refer_status, 202);
    assert.equal(hooks[0]!.final_referred_call_status, '200');
    assert.ok(events.includes('200'), `eventHook saw the final sipfrag: ${events.join(',')}`);
    await eventually(() => e!.featureServer!.size === 0, 10_000, 'callchart left the call');
  } catch (err) {
    withDiagnostics(err, [alice, bob]);
  } finally {
    await e?.close();
    await alice.stop();
    await bob.stop();
  }
});
