// Application modules for SIP worker threads in tests: every worker imports this module and calls
// the named factory with (options, engine).
import type { IncomingCallHook } from '../../src/call/call.js';
import { threadId } from 'node:worker_threads';
import type { Engine } from '../../src/engine.js';

/** Accepts every call; `reject` makes it refuse with that code instead. */
export function acceptAll(options: { reject?: number } = {}): IncomingCallHook {
  return () => (options.reject ? { action: 'reject', code: options.reject } : { action: 'accept' });
}

/** Refuses every call with 480, naming the SIP port of the engine the factory was given. */
export function namesItsEngine(_options: unknown, engine: Engine): IncomingCallHook {
  return () => ({ action: 'reject', code: 480, reason: `engine on ${engine.options.sipPort}` });
}

export const notAFactory = 42;

/** Accepts calls, but a call from a user named "crash" throws outside any handler: the thread dies. */
export function crashesOnRequest(): IncomingCallHook {
  return (call) => {
    if (call.from?.includes('crash')) {
      setImmediate(() => {
        throw new Error('app bug in a worker');
      });
    }
    return { action: 'accept' };
  };
}

/**
 * Places `calls` outbound calls to `target` once the worker listens, each INVITE naming its
 * thread in X-Thread; accepts inbound calls.
 */
export function dialsOut(options: { target: string; calls: number }, engine: Engine): IncomingCallHook {
  setTimeout(() => {
    for (let i = 0; i < options.calls; i++) void engine.call(options.target, { headers: { 'X-Thread': String(threadId) } }).catch(() => {});
  }, 300);
  return () => ({ action: 'accept' });
}
