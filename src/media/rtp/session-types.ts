// The RTP session's public shapes: what it is created with, what stats() reports, what it emits.
import type { Logger } from 'pino';
import type { RtcpPacket } from '../codecs/rtcp.js';
import type { G711Law } from '../codecs/g711.js';
import type { DtmfSenderOptions } from '../codecs/dtmf.js';
import type { ReceiveStatsSnapshot } from './stats.js';
import type { JitterBufferStats } from '../jitter/jitter-buffer.js';
import type { PortAllocator } from './ports.js';
import type { RtpLatchOptions, RtpLatchSnapshot, RemoteEndpoint } from './latch.js';

export interface RtpSessionOptions {
  allocator: PortAllocator;
  /** Negotiated audio codec. */
  codec?: G711Law;
  /** Negotiated telephone-event payload type; null disables RFC 4733. */
  telephoneEventPt?: number | null;
  ssrc?: number;
  cname?: string;
  /**
   * Which source RTP and RTCP are taken from (strict RTP, src/media/rtp-latch.ts). Media is sent
   * back to the latched source (symmetric RTP, RFC 4961), so callers behind NAT are heard and
   * hear us. Default: mode `probation`, 4 packets.
   */
  strictRtp?: RtpLatchOptions;
  /**
   * The IPs the peer's signalling came from, most recent first (the UA passes the INVITE's source
   * or destination; setSignallingAddresses() updates them). With `strictRtp.natSources`
   * `signalling` (the default) only these hosts and the SDP address's may become a NAT source.
   * Absent or empty (media without SIP): any host may, as before.
   */
  signallingAddresses?: readonly string[];
  /** Remote SSRC from SDP (a=ssrc) if known; sources sending another SSRC are never latched. */
  expectedRemoteSsrc?: number;
  /** Emit 'timeout' after this long without RTP. 0 disables. Default 30 s. */
  timeoutMs?: number;
  /** Nominal RTCP report interval; randomised ×[0.5, 1.5] per RFC 3550 §6.3.1. Default 5 s. */
  rtcpIntervalMs?: number;
  dtmf?: DtmfSenderOptions;
  /** Sequential packets before a new source's stats are trusted (RFC 3550 A.1). */
  minSequential?: number;
  /** Monotonic ms clock (default performance.now). */
  clock?: () => number;
  /** Wall clock in Unix ms for NTP timestamps in SR (default Date.now). */
  wallClock?: () => number;
  logger?: Logger;
}


export interface RtpSessionStats {
  kind: 'rtp';
  ssrc: number;
  codec: G711Law;
  local: { rtpPort: number; rtcpPort: number };
  remote: RemoteEndpoint | null;
  latched: boolean;
  packetsSent: number;
  octetsSent: number;
  dtmfSent: number;
  receive: ReceiveStatsSnapshot;
  /** Datagrams that failed to parse. */
  malformed: number;
  unknownPayloadType: number;
  /** RTP datagrams dropped because they came from a non-latched source (probation included). */
  foreignSource: number;
  /**
   * The RTP socket is connected to the latched source (`strictRtp.connect`): the kernel refuses
   * other sources' datagrams, which are then not counted in foreignSource.
   */
  connected: boolean;
  /** Strict RTP: mode, state, latched source, where RTCP goes, RTCP dropped from unshown addresses. */
  latch: RtpLatchSnapshot;
  /** What the peer last reported about our stream (RTCP RR/SR report block). */
  remoteReport: { fractionLost: number; cumulativeLost: number; jitterMs: number } | null;
  /**
   * SRTP in use (null: plain RTP): its suite, and SRTP/SRTCP packets dropped as unauthentic,
   * replayed, or too short to carry SRTP's trailer (`malformed`: e.g. a plain RTCP packet).
   */
  srtp: { suite: string; authFailed: number; replayed: number; malformed: number } | null;
  /**
   * The jitter buffer of the leg's playout path (depth, target, concealed and late frames), or
   * null while nothing has listened through it (echo and pass-through relays do not).
   */
  jitterBuffer: JitterBufferStats | null;
  rttMs: number | null;
  mos: number;
}

export interface RtpSessionEvents {
  /** Decoded frame. The array is reused for the next packet: copy it to keep it. */
  audio: [frame: Int16Array, timestamp: number, sequenceNumber: number];
  /**
   * Raw G.711 payload of an audio packet in the negotiated codec, for pass-through (echo,
   * same-codec bridges) without decode/encode. The view is into the datagram: copy to keep.
   * Emitted before 'audio'; decoding happens only when someone listens to 'audio'.
   */
  payload: [payload: Uint8Array, timestamp: number, sequenceNumber: number];
  dtmf: [digit: string, durationMs: number];
  started: [source: RemoteEndpoint & { ssrc: number }];
  latched: [source: RemoteEndpoint];
  timeout: [info: { silentMs: number }];
  rtcp: [packets: RtcpPacket[]];
  bye: [reason: string | undefined];
  closed: [];
}
