// An application module for SIP worker threads in tests: every worker imports it and calls the
// factory. Accepts every call; `reject` makes it refuse with that code instead.
import type { IncomingCallHook } from '../../src/call.js';

export function acceptAll(options: { reject?: number } = {}): IncomingCallHook {
  return () => (options.reject ? { action: 'reject', code: options.reject } : { action: 'accept' });
}

export const notAFactory = 42;
