// A phone call meets a WebSocket caller. WebSocket callers (the inbound-call protocol) are answered
// and wait; each SIP call is answered and bridged with the caller who has waited longest, so the
// two hear each other (8 kHz PCM both ways: nothing is resampled). When one hangs up, so does the
// other. A SIP call with nobody waiting is refused (480).
//   npx tsx examples/bridge-phone-ws.ts
//   1. a WebSocket caller:  npx wscat -c ws://127.0.0.1:4143/   (binary frames: 8 kHz 16-bit little-endian PCM)
//   2. a softphone:         /dial sip:ws@127.0.0.1:5060
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_WS_PORT (4143), CALLCHART_SIP_PORT (5060),
// CALLCHART_RTP_PORTS (20000-29999); 0 = an ephemeral port, printed at start.
import { createEngine, createLogger, type Call } from 'callchart';

const waiting: Call[] = [];

const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  wsPort: Number(process.env.CALLCHART_WS_PORT ?? 4143),
  sipPort: Number(process.env.CALLCHART_SIP_PORT ?? 5060),
  rtpPorts: process.env.CALLCHART_RTP_PORTS ?? '20000-29999',
  inboundCall: { offerDelayMs: 0 },
  logger: createLogger('info'),
  onIncomingCall: (call) => {
    if (call.transport === 'ws') {
      waiting.push(call);
      call.once('ended', () => waiting.includes(call) && waiting.splice(waiting.indexOf(call), 1));
      engine.logger.info({ ws: call.id }, 'example: websocket caller waiting');
      return { action: 'accept' };
    }
    const peer = waiting.shift();
    if (!peer) return { action: 'reject', code: 480, reason: 'Temporarily Unavailable' };
    call.once('answered', () => {
      if (peer.isEnded) return call.hangup('websocket caller gone');
      const br = engine.bridge(call, peer);
      engine.logger.info({ sip: call.id, ws: peer.id, mode: br.stats().mode }, 'example: bridged');
      call.once('ended', () => {
        engine.logger.info({ sip: call.id, ws: peer.id, ...br.stats() }, 'example: bridge over');
        peer.hangup('phone hung up');
      });
      peer.once('ended', () => call.hangup('websocket caller hung up'));
    });
    return { action: 'accept' };
  },
});
await engine.listen();
engine.logger.info({ wsPort: engine.wsPort, sipPort: engine.sipPort }, 'example ready');
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
