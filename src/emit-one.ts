// The per-frame event fast path: EventEmitter#emit(type, ...args) allocates an argument array on
// every call, i.e. on every audio frame. With one listener (the usual case) it is called directly.
import type { EventEmitter } from 'node:events';

interface EmitterInternals {
  _events: Record<string | symbol, ((...a: unknown[]) => unknown) | unknown[] | undefined>;
}

/** `emitter.emit(event, arg)` without the argument array when a single listener is registered. */
export function emitOne(emitter: object, event: string, arg: unknown): void {
  // A `once` listener is stored as its self-removing wrapper, so calling it keeps once semantics.
  const l = listenerEntry<[unknown]>(emitter, event);
  if (typeof l === 'function') l.call(emitter, arg);
  else if (l !== undefined) (emitter as EventEmitter).emit(event, arg);
}

/**
 * The raw listener entry of `event`: a function (one listener, a `once` one as its self-removing
 * wrapper), an array (several) or undefined. For per-packet emitters: EventEmitter#emit's own
 * lookup is shared by every emitter in the process and goes megamorphic; this read is the
 * caller's own.
 */
export function listenerEntry<A extends unknown[]>(emitter: object, event: string): ((...a: A) => unknown) | unknown[] | undefined {
  return (emitter as unknown as EmitterInternals)._events[event] as ((...a: A) => unknown) | unknown[] | undefined;
}

/** Instances inherit nothing (no `constructor`, no `Object.prototype`): only listeners' names are keys. */
const ListenerTable = function ListenerTable() {} as unknown as new () => object;
ListenerTable.prototype = Object.create(null) as object;

/**
 * Give `emitter` a fast-mode listener table. Node starts every EventEmitter with a null-prototype
 * object literal, which V8 makes a dictionary (~180 B even when empty); for classes with many live
 * instances (a call, an RTP session, a jambonz audio session) call this right after `super()`.
 * Node's emitter only reads, sets and deletes keys of `_events` (and replaces it when emptied).
 */
export function leanListeners(emitter: EventEmitter): void {
  (emitter as unknown as { _events: object })._events = new ListenerTable();
}
