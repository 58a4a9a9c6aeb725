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

export interface PortPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly rtp: dgram.Socket;
  readonly rtcp: dgram.Socket;
  /** Close both sockets and return the pair to the pool. Idempotent. */
  release(): Promise<void>;
}

export interface PortAllocatorOptions {
  /** "20000-29999" or {min, max}. */
  range: string | PortRange;
  /** Local address to bind, default 0.0.0.0. */
  host?: string;
  logger?: Logger;
}

export class PortExhaustedError extends Error {
  override name = 'PortExhaustedError';
}

function bindSocket(type: 'udp4' | 'udp6', port: number, host: string): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
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

  constructor(opts: PortAllocatorOptions) {
    this.range = typeof opts.range === 'string' ? parsePortRange(opts.range) : opts.range;
    this.host = opts.host ?? '0.0.0.0';
    this.log = opts.logger;
    // RTP on even ports, RTCP on the next odd one (RFC 3550 §11).
    this.first = this.range.min + (this.range.min & 1);
    this.pairs = Math.max(0, Math.floor((this.range.max - this.first + 1) / 2));
    if (this.pairs === 0) throw new RangeError(`port range ${this.range.min}-${this.range.max} holds no even/odd pair`);
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

  async allocate(): Promise<PortPair> {
    const type = this.host.includes(':') ? 'udp6' : 'udp4';
    let busyElsewhere = 0;
    // Round-robin from the last position so a just-released pair is not reused at once, which
    // keeps late packets of the old call out of the new one.
    for (let tried = 0; tried < this.pairs; tried++) {
      const idx = (this.cursor + tried) % this.pairs;
      const rtpPort = this.first + idx * 2;
      if (this.inUse.has(rtpPort)) continue;
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
      release: () => {
        released ??= Promise.all([closeSocket(rtp), closeSocket(rtcp)]).then(() => {
          this.inUse.delete(rtpPort);
        });
        return released;
      },
    };
  }
}
