// What a SipUserAgent is configured with, what it counts, and which methods it implements.
import type { Logger } from 'pino';
import type { SipTimerConfig } from '../../../machines/sipTimers.js';
import type { Supervisor } from '../../actors/supervisor.js';
import type { CallManager } from '../../call/manager.js';
import type { PortAllocator } from '../../media/rtp/ports.js';
import type { RtpSessionOptions } from '../../media/rtp/session.js';
import type { AudioCodec, SrtpMode } from '../codec/sdp.js';
import type { DatagramFeed, SipEdgeOptions } from '../transport/udp.js';
import type { SipStreamLimits, SipTlsOptions } from '../transport/stream.js';
import type { SipStreamRelay } from '../transport/relayed-stream.js';
import type { SipDnsResolver } from '../resolve/rfc3263.js';
import type { RegistrarOptions } from '../registrar/registrar.js';
import type { SipSessionTimerOptions } from './session-timer.js';
import type { ReliableProvisionalMode } from './prack.js';

/** Methods this UA implements; anything else gets 405 (known) or 501 (unknown), with Allow. */
export const ALLOWED_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'INFO', 'REFER', 'NOTIFY', 'UPDATE', 'PRACK'] as const;
export const KNOWN_METHODS: ReadonlySet<string> = new Set(['REGISTER', 'SUBSCRIBE', 'PUBLISH', 'MESSAGE', 'UPDATE', 'PRACK', ...ALLOWED_METHODS]);
export const ALLOW = ALLOWED_METHODS.join(', ');

export interface SipAuthOptions {
  realm: string;
  /** username → password (or a lookup). */
  users: Record<string, string> | ((username: string) => string | undefined);
  /** How long a nonce stays valid (default 5 min); an expired one gets stale=true. */
  nonceTtlMs?: number;
  algorithm?: 'MD5' | 'SHA-256';
  /**
   * Failed authentications allowed per source address and window (default 5); beyond them the
   * source's INVITEs get 403 without their credentials being checked until the window ends.
   */
  maxFailures?: number;
  /** That window, from the source's first failure (default 60 s). */
  failureWindowMs?: number;
}

/** Default cap on inbound INVITEs not yet answered and ACKed (SipUserAgentOptions.maxPendingInvites). */
export const DEFAULT_MAX_PENDING_INVITES = 1000;

/**
 * 2xx retransmissions sent to a peer that has not shown it receives them (no ACK, no in-dialog
 * request, no RTP to the port our SDP gave): at T1, 3T1, 7T1 and 15T1 after the first 2xx
 * (0.5 to 7.5 s), instead of up to 64*T1. See SipLeg.start2xxRetransmission.
 */
export const UNCONFIRMED_2XX_RETRANSMITS = 4;

export interface SipUserAgentOptions {
  host: string;
  port: number;
  logger: Logger;
  supervisor: Supervisor;
  calls: CallManager;
  allocator: PortAllocator;
  timers?: Partial<SipTimerConfig>;
  /** Challenge inbound INVITEs with digest authentication. */
  auth?: SipAuthOptions;
  userAgent?: string;
  /** Hang up when no RTP arrives for this long (default 60 s; 0 = never). */
  rtpTimeoutMs?: number;
  /** Strict RTP for every call's media (src/media/rtp-latch.ts; default mode `probation`). */
  strictRtp?: RtpSessionOptions['strictRtp'];
  /** SRTP with SDES keys (RFC 3711/4568): 'off' (default), 'optional' or 'required'. */
  srtp?: SrtpMode;
  codecs?: AudioCodec[];
  /** Inbound datagrams come from this feed (a SIP router thread); see SipTransportOptions.feed. */
  datagrams?: DatagramFeed;
  /**
   * TCP/TLS connections held by a router thread (src/sip/workers/): each kind it serves gets a
   * relayed stream transport (relayed-stream.ts) instead of a socket of ours.
   */
  streamRelay?: SipStreamRelay;
  /** Signs our INVITEs' From tags (tag-auth.ts; default fresh random bytes). */
  tagSecret?: Uint8Array;
  /**
   * Inbound INVITEs not yet finished (ringing, being set up, or answered and waiting for the ACK)
   * held at most; beyond it a new INVITE gets 503 + Retry-After before any call, dialog or RTP
   * port is created for it (default 1000).
   */
  maxPendingInvites?: number;
  /**
   * Of those, at most this many from one source address (default half of maxPendingInvites), so
   * one source that never completes its INVITEs cannot take every slot from the others.
   */
  maxPendingInvitesPerSource?: number;
  /** Admission, parser caps and scanner silence at the transport (src/sip/transport.ts). */
  edge?: SipEdgeOptions;
  /** SIP over TCP beside UDP (src/sip/transport/stream.ts); port 0: ephemeral. */
  tcp?: { port: number; limits?: Partial<SipStreamLimits> };
  /** SIP over TLS beside UDP, with the certificate and key to serve. */
  tls?: SipTlsOptions & { port: number; limits?: Partial<SipStreamLimits> };
  /** DNS for RFC 3263 lookups of outbound targets (default: node:dns's Resolver). */
  resolver?: SipDnsResolver;
  /** The registrar (src/sip/registrar/): on when `auth` is given, unless false. */
  registrar?: RegistrarOptions | false;
  /** Session timers (RFC 4028, src/sip/ua/session-timer.ts); false: none, not even `Supported: timer`. */
  sessionTimers?: SipSessionTimerOptions | false;
  /** Hold/resume offers by re-INVITE (default) or, toward a peer whose Allow names it, UPDATE (RFC 3311). */
  holdMethod?: 'INVITE' | 'UPDATE';
  /** Reliable provisional responses (RFC 3262, src/sip/ua/prack.ts); default 'supported'. */
  reliableProvisionals?: ReliableProvisionalMode;
  /** Our answer in an unreliable 183 to a caller without 100rel (default true; legs.ts). */
  unreliableEarlyMedia?: boolean;
}

export interface OutboundCallOptions {
  /** From URI (default sip:callchart@<host>:<port>). */
  from?: string;
  /** Display name for From. */
  displayName?: string;
  /** Credentials used when the far end challenges with 401/407. */
  auth?: { username: string; password: string };
  /** Extra headers for the INVITE. */
  headers?: Record<string, string>;
  /**
   * Send the INVITE (and the dialog's requests until a Record-Route or Contact says otherwise)
   * to this address instead of the one the target URI resolves to: an outbound proxy, or the
   * connection a client registered over (`engine.connect` uses it for a TCP/TLS binding whose
   * connection is still open: such clients often listen nowhere else).
   */
  nextHop?: { address: string; port: number; transport?: 'tcp' | 'tls' };
  /**
   * A preloaded Route set (RFC 3261 §8.1.2), e.g. a registered binding's Path (RFC 3327): name-addrs
   * of SIP URIs, first hop first. The INVITE carries them as Route headers and goes to the first
   * one's host (resolved as any URI, unless `nextHop` says otherwise). With `lr` on the first
   * (loose routing) the target stays the Request-URI; without it (a strict router, §12.2.1.1) the
   * first route becomes the Request-URI and the target the last Route. The dialog's own route set
   * still comes from the answer's Record-Route.
   */
  route?: string[];
}

export interface SipStats {
  invitesReceived: number;
  callsRejectedBusy: number;
  /** INVITEs refused with 503 because maxPendingInvites were already pending. */
  invitesRejectedPending: number;
  /** INVITEs refused with 503 because their source already held maxPendingInvitesPerSource. */
  invitesRejectedPendingSource: number;
  retransmitted2xx: number;
  /** 2xx responses whose ACK never came. */
  unacknowledged2xx: number;
  /** … of which the peer never confirmed it receives us: the call ended without a BYE. */
  byesWithheld: number;
  authChallenges: number;
  /** Digest authentications that failed (bad password, unknown user, malformed, replayed). */
  authFailures: number;
  /** INVITEs refused with 403 unchecked: their source used up its failed attempts. */
  authThrottled: number;
  /** Session refreshes (RFC 4028) we sent, UPDATE or re-INVITE. */
  sessionRefreshesSent: number;
  /** Calls ended by their session timer (no refresh came in time). */
  sessionTimersExpired: number;
  /** Session refresh requests refused with 422 (Session-Expires below our Min-SE). */
  sessionIntervalsTooSmall: number;
  /** Dialogs of a 2xx to an INVITE already forgotten (its From tag ours): ACKed and sent a BYE. */
  forgotten2xxEnded: number;
  /** 2xx to INVITE matching no transaction or call whose From tag is not ours, or malformed: dropped unanswered. */
  stray2xxDropped: number;
}

export function emptySipStats(): SipStats {
  return {
    invitesReceived: 0,
    callsRejectedBusy: 0,
    invitesRejectedPending: 0,
    invitesRejectedPendingSource: 0,
    retransmitted2xx: 0,
    unacknowledged2xx: 0,
    byesWithheld: 0,
    authChallenges: 0,
    authFailures: 0,
    authThrottled: 0,
    sessionRefreshesSent: 0,
    sessionTimersExpired: 0,
    sessionIntervalsTooSmall: 0,
    forgotten2xxEnded: 0,
    stray2xxDropped: 0,
  };
}
