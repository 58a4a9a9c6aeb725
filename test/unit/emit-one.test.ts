// emitOne: the per-frame fast path must behave as emit() does for one, once, several and no listeners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { emitOne } from '../../src/emit-one.js';

test('emitOne calls a single listener with the emitter as this', () => {
  const e = new EventEmitter();
  const seen: unknown[] = [];
  e.on('audio', function (this: unknown, f: unknown) {
    seen.push([this === e, f]);
  });
  emitOne(e, 'audio', 1);
  emitOne(e, 'audio', 2);
  assert.deepEqual(seen, [[true, 1], [true, 2]]);
});

test('emitOne keeps once semantics, reaches every listener of several, and does nothing with none', () => {
  const e = new EventEmitter();
  const seen: string[] = [];
  emitOne(e, 'audio', 'none');
  e.once('audio', (f: string) => seen.push(`once:${f}`));
  emitOne(e, 'audio', 'a');
  emitOne(e, 'audio', 'b');
  assert.deepEqual(seen, ['once:a']);
  assert.equal(e.listenerCount('audio'), 0);
  e.on('audio', (f: string) => seen.push(`x:${f}`));
  e.on('audio', (f: string) => seen.push(`y:${f}`));
  emitOne(e, 'audio', 'c');
  assert.deepEqual(seen, ['once:a', 'x:c', 'y:c']);
});
