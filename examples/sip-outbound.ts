// Outbound SIP: call a URI, send DTMF once answered, put the call on hold and back, hang up.
//   sipp -sn uas -p 5090 -i 127.0.0.1 &     (something to call)
//   npx tsx examples/sip-outbound.ts sip:service@127.0.0.1:5090
import { createEngine, createLogger } from '../src/index.js';

const target = process.argv[2] ?? 'sip:service@127.0.0.1:5090';
const engine = createEngine({ host: '127.0.0.1', wsPort: 0, sipPort: 0, rtpPorts: '41000-41999', logger: createLogger('info') });
await engine.listen();

const call = await engine.call(target, {
  from: `sip:callchart@127.0.0.1:${engine.sipPort}`,
  // auth: { username: 'alice', password: 'secret' },   // used if the far end answers 401/407
});
call.on('state', (state) => engine.logger.info({ state }, 'example: state'));
call.once('answered', () => {
  call.sendDtmf('123#');
  setTimeout(() => call.hold(), 1000);
  setTimeout(() => call.resume(), 2000);
  setTimeout(() => call.hangup('example done'), 3000);
});
const end = await call.waitForEnd();
engine.logger.info({ end }, 'example: finished');
await engine.close();
