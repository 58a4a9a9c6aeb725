// Which source a call leg's RTP and RTCP are accepted from, and where they are sent: strict RTP
// with NAT latching after a probation, after Asterisk's `strictrtp` (res_rtp_asterisk.c).
//
// It runs on every received datagram, so it is a plain class over preallocated fields rather than
// an XState actor: a flood of foreign packets must cost a few compares each, never an event through
// an interpreter (docs/media.md, "Strict RTP", draws the states and says why).
import { isIP } from 'node:net';
import type { RtcpPacket } from '../codecs/rtcp.js';

/**
 * - `probation` (default): RTP from the SDP address (c= address and m= port) is latched at once;
 *   another source (a caller behind NAT) on a host `natSources` allows only after its first
 *   packets pass a probation.
 * - `strict`: only the SDP address; callers behind NAT get no audio.
 * - `first`: the first source to send is latched, whatever the SDP said (the behaviour before
 *   strict RTP; open to RTP hijack, for labs only).
 */
export type StrictRtpMode = 'strict' | 'probation' | 'first';
export const STRICT_RTP_MODES: readonly StrictRtpMode[] = ['strict', 'probation', 'first'];

/**
 * In `probation` mode, which hosts a source that is not the SDP address may send from to be put on
 * probation at all (SBCs restrict NAT latching the same way):
 * - `signalling` (default): the SDP address's IP (a NAT that changes only the port), or an IP the
 *   peer's signalling came from (a phone behind NAT sends its RTP from the public IP its SIP comes
 *   from). Until the signalling hosts are known (setSignalling; an RtpSession used without SIP never
 *   learns them) any host is taken, as with `any`.
 * - `any`: any host. For peers whose media comes from elsewhere than both their SDP address and
 *   their signalling (a NAT'ed phone behind a proxy that leaves its SDP alone, a media relay).
 */
export type NatSources = 'signalling' | 'any';
export const NAT_SOURCES: readonly NatSources[] = ['signalling', 'any'];

export interface RtpLatchOptions {
  /** Default `probation`. */
  mode?: StrictRtpMode;
  /** Default `signalling`: see NatSources. */
  natSources?: NatSources;
  /** In-sequence packets (one SSRC, consecutive sequence numbers) a non-SDP source sends before it is latched. Default 4. */
  probationPackets?: number;
  /**
   * Least time those packets may span: a faster run is a burst, not a stream, and starts over.
   * Default (probationPackets − 1) × 9 − 5 ms (22 ms for 4), as Asterisk: 10 ms packets, a
   * fast clock and a little jitter still pass.
   */
  probationMinMs?: number;
  /**
   * How long after the SDP address is set (call setup, re-INVITE) a stream latched to a non-SDP
   * source may still move to another source that passes probation while the current one is
   * silent. Afterwards it is locked: only the SDP address can take it over, until the next
   * re-INVITE. Default 5000 ms (Asterisk's learning timeout).
   */
  learningMs?: number;
  /**
   * Connect the RTP socket to the source once nothing else can be accepted (locked to the SDP
   * address, or to the one source when there is none): sends skip dgram's per-datagram address
   * lookup and the kernel's route lookup, and the kernel refuses other sources' datagrams itself,
   * so those are no longer counted in `foreignRtp`. Default true; false keeps every datagram
   * reaching the latch (to count RTP hijack attempts after the lock).
   */
  connect?: boolean;
}

/** `unlatched`: nothing accepted yet. `learning`: latched to a non-SDP source, which may still be replaced. `locked`: only the SDP address may take over. */
export type RtpLatchState = 'unlatched' | 'learning' | 'locked';

export interface RemoteEndpoint {
  address: string;
  port: number;
}

export interface RtpLatchSnapshot {
  mode: StrictRtpMode;
  natSources: NatSources;
  /** The peer's signalling hosts the latch knows (most recent first); empty = not known. */
  signalling: string[];
  state: RtpLatchState;
  /** Latched RTP source (where RTP is sent once latched). */
  source: RemoteEndpoint | null;
  /** Where RTCP reports go now; null = nowhere yet (the peer has not shown an address). */
  rtcp: RemoteEndpoint | null;
  /** Times the RTP source was (re)latched. */
  moves: number;
  /** RTP datagrams dropped because they came from a non-latched source (probation included). */
  foreignRtp: number;
  /**
   * Of those, datagrams from a host that is neither the SDP address's nor a signalling host, never
   * put on probation (`natSources: 'signalling'`). A peer whose media all counts here sends from
   * elsewhere: `natSources: 'any'` takes it (docs/media.md).
   */
  offHostRtp: number;
  /** RTCP datagrams dropped because they came from an address the peer has not shown. */
  foreignRtcp: number;
}

/** rtp() verdicts. */
export const RTP_DROP = 0;
export const RTP_ACCEPT = 1;
/** Accepted, and the latched source changed: the send target moved. */
export const RTP_MOVED = 2;
export type RtpVerdict = typeof RTP_DROP | typeof RTP_ACCEPT | typeof RTP_MOVED;

/** A destination RTP may be sent to: a unicast IP literal of the socket's family, a port 1-65535. */
export function usableRemote(address: string, port: number, family: string): boolean {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return false;
  const v = isIP(address);
  if (v === 4) {
    // 0.0.0.0/8 (on Linux 0.0.0.0 reaches this very host), multicast, the broadcast address.
    const first = Number(address.slice(0, address.indexOf('.')));
    return family === 'IPv4' && first !== 0 && (first < 224 || first > 239) && address !== '255.255.255.255';
  }
  // :: (unspecified) and ff00::/8 (multicast).
  return v === 6 && family === 'IPv6' && !/^[0:]+$/.test(address) && !/^ff/i.test(address);
}

/** The SSRC an RTCP compound speaks for: its SR/RR sender, else its first SDES chunk or BYE source; -1 if none. */
export function senderSsrc(packets: RtcpPacket[]): number {
  const p = packets[0];
  if (!p) return -1;
  if (p.type === 'SR' || p.type === 'RR') return p.ssrc;
  if (p.type === 'SDES') return p.chunks[0]?.ssrc ?? -1;
  if (p.type === 'BYE') return p.ssrcs[0] ?? -1;
  return -1;
}

const validPort = (p: number): boolean => Number.isInteger(p) && p > 0 && p <= 65535;

export class RtpSourceLatch {
  readonly mode: StrictRtpMode;
  readonly natSources: NatSources;
  private readonly need: number;
  private readonly minMs: number;
  private readonly learningMs: number;
  /** Remote SSRC from SDP (a=ssrc), or -1: sources sending another SSRC are never latched. */
  private readonly expectedSsrc: number;

  // SDP address (null until setSdp) and its RTCP port (0 = none usable).
  private sdpAddr: string | null = null;
  private sdpPort = 0;
  private sdpRtcpPort = 0;

  // The peer's signalling hosts, most recent first (null = none known): two plain fields, so the
  // host check of a foreign packet is two string compares, nothing allocated or hashed.
  private sig1: string | null = null;
  private sig2: string | null = null;

  // Latched RTP source.
  private srcAddr: string | null = null;
  private srcPort = 0;
  private phase: RtpLatchState = 'unlatched';
  private learnSince: number;

  // The one source in probation (Asterisk keeps one too: competing streams reset each other).
  private candAddr: string | null = null;
  private candPort = 0;
  private candSsrc = 0;
  private candSeq = 0;
  private candLeft = 0;
  private candSince = 0;

  // Latched RTCP source.
  private rtcpAddr: string | null = null;
  private rtcpPort = 0;

  moves = 0;
  foreignRtp = 0;
  offHostRtp = 0;
  foreignRtcp = 0;

  constructor(opts: RtpLatchOptions & { expectedSsrc?: number }, now: number) {
    this.mode = opts.mode ?? 'probation';
    if (!STRICT_RTP_MODES.includes(this.mode)) throw new RangeError(`strict RTP mode must be one of ${STRICT_RTP_MODES.join(', ')}, got ${JSON.stringify(this.mode)}`);
    this.natSources = opts.natSources ?? 'signalling';
    if (!NAT_SOURCES.includes(this.natSources)) throw new RangeError(`natSources must be one of ${NAT_SOURCES.join(', ')}, got ${JSON.stringify(this.natSources)}`);
    this.need = opts.probationPackets ?? 4;
    if (!Number.isInteger(this.need) || this.need < 1 || this.need > 1000) throw new RangeError(`probationPackets must be an integer 1-1000, got ${this.need}`);
    // One packet cannot span any time: a minimum would never be met.
    this.minMs = this.need === 1 ? 0 : (opts.probationMinMs ?? Math.max(0, (this.need - 1) * 9 - 5));
    this.learningMs = opts.learningMs ?? 5000;
    if (!(this.minMs >= 0) || !(this.learningMs >= 0)) throw new RangeError('probationMinMs and learningMs must be ≥ 0');
    this.expectedSsrc = opts.expectedSsrc === undefined ? -1 : opts.expectedSsrc >>> 0;
    this.learnSince = now;
  }

  get state(): RtpLatchState {
    return this.phase;
  }

  get latched(): boolean {
    return this.srcAddr !== null;
  }

  /**
   * The SDP address (c=, m= port; rtcpPort from a=rtcp or port + 1). A new address drops the
   * latch: the stream is learnt again (the SDP address at once, others after probation). The same
   * address again (session refresh, hold/resume) keeps it but reopens learning, so a caller whose
   * NAT mapping changed can be followed.
   */
  setSdp(address: string, port: number, rtcpPort: number, now: number): void {
    const changed = address !== this.sdpAddr || port !== this.sdpPort;
    this.sdpAddr = address;
    this.sdpPort = port;
    this.sdpRtcpPort = validPort(rtcpPort) ? rtcpPort : 0;
    this.learnSince = now;
    this.candAddr = null;
    if (changed || this.mode === 'first') {
      this.srcAddr = null;
      this.srcPort = 0;
      this.phase = 'unlatched';
      this.rtcpAddr = null;
      this.rtcpPort = 0;
    } else if (this.phase === 'locked' && !this.sourceIsSdp()) {
      this.phase = 'learning';
    }
  }

  /**
   * The IPs the peer's signalling came from, most recent first (SIP: the INVITE's source, where an
   * outbound INVITE went and its responses came from, in-dialog requests); the first two distinct
   * ones count. Empty: not known (any host may be put on probation). Changes nothing already
   * latched or in probation; it decides which hosts may start a probation from now on.
   */
  setSignalling(addresses: readonly string[]): void {
    this.sig1 = addresses[0] ?? null;
    this.sig2 = null;
    for (let i = 1; i < addresses.length && this.sig2 === null; i++) if (addresses[i] !== this.sig1) this.sig2 = addresses[i]!;
  }

  /**
   * One RTP packet that parsed and carries a negotiated payload type: accept it or not. Per
   * packet, so: no allocation, a few compares on the common path (the latched source).
   */
  rtp(address: string, port: number, ssrc: number, seq: number, now: number): RtpVerdict {
    if (port === this.srcPort && address === this.srcAddr) {
      if (this.phase === 'learning') {
        // A live source blocks every candidate (competing streams cannot take it over), and
        // once the learning time is over it is locked.
        this.candAddr = null;
        if (now - this.learnSince >= this.learningMs) this.phase = 'locked';
      }
      return RTP_ACCEPT;
    }
    if (this.expectedSsrc >= 0 && ssrc !== this.expectedSsrc) {
      this.foreignRtp++;
      return RTP_DROP;
    }
    if (this.mode === 'first') {
      if (this.srcAddr === null) {
        this.latchTo(address, port, 'locked');
        return RTP_MOVED;
      }
    } else if (port === this.sdpPort && address === this.sdpAddr) {
      // The address the signalling gave wins at once, over any candidate or NAT source.
      this.latchTo(address, port, 'locked');
      return RTP_MOVED;
    } else if (this.mode === 'probation') {
      if (!this.natHost(address)) {
        // Neither the SDP host nor the signalling's: a stranger. It does not even reset the probation
        // of the peer's own source.
        this.offHostRtp++;
      } else if (this.probation(address, port, ssrc, seq, now)) {
        this.latchTo(address, port, 'learning');
        return RTP_MOVED;
      }
    }
    this.foreignRtp++;
    return RTP_DROP;
  }

  /** Whether a non-SDP source on this host may be put on probation (see NatSources). */
  private natHost(address: string): boolean {
    return this.natSources === 'any' || this.sig1 === null || address === this.sdpAddr || address === this.sig1 || address === this.sig2;
  }

  /** A packet from a non-SDP source while probation is allowed: true once it has passed. */
  private probation(address: string, port: number, ssrc: number, seq: number, now: number): boolean {
    if (this.phase === 'locked') return false;
    if (this.phase === 'learning' && now - this.learnSince >= this.learningMs) {
      this.phase = 'locked';
      return false;
    }
    if (port === this.candPort && address === this.candAddr && ssrc === this.candSsrc && seq === ((this.candSeq + 1) & 0xffff)) {
      this.candSeq = seq;
      this.candLeft--;
    } else {
      // Another source, another SSRC or a sequence gap: probation starts over from this packet.
      this.candAddr = address;
      this.candPort = port;
      this.candSsrc = ssrc;
      this.candSeq = seq;
      this.candLeft = this.need - 1;
      this.candSince = now;
    }
    if (this.candLeft > 0) return false;
    if (now - this.candSince >= this.minMs) return true;
    // The whole run came faster than a stream can: a burst. Start over from this packet.
    this.candLeft = this.need - 1;
    this.candSince = now;
    return false;
  }

  private latchTo(address: string, port: number, phase: RtpLatchState): void {
    this.srcAddr = address;
    this.srcPort = port;
    this.phase = phase;
    this.candAddr = null;
    this.moves++;
    // An RTCP latch on another host than the new media source is no longer shown to be the peer's.
    if (this.rtcpAddr !== null && this.rtcpAddr !== address) {
      this.rtcpAddr = null;
      this.rtcpPort = 0;
    }
  }

  /**
   * Whether the latched source is the only one rtp() can accept until the next setSdp(): locked,
   * and no SDP address that could take over (it is the source, there is none, or `first` mode).
   * Then the socket may be connected to it (PeerLink): the kernel drops what rtp() would.
   */
  get exclusive(): boolean {
    return this.phase === 'locked' && this.srcAddr !== null && (this.mode === 'first' || this.sdpAddr === null || this.sourceIsSdp());
  }

  private sourceIsSdp(): boolean {
    return this.srcAddr !== null && this.srcAddr === this.sdpAddr && this.srcPort === this.sdpPort;
  }

  /**
   * One RTCP compound: accept it or not. Accepted, and latched as the RTCP destination, when it
   * comes from the SDP's RTCP address, or from the latched RTP source's host carrying the SSRC of
   * the latched stream (RTCP has no sequence numbers to probe; the SSRC is what only the peer and
   * whoever sees its stream know). `first` mode takes any RTCP, latching the first source.
   */
  rtcp(address: string, port: number, senderSsrc: number, streamSsrc: number): boolean {
    if (port === this.rtcpPort && address === this.rtcpAddr) return true;
    const shown =
      this.mode === 'first'
        ? this.rtcpAddr === null
        : (port === this.sdpRtcpPort && address === this.sdpAddr) ||
          (address === this.srcAddr && streamSsrc >= 0 && senderSsrc === streamSsrc);
    if (shown) {
      this.rtcpAddr = address;
      this.rtcpPort = port;
      return true;
    }
    if (this.mode === 'first') return true; // processed, but the first RTCP source stays latched
    this.foreignRtcp++;
    return false;
  }

  /** Where RTP goes: the latched source, else the SDP address, else nowhere. Allocates: call on change only. */
  sendTarget(): RemoteEndpoint | null {
    if (this.srcAddr !== null) return { address: this.srcAddr, port: this.srcPort };
    return this.sdpAddr !== null ? { address: this.sdpAddr, port: this.sdpPort } : null;
  }

  /**
   * Where RTCP goes: only to a host the peer has shown it owns. The latched RTCP source; else the
   * latched RTP source's host, at the SDP's RTCP port when RTP came from the SDP address, at RTP
   * port + 1 otherwise (as behind NAT); else nowhere — never to a bare SDP address (`first` mode
   * excepted, as before strict RTP).
   */
  rtcpTarget(): RemoteEndpoint | null {
    if (this.rtcpAddr !== null) return { address: this.rtcpAddr, port: this.rtcpPort };
    if (this.srcAddr !== null) {
      if (this.sourceIsSdp()) return this.sdpRtcpPort ? { address: this.srcAddr, port: this.sdpRtcpPort } : null;
      return this.srcPort < 65535 ? { address: this.srcAddr, port: this.srcPort + 1 } : null;
    }
    if (this.mode === 'first' && this.sdpAddr !== null && this.sdpRtcpPort) return { address: this.sdpAddr, port: this.sdpRtcpPort };
    return null;
  }

  snapshot(): RtpLatchSnapshot {
    return {
      mode: this.mode,
      natSources: this.natSources,
      signalling: [this.sig1, this.sig2].filter((a): a is string => a !== null),
      state: this.phase,
      source: this.srcAddr !== null ? { address: this.srcAddr, port: this.srcPort } : null,
      rtcp: this.rtcpTarget(),
      moves: this.moves,
      foreignRtp: this.foreignRtp,
      offHostRtp: this.offHostRtp,
      foreignRtcp: this.foreignRtcp,
    };
  }
}
