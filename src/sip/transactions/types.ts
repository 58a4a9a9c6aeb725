// What the transaction layer gives its user (the UA core) and asks of it.
import type { createResponse, SipRequest, SipResponse } from '../codec/message.js';
import type { Endpoint } from '../transport/udp.js';

/** A response as it went on the wire: the serialized bytes (owned, not pooled) and their destination. */
export interface SentResponse {
  readonly bytes: Buffer;
  readonly to: Endpoint;
}

export interface ServerTransaction {
  readonly id: string;
  readonly request: SipRequest;
  readonly source: Endpoint;
  readonly isInvite: boolean;
  /**
   * Hand a response to the transaction (it sends and retransmits as the RFC says). Returns the
   * bytes as sent and where they went, for a TU that resends them itself (a 2xx until its ACK).
   */
  respond(res: SipResponse): SentResponse;
  /** Convenience: build and send a response to this transaction's request. */
  reply(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse;
  /**
   * A final response sent as a stateless UAS does (RFC 3261 §8.2.7): once, with no transaction
   * kept to retransmit it or absorb retransmissions (each retransmitted request is answered
   * afresh, one for one). For refusals that must cost nothing: challenges, overload, throttling.
   * Only while the TU is handling the request inline; later it is an ordinary reply.
   */
  replyStateless(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse;
  /** The final status sent, once one was: the machine's, read-only (replies go through reply/respond). */
  readonly finalStatus: number | undefined;
  onTimeout?: () => void;
}

export interface ClientTransactionHandlers {
  /** `source`: where the response came from (it echoed our branch, so it saw the request). */
  onResponse(res: SipResponse, source: Endpoint): void;
  onTimeout?(): void;
  onTransportError?(err: unknown): void;
}

export interface ClientTransaction {
  readonly id: string;
  readonly request: SipRequest;
  readonly destination: Endpoint;
}

/** What the layer asks of the transaction user (the UA core). */
export interface TransactionUser {
  onRequest(tx: ServerTransaction): void;
  /** ACK that matched no server transaction: the ACK for a 2xx, which belongs to the dialog. */
  onAck(ack: SipRequest, source: Endpoint): void;
  /** A 2xx to INVITE after its client transaction ended: retransmitted 2xx, the dialog re-ACKs. */
  onStrayResponse(res: SipResponse, source: Endpoint): void;
}
