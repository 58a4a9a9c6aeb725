// SIP over TCP/TLS in a worker thread (src/sip/workers/): the connections live in the router on the
// main thread, which frames each message, picks the thread by Call-ID and relays it here with the
// id of its connection. This transport is what the user agent sees of a stream (the same
// SipMessageTransport as stream.ts): what it sends to an endpoint is relayed back to the router,
// on the connection the endpoint's last message came in on (responses §18.2.2, in-dialog requests
// on the dialog's flow), or with no known connection, to be sent on one the router reuses or opens
// (§18.1.1). The only state is the connection table: endpoint → connection id, dropped when the
// router says the connection closed.
import type { Logger } from 'pino';
import type { Endpoint, SipMessageTransport, SipStreamKind } from './types.js';

/** What a relayed stream transport is told by the router, for one kind. */
export interface SipStreamRelayHandlers {
  /** A framed message that came in on connection `conn` from `from`. */
  message(bytes: Buffer, from: Endpoint, conn: number): void;
  /** Connection `conn` closed. */
  closed(conn: number): void;
  /** A send the router could not do (the connection is gone, limits, no connection possible). */
  failed(conn: number | undefined, to: Endpoint, reason: string): void;
}

/** The router side as a worker thread's engine sees it (src/sip/workers/thread.ts builds it). */
export interface SipStreamRelay {
  /** The router's listening port of each kind it serves (Via sent-by, Contact). */
  readonly ports: Readonly<Partial<Record<SipStreamKind, number>>>;
  /** Start taking `kind`'s messages; the function returned stops it. */
  subscribe(kind: SipStreamKind, handlers: SipStreamRelayHandlers): () => void;
  /** Send on connection `conn` (undefined: on the router's connection to `to`, opened if needed). */
  send(kind: SipStreamKind, bytes: Buffer, to: Endpoint, conn: number | undefined): void;
  /** Keep (true) or stop keeping (false) the router's connection to `to` from the idle timeout. */
  hold(kind: SipStreamKind, to: Endpoint, on: boolean): void;
}

export interface SipRelayedStreamStats {
  received: number;
  /** Handed to the router to send. */
  sent: number;
  /** Sends the router reported it could not do. */
  failed: number;
  /** Connections the router reported closed that this thread knew. */
  closed: number;
}

export interface SipRelayedStreamOptions {
  kind: SipStreamKind;
  relay: SipStreamRelay;
  logger: Logger;
  deliver: (bytes: Buffer, from: Endpoint) => void;
}

export class SipRelayedStreamTransport implements SipMessageTransport {
  readonly kind: SipStreamKind;
  readonly stats: SipRelayedStreamStats = { received: 0, sent: 0, failed: 0, closed: 0 };
  /** The connection each peer "address|port" last sent on, and back. */
  private readonly conns = new Map<string, number>();
  private readonly keys = new Map<number, string>();
  /** Holders (dialogs, registrations) per peer: the router is told on the first and after the last. */
  private readonly holds = new Map<string, number>();
  private unsubscribe: (() => void) | undefined;
  private readonly log: Logger;

  constructor(private readonly opts: SipRelayedStreamOptions) {
    this.kind = opts.kind;
    this.log = opts.logger.child({ component: `sip-${opts.kind}-relayed` });
  }

  get port(): number {
    return this.opts.relay.ports[this.kind] ?? 0;
  }

  /** Connections this thread knows open (those it received on). */
  get openConnections(): number {
    return this.keys.size;
  }

  listen(): Promise<void> {
    this.unsubscribe ??= this.opts.relay.subscribe(this.kind, {
      message: (bytes, from, conn) => {
        this.stats.received++;
        const k = key(from);
        const old = this.conns.get(k);
        if (old !== conn) {
          if (old !== undefined) this.keys.delete(old);
          this.conns.set(k, conn);
          this.keys.set(conn, k);
        }
        this.opts.deliver(bytes, from);
      },
      closed: (conn) => {
        if (this.forget(conn)) this.stats.closed++;
      },
      failed: (conn, to, reason) => {
        this.stats.failed++;
        if (conn !== undefined) this.forget(conn);
        this.log.debug({ remote: to, conn, reason }, 'relayed sip send failed');
      },
    });
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const k of this.holds.keys()) this.opts.relay.hold(this.kind, fromKey(k, this.kind), false);
    this.holds.clear();
    this.conns.clear();
    this.keys.clear();
    return Promise.resolve();
  }

  /** Relayed to the router: true once handed over (a failure is reported back, see `failed`). */
  sendBytes(buf: Buffer, to: Endpoint): boolean {
    if (!this.unsubscribe) return false;
    this.stats.sent++;
    this.opts.relay.send(this.kind, buf, to, this.conns.get(key(to)));
    return true;
  }

  connected(to: Endpoint): boolean {
    return this.conns.has(key(to));
  }

  hold(to: Endpoint): () => void {
    const k = key(to);
    const n = this.holds.get(k) ?? 0;
    this.holds.set(k, n + 1);
    if (n === 0) this.opts.relay.hold(this.kind, to, true);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.holds.get(k) ?? 1) - 1;
      if (left > 0) return void this.holds.set(k, left);
      if (!this.holds.delete(k)) return; // released by close()
      this.opts.relay.hold(this.kind, to, false);
    };
  }

  private forget(conn: number): boolean {
    const k = this.keys.get(conn);
    if (k === undefined) return false;
    this.keys.delete(conn);
    if (this.conns.get(k) === conn) this.conns.delete(k);
    return true;
  }
}

function key(e: Endpoint): string {
  return `${e.address}|${e.port}`;
}

function fromKey(k: string, transport: SipStreamKind): Endpoint {
  const i = k.lastIndexOf('|');
  return { address: k.slice(0, i), port: Number(k.slice(i + 1)), transport };
}
