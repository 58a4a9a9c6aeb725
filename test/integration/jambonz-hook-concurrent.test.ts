// Several verb:hooks outstanding at once on a hook route (jambonz acks each by msgid): two hooks
// sent back to back are each acked with their own reply — replies made in the listeners, replies
// made later naming their msgid (out of order), replies made later in order — and no reply turns
// into a `command redirect`; a reply naming a hook whose fallback already went out is dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { createEngine } from '../../src/engine.js';
import type { JambonzHookHandler, JambonzHookOptions, JambonzVerb } from '../../src/jambonz/index.js';
import { JambonzSim, newCallSid } from '../helpers/jambonz-sim.js';

async function start(handler: JambonzHookHandler, opts: JambonzHookOptions = {}) {
  const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: false, inboundCall: false, logger: pino({ level: 'silent' }) });
  engine.jambonz.hook('/hook', handler, opts);
  await engine.listen();
  const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`);
  const callSid = newCallSid();
  await sim.ack(sim.sessionNew(callSid));
  sim.callStatus(callSid, 'in-progress');
  return { engine, sim, callSid };
}

const say = (text: string): JambonzVerb[] => [{ verb: 'say', text }];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Two hooks back to back; each ack must carry the verbs the app meant for that hook. */
async function twoHooks(handler: JambonzHookHandler): Promise<void> {
  const { engine, sim, callSid } = await start(handler);
  try {
    const a = sim.verbHook(callSid, '/a', { digits: '1' });
    const b = sim.verbHook(callSid, '/b', { digits: '2' });
    const [ackA, ackB] = await Promise.all([sim.ack(a), sim.ack(b)]);
    assert.deepEqual(ackA.data, say('for a'), 'hook a acked with its own reply');
    assert.deepEqual(ackB.data, say('for b'), 'hook b acked with its own reply');
    await sleep(100);
    const redirects = sim.pending().filter((m) => (m as { type?: string }).type === 'command');
    assert.deepEqual(redirects, [], 'no reply went out as a command redirect');
  } finally {
    await engine.close();
  }
}

test('two verb:hooks back to back, each answered inside its listener: both acked with their own verbs', async () => {
  await twoHooks((s) => {
    s.reply([]);
    s.on('/a', () => s.reply(say('for a')));
    s.on('/b', () => s.reply(say('for b')));
  });
});

test('two verb:hooks answered later and out of order, each naming its msgid: both acked with their own verbs', async () => {
  await twoHooks((s) => {
    s.reply([]);
    s.on('/a', async (_data, _hook, msgid) => {
      await sleep(150);
      s.reply(say('for a'), { msgid });
    });
    s.on('/b', async (_data, _hook, msgid) => {
      await sleep(30);
      s.reply(say('for b'), { msgid });
    });
  });
});

test('two verb:hooks answered later in order without msgid: the oldest waiting hook takes each reply', async () => {
  await twoHooks((s) => {
    s.reply([]);
    s.on('/a', async () => {
      await sleep(30);
      s.reply(say('for a'));
    });
    s.on('/b', async () => {
      await sleep(150);
      s.reply(say('for b'));
    });
  });
});

test('a reply naming a hook whose fallback ack already went out is dropped, not sent as a redirect', async () => {
  let late: (() => void) | undefined;
  const { engine, sim, callSid } = await start(
    (s) => {
      s.reply([]);
      s.on('/slow', (_d, _h, msgid) => void (late = () => s.reply(say('too late'), { msgid })));
      s.on('/fast', () => s.reply(say('fast')));
    },
    { ackTimeoutMs: 300 },
  );
  try {
    const slow = sim.verbHook(callSid, '/slow', {});
    const fast = sim.verbHook(callSid, '/fast', {});
    assert.deepEqual((await sim.ack(fast)).data, say('fast'));
    assert.deepEqual((await sim.ack(slow)).data, [{ verb: 'pause', length: 10 }], 'the slow hook got the fallback');
    late!();
    await sleep(150);
    assert.deepEqual(sim.pending().filter((m) => (m as { type?: string }).type === 'command'), [], 'no redirect');
  } finally {
    await engine.close();
  }
});
