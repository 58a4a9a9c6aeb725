// A SIP call leg (the wire side of one call actor + dialog actor) and the registry that finds a
// leg for an incoming message.
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import type { sipDialogMachine, SipDialogEstablishment, SipDialogEvent } from '../../../machines/sipDialog.machine.js';
import type { Call, CallWire } from '../../call/call.js';
import type { RtpSession } from '../../media/rtp/session.js';
import { createResponse, generateTag, serialize, type SipRequest, type SipResponse } from '../codec/message.js';
import { formatNameAddr, type NameAddr } from '../codec/headers.js';
import type { AudioCodec } from '../codec/sdp.js';
import { responseTarget, type ServerTransaction } from '../transactions/layer.js';
import type { Endpoint } from '../transport/udp.js';
import { ALLOW, UNCONFIRMED_2XX_RETRANSMITS } from './options.js';
import { PeerAddresses } from './peer.js';
import { buildLocalSdp } from './media-binding.js';
import type { SipUserAgent } from './user-agent.js';

export type DialogActor = Actor<typeof sipDialogMachine>;

/** What the offer/answer settled on for the leg's media. */
export interface Sdp {
  codec: AudioCodec;
  telephoneEventPt?: number;
  remote: Endpoint;
}

/** One SIP call leg: the wire side of a call actor + dialog actor. */
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
  private endedFlag = false;

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
    return buildLocalSdp(this, direction);
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
    // §15: no BYE before the ACK of our 2xx; it goes when the ACK comes (onAck), or when the wait
    // for it ends (ackTimedOut). A peer that never ACKs then never gets one.
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
    } else for (const d of digits) this.ua.sendInfo(this, d);
  }

  transfer(target: string): void {
    this.ua.transfer(this, target);
  }

  ended(): void {
    if (this.endedFlag) return;
    this.endedFlag = true;
    // A live dialog whose 2xx is not ACKed yet keeps retransmitting it: its BYE is waiting (§15).
    if (!this.dialog.getSnapshot().matches('live')) this.stop2xxRetransmission();
    if (!this.retransmit2xx) this.ua.pendingInvites.settle(this);
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
    this.ua.pendingInvites.settle(this);
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
