// The SIP user agent core (RFC 3261 §8, §12-§15): turns transactions into dialogs and calls.
//
// Every SIP call is the engine's call actor (same machine as every transport) plus a dialog actor
// (machines/sipDialog.machine.ts). This module is their adapter: a SipLeg per call holds the wire
// endpoints (server/client transactions, the RTP session, the 2xx retransmission timer) and
// implements the CallWire the call machine's actions dispatch to. Dialog state (tags, CSeq, route
// set, remote target) lives in the dialog actor and is read from its snapshot.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { sipDialogMachine, type SipDialogEstablishment, type SipDialogEvent, type SipDialogInput, type SipDialogRequestParams } from '../../../machines/sipDialog.machine.js';
import type { SipTimerConfig } from '../../../machines/sipTimers.js';
import type { Actor } from 'xstate';
import type { Supervisor } from '../../actors/supervisor.js';
import { LimitExceededError } from '../../actors/supervisor.js';
import type { CallManager } from '../../call/manager.js';
import type { Call, CallWire } from '../../call/call.js';
import { SipUdpTransport, type DatagramFeed, type Endpoint } from '../transport/udp.js';
import { TransactionLayer, responseTarget, type ServerTransaction, type TransactionUser } from '../transactions/layer.js';
import {
  createRequest,
  createResponse,
  serialize,
  generateBranch,
  generateCallId,
  generateTag,
  type SipRequest,
  type SipResponse,
} from '../codec/message.js';
import { parseNameAddr, parseCSeq, parseContact, parseMaxForwards, formatNameAddr, tokenList, type NameAddr } from '../codec/headers.js';
import { parseUri, formatUri, type SipUri, type Uri } from '../codec/uri.js';
import { createOffer, negotiate, parseRemote, parseRemoteSdp, isHoldOffer, type AudioCodec, type ParsedRemote } from '../codec/sdp.js';
import { buildAuthorization, challengeFromResponse, createDigestServer, type DigestServer } from '../codec/digest.js';
import { AuthThrottle } from '../../auth-throttle.js';
import { PeerAddresses } from './peer.js';
import { RtpSession, type RtpSessionOptions } from '../../media/rtp/session.js';
import { DTMF_DIGIT } from '../../media/codecs/dtmf.js';
import type { PortAllocator } from '../../media/rtp/ports.js';
import { callMediaLeg } from '../../media/call-media.js';

/** Methods this UA implements; anything else gets 405 (known) or 501 (unknown), with Allow. */
export const ALLOWED_METHODS = ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'INFO', 'REFER', 'NOTIFY'] as const;
const KNOWN_METHODS = new Set(['REGISTER', 'SUBSCRIBE', 'PUBLISH', 'MESSAGE', 'UPDATE', 'PRACK', ...ALLOWED_METHODS]);
const ALLOW = ALLOWED_METHODS.join(', ');

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
  codecs?: AudioCodec[];
  /** Inbound datagrams come from this feed (a SIP router thread); see SipTransportOptions.feed. */
  datagrams?: DatagramFeed;
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
  edge?: import('../transport/udp.js').SipEdgeOptions;
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
}

type DialogActor = Actor<typeof sipDialogMachine>;

interface Sdp {
  codec: AudioCodec;
  telephoneEventPt?: number;
  remote: Endpoint;
}

/** Parse `Signal=5` (application/dtmf-relay) or a bare digit (application/dtmf). */
export function parseDtmfInfo(contentType: string, body: string): { digit: string; durationMs?: number } | undefined {
  const ct = contentType.split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/dtmf-relay') {
    const signal = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(body)?.[1];
    const duration = /^\s*duration\s*=\s*(\d+)\s*$/im.exec(body)?.[1];
    if (!signal) return undefined;
    const map: Record<string, string> = { '10': '*', '11': '#', '12': 'A', '13': 'B', '14': 'C', '15': 'D' };
    const digit = (map[signal] ?? signal).toUpperCase();
    if (!DTMF_DIGIT.test(digit)) return undefined;
    return { digit, durationMs: duration ? Number(duration) : undefined };
  }
  if (ct === 'application/dtmf') {
    const digit = body.trim().toUpperCase();
    return DTMF_DIGIT.test(digit) ? { digit } : undefined;
  }
  return undefined;
}

function uriHostPort(uri: Uri | undefined): { host: string; port: number } | undefined {
  if (!uri || uri.kind !== 'sip') return undefined;
  return { host: uri.host, port: uri.port ?? 5060 };
}

async function resolve(hp: { host: string; port: number }): Promise<Endpoint> {
  if (isIP(hp.host)) return { address: hp.host, port: hp.port };
  const { address } = await lookup(hp.host, { family: 4 });
  return { address, port: hp.port };
}

/** One SIP call leg: the wire side of a call actor + dialog actor. */
class SipLeg implements CallWire {
  call!: Call;
  dialog!: DialogActor;
  rtp: RtpSession | undefined;
  /** UAS: the INVITE server transaction, until its final response. */
  inviteTx: ServerTransaction | undefined;
  /** UAS: the INVITE server transaction for the whole call (to unhook it at the end). */
  originalTx: ServerTransaction | undefined;
  /** UAC: the initial INVITE and where it went. */
  invite: SipRequest | undefined;
  /** UAS: the INVITE's source; UAC: where the INVITE goes. */
  remote: Endpoint;
  /** The addresses the peer has shown it owns: where this dialog's datagrams may go (peer.ts). */
  readonly peer: PeerAddresses;
  localTag: string;
  sdp: Sdp | undefined;
  /** UAS: the SDP answer computed when the INVITE arrived (sent with the 200). */
  answerSdp: string | undefined;
  /**
   * UAS: the INVITE's Contact and Record-Route, for the dialog's first DIALOG.EARLY/CONFIRMED
   * (the dialog only comes into being with our 1xx/2xx; one event carries both).
   */
  establishment: SipDialogEstablishment | undefined;
  /**
   * UAS: while the app is asked about the call in the INVITE's own step, the 180's DIALOG.EARLY
   * waits here. An answer (or refusal) in that same step replaces it, so the dialog goes straight
   * from init to confirmed (or terminated): nothing on the wire can act on the early dialog before
   * the step ends, and the actor is spared a transition per call. Released as soon as the step is.
   */
  heldEarly: SipDialogEvent | undefined;
  holdEarly = false;
  localSdpVersion = 1;
  provisionalSeen = false;
  cancelPending = false;
  /** Set while our 2xx waits for its ACK (§13.3.1.4); a hangup's BYE waits with it (§15). */
  retransmit2xx: NodeJS.Timeout | undefined;
  heldByRemote = false;
  reinviteInFlight = false;
  byePending = false;
  queuedDirection: 'sendonly' | 'sendrecv' | undefined;
  authTried = false;
  /** UAC: credentials for a 401/407 challenge. */
  creds: { username: string; password: string } | undefined;
  /** Body (and type) of the next in-dialog request this leg asks its dialog to send. */
  nextBody: string | undefined;
  nextType: string | undefined;
  /** Target of the pending REFER. */
  referTo: string | undefined;
  forgetTimer: NodeJS.Timeout | undefined;
  /** In-dialog request awaiting the dialog actor's accept/reject. */
  pending: ServerTransaction | undefined;

  constructor(
    readonly ua: SipUserAgent,
    readonly role: 'uas' | 'uac',
    readonly callId: string,
    remote: Endpoint,
    readonly log: Logger,
  ) {
    this.remote = remote;
    // Strict RTP takes a NAT media source only from the SDP's host or one the signalling came from.
    this.peer = new PeerAddresses(remote, () => this.rtp?.setSignallingAddresses(this.peer.hosts()));
    this.localTag = generateTag();
  }

  /** The source the RTP session latched to, if it did: the peer owns that address too. */
  latchedMedia(): string | undefined {
    const s = this.rtp?.stats();
    return s?.latched ? s.remote?.address : undefined;
  }

  /** Whether anything from the peer proved it receives what we send (peer.ts). */
  peerConfirmed(): boolean {
    return this.peer.confirmations > 0 || this.latchedMedia() !== undefined;
  }

  get dialogState() {
    return this.dialog.getSnapshot().context;
  }

  contact(): NameAddr {
    return { uri: this.ua.contactUri(), params: new Map() };
  }

  localSdp(direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive' = 'sendrecv'): string {
    return createOffer({
      address: this.ua.advertisedHost,
      port: this.rtp?.localPort ?? 9,
      codecs: this.sdp ? [this.sdp.codec] : this.ua.codecs,
      telephoneEvent: this.sdp ? (this.sdp.telephoneEventPt ?? false) : 101,
      direction,
      sessionId: this.callId.replace(/\D/g, '').slice(0, 10) || '1',
      sessionVersion: this.localSdpVersion++,
    });
  }

  // ---- CallWire (the call machine's actions land here) ---------------------------------------

  announceIncoming(): void {
    this.inviteTx?.reply(180, 'Ringing', { toTag: this.localTag, headers: [['Contact', formatNameAddr(this.contact())]] });
    const early: SipDialogEvent = { type: 'DIALOG.EARLY', remoteTag: this.dialogState.remoteTag ?? '', ...this.establishment };
    if (this.holdEarly) this.heldEarly = early;
    else this.dialog.send(early);
  }

  /** End of the INVITE's step: an early dialog nobody answered yet becomes real. */
  releaseEarly(): void {
    this.holdEarly = false;
    const early = this.heldEarly;
    this.heldEarly = undefined;
    if (early) this.dialog.send(early);
  }

  sendProgress(code: number): void {
    if (code === 180) return; // already sent when the call was announced
    this.inviteTx?.reply(code, undefined, { toTag: this.localTag, headers: [['Contact', formatNameAddr(this.contact())]] });
  }

  sendAnswer(): void {
    const tx = this.inviteTx;
    if (!tx) return;
    const body = this.answerSdp ?? this.localSdp();
    const res = createResponse(tx.request, 200, 'OK', {
      toTag: this.localTag,
      headers: [
        ['Contact', formatNameAddr(this.contact())],
        ['Allow', ALLOW],
        ['Supported', 'replaces'],
      ],
      body,
      contentType: 'application/sdp',
    });
    tx.respond(res);
    this.inviteTx = undefined;
    this.heldEarly = undefined;
    this.dialog.send({ type: 'DIALOG.CONFIRMED', ...this.establishment });
    this.establishment = undefined;
    this.start2xxRetransmission(res, responseTarget(res, tx.source));
  }


  sendReject(code: number, reason?: string): void {
    this.inviteTx?.reply(code, reason, { toTag: this.localTag });
    this.inviteTx = undefined;
    this.heldEarly = undefined;
    this.dialog.send({ type: 'DIALOG.REJECTED', status: code });
  }

  sendRedirect(code: number, contacts: string[]): void {
    this.inviteTx?.reply(code, undefined, { toTag: this.localTag, headers: contacts.map((c) => ['Contact', c.startsWith('<') ? c : `<${c}>`] as const) });
    this.inviteTx = undefined;
    this.heldEarly = undefined;
    this.dialog.send({ type: 'DIALOG.REJECTED', status: code });
  }

  sendDial(): void {
    if (this.invite) this.ua.sendInvite(this);
  }

  sendCancel(): void {
    if (this.role !== 'uac' || !this.invite) return;
    if (!this.provisionalSeen) {
      // §9.1: no CANCEL before a provisional response; send it when one arrives.
      this.cancelPending = true;
      return;
    }
    this.ua.sendCancel(this);
  }

  sendHangup(): void {
    // A BYE in the middle of our own re-INVITE confuses strict peers: finish that transaction
    // (and ACK it) first, then hang up.
    if (this.reinviteInFlight) {
      this.byePending = true;
      this.queuedDirection = undefined;
      return;
    }
    // §15: no BYE before the ACK of our 2xx; it goes when the ACK comes (SipUserAgent.onAck), or
    // when the wait for it ends (ackTimedOut). A peer that never ACKs then never gets one.
    if (this.retransmit2xx) return;
    this.dialog.send({ type: 'BYE.SENT' });
  }

  sendHold(): void {
    this.ua.sendReinvite(this, 'sendonly');
  }

  sendResume(): void {
    this.ua.sendReinvite(this, 'sendrecv');
  }

  sendAudio(frame: Buffer): boolean {
    if (!this.rtp || frame.length < 2) return false;
    const pcm = new Int16Array(frame.buffer, frame.byteOffset, frame.length >> 1);
    return this.rtp.send(pcm);
  }

  sendDtmf(digits: string): void {
    if (this.rtp && this.sdp?.telephoneEventPt !== undefined) {
      // The call may end while events are still being paced out (e.g. the far end hangs up on '#'):
      // the session then rejects the rest, which is not an error of the caller.
      this.rtp.sendDtmf(digits).catch((err: unknown) => this.log.debug({ err, digits }, 'RFC 4733 DTMF not (fully) sent'));
    }
    else for (const d of digits) this.ua.sendInfo(this, d);
  }

  transfer(target: string): void {
    this.ua.transfer(this, target);
  }

  ended(): void {
    if (this.endedFlag) return;
    this.endedFlag = true;
    // A live dialog whose 2xx is not ACKed yet keeps retransmitting it: its BYE is waiting (§15).
    if (!this.dialog.getSnapshot().matches('live')) this.stop2xxRetransmission();
    if (!this.retransmit2xx) this.ua.settleInvite(this);
    // The INVITE transaction lingers 64*T1 after the call; its timeout hook must not keep the
    // whole call (actor, media, RTP buffers) alive that long.
    if (this.originalTx) this.originalTx.onTimeout = undefined;
    this.originalTx = undefined;
    void this.rtp?.close('call ended');
    // The leg lingers 64*T1 for late retransmissions; drop what those do not need so thousands
    // of lingering legs cost little heap (the RTP session alone holds its send buffers).
    this.rtp = undefined;
    this.answerSdp = undefined;
    // A dialog that never confirmed (rejected, cancelled) ends with the call.
    if (this.dialog.getSnapshot().status === 'active' && !this.dialog.getSnapshot().matches('live')) {
      this.dialog.send({ type: 'DIALOG.TERMINATE', reason: 'call ended' });
    }
    this.ua.forgetLegLater(this);
  }
  private endedFlag = false;

  // ---- 2xx reliability (§13.3.1.4): the UAS core retransmits its 2xx until ACK ------------

  /**
   * Retransmit the 2xx (to `to`, where the first one went) until the ACK stops it: T1, doubling
   * up to T2, for 64*T1 — toward a peer that proved it receives what we send. An unconfirmed peer
   * (maybe a spoofed source, maybe a phone whose ACKs are all lost) gets
   * UNCONFIRMED_2XX_RETRANSMITS of them and one more interval to answer: an INVITE never ACKed
   * must not buy 10 retransmitted 2xx and a BYE retransmitted 10 more times (issue 13).
   */
  start2xxRetransmission(res: SipResponse, to: Endpoint): void {
    this.stop2xxRetransmission();
    const t1 = this.ua.timers.t1;
    const t2 = this.ua.timers.t2;
    const bytes = serialize(res);
    let interval = t1;
    let elapsed = 0;
    let sent = 0;
    const tick = () => {
      elapsed += interval;
      const confirmed = this.peerConfirmed();
      if (elapsed >= 64 * t1 || (!confirmed && sent >= UNCONFIRMED_2XX_RETRANSMITS)) {
        this.retransmit2xx = undefined;
        this.ackTimedOut(confirmed);
        return;
      }
      sent++;
      this.ua.stats.retransmitted2xx++;
      this.ua.transport.sendBytes(bytes, to);
      interval = Math.min(interval * 2, t2);
      this.retransmit2xx = setTimeout(tick, interval);
    };
    this.retransmit2xx = setTimeout(tick, interval);
  }

  stop2xxRetransmission(): void {
    clearTimeout(this.retransmit2xx);
    this.retransmit2xx = undefined;
  }

  /** The ACK for our 2xx never came. */
  private ackTimedOut(confirmed: boolean): void {
    this.ua.stats.unacknowledged2xx++;
    this.ua.settleInvite(this);
    const live = this.dialog.getSnapshot().matches('live');
    if (confirmed) {
      // §13.3.1.4: the session ends with a BYE (now, if a hangup was already waiting for the ACK).
      this.log.warn('no ACK for 2xx: ending the call with BYE');
      if (this.call.isEnded) {
        if (live) this.dialog.send({ type: 'BYE.SENT' });
      } else this.call.actor.send({ type: 'CALL.HANGUP', detail: 'no ACK received' });
      return;
    }
    // Nothing shows the peer receives what we send: a BYE (and its 10 retransmissions) would go
    // to an address it may have spoofed. The dialog just ends here.
    this.log.warn('no ACK for 2xx from a peer that never confirmed its address: ending the call without BYE');
    this.ua.stats.byesWithheld++;
    if (!this.call.isEnded) this.call.actor.send({ type: 'CALL.FAILED', code: 408, reason: 'no ACK received' });
    if (live) this.dialog.send({ type: 'DIALOG.TERMINATE', reason: 'no ACK received' });
  }
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
}

export class SipUserAgent implements TransactionUser {
  readonly transport: SipUdpTransport;
  readonly transactions: TransactionLayer;
  readonly timers: SipTimerConfig;
  readonly codecs: AudioCodec[];
  readonly stats: SipStats = {
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
  };
  /** Inbound INVITEs being set up, ringing, or answered and not yet ACKed (maxPendingInvites), with the source address each is counted against. */
  private readonly pendingInvites = new Map<SipLeg, string>();
  /** Pending INVITEs per source address (maxPendingInvitesPerSource). */
  private readonly pendingBySource = new Map<string, number>();
  private readonly maxPendingInvites: number;
  private readonly maxPendingPerSource: number;
  private readonly authThrottle: AuthThrottle | undefined;
  private readonly legs = new Map<string, SipLeg>(); // by dialog key
  private readonly legsByCallId = new Map<string, SipLeg>(); // by Call-ID (one leg per Call-ID here)
  private readonly legsByDialogActor = new Map<string, SipLeg>();
  private readonly dialogMachine;
  private readonly log: Logger;
  private readonly digest: DigestServer | undefined;
  private readonly userAgent: string;

  constructor(private readonly opts: SipUserAgentOptions) {
    this.log = opts.logger.child({ component: 'sip' });
    this.transport = new SipUdpTransport({ ...opts.edge, host: opts.host, port: opts.port, logger: opts.logger, feed: opts.datagrams });
    this.transactions = new TransactionLayer(this.transport, opts.supervisor, this.log, opts.timers);
    this.transactions.setUser(this);
    this.timers = this.transactions.timers;
    this.codecs = opts.codecs ?? ['PCMU', 'PCMA'];
    this.userAgent = opts.userAgent ?? 'callchart';
    this.digest = opts.auth
      ? createDigestServer({ realm: opts.auth.realm, nonceTtlMs: opts.auth.nonceTtlMs ?? 300_000, algorithm: opts.auth.algorithm })
      : undefined;
    this.authThrottle = opts.auth ? new AuthThrottle({ maxFailures: opts.auth.maxFailures, windowMs: opts.auth.failureWindowMs }) : undefined;
    this.maxPendingInvites = opts.maxPendingInvites ?? DEFAULT_MAX_PENDING_INVITES;
    this.maxPendingPerSource = opts.maxPendingInvitesPerSource ?? Math.max(1, Math.ceil(this.maxPendingInvites / 2));
    const legOf = (id: string) => this.legsByDialogActor.get(id);
    this.dialogMachine = sipDialogMachine.provide({
      actions: {
        sendRequest: ({ self }, p) => {
          const leg = legOf(self.id);
          if (leg) this.sendInDialog(leg, p);
        },
        acceptRequest: ({ self }) => {
          const leg = legOf(self.id);
          const tx = leg?.pending;
          if (!leg || !tx) return;
          leg.pending = undefined;
          this.handleInDialog(leg, tx);
        },
        rejectRequest: ({ self }, p) => {
          const leg = legOf(self.id);
          const tx = leg?.pending;
          if (!leg || !tx) return;
          leg.pending = undefined;
          tx.reply(p.status, p.reason);
        },
      },
    });
  }

  get port(): number {
    return this.transport.port;
  }

  get advertisedHost(): string {
    return this.transport.advertisedHost;
  }

  contactUri(): SipUri {
    return { kind: 'sip', scheme: 'sip', host: this.advertisedHost, port: this.port, params: new Map(), headers: new Map() } as SipUri;
  }

  async listen(): Promise<void> {
    await this.transport.listen();
  }

  async close(): Promise<void> {
    for (const leg of this.legsByCallId.values()) leg.stop2xxRetransmission();
    this.transactions.stopAll();
    await this.transport.close();
  }

  get liveLegs(): number {
    return this.legsByCallId.size;
  }

  /** Inbound INVITEs pending (set up, ringing, or waiting for the ACK of their 2xx). */
  get pendingInviteCount(): number {
    return this.pendingInvites.size;
  }

  /** The leg's INVITE is done with: answered and ACKed, refused, or given up on. */
  settleInvite(leg: SipLeg): void {
    const source = this.pendingInvites.get(leg);
    if (source === undefined) return;
    this.pendingInvites.delete(leg);
    const n = (this.pendingBySource.get(source) ?? 1) - 1;
    if (n > 0) this.pendingBySource.set(source, n);
    else this.pendingBySource.delete(source);
  }

  // ---- TransactionUser ------------------------------------------------------------------------

  onRequest(tx: ServerTransaction): void {
    const req = tx.request;
    try {
      this.route(tx, req);
    } catch (err) {
      this.log.error({ err, method: req.method }, 'request handling failed');
      if (tx.finalStatus === undefined) tx.reply(500, 'Server Internal Error');
    }
  }

  private route(tx: ServerTransaction, req: SipRequest): void {
    const mf = parseMaxForwards(req.headers.get('Max-Forwards') ?? '70');
    if (mf === 0) {
      tx.reply(483, 'Too Many Hops');
      return;
    }
    if (!KNOWN_METHODS.has(req.method)) {
      tx.reply(501, 'Not Implemented', { headers: [['Allow', ALLOW]] });
      return;
    }
    if (!(ALLOWED_METHODS as readonly string[]).includes(req.method)) {
      tx.reply(405, 'Method Not Allowed', { headers: [['Allow', ALLOW]] });
      return;
    }
    const unsupported = tokenList(req.headers, 'Require').filter((t) => t !== 'replaces');
    if (unsupported.length && req.method !== 'CANCEL') {
      tx.reply(420, 'Bad Extension', { headers: [['Unsupported', unsupported.join(', ')]] });
      return;
    }
    if (req.method === 'CANCEL') return this.onCancel(tx, req);
    if (req.method === 'OPTIONS') {
      tx.reply(200, 'OK', {
        headers: [
          ['Allow', ALLOW],
          ['Accept', 'application/sdp, application/dtmf-relay, message/sipfrag'],
          ['Supported', 'replaces'],
          ['User-Agent', this.userAgent],
        ],
      });
      return;
    }
    const to = req.headers.parsedFirst('To', parseNameAddr);
    const toTag = to?.tag;
    if (toTag) {
      const leg = this.findLeg(req, toTag);
      if (!leg) {
        tx.reply(481, 'Call/Transaction Does Not Exist');
        return;
      }
      // It echoed our tag: the peer receives what we send, from this address too.
      leg.peer.heardFrom(tx.source, true);
      const cseq = req.headers.parsedFirst('CSeq', parseCSeq)!;
      const contact = req.headers.get('Contact');
      leg.pending = tx;
      if (req.method === 'BYE') leg.dialog.send({ type: 'BYE.RECEIVED', cseq: cseq.seq });
      else leg.dialog.send({ type: 'REQUEST.RECEIVED', method: req.method, cseq: cseq.seq, contact: contact ? parseContactUri(contact) : undefined });
      // The dialog accepted or rejected synchronously; if it ignored the request, say so.
      if (leg.pending === tx) {
        leg.pending = undefined;
        tx.reply(481, 'Call/Transaction Does Not Exist');
      }
      return;
    }
    if (req.method === 'INVITE') return void this.onInvite(tx, req, to);
    // Out-of-dialog BYE/INFO/NOTIFY/REFER have no dialog to act on.
    tx.reply(481, 'Call/Transaction Does Not Exist');
  }

  onAck(ack: SipRequest, source: Endpoint): void {
    const to = ack.headers.parsedFirst('To', parseNameAddr);
    const leg = to?.tag ? this.findLeg(ack, to.tag) : undefined;
    if (!leg) return; // an ACK for nothing we know: silently absorbed (§17.2.3)
    leg.peer.heardFrom(source, true);
    const waited = leg.retransmit2xx !== undefined;
    leg.stop2xxRetransmission();
    this.settleInvite(leg);
    // Delayed offer: the SDP answer arrives in the ACK.
    if (ack.body.length && !leg.sdp) this.applyRemoteSdp(leg, ack.body.toString('utf8'));
    // A hangup that waited for this ACK (§15) sends its BYE now.
    if (waited && leg.call?.isEnded && leg.dialog.getSnapshot().matches('live')) leg.dialog.send({ type: 'BYE.SENT' });
  }

  onStrayResponse(res: SipResponse, source: Endpoint): void {
    const cseq = res.headers.parsedFirst('CSeq', parseCSeq);
    if (!cseq || cseq.method !== 'INVITE' || res.status < 200 || res.status >= 300) return;
    const leg = this.legsByCallId.get(res.headers.get('Call-ID') ?? '');
    if (!leg || leg.role !== 'uac') return;
    leg.peer.heardFrom(source, true);
    this.sendAck2xx(leg, res); // retransmitted 2xx: ACK again
  }

  // ---- inbound INVITE -------------------------------------------------------------------------

  /** `parsedTo`: the To header as route() already parsed it. */
  private onInvite(tx: ServerTransaction, req: SipRequest, parsedTo?: NameAddr): void {
    this.stats.invitesReceived++;
    // Refusals that must cost nothing (overload, challenges, throttling) are sent statelessly
    // (§8.2.7), before anything is allocated: no transaction retransmits them for 32 s.
    if (this.pendingInvites.size >= this.maxPendingInvites) {
      this.stats.invitesRejectedPending++;
      tx.replyStateless(503, 'Service Unavailable (too many pending calls)', { headers: [['Retry-After', '5']] });
      return;
    }
    if ((this.pendingBySource.get(tx.source.address) ?? 0) >= this.maxPendingPerSource) {
      this.stats.invitesRejectedPendingSource++;
      tx.replyStateless(503, 'Service Unavailable (too many pending calls from this address)', { headers: [['Retry-After', '5']] });
      return;
    }
    const callLimit = this.opts.supervisor.limit('call');
    if (callLimit !== undefined && this.opts.supervisor.count('call') >= callLimit) {
      this.stats.callsRejectedBusy++;
      tx.replyStateless(503, 'Service Unavailable', { headers: [['Retry-After', '5']] });
      return;
    }
    if (this.digest && !this.checkAuth(tx, req)) return;
    const callId = req.headers.get('Call-ID')!;
    if (this.legsByCallId.has(callId)) {
      // A second dialog for the same Call-ID (a forked INVITE reaching us twice): refuse it.
      tx.reply(482, 'Loop Detected');
      return;
    }
    const from = req.headers.parsedFirst('From', parseNameAddr)!;
    const to = parsedTo ?? req.headers.parsedFirst('To', parseNameAddr)!;
    const ct = (req.headers.get('Content-Type') ?? '').toLowerCase();
    const offer = req.body.length ? req.body.toString('utf8') : undefined;
    if (offer !== undefined && !ct.startsWith('application/sdp')) {
      tx.reply(415, 'Unsupported Media Type', { headers: [['Accept', 'application/sdp']] });
      return;
    }
    // Pick the codec from the offer before allocating, so the RTP session starts with it.
    let codec: AudioCodec = this.codecs[0]!;
    // Parsed once: negotiate() below answers from the same parse.
    let parsedOffer: ParsedRemote | undefined;
    if (offer !== undefined) {
      const r = parseRemoteSdp(offer);
      if (!r.ok) {
        tx.reply(400, `Bad SDP: ${r.reason}`.slice(0, 100));
        return;
      }
      parsedOffer = r.parsed;
      const first = parsedOffer.audio.codecs.find((c) => this.codecs.includes(c.name as AudioCodec));
      if (!first) {
        tx.reply(488, 'Not Acceptable Here');
        return;
      }
      codec = first.name as AudioCodec;
    }

    const leg = new SipLeg(this, 'uas', callId, tx.source, this.log);
    leg.inviteTx = tx;
    this.pendingInvites.set(leg, tx.source.address);
    this.pendingBySource.set(tx.source.address, (this.pendingBySource.get(tx.source.address) ?? 0) + 1);
    const media = { allocator: this.opts.allocator, codec, timeoutMs: this.opts.rtpTimeoutMs ?? 60_000, strictRtp: this.opts.strictRtp, signallingAddresses: leg.peer.hosts() };
    // A rested pooled port pair needs no bind, so the call is offered to the app in this same
    // step: an app that answers synchronously answers before the INVITE's transaction would even
    // need an actor (TransactionLayer.answeredInline). Otherwise the pair is bound first.
    const pooled = RtpSession.fromPool(media);
    if (pooled) {
      try {
        this.offerInvite(leg, pooled, tx, req, from, to, parsedOffer);
      } catch (err) {
        if (!leg.call) this.settleInvite(leg); // onRequest answers 500
        throw err;
      }
      return;
    }
    RtpSession.create(media).then(
      (rtp) => {
        try {
          this.offerInvite(leg, rtp, tx, req, from, to, parsedOffer);
        } catch (err) {
          this.log.error({ err, callId }, 'INVITE handling failed');
          if (tx.finalStatus === undefined) tx.reply(500, 'Server Internal Error');
          if (!leg.call) this.settleInvite(leg);
        }
      },
      (err: unknown) => {
        this.settleInvite(leg);
        this.log.warn({ err }, 'no RTP port for call');
        tx.reply(503, 'Service Unavailable', { headers: [['Retry-After', '5']] });
      },
    );
  }

  /** The INVITE has its RTP session: answer the offer, create the call and dialog, ask the app. */
  private offerInvite(
    leg: SipLeg,
    rtp: RtpSession,
    tx: ServerTransaction,
    req: SipRequest,
    from: NameAddr,
    to: NameAddr,
    parsedOffer: ParsedRemote | undefined,
  ): void {
    const callId = leg.callId;
    leg.rtp = rtp;
    if (parsedOffer !== undefined) {
      const n = negotiate(parsedOffer, { address: this.advertisedHost, port: rtp.localPort, supported: this.codecs, telephoneEvent: true });
      if (!n.ok) {
        this.settleInvite(leg);
        void rtp.close('not acceptable');
        tx.reply(488, 'Not Acceptable Here');
        return;
      }
      leg.answerSdp = n.answer;
      leg.sdp = { codec: n.chosen.name, telephoneEventPt: n.telephoneEventPt, remote: { address: n.remote.address, port: n.remote.port } };
      rtp.setCodec(n.chosen.name, n.telephoneEventPt ?? null);
      // c=0.0.0.0 is an RFC 2543 hold and acceptable; a host name, multicast or broadcast is not.
      if (!rtp.setRemote(n.remote.address, n.remote.port) && n.remote.address !== '0.0.0.0') {
        this.settleInvite(leg);
        void rtp.close('not acceptable');
        tx.reply(488, 'Not Acceptable Here', { headers: [['Warning', `305 ${this.advertisedHost} "Incompatible media format: connection address"`]] });
        return;
      }
      if (n.direction === 'recvonly' || n.direction === 'inactive') leg.heldByRemote = true;
    }
    if (tx.finalStatus !== undefined) {
      // CANCELled while we were allocating.
      this.settleInvite(leg);
      void rtp.close('cancelled');
      return;
    }

    const wire = leg;
    let call: Call;
    try {
      call = this.opts.calls.create({
        callId,
        direction: 'inbound',
        transport: 'sip',
        from: from.uri ? formatUri(from.uri) : undefined,
        to: to.uri ? formatUri(to.uri) : undefined,
        wire,
        group: callId,
        bindings: { sipCallId: callId },
      });
    } catch (err) {
      this.settleInvite(leg);
      void rtp.close('refused');
      if (err instanceof LimitExceededError) {
        this.stats.callsRejectedBusy++;
        tx.reply(503, 'Service Unavailable', { headers: [['Retry-After', '5']] });
      } else {
        tx.reply(500, 'Server Internal Error');
      }
      return;
    }
    leg.call = call;
    const cseq = req.headers.parsedFirst('CSeq', parseCSeq)!;
    const contact = req.headers.get('Contact');
    const remoteTarget = contact ? parseContactUri(contact) : undefined;
    this.startDialog(leg, {
      role: 'uas',
      callId,
      localTag: leg.localTag,
      localUri: formatUri(to.uri),
      remoteUri: formatUri(from.uri),
      remoteTag: from.tag,
      remoteCSeq: cseq.seq,
      secure: false,
    });
    // Record-Route of the request becomes the UAS route set (in order).
    const rr = req.headers.getAll('Record-Route');
    if (rr.length || remoteTarget) leg.establishment = { remoteTarget, recordRoute: rr };
    this.bindMedia(leg);
    tx.onTimeout = () => call.actor.send({ type: 'CALL.FAILED', code: 408, reason: 'INVITE transaction timed out' });
    leg.originalTx = tx;
    leg.holdEarly = true;
    try {
      call.actor.send({ type: 'CALL.INCOMING' });
      if (call.state === 'ringing') this.opts.calls.offer(call);
    } finally {
      leg.releaseEarly();
    }
  }

  /**
   * Digest authentication of an INVITE (RFC 3261 §22.4). The challenge keeps no state (the nonce is
   * signed) and every refusal is stateless; a source that failed too often is refused unchecked.
   */
  private checkAuth(tx: ServerTransaction, req: SipRequest): boolean {
    const d = this.digest!;
    const throttle = this.authThrottle!;
    const source = tx.source.address;
    if (throttle.locked(source)) {
      this.stats.authThrottled++;
      tx.replyStateless(403, 'Forbidden (too many failed attempts)');
      return false;
    }
    const authorization = req.headers.get('Authorization');
    const challenge = (stale: boolean) => {
      this.stats.authChallenges++;
      tx.replyStateless(401, 'Unauthorized', { headers: [['WWW-Authenticate', d.challenge({ stale })]] });
    };
    if (!authorization) {
      challenge(false);
      return false;
    }
    const users = this.opts.auth!.users;
    const v = d.verify({
      method: req.method,
      authorization,
      lookup: typeof users === 'function' ? users : (u) => (Object.hasOwn(users, u) ? users[u] : undefined),
      requestUri: formatUri(req.uri),
      body: req.body,
    });
    if (v.ok) return true;
    if (v.stale) challenge(true);
    else {
      this.stats.authFailures++;
      const locked = throttle.failed(source);
      this.log.info({ reason: v.reason, username: v.username, source, locked }, 'digest authentication failed');
      tx.replyStateless(403, 'Forbidden');
    }
    return false;
  }

  private onCancel(tx: ServerTransaction, req: SipRequest): void {
    const inviteTx = this.transactions.findInviteFor(req);
    if (!inviteTx) {
      tx.reply(481, 'Call/Transaction Does Not Exist');
      return;
    }
    tx.reply(200, 'OK');
    if (inviteTx.finalStatus !== undefined) return; // too late: the INVITE already has its final
    const leg = this.legsByCallId.get(req.headers.get('Call-ID') ?? '');
    // The 200 for CANCEL is already on the wire (its transaction sends as it steps); 487 follows.
    inviteTx.reply(487, 'Request Terminated', { toTag: leg?.localTag ?? generateTag() });
    if (leg) {
      leg.inviteTx = undefined;
      leg.dialog?.send({ type: 'DIALOG.REJECTED', status: 487 });
      leg.call?.actor.send({ type: 'CALL.CANCELLED' });
    }
  }

  // ---- in-dialog requests (after the dialog accepted the CSeq) ---------------------------------

  private handleInDialog(leg: SipLeg, tx: ServerTransaction): void {
    const req = tx.request;
    const call = leg.call;
    switch (req.method) {
      case 'BYE':
        tx.reply(200, 'OK');
        call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: 'BYE received' });
        return;
      case 'INVITE':
        return this.onReinvite(leg, tx);
      case 'INFO': {
        const dtmf = parseDtmfInfo(req.headers.get('Content-Type') ?? '', req.body.toString('utf8'));
        if (!dtmf) {
          if (req.body.length === 0) tx.reply(200, 'OK'); // empty INFO: a keep-alive
          else tx.reply(415, 'Unsupported Media Type', { headers: [['Accept', 'application/dtmf-relay, application/dtmf']] });
          return;
        }
        tx.reply(200, 'OK');
        call.actor.send({ type: 'DTMF', digit: dtmf.digit, source: 'sip-info', durationMs: dtmf.durationMs });
        return;
      }
      case 'NOTIFY': {
        tx.reply(200, 'OK');
        const status = /^SIP\/2\.0\s+(\d{3})/.exec(req.body.toString('utf8'))?.[1];
        if ((req.headers.get('Event') ?? '').toLowerCase().startsWith('refer') && status) {
          const code = Number(status);
          this.opts.calls.driverOf(call)?.transferProgress(code);
          leg.log.info({ code }, 'transfer progress');
          // Blind transfer done: the transferee reached the target, so this leg hangs up.
          // The 200 to this NOTIFY is queued behind the transaction's current step: hang up on
          // the next turn so the BYE cannot overtake it.
          if (code >= 200 && code < 300) setImmediate(() => call.isActive && call.hangup('transferred'));
        }
        return;
      }
      case 'REFER':
        // Being transferred away is not supported; say so instead of pretending.
        tx.reply(603, 'Decline');
        return;
      default:
        tx.reply(405, 'Method Not Allowed', { headers: [['Allow', ALLOW]] });
    }
  }

  private onReinvite(leg: SipLeg, tx: ServerTransaction): void {
    const req = tx.request;
    const body = req.body.toString('utf8');
    let answer: string;
    if (body) {
      const n = negotiate(body, {
        address: this.advertisedHost,
        port: leg.rtp?.localPort ?? 9,
        supported: leg.sdp ? [leg.sdp.codec] : this.codecs,
        telephoneEvent: true,
      });
      if (!n.ok) {
        tx.reply(488, 'Not Acceptable Here');
        return;
      }
      answer = n.answer;
      const hold = isHoldOffer(body);
      if (n.remote.port && n.remote.address !== '0.0.0.0') leg.rtp?.setRemote(n.remote.address, n.remote.port);
      if (hold && !leg.heldByRemote) {
        leg.heldByRemote = true;
        leg.call.actor.send({ type: 'CALL.HOLD', by: 'remote' });
      } else if (!hold && leg.heldByRemote) {
        leg.heldByRemote = false;
        leg.call.actor.send({ type: 'CALL.RESUME' });
      }
    } else {
      answer = leg.localSdp(); // re-INVITE without offer: we offer in the 200
    }
    const res = createResponse(req, 200, 'OK', {
      toTag: leg.localTag,
      headers: [['Contact', formatNameAddr(leg.contact())]],
      body: answer,
      contentType: 'application/sdp',
    });
    tx.respond(res);
    leg.start2xxRetransmission(res, responseTarget(res, tx.source));
  }

  // ---- outbound -------------------------------------------------------------------------------

  async call(target: string, o: OutboundCallOptions = {}): Promise<Call> {
    const uri = parseUri(target);
    const hp = uriHostPort(uri);
    if (!uri || !hp) throw new Error(`not a SIP URI: ${target}`);
    const dest = await resolve(hp);
    const callId = generateCallId(this.advertisedHost);
    const leg = new SipLeg(this, 'uac', callId, dest, this.log);
    leg.rtp = await RtpSession.create({
      allocator: this.opts.allocator,
      codec: this.codecs[0],
      timeoutMs: this.opts.rtpTimeoutMs ?? 60_000,
      strictRtp: this.opts.strictRtp,
      signallingAddresses: leg.peer.hosts(),
    });
    const fromUri = parseUri(o.from ?? `sip:callchart@${this.advertisedHost}:${this.port}`);
    if (!fromUri) throw new Error(`bad from URI: ${o.from}`);
    const from: NameAddr = { uri: fromUri, params: new Map(), tag: leg.localTag, ...(o.displayName ? { displayName: o.displayName } : {}) };
    const to: NameAddr = { uri, params: new Map() };
    leg.invite = createRequest({
      method: 'INVITE',
      uri,
      from,
      to,
      callId,
      cseq: 1,
      via: { transport: 'UDP', host: this.advertisedHost, port: this.port, rport: true },
      contact: leg.contact(),
      headers: [['Allow', ALLOW], ['User-Agent', this.userAgent], ...Object.entries(o.headers ?? {})],
      body: leg.localSdp(),
      contentType: 'application/sdp',
    });
    leg.creds = o.auth;
    let call: Call;
    try {
      call = this.opts.calls.create({ callId, direction: 'outbound', transport: 'sip', from: formatUri(fromUri), to: target, wire: leg, group: callId, bindings: { sipCallId: callId } });
    } catch (err) {
      void leg.rtp.close('refused');
      throw err;
    }
    leg.call = call;
    this.startDialog(leg, { role: 'uac', callId, localTag: leg.localTag, localUri: formatUri(fromUri), remoteUri: formatUri(uri), localCSeq: 1, secure: false });
    this.bindMedia(leg);
    call.actor.send({ type: 'CALL.DIAL' });
    return call;
  }

  /** Send (or re-send, after an auth challenge) the initial INVITE. */
  sendInvite(leg: SipLeg): void {
    const invite = leg.invite!;
    this.transactions.request(invite, leg.remote, {
      onResponse: (res, source) => this.onInviteResponse(leg, res, source),
      onTimeout: () => leg.call.actor.send({ type: 'CALL.FAILED', code: 408, reason: 'no response to INVITE' }),
      onTransportError: (err) => leg.call.actor.send({ type: 'CALL.FAILED', code: 503, reason: `transport error: ${String(err)}` }),
    });
  }

  private onInviteResponse(leg: SipLeg, res: SipResponse, source: Endpoint): void {
    // It echoed our branch: whoever sent it got our INVITE.
    leg.peer.heardFrom(source, true);
    const call = leg.call;
    const to = res.headers.parsedFirst('To', parseNameAddr);
    const contact = res.headers.get('Contact');
    const recordRoute = res.headers.getAll('Record-Route');
    if (res.status < 200) {
      if (res.status > 100) {
        leg.provisionalSeen = true;
        if (to?.tag) leg.dialog.send({ type: 'DIALOG.EARLY', remoteTag: to.tag, remoteTarget: contact ? parseContactUri(contact) : undefined, recordRoute });
        call.actor.send({ type: 'CALL.PROGRESS', code: res.status });
      } else leg.provisionalSeen = true;
      if (leg.cancelPending) {
        leg.cancelPending = false;
        this.sendCancel(leg);
      }
      return;
    }
    if (res.status < 300) {
      leg.dialog.send({ type: 'DIALOG.CONFIRMED', remoteTag: to?.tag, remoteTarget: contact ? parseContactUri(contact) : undefined, recordRoute });
      this.sendAck2xx(leg, res);
      if (res.body.length) this.applyRemoteSdp(leg, res.body.toString('utf8'));
      if (call.isEnded) {
        // We cancelled but the 2xx won the race: the call must still be torn down (§9.1).
        leg.dialog.send({ type: 'BYE.SENT' });
        return;
      }
      call.actor.send({ type: 'CALL.ANSWERED' });
      return;
    }
    leg.dialog.send({ type: 'DIALOG.REJECTED', status: res.status });
    const creds = leg.creds;
    if ((res.status === 401 || res.status === 407) && creds && !leg.authTried && !call.isEnded) {
      const challenge = challengeFromResponse(res);
      if (challenge) {
        leg.authTried = true;
        this.retryWithAuth(leg, challenge, creds);
        return;
      }
    }
    if (res.status >= 300 && res.status < 400) {
      const contacts = res.headers.getAll('Contact').map((c) => parseContactUri(c) ?? c);
      call.actor.send({ type: 'CALL.REDIRECT', code: res.status, contacts });
      return;
    }
    call.actor.send({ type: 'CALL.REJECTED', code: res.status, reason: res.reason });
  }

  private retryWithAuth(leg: SipLeg, challenge: NonNullable<ReturnType<typeof challengeFromResponse>>, creds: { username: string; password: string }): void {
    const old = leg.invite!;
    const cseq = old.headers.parsedFirst('CSeq', parseCSeq)!;
    const auth = buildAuthorization({ challenge, method: 'INVITE', uri: formatUri(old.uri), username: creds.username, password: creds.password, body: old.body });
    const invite: SipRequest = { ...old, headers: old.headers.clone() };
    invite.headers.set('CSeq', `${cseq.seq + 1} INVITE`);
    invite.headers.set('Via', `SIP/2.0/UDP ${this.advertisedHost}:${this.port};branch=${generateBranch()};rport`);
    invite.headers.set(auth.name, auth.value);
    leg.invite = invite;
    leg.provisionalSeen = false;
    leg.dialog.send({ type: 'REQUEST.SEND', method: 'INVITE', cseq: cseq.seq + 1 });
    this.sendInvite(leg);
  }

  private sendAck2xx(leg: SipLeg, res: SipResponse): void {
    const d = leg.dialogState;
    const cseq = res.headers.parsedFirst('CSeq', parseCSeq)!;
    const target = (d.remoteTarget ? parseUri(d.remoteTarget) : undefined) ?? leg.invite!.uri;
    const ack = createRequest({
      method: 'ACK',
      uri: target,
      from: parseNameAddr(leg.invite!.headers.get('From')!)!,
      to: res.headers.parsedFirst('To', parseNameAddr)!,
      callId: leg.callId,
      cseq: cseq.seq,
      via: { transport: 'UDP', host: this.advertisedHost, port: this.port, rport: true },
    });
    for (const r of d.routeSet) ack.headers.append('Route', r);
    this.transactions.sendStateless(ack, this.nextHop(leg, target));
  }

  sendCancel(leg: SipLeg): void {
    const invite = leg.invite!;
    const cseq = invite.headers.parsedFirst('CSeq', parseCSeq)!;
    const cancel = createRequest({
      method: 'CANCEL',
      uri: invite.uri,
      from: invite.headers.parsedFirst('From', parseNameAddr)!,
      to: invite.headers.parsedFirst('To', parseNameAddr)!,
      callId: leg.callId,
      cseq: cseq.seq,
      via: { transport: 'UDP', host: this.advertisedHost },
    });
    cancel.headers.set('Via', invite.headers.get('Via')!); // same branch as the INVITE (§9.1)
    for (const r of invite.headers.getAll('Route')) cancel.headers.append('Route', r);
    this.transactions.request(cancel, leg.remote, { onResponse: () => {} });
  }

  /**
   * §14.1: one INVITE transaction at a time per dialog. A hold/resume asked for while a re-INVITE
   * is outstanding is queued (only the latest wish matters) and sent when the first completes.
   */
  sendReinvite(leg: SipLeg, direction: 'sendonly' | 'sendrecv'): void {
    if (leg.reinviteInFlight) {
      leg.queuedDirection = direction;
      return;
    }
    leg.reinviteInFlight = true;
    leg.nextBody = leg.localSdp(direction);
    leg.dialog.send({ type: 'REQUEST.SEND', method: 'INVITE' });
  }

  private reinviteDone(leg: SipLeg): void {
    leg.reinviteInFlight = false;
    if (leg.byePending) {
      leg.byePending = false;
      leg.dialog.send({ type: 'BYE.SENT' });
      return;
    }
    const next = leg.queuedDirection;
    leg.queuedDirection = undefined;
    if (next && leg.call.isActive) this.sendReinvite(leg, next);
  }

  sendInfo(leg: SipLeg, digit: string): void {
    leg.nextBody = `Signal=${digit}\r\nDuration=160\r\n`;
    leg.nextType = 'application/dtmf-relay';
    leg.dialog.send({ type: 'REQUEST.SEND', method: 'INFO' });
  }

  /** Blind transfer (RFC 3515): REFER the far end to `target`; NOTIFYs report progress. */
  transfer(leg: SipLeg, target: string): void {
    leg.referTo = target;
    leg.dialog.send({ type: 'REQUEST.SEND', method: 'REFER' });
  }

  /** Build an in-dialog request from the dialog actor's state (§12.2.1.1) and send it. */
  private sendInDialog(leg: SipLeg, p: SipDialogRequestParams): void {
    if (p.method === 'ACK') return;
    if (p.method === 'INVITE' && leg.invite && p.cseq === leg.invite.headers.parsedFirst('CSeq', parseCSeq)?.seq) return; // auth retry: sent by sendInvite
    const target = (p.remoteTarget ? parseUri(p.remoteTarget) : undefined) ?? parseUri(p.remoteUri)!;
    const x = leg;
    const headers: Array<[string, string]> = [['Allow', ALLOW]];
    let body: string | undefined;
    let contentType: string | undefined;
    if (p.method === 'INVITE' || p.method === 'INFO') {
      body = x.nextBody;
      contentType = p.method === 'INVITE' ? 'application/sdp' : (x.nextType ?? 'application/dtmf-relay');
      x.nextBody = undefined;
    }
    if (p.method === 'REFER' && x.referTo) {
      headers.push(['Refer-To', `<${x.referTo}>`], ['Referred-By', `<${formatUri(this.contactUri())}>`]);
    }
    const req = createRequest({
      method: p.method,
      uri: target,
      from: { uri: parseUri(p.localUri)!, params: new Map(), tag: p.localTag },
      to: { uri: parseUri(p.remoteUri)!, params: new Map(), ...(p.remoteTag ? { tag: p.remoteTag } : {}) },
      callId: p.callId,
      cseq: p.cseq,
      via: { transport: 'UDP', host: this.advertisedHost, port: this.port, rport: true },
      contact: leg.contact(),
      headers,
      ...(body !== undefined ? { body, contentType } : {}),
    });
    for (const r of p.routeSet) req.headers.append('Route', r);
    const dest = this.nextHop(leg, target);
    this.transactions.request(req, dest, {
      onResponse: (res, source) => {
        leg.peer.heardFrom(source, true);
        if (res.status >= 300) leg.log.info({ method: p.method, status: res.status, reason: res.reason }, 'in-dialog request failed');
        leg.dialog.send({ type: 'RESPONSE.RECEIVED', method: p.method, status: res.status, contact: res.headers.get('Contact') ? parseContactUri(res.headers.get('Contact')!) : undefined });
        if (p.method === 'INVITE' && res.status >= 200 && res.status < 300) {
          this.sendAck2xx(leg, res);
          if (res.body.length) this.applyRemoteSdp(leg, res.body.toString('utf8'));
        }
        if (p.method === 'INVITE' && res.status >= 200) this.reinviteDone(leg);
        if (p.method === 'REFER' && res.status >= 300) this.opts.calls.driverOf(leg.call)?.transferProgress(res.status);
        if (p.method === 'BYE' && res.status >= 200) this.forgetLegLater(leg);
      },
      onTimeout: () => {
        if (p.method === 'INVITE') this.reinviteDone(leg);
        leg.dialog.send({ type: 'RESPONSE.RECEIVED', method: p.method, status: 408 });
        if (p.method === 'BYE') this.forgetLegLater(leg);
      },
    });
  }

  /**
   * Where an in-dialog request goes: the first Route (loose routing) or the remote target, as
   * long as the peer has shown it owns that address; otherwise (a third party's address, or a
   * name: no DNS on the hot path) to the address it sent from. See peer.ts.
   */
  private nextHop(leg: SipLeg, target: Uri): Endpoint {
    const route = leg.dialogState.routeSet[0];
    const na = route ? parseNameAddr(route) : undefined;
    const hp = uriHostPort(na?.uri) ?? uriHostPort(target);
    const dest = leg.peer.destination(hp, leg.latchedMedia());
    if (hp && (dest.address !== hp.host || dest.port !== hp.port)) {
      leg.log.debug({ nextHop: hp, sentTo: dest }, 'next hop not proven to be the peer: sent to the address it used');
    }
    return dest;
  }

  private applyRemoteSdp(leg: SipLeg, sdp: string): void {
    const r = parseRemote(sdp);
    if (!r.ok) {
      leg.log.warn({ reason: r.reason }, 'bad SDP answer');
      return;
    }
    const codec = r.codecs.find((c) => this.codecs.includes(c.name as AudioCodec));
    if (!codec) return;
    leg.sdp = { codec: codec.name as AudioCodec, telephoneEventPt: r.telephoneEventPt, remote: { address: r.address, port: r.port } };
    leg.rtp?.setCodec(codec.name as AudioCodec, r.telephoneEventPt ?? null);
    if (r.port) leg.rtp?.setRemote(r.address, r.port);
  }

  // ---- media ------------------------------------------------------------------------------------

  private bindMedia(leg: SipLeg): void {
    const rtp = leg.rtp;
    if (!rtp) return;
    const call = leg.call;
    const driver = this.opts.calls.driverOf(call);
    if (!driver) return;
    // The call's MediaLeg (echo, playback, recording, bridges attach here). It reads the session's
    // codec live, so it survives setCodec() after an SDP answer; it closes with the session.
    driver.attachMedia({ leg: callMediaLeg(rtp, call.id), stats: () => rtp.stats() });
    rtp.on('started', () => call.actor.send({ type: 'MEDIA.STARTED' }));
    rtp.on('dtmf', (digit: string, durationMs: number) => call.actor.send({ type: 'DTMF', digit, source: 'rfc4733', durationMs }));
    rtp.on('timeout', () => {
      leg.log.info('no RTP received: hanging up');
      call.hangup('rtp timeout');
    });
    // The audio path bypasses the actor: frames go straight to the app's 'audio' listeners.
    rtp.on('audio', (frame: Int16Array) => {
      if (!driver.wantsAudio) return;
      driver.audio(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
    });
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  private startDialog(leg: SipLeg, input: SipDialogInput): void {
    const id = `dlg-${leg.callId}`;
    this.legsByDialogActor.set(id, leg);
    this.legsByCallId.set(leg.callId, leg);
    const sup = this.opts.supervisor.spawn(this.dialogMachine, {
      kind: 'dialog',
      id,
      input,
      group: leg.callId,
      traced: true,
      bindings: { sipCallId: leg.callId, role: leg.role },
      onCrash: () => leg.call?.actor.send({ type: 'CALL.FAILED', code: 500, reason: 'dialog actor crashed' }),
      onDone: () => {
        // A confirmed dialog that ended under a live call (e.g. 481/408 to an in-dialog request).
        if (leg.call?.isActive) leg.call.actor.send({ type: 'CALL.REMOTE_HANGUP', detail: 'dialog ended' });
        else if (leg.call?.isEnded) setImmediate(() => this.forgetLeg(leg));
      },
    });
    leg.dialog = sup.ref;
  }

  private findLeg(req: SipRequest, toTag: string): SipLeg | undefined {
    const leg = this.legsByCallId.get(req.headers.get('Call-ID') ?? '');
    return leg && leg.localTag === toTag ? leg : undefined;
  }

  /**
   * Forget a leg once its dialog is over. Late retransmissions need no leg: the server
   * transactions absorb retransmitted BYEs, a stray ACK is dropped, and requests for a terminated
   * dialog correctly get 481. A dialog still alive (a BYE waiting behind our re-INVITE) keeps the
   * leg until it ends, with 64*T1 as the backstop.
   */
  forgetLegLater(leg: SipLeg): void {
    // Looked at on the next turn, not now: a call usually ends from inside its dialog's own step
    // (BYE.RECEIVED → acceptRequest → the call's hangup → here), when that dialog is still
    // mid-transition to `terminated` and reads as active. Judged then, every call armed the 64*T1
    // backstop only for the dialog's own end to clear it a moment later.
    setImmediate(() => {
      if (leg.dialog?.getSnapshot().status !== 'active') {
        this.forgetLeg(leg);
        return;
      }
      leg.forgetTimer = setTimeout(() => this.forgetLeg(leg), 64 * this.timers.t1);
      leg.forgetTimer.unref();
    });
  }

  private forgetLeg(leg: SipLeg): void {
    // The backstop timer's closure would otherwise hold the leg (and its call) for 64*T1.
    clearTimeout(leg.forgetTimer);
    leg.forgetTimer = undefined;
    leg.stop2xxRetransmission();
    this.settleInvite(leg);
    if (this.legsByCallId.get(leg.callId) === leg) this.legsByCallId.delete(leg.callId);
    this.legsByDialogActor.delete(`dlg-${leg.callId}`);
    this.opts.supervisor.stop(`dlg-${leg.callId}`);
  }
}

function parseContactUri(value: string): string | undefined {
  const c = parseContact(value);
  return c && !c.star ? formatUri(c.uri) : undefined;
}

export type { SipLeg };
