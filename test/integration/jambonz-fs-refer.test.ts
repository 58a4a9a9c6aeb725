// The feature-server's `sip:refer` verb over loopback: the caller is a callchart UA, which refuses
// to be transferred (603), so the REFER's refusal reaches the actionHook as refer_status and the
// verb stack goes on; a refer on an unanswered call and a bad referTo are jambonz:errors. The
// accepted path (202, NOTIFY sipfrags, final_referred_call_status) runs against baresip in
// test/interop/jambonz-fs-refer-baresip.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JambonzHookData } from '../../src/jambonz/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { waitFor } from '../helpers/wait.js';

const engines = loopbackEngines(43200, 40);

test('sip:refer refused by the caller (603): actionHook refer_status 603, the stack goes on; unanswered call and bad referTo → jambonz:error; record is refused with its reason', async (t) => {
  t.after(() => engines.closeAll());
  const hooks: JambonzHookData[] = [];
  const errors: string[] = [];
  let n = 0;
  const app = await engines.start({ sipPort: false });
  app.jambonz.hook('/app', (s) => {
    s.on('jambonz:error', (d) => void errors.push(String((d as { msg?: unknown }).msg)));
    if (++n === 1) s.reply([{ verb: 'answer' }, { verb: 'sip:refer', referTo: 'carol', headers: { 'X-Why': 'test' }, actionHook: '/referred' }]);
    else s.reply([{ verb: 'record', path: '/tmp/never.wav' }, { verb: 'sip:refer', referTo: 'sip:carol@127.0.0.1' }, { verb: 'answer' }, { verb: 'sip:refer', referTo: 'bad user<>' }, { verb: 'hangup' }]);
    s.on('/referred', (data) => {
      hooks.push(data);
      s.reply([{ verb: 'hangup' }]);
    });
  });
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: `ws://127.0.0.1:${app.wsPort}/app` } });
  const caller = await engines.start({ wsPort: false });
  const a = await caller.call(`sip:app@127.0.0.1:${fs.sipPort}`);
  const end = await a.waitForEnd();
  assert.equal(end.reason, 'remote-hangup', 'the hook reply hung up');
  assert.equal(hooks.length, 1);
  assert.equal(hooks[0]!.refer_status, 603);
  assert.equal(hooks[0]!.final_referred_call_status, undefined);

  const a2 = await caller.call(`sip:app@127.0.0.1:${fs.sipPort}`);
  await a2.waitForEnd();
  await waitFor(() => errors.length >= 3, 'three jambonz:errors');
  assert.match(errors[0]!, /record: no recording directory configured/);
  assert.match(errors[1]!, /sip:refer: the call is not answered/);
  assert.match(errors[2]!, /sip:refer: referTo "bad user<>"/);
});
