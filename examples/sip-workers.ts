// SIP on worker threads: one engine per core, calls sharded by Call-ID (README, "SIP worker
// threads"). The app lives in its own module because each thread imports it.
//   npx tsx examples/sip-workers.ts
//   sipp -sn uac 127.0.0.1:5060 -r 200 -m 2000    (calls spread over the threads)
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_SIP_PORT (default 5060, 0 = ephemeral),
// CALLCHART_SIP_WORKERS (default one per core), CALLCHART_RTP_PORTS (default 20000-29999).
import os from 'node:os';
import { SipWorkers, createLogger } from 'callchart';

const logger = createLogger('info');
const sip = new SipWorkers({
  threads: Number(process.env.CALLCHART_SIP_WORKERS ?? os.availableParallelism()),
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  port: Number(process.env.CALLCHART_SIP_PORT ?? process.env.SIP_PORT ?? 5060),
  rtpPorts: process.env.CALLCHART_RTP_PORTS ?? '20000-29999',
  logger,
  app: { module: new URL('./sip-workers-app.ts', import.meta.url).href, export: 'createApp', options: { blocked: 'spam' } },
});
sip.on('error', (err) => {
  logger.fatal({ err }, 'a SIP worker died');
  process.exitCode = 1;
  void sip.close();
});
await sip.start();
logger.info({ sipPort: sip.port, threads: sip.threads }, 'example ready');
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void sip.close().then(() => logger.info({ routed: sip.routed }, 'example: closed')));
}
