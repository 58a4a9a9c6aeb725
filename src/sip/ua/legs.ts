// A SIP call leg (the wire side of one call actor + dialog actor) and the registry that finds a
// leg for an incoming message.
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import type { sipDialogMachine, SipDialogEstablishment } from '../../../machines/sipDialog.machine.js';
import type { SipInviteSessionMachine, SipSessionTimer } from '../../../machines/sipInviteSession.machine.js';
import type { SipSessionTimerMachine } from '../../../machines/sipSessionTimer.machine.js';
import type { SipReliableProvisionalMachine } from '../../../machines/sipReliableProvisional.machine.js';
import type { SipInviteForksMachine } from '../../../machines/sipInviteForks.machine.js';
import type { Call, CallSipRequestOptions, CallSipResponse, CallTransferOptions, CallWire } from '../../call/call.js';
import type { CallUpdateOptions, CallUpdateResult } from '../../call/update.js';
import type { RtpSession } from '../../media/rtp/session.js';
import { createResponse, generateTag, type SipRequest } from '../codec/message.js';
import type { DigestChallenge } from '../codec/digest.js';
import { formatNameAddr, type NameAddr } from '../codec/headers.js';
import type { AudioCodec, SdesCrypto, SrtpAgreement } from '../codec/sdp.js';
import type { SentResponse, ServerTransaction } from '../transactions/layer.js';
import type { Endpoint } from '../transport/udp.js';
import { ALLOW } from './options.js';
import { PeerAddresses } from './peer.js';
import { buildLocalSdp } from './media-binding.js';
import { uasAnswered, uasHeaders, type UasSessionTimer } from './session-timer.js';
import type { SipUserAgent } from './user-agent.js';
import { sendAppRequest } from './in-dialog.js';
import { startReliableForEarlyMedia } from './prack.js';
import { dropUpdates, startUpdate, type PendingUpdate } from './reoffer.js';

export type DialogActor = Actor<typeof sipDialogMachine>;
export type SessionActor = Actor<SipInviteSessionMachine>;
export type SessionTimerActor = Actor<SipSessionTimerMachine>;
export type ReliableProvisionalActor = Actor<SipReliableProvisionalMachine>;
export type InviteForksActor = Actor<SipInviteForksMachine>;

/** What the offer/answer settled on for the leg's media. */
export interface Sdp {
  codec: AudioCodec;
  telephoneEventPt?: number;
  remote: Endpoint;
  /** SDES-keyed SRTP, when agreed (media-binding.ts). */
  srtp?: SrtpAgreement;
}

/**
 * One SIP call leg: the wire side of a call actor, a dialog actor and an INVITE session actor. It
 * holds wire handles only (transactions, RTP session, endpoints, tags, bytes); what state the call
 * is in, and what may be sent when, is the machines'.
 */
export class SipLeg implements CallWire {
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
  localSdpVersion = 1;
  /** The o= session id and version of the latest SDP from the peer we took (media-binding.ts). */
  remoteOrigin: { id: string; version: number } | undefined;
  /** Our `a=crypto` lines of an offer not yet answered (SDES, media-binding.ts). */
  srtpOffer: SdesCrypto[] | undefined;
  /** UAC: credentials for a 401/407 challenge, and the challenge being answered. */
  creds: { username: string; password: string } | undefined;
  challenge: DigestChallenge | undefined;
  /**
   * The INVITE session actor (machines/sipInviteSession.machine.ts): CANCEL gating, 2xx until
   * ACK, one re-INVITE at a time, when the BYE may go, remote hold, the auth retry.
   */
  session!: SessionActor;
  /**
   * The session timer actor (machines/sipSessionTimer.machine.ts, RFC 4028): spawned only when a
   * session timer is asked for or agreed (session-timer.ts).
   */
  timer: SessionTimerActor | undefined;
  /**
   * The reliable provisional actor (machines/sipReliableProvisional.machine.ts, RFC 3262): spawned
   * only when 100rel is in use on the call (prack.ts).
   */
  rel: ReliableProvisionalActor | undefined;
  /** UAS: our outstanding reliable 18x as sent, for its retransmissions. */
  reliableSent: SentResponse | undefined;
  /** The methods the peer's Allow named (its INVITE, or its 2xx to ours): an UPDATE offer needs UPDATE there. */
  peerAllow: ReadonlySet<string> | undefined;
  /** UAS: a PRACK awaiting the reliable provisional actor's verdict. */
  prackTx: ServerTransaction | undefined;
  /** UAS: an early UPDATE's offer awaiting the reliable provisional actor's verdict (early-update.ts). */
  updateTx: ServerTransaction | undefined;
  /** UAS: what our 2xx to the INVITE says about the session timer (negotiated when it arrived). */
  inviteTimer: UasSessionTimer | undefined;
  /**
   * UAC: the branches of the INVITE (machines/sipInviteForks.machine.ts: early dialogs, the 2xx
   * that won, late 2xx), spawned with the first response that has a To tag (forks.ts).
   */
  forks: InviteForksActor | undefined;
  /** The session machine's timers (its startTimer/stopTimer actions). */
  readonly timers: Partial<Record<SipSessionTimer, NodeJS.Timeout>> = {};
  /** Our last 2xx to an INVITE and where it went, for its retransmissions. */
  last2xx: { bytes: Buffer; to: Endpoint } | undefined;
  forgetTimer: NodeJS.Timeout | undefined;
  /** Lets the stream connection the dialog uses idle out again (user-agent.ts holdFlow). */
  releaseFlow: (() => void) | undefined;
  /** In-dialog request awaiting the dialog actor's accept/reject. */
  pending: ServerTransaction | undefined;
  /** call.sipRequest()s awaiting their final response, by CSeq (a promise's resolver, no protocol state). */
  appRequests: Map<number, (res: CallSipResponse) => void> | undefined;
  /** call.update()s the session machine has not reported done, by their number (reoffer.ts). */
  updates: Map<number, PendingUpdate> | undefined;
  updateSeq = 0;

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
    // Our INVITE's From tag proves itself ours to a 2xx that outlives the call (tag-auth.ts).
    this.localTag = role === 'uac' ? ua.tags.sign(callId) : generateTag();
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
    return { uri: this.ua.contactUri(this.remote.transport), params: new Map() };
  }

  localSdp(direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive' = 'sendrecv'): string {
    return buildLocalSdp(this, direction);
  }

  // ---- CallWire (the call machine's actions land here) ---------------------------------------

  announceIncoming(): void {
    // The 180 goes now, or (during the INVITE's own step) when that step ends unanswered: a call
    // answered in its INVITE's step gets its 200 with no 180 ahead of it (the session machine).
    this.session.send({ type: 'RINGING' });
  }

  /** Our 180 Ringing (the session machine's sendRinging action). */
  sendRinging(): void {
    if (this.rel) return void this.rel.send({ type: 'PROVISIONAL', status: 180 }); // RFC 3262: prack.ts
    this.inviteTx?.reply(180, 'Ringing', { toTag: this.localTag, headers: [['Contact', formatNameAddr(this.contact())]] });
  }

  /** Tell the dialog it is early (the session machine's dialogEarly action). */
  dialogEarly(): void {
    this.dialog.send({ type: 'DIALOG.EARLY', remoteTag: this.dialogState.remoteTag ?? '', ...this.establishment });
  }

  sendProgress(code: number): void {
    if (code === 180) return; // the session machine sends it when the call rings
    // RFC 3262: reliable (a 183 then carries our answer: prack.ts); else, to a caller without
    // 100rel, a 183 with our answer all the same (gateways play what it brings; the 2xx repeats
    // it) unless `unreliableEarlyMedia: false`; any other 18x goes plain without SDP.
    if (this.rel || startReliableForEarlyMedia(this.ua, this, code)) this.rel!.send({ type: 'PROVISIONAL', status: code });
    else if (code === 183 && this.answerSdp !== undefined && this.ua.opts.unreliableEarlyMedia !== false) return this.sendUnreliableEarlyAnswer();
    else this.inviteTx?.reply(code, undefined, { toTag: this.localTag, headers: [['Contact', formatNameAddr(this.contact())]] });
    this.session.send({ type: 'PROGRESS.SENT' });
  }

  private sendUnreliableEarlyAnswer(): void {
    const body = this.answerSdp!;
    this.inviteTx?.reply(183, undefined, { toTag: this.localTag, headers: [['Contact', formatNameAddr(this.contact())]], body, contentType: 'application/sdp' });
    this.session.send({ type: 'PROGRESS.SENT' });
    const before = this.earlyMedia();
    this.session.send({ type: 'EARLY_ANSWER.SENT' });
    if (!before && this.earlyMedia()) this.startEarlyMedia();
  }

  /**
   * Whether our answer went before the 2xx, so media flows: in a reliable 183 (the reliable
   * provisional machine knows) or an unreliable one (the INVITE session machine knows).
   */
  earlyMedia(): boolean {
    return this.rel?.getSnapshot().context.earlyAnswer === true || this.session.getSnapshot().context.earlyAnswer;
  }

  /** Our answer went in a 183 (reliable or not): a play() waiting for the answer may start now. */
  startEarlyMedia(): void {
    this.ua.calls.driverOf(this.call)?.earlyMedia();
  }

  sendAnswer(): void {
    // With 100rel the 2xx waits for the PRACK of an outstanding reliable 18x (that machine passes
    // the answer on); then the session machine holds it while our early UPDATE's offer is out.
    if (this.rel) this.rel.send({ type: 'ANSWER' });
    else this.session.send({ type: 'ANSWER' });
  }

  /**
   * Our 2xx to the INVITE, now (the session machine's sendAnswer); without SDP when the
   * offer/answer was done in a reliable 18x and its PRACK.
   */
  sendAnswerNow(sdp = true): void {
    const tx = this.inviteTx;
    if (!tx) return;
    const body = sdp ? (this.answerSdp ?? this.localSdp()) : undefined;
    const request = tx.request; // (the transaction lets go of it once answered)
    const res = createResponse(request, 200, 'OK', {
      toTag: this.localTag,
      headers: [
        ['Contact', formatNameAddr(this.contact())],
        ['Allow', ALLOW],
        ['Supported', this.ua.supported],
        ...(this.inviteTimer ? uasHeaders(this.inviteTimer) : []),
      ],
      ...(body !== undefined ? { body, contentType: 'application/sdp' } : {}),
    });
    const sent = tx.respond(res);
    this.inviteTx = undefined;
    this.dialog.send({ type: 'DIALOG.CONFIRMED', ...this.establishment });
    this.establishment = undefined;
    this.sent2xx(sent);
    if (this.inviteTimer) uasAnswered(this.ua, this, this.inviteTimer, request.headers);
    this.inviteTimer = undefined;
  }

  sendReject(code: number, reason?: string): void {
    this.rejectInvite(code, reason);
  }

  /** A non-2xx final response to the INVITE: the session, the dialog and the reliable 18x hear of it. */
  rejectInvite(code: number, reason?: string): void {
    this.inviteTx?.reply(code, reason, { toTag: this.localTag });
    this.inviteTx = undefined;
    this.rel?.send({ type: 'FINAL' });
    this.session.send({ type: 'INVITE.REFUSED' });
    this.dialog.send({ type: 'DIALOG.REJECTED', status: code });
  }

  sendRedirect(code: number, contacts: string[]): void {
    this.inviteTx?.reply(code, undefined, { toTag: this.localTag, headers: contacts.map((c) => ['Contact', c.startsWith('<') ? c : `<${c}>`] as const) });
    this.inviteTx = undefined;
    this.rel?.send({ type: 'FINAL' });
    this.session.send({ type: 'INVITE.REFUSED' });
    this.dialog.send({ type: 'DIALOG.REJECTED', status: code });
  }

  sendDial(): void {
    if (this.invite) this.session.send({ type: 'DIAL' });
  }

  sendCancel(): void {
    // §9.1: the session machine holds the CANCEL until a provisional response has come.
    if (this.role === 'uac' && this.invite) this.session.send({ type: 'CANCEL' });
  }

  sendHangup(): void {
    // Answered, but the 2xx still waits for a PRACK (RFC 3262): the early dialog cannot take a BYE
    // (§15), so the INVITE is refused instead; so too while it waits for our early UPDATE's answer.
    if (this.rel?.getSnapshot().matches({ uas: { unacked: { answer: 'held' } } })) return this.rejectInvite(480, 'Temporarily Unavailable');
    if (this.session.getSnapshot().matches({ active: { invite: 'answerHeld' } })) return this.rejectInvite(480, 'Temporarily Unavailable');
    // The session machine sends the BYE now, or once our re-INVITE is done and our 2xx ACKed.
    this.session.send({ type: 'HANGUP' });
  }

  sendHold(): void {
    this.session.send({ type: 'REINVITE', direction: 'sendonly' });
  }

  sendResume(): void {
    this.session.send({ type: 'REINVITE', direction: 'sendrecv' });
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
    } else for (const d of digits) this.ua.sendInfo(this, d);
  }

  transfer(target: string, opts?: CallTransferOptions): void {
    this.ua.transfer(this, target, opts);
  }

  sipRequest(method: string, opts: CallSipRequestOptions): Promise<CallSipResponse> {
    return sendAppRequest(this, method, opts);
  }

  update(opts?: CallUpdateOptions): Promise<CallUpdateResult> {
    return startUpdate(this, opts);
  }

  /** Called once per call (Call.#finish). */
  ended(): void {
    // A live dialog whose 2xx is not ACKed yet keeps retransmitting it: its BYE is waiting (§15).
    if (!this.dialog.getSnapshot().matches('live')) this.session.send({ type: 'SESSION.END' });
    this.timer?.send({ type: 'STOP' });
    this.rel?.send({ type: 'FINAL' });
    dropUpdates(this);
    if (!this.awaitingAck()) this.ua.pendingInvites.settle(this);
    // The INVITE transaction lingers 64*T1 after the call; its timeout hook must not keep the
    // whole call (actor, media, RTP buffers) alive that long.
    if (this.originalTx) this.originalTx.onTimeout = undefined;
    this.originalTx = undefined;
    void this.rtp?.close('call ended');
    // The leg lingers 64*T1 for late retransmissions; drop what those do not need so thousands
    // of lingering legs cost little heap (the RTP session alone holds its send buffers).
    this.rtp = undefined;
    this.answerSdp = undefined;
    // A dialog that never confirmed (rejected, cancelled) ends with the call, unless our cancelled
    // INVITE has no outcome yet (the session outlives the call): that outcome ends it.
    if (this.dialog.getSnapshot().status === 'active' && !this.dialog.getSnapshot().matches('live') && !this.cancelPending()) {
      this.dialog.send({ type: 'DIALOG.TERMINATE', reason: 'call ended' });
    }
    this.ua.forgetLegLater(this);
  }

  /** UAC: the call is over but its cancelled INVITE awaits a provisional (for the CANCEL) or a final (§9.1). */
  cancelPending(): boolean {
    const s = this.session.getSnapshot();
    return s.status === 'active' && s.context.callEnded;
  }

  /** Our 2xx is being retransmitted until its ACK (§13.3.1.4). */
  awaitingAck(): boolean {
    return this.session.getSnapshot().matches({ active: { ack: 'awaiting' } });
  }

  /** A 2xx to an INVITE went out: the session machine retransmits it until the ACK (§13.3.1.4). */
  sent2xx(sent: SentResponse): void {
    // The transaction's own bytes (serialized once): retransmissions resend exactly what went out.
    this.last2xx = sent;
    this.session.send({ type: '2XX.SENT' });
  }

  /** The leg is forgotten: no timer of its session may fire any more. */
  stopTimers(): void {
    for (const t of Object.values(this.timers)) clearTimeout(t);
    this.timers.ack2xx = this.timers.glare = undefined;
    this.rel?.send({ type: 'FINAL' }); // its retransmission timer is the machine's own
    this.last2xx = undefined;
  }
}

/** The legs alive (or lingering for late retransmissions), by Call-ID and by dialog actor id. */
export class LegRegistry {
  private readonly byCallId = new Map<string, SipLeg>(); // one leg per Call-ID here
  private readonly byDialogActor = new Map<string, SipLeg>();

  static dialogId(callId: string): string {
    return `dlg-${callId}`;
  }

  add(leg: SipLeg): string {
    const id = LegRegistry.dialogId(leg.callId);
    this.byDialogActor.set(id, leg);
    this.byCallId.set(leg.callId, leg);
    return id;
  }

  remove(leg: SipLeg): void {
    if (this.byCallId.get(leg.callId) === leg) this.byCallId.delete(leg.callId);
    this.byDialogActor.delete(LegRegistry.dialogId(leg.callId));
  }

  byCall(callId: string | undefined): SipLeg | undefined {
    return this.byCallId.get(callId ?? '');
  }

  byDialog(actorId: string): SipLeg | undefined {
    return this.byDialogActor.get(actorId);
  }

  /** The leg of an INVITE session actor (`ses-<Call-ID>`). */
  bySession(actorId: string): SipLeg | undefined {
    return this.byCallId.get(actorId.slice(4));
  }

  has(callId: string): boolean {
    return this.byCallId.has(callId);
  }

  /** The leg a request within a dialog belongs to: its Call-ID and our tag in its To. */
  find(req: SipRequest, toTag: string): SipLeg | undefined {
    const leg = this.byCallId.get(req.headers.get('Call-ID') ?? '');
    return leg && leg.localTag === toTag ? leg : undefined;
  }

  get size(): number {
    return this.byCallId.size;
  }

  values(): IterableIterator<SipLeg> {
    return this.byCallId.values();
  }
}

/**
 * Inbound INVITEs being set up, ringing, or answered and not yet ACKed (maxPendingInvites), with
 * the source address each is counted against (maxPendingInvitesPerSource).
 */
export class PendingInvites {
  private readonly legs = new Map<SipLeg, string>();
  private readonly bySource = new Map<string, number>();

  constructor(
    readonly max: number,
    readonly maxPerSource: number,
  ) {}

  get size(): number {
    return this.legs.size;
  }

  full(): boolean {
    return this.legs.size >= this.max;
  }

  fullFor(source: string): boolean {
    return (this.bySource.get(source) ?? 0) >= this.maxPerSource;
  }

  add(leg: SipLeg, source: string): void {
    this.legs.set(leg, source);
    this.bySource.set(source, (this.bySource.get(source) ?? 0) + 1);
  }

  /** The leg's INVITE is done with: answered and ACKed, refused, or given up on. */
  settle(leg: SipLeg): void {
    const source = this.legs.get(leg);
    if (source === undefined) return;
    this.legs.delete(leg);
    const n = (this.bySource.get(source) ?? 1) - 1;
    if (n > 0) this.bySource.set(source, n);
    else this.bySource.delete(source);
  }
}
