// Embedding callchart: answer every inbound WebSocket call at once, echo its audio,
// say goodbye when the caller presses '#', and refuse calls beyond the fifth.
//   npx tsx examples/embed-basic.ts      then connect a client to ws://127.0.0.1:4143/
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_WS_PORT (default 4143, 0 = ephemeral).
import { createEngine, createLogger } from 'callchart';

const engine = createEngine({
  // Loopback unless told otherwise: an example is not meant to face the network.
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  wsPort: Number(process.env.CALLCHART_WS_PORT ?? process.env.PORT ?? 4143),
  logger: createLogger('info'),
  inboundCall: { offerDelayMs: 0 },
  onIncomingCall: (call) => {
    if (engine.calls.size > 5) return { action: 'reject', code: 486, reason: 'Busy Here' };
    call.on('audio', (frame) => call.sendAudio(frame));
    call.on('dtmf', (digit) => {
      if (digit === '#') call.hangup('caller pressed #');
    });
    call.once('ended', (end) => engine.logger.info({ callId: call.id, end }, 'example: call over'));
    return { action: 'accept' };
  },
});

await engine.listen();
engine.logger.info({ port: engine.wsPort }, `example ready on ws://127.0.0.1:${engine.wsPort}/`);
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
