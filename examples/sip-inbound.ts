// Inbound SIP: answer calls to sip:*@127.0.0.1:5060, reject a blocked caller, echo audio,
// log DTMF (RFC 4733 or SIP INFO) and hang up on '#'.
//   npx tsx examples/sip-inbound.ts
//   sipp -sn uac 127.0.0.1:5060 -m 1          (or point a softphone at it)
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_SIP_PORT (default 5060, 0 = ephemeral),
// CALLCHART_RTP_PORTS (default 20000-29999) — the CLI's defaults; stop `npm start` first or pick another port.
import { createEngine, createLogger } from 'callchart';

const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  sipPort: Number(process.env.CALLCHART_SIP_PORT ?? process.env.SIP_PORT ?? 5060),
  rtpPorts: process.env.CALLCHART_RTP_PORTS ?? '20000-29999',
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
