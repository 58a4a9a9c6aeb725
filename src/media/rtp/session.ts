// One RTP + RTCP endpoint for a call leg. The per-packet paths (send(), the RTP 'message'
// handler) reuse preallocated buffers and a reused parse target; RTCP, DTMF pacing and timeouts
// run on slower timers where allocation does not matter.
import { EventEmitter } from 'node:events';
import type { Socket, RemoteInfo } from 'node:dgram';
import type { Logger } from 'pino';
import { createRtpPacket, parseRtpInto, writeRtpHeader, RTP_HEADER_SIZE, type RtpPacket } from '../codecs/rtp.js';
import { buildRtcpCompound, parseRtcpCompound, type RtcpPacket } from '../codecs/rtcp.js';
import { RtcpReports } from './rtcp-reports.js';
import { decodeG711, encodeG711, lawForPayloadType, G711_PT, type G711Law } from '../codecs/g711.js';
import { DtmfReceiver, DtmfSender, encodeTelephoneEvent, type DtmfSenderOptions } from '../codecs/dtmf.js';
import { DtmfQueue } from './dtmf-queue.js';
import { RtpReceiveStats, estimateMos } from './stats.js';
import type { PortPair } from './ports.js';
import { randomUint16, randomUint32 } from '../../random.js';
import type { RtpSessionEvents, RtpSessionOptions, RtpSessionStats } from './session-types.js';
import { MAX_FRAME_SAMPLES, SendRing, monotonicNow, wallNow } from './send-ring.js';
import { SRTP_MAX_TRAILER, type SrtpSuite } from './srtp.js';
import { SrtpPair, type SrtpKeys } from './srtp-pair.js';
import { JitterPlayout } from '../jitter/playout.js';
import { PeerLink } from './peer-link.js';
import { RtpSourceLatch, RTP_DROP, RTP_MOVED, usableRemote, senderSsrc, type RemoteEndpoint } from './latch.js';
import { leanListeners, listeners } from '../../emit-one.js';

export type { RemoteEndpoint, RtpSessionOptions, RtpSessionStats, RtpSessionEvents };

const CLOCK_RATE = 8000;
/** RtpSession.at slots. */
const AT_RX = 0;
const AT_SEND = 1;
type PayloadListener = (...a: RtpSessionEvents['payload']) => void;
type AudioListener = (...a: RtpSessionEvents['audio']) => void;

export class RtpSession extends EventEmitter<RtpSessionEvents> {
  readonly ssrc: number;
  codec: G711Law;
  payloadType: number;
  telephoneEventPt: number | null;
  readonly cname: string;

  private readonly ports: PortPair;
  private readonly rtp: Socket;
  private readonly rtcp: Socket;
  private readonly log: Logger | undefined;
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  private readonly latch: RtpSourceLatch;
  private readonly link: PeerLink;
  /** 'IPv4' or 'IPv6': the family of the bound sockets, which remote addresses must match. */
  private readonly family: string;
  private readonly timeoutMs: number;
  private readonly rtcpIntervalMs: number;
  private readonly dtmfOpts: DtmfSenderOptions;

  // send state. Per-packet fields hold Smis (int32 on this 64-bit build) or live in `at`: V8 keeps
  // a field's double (a fraction, a uint32 past 2^31) in a box of its own, one more cache line to
  // load per packet, and the echo's cost is mostly such loads (docs/architecture.md, stop 55).
  private seq: number;
  /** The RTP timestamp as an int32 (`>>> 0` gives the wire value). */
  private ts: number;
  /** this.ssrc as an int32, for the header. */
  private readonly ssrcWord: number;
  private markNext = true;
  /** Outgoing datagram buffers (SendRing: its ring is allocated on the first send; many sessions, signalling-only calls, never send). */
  private readonly ring: SendRing;
  private readonly dtmfBuf = Buffer.allocUnsafe(RTP_HEADER_SIZE + 4 + SRTP_MAX_TRAILER);
  private packetsSent = 0;
  private octetsSent = 0;
  private rtcpSent = 0;
  private dtmfSent = 0;
  /** Clock readings written per packet, unboxed: [AT_RX] last accepted packet, [AT_SEND] last sent; -1 none yet. */
  private readonly at = new Float64Array([-1, -1]);

  /** Where RTP is sent: the latched source, else the SDP address (RtpSourceLatch.sendTarget()). */
  private remote: RemoteEndpoint | null = null;

  // receive state
  private readonly rx = createRtpPacket();
  private rxFrame = new Int16Array(160);
  private readonly rxStats: RtpReceiveStats;
  private readonly dtmfRx: DtmfReceiver;
  private remoteSsrc: number | null = null;
  private started = false;
  private readonly createdAt: number;
  private timedOut = false;
  private malformed = 0;
  private unknownPt = 0;
  /** The jitter-buffered receive path (playout()), made on first use. */
  private jitter: JitterPlayout | null = null;

  // RTCP state
  private readonly reports: RtcpReports;
  private nextRtcpAt: number;

  // DTMF sending
  private readonly dtmf = new DtmfQueue({
    tick: (sender) => this.dtmfTick(sender),
    idle: () => {
      this.markNext = true; // audio resumes: new talkspurt
    },
  });

  /** SRTP (setSrtp()): our key protects what we send, the peer's what we receive. */
  private srtp: SrtpPair | null = null;
  /** Pairs setSrtp() replaced, latest first: keys used again take their contexts back (SrtpPair). */
  private srtpBefore: readonly SrtpPair[] = [];

  private housekeeping: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  static async create(opts: RtpSessionOptions): Promise<RtpSession> {
    const ports = await opts.allocator.allocate();
    return new RtpSession(ports, opts);
  }

  /** A session on a rested pooled port pair, at once; undefined when none is ready (then create()). */
  static fromPool(opts: RtpSessionOptions): RtpSession | undefined {
    const ports = opts.allocator.allocateRested();
    return ports ? new RtpSession(ports, opts) : undefined;
  }

  private constructor(ports: PortPair, opts: RtpSessionOptions) {
    super();
    leanListeners(this);
    this.ports = ports;
    this.rtp = ports.rtp;
    this.ring = new SendRing(ports.rtp);
    this.rtcp = ports.rtcp;
    this.family = ports.family;
    this.codec = opts.codec ?? 'PCMU';
    this.payloadType = G711_PT[this.codec];
    this.telephoneEventPt = opts.telephoneEventPt === undefined ? 101 : opts.telephoneEventPt;
    this.ssrc = (opts.ssrc ?? randomUint32()) >>> 0;
    this.ssrcWord = this.ssrc | 0;
    this.cname = opts.cname ?? `${this.ssrc.toString(16)}@callchart`;
    this.log = opts.logger?.child({ rtpPort: ports.rtpPort, ssrc: this.ssrc });
    this.clock = opts.clock ?? monotonicNow;
    this.wallClock = opts.wallClock ?? wallNow;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.rtcpIntervalMs = opts.rtcpIntervalMs ?? 5000;
    this.reports = new RtcpReports(CLOCK_RATE, this.rtcpIntervalMs);
    this.dtmfOpts = opts.dtmf ?? {};
    // Random initial sequence and timestamp (RFC 3550 §5.1) so known-plaintext is not trivial.
    this.seq = randomUint16();
    this.ts = randomUint32() | 0;

    this.rxStats = new RtpReceiveStats({ clockRate: CLOCK_RATE, minSequential: opts.minSequential });
    this.dtmfRx = new DtmfReceiver((digit, ms) => this.emit('dtmf', digit, ms), { clockRate: CLOCK_RATE });

    this.createdAt = this.clock();
    this.latch = new RtpSourceLatch({ ...opts.strictRtp, expectedSsrc: opts.expectedRemoteSsrc }, this.createdAt);
    if (opts.signallingAddresses) this.latch.setSignalling(opts.signallingAddresses);
    this.nextRtcpAt = this.createdAt + this.rtcpDelay();
    this.rtp.on('message', (msg, rinfo) => this.onRtp(msg, rinfo));
    this.rtcp.on('message', (msg, rinfo) => this.onRtcp(msg, rinfo));
    this.link = new PeerLink(this.rtp, opts.strictRtp?.connect ?? true, (err) => this.log?.info({ err }, 'rtp socket not connected to its source; sending with addresses'));
    this.rtp.on('error', (err) => this.socketError(err, 'rtp'));
    this.rtcp.on('error', (err) => this.socketError(err, 'rtcp'));
    this.housekeeping = setInterval(() => this.tick(), 250);
    this.housekeeping.unref();
  }

  get localPort(): number {
    return this.ports.rtpPort;
  }

  get localRtcpPort(): number {
    return this.ports.rtcpPort;
  }

  get remoteEndpoint(): RemoteEndpoint | null {
    return this.remote;
  }

  get isLatched(): boolean {
    return this.latch.latched;
  }

  get closed(): boolean {
    return this.closing !== null;
  }

  /** The jitter-buffered receive path (src/media/jitter/), made on first use; 'audio' events go on. */
  playout(): JitterPlayout {
    if (!this.jitter) {
      this.jitter = new JitterPlayout({ clock: this.clock });
      if (this.closing) this.jitter.close();
    }
    return this.jitter;
  }

  /**
   * Switch to the codec an SDP answer chose (the offer listed several). Ports stay; the receive
   * path follows because it decodes by payload type.
   */
  setCodec(codec: G711Law, telephoneEventPt: number | null = this.telephoneEventPt): void {
    this.codec = codec;
    this.payloadType = G711_PT[codec];
    this.telephoneEventPt = telephoneEventPt;
  }

  /**
   * SRTP from now on (RFC 3711, keys from SDES): `localKey` protects RTP/RTCP we send,
   * `remoteKey` authenticates and decrypts what we receive; plain RTP is then dropped. null turns
   * SRTP off. Keys used before on this session keep their context (ROC, replay window).
   */
  setSrtp(keys: SrtpKeys | null): void {
    this.srtpBefore = SrtpPair.retire(this.srtp, this.srtpBefore);
    this.srtp = keys ? new SrtpPair(keys, this.srtpBefore) : null;
  }

  /** The SRTP suite in use, or null for plain RTP. */
  get srtpSuite(): SrtpSuite | null {
    return this.srtp?.suite ?? null;
  }

  /**
   * The peer's address from SDP (c= address, m= port; rtcpPort from a=rtcp, else port + 1). A new
   * address restarts latching (strict RTP: the SDP address at once, others after probation).
   * Returns false, changing nothing, for what is no unicast IP address of this socket's family or
   * no port: host names are not resolved per packet, and 0.0.0.0, multicast or broadcast would
   * send this call's media where no peer asked for it.
   */
  setRemote(address: string, port: number, rtcpPort = port + 1): boolean {
    if (this.closing) return false;
    if (!usableRemote(address, port, this.family)) {
      this.log?.warn({ address, port }, 'rtp remote refused: not a unicast IP address and port of this socket family');
      return false;
    }
    this.latch.setSdp(address, port, rtcpPort, this.clock());
    this.remote = this.latch.sendTarget();
    if (!(this.latch.exclusive && this.link.isTo(this.remote))) this.link.release();
    this.log?.debug({ address, port }, 'rtp remote set');
    return true;
  }

  /**
   * The IPs the peer's signalling now comes from, most recent first (see
   * RtpSessionOptions.signallingAddresses). Call on change only.
   */
  setSignallingAddresses(addresses: readonly string[]): void {
    this.latch.setSignalling(addresses);
  }

  /**
   * Send errors come 50 times a second when the remote is unreachable: count them all, log the
   * first and then at most one line per 10 s.
   */
  private socketError(err: Error, socket: 'rtp' | 'rtcp'): void {
    this.socketErrors++;
    // A connected socket hears the peer's ICMP port unreachable: a peer that closed its media
    // before its BYE, not a fault here.
    if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return;
    const now = this.clock();
    if (now - this.lastErrorLogAt < 10_000 && this.socketErrors > 1) return;
    this.lastErrorLogAt = now;
    this.log?.warn({ err, socket, errors: this.socketErrors }, 'rtp socket error');
  }
  private socketErrors = 0;
  private lastErrorLogAt = -Infinity;

  // ---- send -----------------------------------------------------------------------------------

  /**
   * Encode one frame (normally 160 samples = 20 ms) and send it. Returns false when nothing was
   * sent: no remote yet, closed, or a DTMF event currently owns the timeline (RFC 4733 lets the
   * sender suppress audio during an event; mixing both confuses many receivers).
   */
  send(pcm: Int16Array): boolean {
    const buf = this.startPacket(pcm.length);
    if (!buf) return false;
    encodeG711(this.codec, pcm, buf, RTP_HEADER_SIZE);
    this.finishPacket(buf, pcm.length);
    return true;
  }

  /**
   * Send one payload already encoded in this session's codec (one byte per sample), e.g. bytes
   * received from a 'payload' listener of a session with the same codec. Same rules as send().
   */
  sendPayload(payload: Uint8Array): boolean {
    const buf = this.startPacket(payload.length);
    if (!buf) return false;
    buf.set(payload, RTP_HEADER_SIZE);
    this.finishPacket(buf, payload.length);
    return true;
  }

  /** A send buffer with the RTP header written, or null when this session cannot send now. */
  private startPacket(n: number): Buffer | null {
    if (!this.remote || this.closing || this.dtmf.busy) return null;
    if (n === 0 || n > MAX_FRAME_SAMPLES) throw new RangeError(`frame must be 1..${MAX_FRAME_SAMPLES} samples`);
    const buf = this.ring.buffer(RTP_HEADER_SIZE + n, this.link.connected);
    writeRtpHeader(buf, this.markNext, this.payloadType, this.seq, this.ts, this.ssrcWord);
    return buf;
  }

  private finishPacket(buf: Buffer, n: number): void {
    const remote = this.remote!;
    const len = this.srtp ? this.srtp.tx.protectRtp(buf, RTP_HEADER_SIZE + n) : RTP_HEADER_SIZE + n;
    this.link.send(this.ring.view(buf, len), remote);
    this.ring.sent();
    this.markNext = false;
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + n) | 0;
    this.afterSend(n);
  }

  private afterSend(payloadBytes: number): void {
    this.packetsSent++;
    this.octetsSent += payloadBytes;
    this.at[AT_SEND] = this.clock();
  }

  /**
   * Send digits as RFC 4733 events, paced one packet per interval. Calls queue behind each
   * other; resolves when the last end packet of the string has been sent.
   */
  sendDtmf(digits: string, opts: DtmfSenderOptions = {}): Promise<void> {
    if (this.telephoneEventPt === null) return Promise.reject(new Error('telephone-event not negotiated'));
    if (this.closing) return Promise.reject(new Error('RTP session closed'));
    const merged = { ...this.dtmfOpts, ...opts, clockRate: CLOCK_RATE };
    let sender: DtmfSender;
    try {
      sender = new DtmfSender(digits, merged); // validate digits before queueing anything
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return this.dtmf.push(sender, merged.intervalMs ?? 50);
  }

  /** One tick of the digit being sent (DtmfQueue): its packet, if any, and the media clock. */
  private dtmfTick(sender: DtmfSender): boolean {
    if (!this.remote) return false;
    const p = sender.tick(this.ts >>> 0);
    if (p) {
      const buf = this.dtmfBuf;
      writeRtpHeader(buf, p.marker, this.telephoneEventPt!, this.seq, p.timestamp, this.ssrcWord);
      encodeTelephoneEvent(p.payload, buf, RTP_HEADER_SIZE);
      const len = this.srtp ? this.srtp.tx.protectRtp(buf, RTP_HEADER_SIZE + 4) : RTP_HEADER_SIZE + 4;
      // Copy: the next tick rewrites dtmfBuf and DTMF is rare enough not to matter.
      this.link.send(Buffer.from(buf.subarray(0, len)), this.remote);
      this.seq = (this.seq + 1) & 0xffff;
      this.dtmfSent++;
      this.afterSend(4);
    }
    this.ts = (this.ts + sender.tickSamples) | 0;
    return true;
  }

  // ---- receive --------------------------------------------------------------------------------

  private onRtp(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closing) return;
    let len = msg.length;
    if (this.srtp) {
      // Before parsing and latching: a packet that does not authenticate never moves media.
      len = this.srtp.rx.unprotectRtp(msg);
      if (len < 0) {
        this.srtpDropped(len);
        return;
      }
    }
    const pkt = this.rx;
    if (!parseRtpInto(msg, pkt, len)) {
      this.malformed++;
      return;
    }
    const pt = pkt.payloadType;
    const law = lawForPayloadType(pt);
    const isEvent = pt === this.telephoneEventPt;
    if (!law && !isEvent) {
      this.unknownPt++; // comfort noise (13), unnegotiated codecs: ignore
      return;
    }

    const now = this.clock();
    // Strict RTP: only the latched source feeds this leg (no hijack, no injected audio).
    const verdict = this.latch.rtp(rinfo.address, rinfo.port, pkt.ssrc, pkt.sequenceNumber, now);
    if (verdict === RTP_DROP) {
      if (!this.offHostLogged && this.latch.offHostRtp > 0) this.logOffHost(rinfo);
      return;
    }
    if (verdict === RTP_MOVED) this.latched();
    if (this.remoteSsrc !== pkt.ssrc) {
      if (this.remoteSsrc !== null) {
        this.log?.info({ from: this.remoteSsrc, to: pkt.ssrc }, 'remote SSRC changed; restarting receive stats');
        this.rxStats.reset();
        this.dtmfRx.reset();
        this.jitter?.reset();
      }
      this.remoteSsrc = pkt.ssrc;
    }
    this.rxStats.update(pkt.sequenceNumber, pkt.timestamp, now, pkt.payload.length, pkt.ssrc);
    this.at[AT_RX] = now;
    this.timedOut = false;
    if (!this.started) {
      this.started = true;
      this.emit('started', { address: rinfo.address, port: rinfo.port, ssrc: pkt.ssrc });
    }
    this.deliver(pkt, law, isEvent, now);
    // Once the latch takes this source alone, the socket is connected to it (PeerLink): after the
    // listeners ran, so the sends they made go out before the connect.
    if (this.link.idle && this.latch.exclusive && !this.closing) this.link.connect(this.remote!);
  }

  /** An accepted packet to its listeners: DTMF events, pass-through payload, decoded audio. */
  private deliver(pkt: RtpPacket, law: G711Law | null, isEvent: boolean, now: number): void {
    if (isEvent) {
      this.dtmfRx.push(pkt.timestamp, pkt.payload, now);
    } else {
      // Pass-through listeners only get packets in our own codec; anything else must be decoded.
      // Listeners are read from the table here, with named loads, not through emit() (emit-one.ts).
      const table = listeners(this);
      const onPayload = law === this.codec ? table.payload : undefined;
      if (typeof onPayload === 'function') (onPayload as PayloadListener).call(this, pkt.payload, pkt.timestamp, pkt.sequenceNumber);
      else if (onPayload !== undefined) this.emit('payload', pkt.payload, pkt.timestamp, pkt.sequenceNumber);
      const jitter = this.jitter !== null && this.jitter.wanted;
      const onAudio = table.audio;
      if (!jitter && onAudio === undefined) return;
      const n = pkt.payload.length;
      if (this.rxFrame.length !== n) this.rxFrame = new Int16Array(n);
      decodeG711(law!, pkt.payload, this.rxFrame);
      if (jitter) this.jitter!.push(this.rxFrame, pkt.timestamp, pkt.sequenceNumber, now);
      if (typeof onAudio === 'function') (onAudio as AudioListener).call(this, this.rxFrame, pkt.timestamp, pkt.sequenceNumber);
      else if (onAudio !== undefined) this.emit('audio', this.rxFrame, pkt.timestamp, pkt.sequenceNumber);
    }
  }

  /**
   * Once per session: the symptom of a peer whose media comes from a third host (a relay, a NAT'ed
   * phone behind a proxy) is silence, so say why, and what takes such peers.
   */
  private logOffHost(rinfo: RemoteInfo): void {
    this.offHostLogged = true;
    const snap = this.latch.snapshot();
    this.log?.info(
      { from: `${rinfo.address}:${rinfo.port}`, remote: this.remote, signalling: snap.signalling },
      'strict RTP: RTP from a host that is neither the SDP address nor the signalling source dropped (a stranger, or media relayed from elsewhere: natSources "any" takes it)',
    );
  }
  private offHostLogged = false;

  /** The latched source changed (rare): media now goes back to it. */
  private latched(): void {
    const prev = this.remote;
    const remote = this.latch.sendTarget()!;
    this.remote = remote;
    if (!this.link.isTo(remote)) this.link.release();
    if (!prev || prev.address !== remote.address || prev.port !== remote.port) {
      this.log?.info({ sdp: prev, actual: remote, state: this.latch.state }, 'strict RTP: latched to media source');
    }
    this.emit('latched', { ...remote });
  }

  private srtpDropped(reason: number): void {
    if (this.srtp?.dropped(reason)) this.log?.info({ reason }, 'SRTP packet dropped (authentication, replay or format); counted in stats().srtp');
  }

  private onRtcp(msg: Buffer, rinfo: RemoteInfo): void {
    if (this.closing) return;
    if (this.srtp) {
      const r = this.srtp.rx.unprotectRtcp(msg);
      if (typeof r === 'number') {
        this.srtpDropped(r);
        return;
      }
      msg = r;
    }
    const packets = parseRtcpCompound(msg);
    if (!packets) {
      this.malformed++;
      return;
    }
    if (!this.latch.rtcp(rinfo.address, rinfo.port, senderSsrc(packets), this.remoteSsrc ?? -1)) return;
    this.reports.received(packets, this.ssrc, this.clock(), this.wallClock());
    for (const p of packets) if (p.type === 'BYE') this.emit('bye', p.reason);
    this.emit('rtcp', packets);
  }

  // ---- timers -----------------------------------------------------------------------------

  private rtcpDelay(): number {
    return this.rtcpIntervalMs * (0.5 + Math.random());
  }

  private tick(): void {
    if (this.closing) return;
    const now = this.clock();
    this.dtmfRx.checkTimeout(now);
    if (this.timeoutMs > 0 && !this.timedOut) {
      const lastRxAt = this.at[AT_RX]!;
      const since = lastRxAt >= 0 ? lastRxAt : this.createdAt;
      if (now - since >= this.timeoutMs) {
        this.timedOut = true; // re-armed by the next RTP packet
        this.log?.info({ silentMs: now - since }, 'rtp timeout');
        this.emit('timeout', { silentMs: now - since });
      }
    }
    if (now >= this.nextRtcpAt) {
      this.nextRtcpAt = now + this.rtcpDelay();
      this.sendRtcp([]);
    }
  }

  private senderReport(): RtcpPacket {
    const sender = { ssrc: this.ssrc, ts: this.ts >>> 0, lastSendAt: this.at[AT_SEND]!, packetsSent: this.packetsSent, octetsSent: this.octetsSent };
    return this.reports.build(sender, this.rxStats, this.clock(), this.wallClock());
  }

  /**
   * Send a compound report now (plus `extra` packets such as BYE). Exposed for tests/tools. Goes
   * only where the peer has shown it is (RtpSourceLatch.rtcpTarget()): until then, nowhere.
   * Never rejects.
   */
  sendRtcp(extra: RtcpPacket[]): Promise<void> {
    const dst = this.latch.rtcpTarget();
    if (!dst) return Promise.resolve();
    const plain = buildRtcpCompound([this.senderReport(), { type: 'SDES', chunks: [{ ssrc: this.ssrc, cname: this.cname }] }, ...extra]);
    const buf = this.srtp ? this.srtp.tx.protectRtcp(plain) : plain;
    this.rtcpSent++;
    return new Promise((resolve) => {
      const done = (err: Error | null): void => {
        if (err) this.log?.debug({ err }, 'rtcp send failed');
        resolve();
      };
      try {
        this.rtcp.send(buf, dst.port, dst.address, done);
      } catch (err) {
        done(err as Error); // a closed socket throws at once; a timer must not turn that into an unhandled rejection
      }
    });
  }

  // ---- lifecycle --------------------------------------------------------------------------

  stats(): RtpSessionStats {
    const receive = this.rxStats.snapshot();
    return {
      kind: 'rtp',
      ssrc: this.ssrc,
      codec: this.codec,
      local: { rtpPort: this.ports.rtpPort, rtcpPort: this.ports.rtcpPort },
      remote: this.remote ? { ...this.remote } : null,
      latched: this.latch.latched,
      packetsSent: this.packetsSent,
      octetsSent: this.octetsSent,
      dtmfSent: this.dtmfSent,
      receive,
      malformed: this.malformed,
      unknownPayloadType: this.unknownPt,
      foreignSource: this.latch.foreignRtp,
      connected: this.link.connected,
      latch: this.latch.snapshot(),
      remoteReport: this.reports.remoteReport ? { ...this.reports.remoteReport } : null,
      srtp: this.srtp ? this.srtp.stats() : null,
      jitterBuffer: this.jitter?.stats() ?? null,
      rttMs: this.reports.rttMs,
      mos: estimateMos({
        latencyMs: this.reports.rttMs !== null ? this.reports.rttMs / 2 : 0,
        jitterMs: receive.jitterMs,
        lossPercent: receive.lossPercent,
        codec: this.codec,
      }),
    };
  }

  /**
   * Send RTCP BYE, stop timers, release the port pair. Idempotent. A session that never sent RTP
   * or RTCP leaves silently (RFC 3550 §6.3.7), as a call hung up before any media does.
   */
  close(reason = 'session closed'): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = (async () => {
      if (this.housekeeping) clearInterval(this.housekeeping);
      this.jitter?.close();
      this.dtmf.close(() => new Error('RTP session closed'));
      this.dtmfRx.flush();
      if (this.packetsSent > 0 || this.rtcpSent > 0) {
        try {
          await this.sendRtcp([{ type: 'BYE', ssrcs: [this.ssrc], reason }]);
        } catch (err) {
          this.log?.debug({ err }, 'rtcp bye failed');
        }
      }
      await this.link.close();
      await this.ports.release();
      this.emit('closed');
    })();
    return this.closing;
  }
}
