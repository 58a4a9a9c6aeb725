// A call leg's RTP socket connected to its one accepted source, once strict RTP has locked onto it.
//
// An unconnected dgram send costs an address lookup deferred by a tick (a closure and a nextTick
// per datagram) and a route lookup in the kernel; a connected socket sends at once on the cached
// route: medians 0.5–8 µs less process CPU per echoed packet at 400 calls, of 26–33 (docs/media.md,
// "Connected sockets"). The kernel then also refuses every other source's
// datagrams before they cost any JavaScript, so this is only done while the latch would drop them
// anyway (RtpSourceLatch.exclusive): what is accepted does not change, only that the refused ones
// are no longer counted.
import type { Socket } from 'node:dgram';
import type { RemoteEndpoint } from './latch.js';

/** Sends carry the address. */
const OPEN = 0;
/**
 * connect() called. dgram connects in the tick after (its address lookup) and says so a tick
 * later; meanwhile a send with an address goes to the connected target. A send issued between
 * connect() and that tick is refused (EISCONN, silently), hence connect() only after the sends of
 * the packet that showed the source.
 */
const CONNECTING = 1;
const CONNECTED = 2;
/** The target changed while connecting: disconnect as soon as the connect completes; sends meanwhile are dropped (they would go to the old target). */
const RELEASING = 3;
/** Never connect: turned off, or a connect failed (it is not retried per packet). */
const OFF = 4;

type LinkState = typeof OPEN | typeof CONNECTING | typeof CONNECTED | typeof RELEASING | typeof OFF;

export class PeerLink {
  private state: LinkState;
  private address = '';
  private port = 0;
  /** close() waiting for a connect in flight to complete (then it disconnects). */
  private settled: (() => void) | null = null;

  constructor(
    private readonly socket: Socket,
    enabled: boolean,
    private readonly onConnectError: (err: Error) => void,
  ) {
    this.state = enabled ? OPEN : OFF;
  }

  /** The socket is connected: the kernel delivers only the latched source's datagrams. */
  get connected(): boolean {
    return this.state === CONNECTED;
  }

  /** Not connected and may be: what the receive path checks before asking the latch. */
  get idle(): boolean {
    return this.state === OPEN;
  }

  /**
   * Connect to `to`, which the latch now accepts alone. Call after the datagram that showed it has
   * been handled: a send issued after connect() but before dgram completes it would be refused.
   */
  connect(to: RemoteEndpoint): void {
    if (this.state !== OPEN) return;
    this.state = CONNECTING;
    this.address = to.address;
    this.port = to.port;
    try {
      this.socket.connect(to.port, to.address, (err?: Error) => this.connectDone(err));
    } catch (err) {
      this.state = OFF;
      this.onConnectError(err as Error);
    }
  }

  private connectDone(err: Error | undefined): void {
    if (err) {
      if (this.state === CONNECTING || this.state === RELEASING) {
        this.state = OFF;
        this.onConnectError(err);
      }
      this.settle();
      return;
    }
    if (this.state === CONNECTING) this.state = CONNECTED;
    else if (this.state === RELEASING) this.disconnect();
    this.settle();
  }

  private settle(): void {
    const done = this.settled;
    this.settled = null;
    done?.();
  }

  /** Whether sends go to `to` without an address (connected to it, or about to be). */
  isTo(to: RemoteEndpoint | null): boolean {
    return to !== null && (this.state === CONNECTED || this.state === CONNECTING) && to.port === this.port && to.address === this.address;
  }

  /** The latch no longer accepts the connected source alone (a re-INVITE moved it): send with addresses again. */
  release(): void {
    if (this.state === CONNECTED) this.disconnect();
    else if (this.state === CONNECTING) this.state = RELEASING;
  }

  /**
   * Before the socket goes back to the port pool: disconnected, so that the next call's session
   * gets a socket that hears every source and sends where it says. Waits for a connect in flight
   * (two ticks at most), or for the socket's close.
   */
  close(): Promise<void> {
    if (this.state === CONNECTED) this.disconnect();
    if (this.state !== CONNECTING && this.state !== RELEASING) {
      this.state = OFF;
      return Promise.resolve();
    }
    this.state = RELEASING;
    return new Promise<void>((resolve) => {
      const done = (): void => {
        this.socket.off('close', done);
        this.state = OFF;
        resolve();
      };
      this.settled = done;
      this.socket.once('close', done);
    });
  }

  // Linux keeps the port of a disconnected UDP socket only if it was bound to an explicit port
  // (one the kernel picked is unbound): PortAllocator's always are.
  private disconnect(): void {
    try {
      this.socket.disconnect();
      this.state = OPEN;
    } catch (err) {
      // Closed meanwhile: nothing is sent from a closed session.
      this.state = OFF;
      this.onConnectError(err as Error);
    }
  }

  /** Send one datagram to `to` (the session's current remote). */
  send(buf: Buffer, to: RemoteEndpoint): void {
    if (this.state === CONNECTED) this.socket.send(buf);
    else if (this.state !== RELEASING) this.socket.send(buf, to.port, to.address);
  }
}
