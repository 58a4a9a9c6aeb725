// The feature-server's enqueue / dequeue / leave over loopback: a member call waits in a queue
// hearing its waitHook's verbs (asked again after each round, with its position); an agent call's
// dequeue takes it and the two are bridged (audio checked by Goertzel at the member); the agent
// hanging up ends both verbs with their actionHooks (queue_result bridged, dequeue_result
// complete). A waitHook reply with `leave` → queue_result leave; a dequeue of an empty queue
// with a timeout → dequeue_result timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWav } from '../../src/media/codecs/wav.js';
import { generateTone, toneRatio } from '../../src/media/codecs/tones.js';
import type { JambonzHookData } from '../../src/jambonz/index.js';
import type { Call } from '../../src/call/call.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { sleep, waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-queue-'));
const hold = path.join(dir, 'hold.wav');
writeFileSync(hold, encodeWav(generateTone([400], 300), { sampleRate: 8000 }));
const agentTone = path.join(dir, 'agent.wav');
writeFileSync(agentTone, encodeWav(generateTone([1000], 3000), { sampleRate: 8000 }));

const engines = loopbackEngines(43300, 40);

test('enqueue → waitHook rounds → dequeue bridges agent and member → agent hangs up: queue_result bridged, dequeue_result complete', async (t) => {
  t.after(() => engines.closeAll());
  const hooks: Array<{ name: string; data: JambonzHookData }> = [];
  const app = await engines.start({ sipPort: false });
  app.jambonz.hook('/app', (s) => {
    const to = s.request.to;
    if (to === 'member') s.reply([{ verb: 'enqueue', name: 'support', waitHook: '/wait', actionHook: '/queued', priority: 1 }]);
    else if (to === 'leaver') s.reply([{ verb: 'enqueue', name: 'other', waitHook: '/leave-now', actionHook: '/queued' }]);
    else if (to === 'lonely') s.reply([{ verb: 'dequeue', name: 'nobody', timeout: 1, actionHook: '/dequeued' }]);
    else s.reply([{ verb: 'dequeue', name: 'support', timeout: 10, actionHook: '/dequeued' }]);
    s.on('/wait', (d) => {
      hooks.push({ name: '/wait', data: d });
      s.reply([{ verb: 'play', url: hold }]);
    });
    s.on('/leave-now', (d) => {
      hooks.push({ name: '/leave-now', data: d });
      s.reply([{ verb: 'play', url: hold }, { verb: 'leave' }]);
    });
    for (const h of ['/queued', '/dequeued'])
      s.on(h, (d) => {
        hooks.push({ name: h, data: d });
        s.reply([{ verb: 'hangup' }]);
      });
  });
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: `ws://127.0.0.1:${app.wsPort}/app` } });
  const caller = await engines.start({ wsPort: false });
  const audioOf = (call: Call): (() => Int16Array) => {
    const chunks: Buffer[] = [];
    call.on('audio', (f) => void chunks.push(Buffer.from(f)));
    return () => {
      const b = Buffer.concat(chunks);
      return new Int16Array(b.buffer, b.byteOffset, b.byteLength >> 1);
    };
  };

  const member = await caller.call(`sip:member@127.0.0.1:${fs.sipPort}`);
  await waitFor(() => hooks.filter((h) => h.name === '/wait').length >= 2, 'the waitHook asked again after its verbs', 8000);
  const w = hooks.find((h) => h.name === '/wait')!.data as Record<string, unknown>;
  assert.equal(w.queue_sid, 'support');
  assert.equal(w.queue_position, 1);
  assert.equal(w.queue_size, 1);
  const agent = await caller.call(`sip:agent@127.0.0.1:${fs.sipPort}`);
  await waitFor(() => agent.isActive, 'agent answered');
  const heard = audioOf(member);
  await sleep(400);
  agent.play(agentTone);
  await sleep(1200);
  const r = toneRatio(heard(), 8000, 1000);
  assert.ok(r > 0.5, `the member hears the agent once dequeued (1 kHz share ${r.toFixed(2)})`);
  agent.hangup();
  await member.waitForEnd();
  const q = hooks.find((h) => h.name === '/queued')?.data as Record<string, unknown>;
  assert.equal(q.queue_result, 'bridged');
  assert.equal(q.queue_sid, 'support');
  assert.equal(typeof q.queue_time, 'number');

  const leaver = await caller.call(`sip:leaver@127.0.0.1:${fs.sipPort}`);
  await leaver.waitForEnd();
  assert.equal((hooks.filter((h) => h.name === '/queued')[1]?.data as Record<string, unknown>).queue_result, 'leave');

  const lonely = await caller.call(`sip:lonely@127.0.0.1:${fs.sipPort}`);
  await lonely.waitForEnd();
  const dq = hooks.filter((h) => h.name === '/dequeued').map((h) => (h.data as Record<string, unknown>).dequeue_result);
  assert.deepEqual(dq, ['timeout'], 'the agent\'s own dequeue ended with its call (no hook); the lonely one timed out');
});
