// The application examples/sip-workers.ts runs in each SIP worker thread: every worker imports
// this module and calls createApp(options, engine) for its onIncomingCall hook. Calls are
// answered, echoed (on the RTP fast path) and logged with the worker's own logger.
import { threadId } from 'node:worker_threads';
import { startEcho, type Engine, type IncomingCallHook } from 'callchart';

export function createApp(options: { blocked?: string }, engine: Engine): IncomingCallHook {
  return (call) => {
    if (options.blocked && call.from?.includes(options.blocked)) return { action: 'reject', code: 603, reason: 'Decline' };
    if (call.media) startEcho(call.media);
    call.once('ended', (end) => engine.logger.info({ callId: call.id, threadId, end }, 'example: call ended'));
    return { action: 'accept' };
  };
}
