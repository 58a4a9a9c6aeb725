// The per-frame event fast path: EventEmitter#emit(type, ...args) allocates an argument array on
// every call, i.e. on every audio frame. With one listener (the usual case) it is called directly.
import type { EventEmitter } from 'node:events';

/** One event's raw listener entry: a function (one listener, a `once` one as its self-removing wrapper), an array (several) or undefined. */
export type ListenerEntry = ((...a: never[]) => unknown) | unknown[] | undefined;

/**
 * The emitter's listener table, to read one event's entry with a named load at the call site
 * (`listeners(this).audio`). EventEmitter#emit looks the event up by key for every emitter in the
 * process, and a shared helper taking the event's name would too: its inline cache goes
 * megamorphic (stop 46: RtpSession's 'payload' and 'audio' reads, 0.66 % of the stream server's
 * samples). A named load at each site keeps a cache of its own.
 */
export function listeners(emitter: object): Record<string, ListenerEntry> {
  return (emitter as unknown as { _events: Record<string, ListenerEntry> })._events;
}

/**
 * `emitter.emit(event, arg)` for the entry read with listeners(): one listener is called directly,
 * without emit's argument array; several go through emit().
 */
export function emitEntry(emitter: object, entry: ListenerEntry, event: string, arg: unknown): void {
  // A `once` listener is stored as its self-removing wrapper, so calling it keeps once semantics.
  if (typeof entry === 'function') (entry as (a: unknown) => unknown).call(emitter, arg);
  else if (entry !== undefined) (emitter as EventEmitter).emit(event, arg);
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
