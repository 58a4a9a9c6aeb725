// An app that decides asynchronously: it "looks up" the caller, then answers or rejects.
// Shows defer + call.answer()/call.reject() later, and a hang-up timer of the app's own.
//   npx tsx examples/decide-later.ts     then connect a client to ws://127.0.0.1:4143/
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_WS_PORT (default 4143, 0 = ephemeral),
// BLOCKED (comma-separated caller prefixes to reject; a WebSocket caller's `from` is host:port),
// MAX_CALL_MS (default 30000: the app hangs up answered calls after it).
import { createEngine, createLogger, type Call } from 'callchart';

const blocked = (process.env.BLOCKED ?? '').split(',').filter(Boolean); // e.g. from a database

async function lookup(call: Call): Promise<'vip' | 'normal' | 'blocked'> {
  await new Promise((r) => setTimeout(r, 200)); // pretend I/O
  return blocked.some((b) => call.from?.startsWith(b)) ? 'blocked' : 'normal';
}

const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  wsPort: Number(process.env.CALLCHART_WS_PORT ?? process.env.PORT ?? 4143),
  inboundCall: { offerDelayMs: 0 },
  logger: createLogger('info'),
  onIncomingCall: (call) => {
    void lookup(call).then((kind) => {
      if (call.isEnded) return;
      engine.logger.info({ callId: call.id, from: call.from, kind }, 'example: looked up');
      if (kind === 'blocked') return call.reject(603, 'Decline');
      call.answer();
      call.on('audio', (f) => call.sendAudio(f));
      const t = setTimeout(() => call.hangup('time is up'), Number(process.env.MAX_CALL_MS ?? 30_000));
      call.once('ended', () => clearTimeout(t));
    });
    return { action: 'defer' };
  },
});
await engine.listen();
engine.logger.info({ port: engine.wsPort }, `example ready on ws://127.0.0.1:${engine.wsPort}/`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
