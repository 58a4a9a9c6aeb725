// Outbound SIP: call a URI, put the call on hold and back, send DTMF, hang up.
//   npx tsx examples/sip-inbound.ts &                          (something to call: hangs up on '#')
//   npx tsx examples/sip-outbound.ts sip:service@127.0.0.1:5060
// or  sipp -sn uas -p 5090 -i 127.0.0.1 &  npx tsx examples/sip-outbound.ts sip:service@127.0.0.1:5090
// This side binds an ephemeral SIP port (not the CLI's 5060, which is what it calls by default).
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_RTP_PORTS (default 20000-29999).
import { createEngine, createLogger } from 'callchart';

const target = process.argv[2] ?? 'sip:service@127.0.0.1:5060';
const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  sipPort: 0,
  rtpPorts: process.env.CALLCHART_RTP_PORTS ?? '20000-29999',
  logger: createLogger('info'),
});
await engine.listen();

const call = await engine.call(target, {
  from: `sip:callchart@127.0.0.1:${engine.sipPort}`,
  // auth: { username: 'alice', password: 'secret' },   // used if the far end answers 401/407
});
call.on('state', (state) => engine.logger.info({ state }, 'example: state'));
call.once('answered', () => {
  const later = (ms: number, fn: () => unknown) => setTimeout(() => !call.isEnded && fn(), ms);
  later(500, () => call.hold());
  later(1000, () => call.resume());
  later(1500, () => call.sendDtmf('123#')); // RFC 4733 when negotiated, else SIP INFO
  later(4000, () => call.hangup('example done'));
});
const end = await call.waitForEnd();
engine.logger.info({ end }, 'example: finished');
await engine.close();
