// --hep host:port: every SIP message sent or received, as a HEP v3 datagram to a Homer-compatible
// collector (heplify-server, homer-app). Fire and forget over UDP, like every capture agent: a
// collector that is down costs a failed send, never a SIP delay.
import dgram from 'node:dgram';
import { lookupLiteral } from '../udp-lookup.js';
import { isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { SipTraceHook } from '../sip/transport/udp.js';
import { encodeHep3 } from './hep.js';
import { sipCallId } from './sip-trace.js';

const IPPROTO_TCP = 6;
const IPPROTO_UDP = 17;

export interface HepExporterOptions {
  host: string;
  port: number;
  /** Capture agent id (u32) the collector shows for this node (default 2026). */
  captureId?: number;
  /** Collector password (HEP chunk 14), if it wants one. */
  authKey?: string;
  logger: Logger;
}

export interface HepExporterStats {
  sent: number;
  /** Messages that could not be encoded (mixed address families, over 64 KiB). */
  skipped: number;
  sendErrors: number;
}

/** `"10.0.0.9:9060"`, `"[::1]:9060"`, `"homer.local:9060"` → host and port; throws on anything else. */
export function parseHepTarget(spec: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(spec.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port >= 1 && port <= 65535)) throw new Error(`expected host:port (e.g. 10.0.0.9:9060 or [::1]:9060), got ${JSON.stringify(spec)}`);
  return { host: (m[1] ?? m[2])!, port };
}

export class HepExporter {
  readonly stats: HepExporterStats = { sent: 0, skipped: 0, sendErrors: 0 };
  private readonly socket: dgram.Socket;
  private readonly log: Logger;
  private readonly captureId: number;
  private warned = false;
  private closed = false;

  constructor(private readonly opts: HepExporterOptions) {
    this.log = opts.logger.child({ component: 'hep' });
    this.captureId = opts.captureId ?? 2026;
    this.socket = dgram.createSocket({ type: isIPv6(opts.host) ? 'udp6' : 'udp4', lookup: lookupLiteral });
    this.socket.on('error', (err) => this.log.warn({ err }, 'hep socket error'));
    // Tracing must not keep a process alive that is otherwise done.
    this.socket.unref();
  }

  readonly hook: SipTraceHook = (r) => {
    if (this.closed) return;
    const [src, dst] = r.direction === 'in' ? [r.remote, r.local] : [r.local, r.remote];
    let packet: Buffer;
    try {
      const correlationId = sipCallId(r.bytes);
      packet = encodeHep3({
        srcIp: src.address,
        srcPort: src.port,
        dstIp: dst.address,
        dstPort: dst.port,
        timeMs: r.time,
        captureId: this.captureId,
        // IP protocol of the captured message: TCP for SIP over TCP and TLS (HEP has no TLS value).
        ipProto: r.remote.transport ? IPPROTO_TCP : IPPROTO_UDP,
        payload: r.bytes,
        ...(this.opts.authKey !== undefined ? { authKey: this.opts.authKey } : {}),
        ...(correlationId ? { correlationId } : {}),
      });
    } catch (err) {
      this.stats.skipped++;
      this.log.debug({ err }, 'message not exported to HEP');
      return;
    }
    this.socket.send(packet, this.opts.port, this.opts.host, (err) => {
      if (!err) {
        this.stats.sent++;
        return;
      }
      this.stats.sendErrors++;
      // Once: a collector that is down would otherwise log every SIP message.
      if (!this.warned) {
        this.warned = true;
        this.log.warn({ err, collector: `${this.opts.host}:${this.opts.port}` }, 'hep send failed (further failures are counted, not logged)');
      }
    });
  };

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}
