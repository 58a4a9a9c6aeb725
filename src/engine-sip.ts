// The engine's SIP user agent, built from the public `sip` options (EngineOptions['sip']) and the
// services the engine owns. Kept out of engine.ts: it only maps option names onto the UA's.
import type { Logger } from 'pino';
import type { Supervisor } from './actors/supervisor.js';
import type { CallManager } from './call/manager.js';
import type { PortAllocator } from './media/rtp/ports.js';
import type { EngineOptions } from './engine-options.js';
import { SipUserAgent, type SipUserAgentOptions } from './sip/ua/user-agent.js';

export interface EngineSipServices {
  host: string;
  /** `false`: no SIP at all. */
  port: number | false;
  logger: Logger;
  supervisor: Supervisor;
  calls: CallManager;
  allocator: PortAllocator;
}

export function createSipUserAgent(sip: EngineOptions['sip'], services: EngineSipServices): SipUserAgent | undefined {
  if (services.port === false) return undefined;
  return new SipUserAgent({
    ...services,
    port: services.port,
    auth: sip?.auth,
    timers: sip?.timers,
    rtpTimeoutMs: sip?.rtpTimeoutMs,
    strictRtp: sip?.strictRtp,
    srtp: sip?.srtp,
    codecs: sip?.codecs,
    datagrams: sip?.datagrams,
    streamRelay: sip?.streamRelay,
    tagSecret: sip?.tagSecret,
    maxPendingInvites: sip?.maxPendingInvites,
    maxPendingInvitesPerSource: sip?.maxPendingInvitesPerSource,
    registrar: sip?.registrar,
    edge: {
      admission: { allow: sip?.allow, rateLimits: sip?.rateLimits },
      parseLimits: sip?.parseLimits,
      trace: sip?.trace,
    },
    tcp: sip?.tcpPort !== undefined ? { port: sip.tcpPort, limits: sip.streamLimits } : undefined,
    tls: tlsOptions(sip),
    resolver: sip?.resolver,
    sessionTimers: sip?.sessionTimers,
    reliableProvisionals: sip?.reliableProvisionals,
    unreliableEarlyMedia: sip?.unreliableEarlyMedia,
    holdMethod: sip?.holdMethod,
  });
}

function tlsOptions(sip: EngineOptions['sip']): SipUserAgentOptions['tls'] {
  if (sip?.tlsPort === undefined) return undefined;
  if (!sip.tls) throw new Error('sip.tlsPort needs sip.tls: { cert, key } (PEM)');
  return { ...sip.tls, port: sip.tlsPort, limits: sip.streamLimits };
}
