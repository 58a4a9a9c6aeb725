// Inbound SIP: answer calls to sip:*@127.0.0.1:5070, reject a blocked caller, echo audio,
// log DTMF (RFC 4733 or SIP INFO) and hang up on '#'.
//   npx tsx examples/sip-inbound.ts
//   sipp -sn uac 127.0.0.1:5070 -m 1          (or point a softphone at it)
import { createEngine, createLogger } from '../src/index.js';

const engine = createEngine({
  host: '127.0.0.1',
  wsPort: 0,
  sipPort: Number(process.env.SIP_PORT ?? 5070),
  rtpPorts: '40000-40999',
  logger: createLogger('info'),
  onIncomingCall: (call) => {
    if (call.from?.includes('blocked')) return { action: 'reject', code: 603, reason: 'Decline' };
    call.on('audio', (frame) => call.sendAudio(frame)); // echo
    call.on('dtmf', (digit, source) => {
      engine.logger.info({ callId: call.id, digit, source }, 'example: digit');
      if (digit === '#') call.hangup('caller pressed #');
    });
    call.once('ended', (end) => engine.logger.info({ callId: call.id, end }, 'example: call ended'));
    return { action: 'accept' }; // 180 Ringing, then 200 OK with the SDP answer
  },
});
await engine.listen();
engine.logger.info({ sipPort: engine.sipPort }, 'example ready');
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
