// The call lines (offered / answered / ended) carry the call's ids as its child logger's lines
// would, although they are logged without making that logger; and a call's state still lives in
// its actor, which joined the supervisor's shared system and leaves it when the call ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { CallManager } from '../../src/call/manager.js';
import type { CallWire } from '../../src/call/call.js';

function capture(): { lines: Array<Record<string, unknown>>; stream: Writable } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split('\n')) if (l.trim()) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { lines, stream };
}

test('call lines carry the call ids without a child logger; the call leaves manager and supervisor when it ends', async () => {
  const { lines, stream } = capture();
  const logger = createLogger('info', stream);
  const supervisor = new Supervisor({ logger });
  const calls = new CallManager({ supervisor, logger, ringTimeoutMs: 60_000, maxDurationMs: 60_000 });
  const sent: string[] = [];
  const wire: CallWire = { sendAnswer: () => void sent.push('answer'), sendHangup: () => void sent.push('hangup') };
  const call = calls.create({ direction: 'inbound', transport: 'test', from: 'alice', to: 'bob', wire, group: 'g1' });
  assert.equal(calls.get(call.id), call);
  assert.equal(calls.size, 1);
  call.actor.send({ type: 'CALL.INCOMING' });
  call.answer();
  assert.equal(call.state, 'active.talking');
  call.hangup('test over');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(sent, ['answer', 'hangup']);
  assert.equal(calls.get(call.id), undefined);
  assert.equal(calls.size, 0);
  assert.deepEqual(calls.list(), []);
  assert.equal(supervisor.count(), 0);
  await new Promise((r) => setTimeout(r, 20));
  const byMsg = (m: string) => lines.find((l) => l.msg === m);
  for (const m of ['call offered', 'call answered', 'call ended']) {
    const l = byMsg(m);
    assert.ok(l, `line ${m}`);
    assert.equal(l.kind, 'call');
    assert.equal(l.id, call.id);
    assert.equal(l.callId, call.id);
    assert.equal(l.transport, 'test');
    assert.equal(l.direction, 'inbound');
  }
  assert.equal(byMsg('call ended')!.reason, 'local-hangup');
  // The child logger, made when asked for, has the same ids.
  call.logger.info('after');
  const after = byMsg('after')!;
  assert.equal(after.callId, call.id);
  assert.equal(after.kind, 'call');
});

test('a call stopped from outside (its group) ends failed and is forgotten; data is the app slot', () => {
  const logger = createLogger('silent');
  const supervisor = new Supervisor({ logger });
  const calls = new CallManager({ supervisor, logger, ringTimeoutMs: 60_000, maxDurationMs: 60_000 });
  const call = calls.create({ direction: 'inbound', transport: 'test', wire: {}, group: 'conn' });
  call.data.x = 1;
  assert.deepEqual(call.data, { x: 1 });
  const ends: string[] = [];
  call.on('ended', (e) => ends.push(e.reason));
  supervisor.stopGroup('conn');
  assert.deepEqual(ends, ['failed']);
  assert.equal(calls.size, 0);
  assert.equal(call.actor.getSnapshot().status, 'stopped');
});
