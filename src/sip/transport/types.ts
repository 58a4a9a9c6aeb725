// What every SIP transport shares (RFC 3261 §18): where a message came from or goes, and the
// small interface the UDP transport and the stream transports (TCP, TLS) both implement.

/** A stream transport; an Endpoint without one is UDP. */
export type SipStreamKind = 'tcp' | 'tls';
export type SipTransportKind = 'udp' | SipStreamKind;

export interface Endpoint {
  address: string;
  port: number;
  /**
   * Set when the message came (or is to go) over a stream: sending to this endpoint reuses the
   * connection to address:port, or opens one (§18.2.2, §18.1.1). Absent: UDP.
   */
  transport?: SipStreamKind;
}

/** One SIP transport: a listening socket that sends serialized messages to endpoints. */
export interface SipMessageTransport {
  readonly kind: SipTransportKind;
  /** The bound port (the configured one before listen()). */
  readonly port: number;
  listen(): Promise<void>;
  close(): Promise<void>;
  /** Send one serialized message; false when it could not be (no socket, limits, closed). */
  sendBytes(buf: Buffer, to: Endpoint): boolean | void;
  /** Streams: a connection to `to` is open now (a send would reuse it rather than connect). */
  connected?(to: Endpoint): boolean;
  /**
   * Streams: keep the connection to `to` (now or once one opens) from the idle timeout until the
   * returned release is called: a dialog or a registration on it needs it, however silent.
   */
  hold?(to: Endpoint): () => void;
}

/** The Via transport token for a kind (§20.42: "UDP", "TCP", "TLS"). */
export function viaTransport(kind: SipTransportKind | undefined): 'UDP' | 'TCP' | 'TLS' {
  return kind === 'tcp' ? 'TCP' : kind === 'tls' ? 'TLS' : 'UDP';
}
