// RTP/RTCP port-pair allocation over a configured range. Allocation binds real sockets, so a
// port held by another process is discovered at bind time and skipped rather than trusted.

import dgram from 'node:dgram';
import type { Logger } from 'pino';

export interface PortRange {
  min: number;
  max: number;
}

export function parsePortRange(spec: string): PortRange {
  const m = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(spec);
  if (!m) throw new RangeError(`invalid port range ${JSON.stringify(spec)} (expected e.g. "20000-29999")`);
  const min = Number(m[1]);
  const max = Number(m[2]);
  if (min < 1 || max > 65535 || max < min + 1) throw new RangeError(`invalid port range ${spec}`);
  return { min, max };
}

/**
 * Cut a port range into `n` contiguous slices of whole even/odd pairs, one per SIP worker thread
 * (each thread owns its RTP ports, so no two threads ever bind the same pair).
 */
export function splitPortRange(spec: string, n: number): string[] {
  const { min, max } = parsePortRange(spec);
  const first = min + (min & 1);
  const pairs = Math.floor((max - first + 1) / 2);
  if (pairs < n) throw new RangeError(`port range ${spec} holds ${pairs} RTP pairs, fewer than ${n} workers`);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const lo = first + 2 * Math.floor((pairs * i) / n);
    const hi = first + 2 * Math.floor((pairs * (i + 1)) / n) - 1;
    out.push(`${lo}-${hi}`);
  }
  return out;
}

export interface PortPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly rtp: dgram.Socket;
  readonly rtcp: dgram.Socket;
  /** The sockets' address family (known from the bind host: no getsockname per call). */
  readonly family: 'IPv4' | 'IPv6';
  /**
   * Give the pair back: it is closed, or kept bound for a later call (see PortAllocatorOptions.pool).
   * Either way it is no longer allocated once this resolves. Idempotent.
   */
  release(): Promise<void>;
}

export interface PortAllocatorOptions {
  /** "20000-29999" or {min, max}. */
  range: string | PortRange;
  /** Local address to bind, default 0.0.0.0. */
  host?: string;
  logger?: Logger;
  /**
   * Released pairs kept bound for reuse instead of closed, at most this many (default: half the
   * range, capped at 4096 — enough for 4000 short calls/s with the 1 s rest, at two file
   * descriptors per parked pair; 0 closes every released pair). Binding and closing two sockets
   * per call was a measurable share of a short call's cost. A parked pair has no listeners but one
   * that drops whatever still arrives (late packets of its last call), does not keep the process
   * alive, and is handed out again only after `reuseAfterMs`, or when the range is otherwise
   * exhausted. close() closes them.
   */
  pool?: number;
  /** How long a released pair rests before reuse (default 1000 ms). */
  reuseAfterMs?: number;
}

interface Parked {
  rtpPort: number;
  rtp: dgram.Socket;
  rtcp: dgram.Socket;
  since: number;
}

const dropDatagram = (): void => {};

export class PortExhaustedError extends Error {
  override name = 'PortExhaustedError';
}

function bindSocket(type: 'udp4' | 'udp6', port: number, host: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    // dgram's default lookup on purpose: with lookupLiteral (udp-lookup.ts) an echo's sends went
    // out inside the receive callback and its p99 added jitter at 300 SRTP calls rose from ~4.4 to
    // 5–14 ms in three of three runs, though it allocates ~0.5 KB less per packet.
    const sock = dgram.createSocket({ type });
    const onError = (err: Error): void => {
      sock.close();
      reject(err);
    };
    sock.once('error', onError);
    // exclusive: under cluster workers each process must own its ports.
    sock.bind({ port, address: host, exclusive: true }, () => {
      sock.off('error', onError);
      resolve(sock);
    });
  });
}

function closeSocket(sock: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve(); // already closed
    }
  });
}

export class PortAllocator {
  readonly range: PortRange;
  readonly host: string;
  private readonly first: number;
  private readonly pairs: number;
  private readonly inUse = new Set<number>();
  private cursor = 0;
  private readonly log: Logger | undefined;
  /** Released pairs still bound, by RTP port, in release order (a Map iterates in insertion order). */
  private readonly parked = new Map<number, Parked>();
  private readonly poolMax: number;
  private readonly reuseAfterMs: number;
  private closed = false;

  constructor(opts: PortAllocatorOptions) {
    this.range = typeof opts.range === 'string' ? parsePortRange(opts.range) : opts.range;
    this.host = opts.host ?? '0.0.0.0';
    this.log = opts.logger;
    // RTP on even ports, RTCP on the next odd one (RFC 3550 §11).
    this.first = this.range.min + (this.range.min & 1);
    this.pairs = Math.max(0, Math.floor((this.range.max - this.first + 1) / 2));
    if (this.pairs === 0) throw new RangeError(`port range ${this.range.min}-${this.range.max} holds no even/odd pair`);
    this.poolMax = Math.max(0, Math.floor(opts.pool ?? Math.min(4096, this.pairs / 2)));
    this.reuseAfterMs = opts.reuseAfterMs ?? 1000;
  }

  /** Released pairs currently kept bound for reuse. */
  get pooled(): number {
    return this.parked.size;
  }

  /** Close the parked pairs; pairs released from now on are closed too. */
  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.parked.values()];
    this.parked.clear();
    await Promise.all(all.flatMap((p) => [closeSocket(p.rtp), closeSocket(p.rtcp)]));
  }

  get capacity(): number {
    return this.pairs;
  }

  get allocated(): number {
    return this.inUse.size;
  }

  isAllocated(rtpPort: number): boolean {
    return this.inUse.has(rtpPort);
  }

  /** A released pair that has rested (PortAllocatorOptions.reuseAfterMs), without binding; else undefined. */
  allocateRested(): PortPair | undefined {
    return this.closed ? undefined : this.unpark(false);
  }

  async allocate(): Promise<PortPair> {
    const rested = this.unpark(false);
    if (rested) return rested;
    const type = this.host.includes(':') ? 'udp6' : 'udp4';
    let busyElsewhere = 0;
    // Round-robin from the last position so a just-released pair is not reused at once, which
    // keeps late packets of the old call out of the new one.
    for (let tried = 0; tried < this.pairs; tried++) {
      const idx = (this.cursor + tried) % this.pairs;
      const rtpPort = this.first + idx * 2;
      if (this.inUse.has(rtpPort) || this.parked.has(rtpPort)) continue;
      this.inUse.add(rtpPort); // reserve across the await so concurrent calls do not collide
      let rtp: dgram.Socket | null = null;
      try {
        rtp = await bindSocket(type, rtpPort, this.host);
        const rtcp = await bindSocket(type, rtpPort + 1, this.host);
        this.cursor = (idx + 1) % this.pairs;
        return this.makePair(rtpPort, rtp, rtcp);
      } catch (err) {
        this.inUse.delete(rtpPort);
        if (rtp) await closeSocket(rtp);
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EADDRINUSE' && code !== 'EACCES') throw err;
        busyElsewhere++;
        this.log?.debug({ port: rtpPort, code }, 'rtp port pair busy, trying next');
      }
    }
    // Nothing else is free: a parked pair, however recently released, beats failing the call.
    const any = this.unpark(true);
    if (any) return any;
    throw new PortExhaustedError(
      `no free RTP port pair in ${this.range.min}-${this.range.max}: ${this.pairs} pairs, ` +
        `${this.inUse.size} allocated here, ${busyElsewhere} held by other sockets`,
    );
  }

  private makePair(rtpPort: number, rtp: dgram.Socket, rtcp: dgram.Socket): PortPair {
    let released: Promise<void> | null = null;
    return {
      rtpPort,
      rtcpPort: rtpPort + 1,
      rtp,
      rtcp,
      family: this.host.includes(':') ? 'IPv6' : 'IPv4',
      release: () => {
        released ??= this.park(rtpPort, rtp, rtcp)
          ? Promise.resolve()
          : Promise.all([closeSocket(rtp), closeSocket(rtcp)]).then(() => {
              this.inUse.delete(rtpPort);
            });
        return released;
      },
    };
  }

  /** Keep a released pair bound for reuse, if the pool has room. */
  private park(rtpPort: number, rtp: dgram.Socket, rtcp: dgram.Socket): boolean {
    if (this.closed || this.parked.size >= this.poolMax) return false;
    for (const sock of [rtp, rtcp]) {
      // Whatever the last call hooked on goes; late datagrams are read and dropped.
      sock.removeAllListeners();
      sock.on('message', dropDatagram);
      sock.on('error', dropDatagram);
      sock.unref();
    }
    this.inUse.delete(rtpPort);
    this.parked.set(rtpPort, { rtpPort, rtp, rtcp, since: performance.now() });
    return true;
  }

  /** The longest-parked pair, as a fresh allocation, if it has rested long enough (or `any`). */
  private unpark(any: boolean): PortPair | undefined {
    const oldest = this.parked.values().next().value as Parked | undefined;
    if (!oldest || (!any && performance.now() - oldest.since < this.reuseAfterMs)) return undefined;
    this.parked.delete(oldest.rtpPort);
    for (const sock of [oldest.rtp, oldest.rtcp]) {
      sock.removeAllListeners();
      sock.ref();
    }
    this.inUse.add(oldest.rtpPort);
    return this.makePair(oldest.rtpPort, oldest.rtp, oldest.rtcp);
  }
}
