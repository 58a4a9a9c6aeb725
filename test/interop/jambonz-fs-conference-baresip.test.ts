// The feature-server's `conference` verb between two real softphones: baresip alice (500 Hz) and
// baresip bob (1500 Hz) each call an engine running a jambonz app (in-process hook handler over
// ws.jambonz.org, rooms on); the app answers both with `conference` for the same name. Each
// recording (sndfile `-dec.wav`) must hold the other's tone and not its own; the app's statusHook
// sees both joins; alice has endConferenceOnExit, so her hangup ends the conference, bob's
// actionHook gets it and its reply (hangup) ends bob's call.
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

const root = mkdtempSync(path.join(tmpdir(), 'callchart-jfs-conf-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('jambonz conference puts baresip alice and bob in one room: each hears the other; alice (endConferenceOnExit) leaves → bob’s actionHook, bob hung up', { timeout: 60_000 }, async () => {
  const alice = await startBaresip({ user: 'alice', sineHz: 500, recordTo: path.join(root, 'alice'), timeoutMs: 60_000 });
  const bob = await startBaresip({ user: 'bob', sineHz: 1500, recordTo: path.join(root, 'bob'), timeoutMs: 60_000 });
  let e: Engine | undefined;
  const status: string[] = [];
  const after: JambonzHookData[] = [];
  try {
    e = createEngine({
      host: LOOPBACK,
      wsPort: 0,
      sipPort: 0,
      // This helper's fixed range (47000-47099): the engine's RTP.
      rtpPorts: '47060-47099',
      inboundCall: false,
      rooms: {},
      logger: pino({ level: 'silent' }),
      jambonzApp: {
        handler: (s) => {
          const who = String(s.request.from);
          s.on('error', () => {});
          // statusHook events want no reply (the next hook supersedes them).
          s.on('/status', (d) => void status.push(`${who}:${String(d.event)}:${String(d.members)}`));
          s.on('/after', (d) => {
            after.push(d);
            s.reply([{ verb: 'hangup' }]);
          });
          s.reply([
            {
              verb: 'conference',
              name: 'interop',
              endConferenceOnExit: who === 'alice',
              actionHook: '/after',
              statusHook: '/status',
              statusEvents: ['join'],
            },
          ]);
        },
      },
    });
    await e.listen();
    const a = await alice.dial(`sip:conf@127.0.0.1:${e.sipPort}`);
    assert.ok(a.ok, a.data);
    await alice.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, 'alice answered');
    const b = await bob.dial(`sip:conf@127.0.0.1:${e.sipPort}`);
    assert.ok(b.ok, b.data);
    await bob.waitFor((ev) => ev.type === 'CALL_ESTABLISHED', 10_000, 'bob answered');
    await eventually(() => status.length === 2, 10_000, 'both joins reported on the statusHook');
    assert.deepEqual(status, ['alice:join:1', 'bob:join:2']);
    await sleep(2500);
    await alice.hangup();
    await alice.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'alice CALL_CLOSED');
    await bob.waitFor((ev) => ev.type === 'CALL_CLOSED', 5000, 'bob CALL_CLOSED (the actionHook reply hung him up)');
    await eventually(() => after.length === 1, 5000, "bob's actionHook");
    assert.equal(after[0]!.from, 'bob');

    await assertHearEachOther(alice, bob);
  } catch (err) {
    withDiagnostics(err, [alice, bob]);
  } finally {
    await e?.close();
    await alice.stop();
    await bob.stop();
  }
});
