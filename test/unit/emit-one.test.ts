// emitEntry + listeners(): the per-frame fast path must behave as emit() does for one, once, several
// and no listeners.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { emitEntry, leanListeners, listeners } from '../../src/emit-one.js';

/** What the per-frame sites do: the entry read with a named load, then called. */
const emitAudio = (e: EventEmitter, arg: unknown): void => emitEntry(e, listeners(e).audio, 'audio', arg);

test('emitEntry calls a single listener with the emitter as this', () => {
  const e = new EventEmitter();
  const seen: unknown[] = [];
  e.on('audio', function (this: unknown, f: unknown) {
    seen.push([this === e, f]);
  });
  emitAudio(e, 1);
  emitAudio(e, 2);
  assert.deepEqual(seen, [[true, 1], [true, 2]]);
});

test('emitEntry keeps once semantics, reaches every listener of several, and does nothing with none', () => {
  const e = new EventEmitter();
  const seen: string[] = [];
  emitAudio(e, 'none');
  e.once('audio', (f: string) => seen.push(`once:${f}`));
  emitAudio(e, 'a');
  emitAudio(e, 'b');
  assert.deepEqual(seen, ['once:a']);
  assert.equal(e.listenerCount('audio'), 0);
  e.on('audio', (f: string) => seen.push(`x:${f}`));
  e.on('audio', (f: string) => seen.push(`y:${f}`));
  emitAudio(e, 'c');
  assert.deepEqual(seen, ['once:a', 'x:c', 'y:c']);
});

test('leanListeners: an emitter with the fast table behaves as with Node\'s own, inherited names included', () => {
  const e = new EventEmitter();
  leanListeners(e);
  const seen: string[] = [];
  // Names an ordinary object would inherit from Object.prototype must not look like listeners.
  for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
    assert.equal(e.listenerCount(name), 0, name);
    assert.equal(e.emit(name, 1), false, name);
  }
  assert.deepEqual(e.eventNames(), []);
  const a = (x: string) => seen.push(`a:${x}`);
  e.on('audio', a);
  e.once('ended', (x: string) => seen.push(`ended:${x}`));
  e.on('constructor', (x: string) => seen.push(`ctor:${x}`));
  emitAudio(e, '1');
  assert.equal(e.emit('ended', '2'), true);
  assert.equal(e.emit('ended', '3'), false);
  e.emit('constructor', '4');
  assert.deepEqual(e.eventNames(), ['audio', 'constructor']);
  e.off('audio', a);
  emitAudio(e, '5');
  e.removeAllListeners();
  e.emit('constructor', '6');
  assert.deepEqual(seen, ['a:1', 'ended:2', 'ctor:4']);
  assert.equal(Object.getPrototypeOf((e as unknown as { _events: object })._events) === Object.prototype, false);
});
