// The SIP user agent core (RFC 3261 §8, §12-§15): turns transactions into dialogs and calls.
//
// Every SIP call is the engine's call actor (same machine as every transport) plus a dialog actor
// (machines/sipDialog.machine.ts). The SipLeg (legs.ts) is their adapter; this class wires the
// transport, the transaction layer and the dialog logic together and routes each request to its
// room: uas-invite.ts (a new INVITE, CANCEL, ACK), uac-invite.ts (calls we place),
// in-dialog.ts (requests within a dialog), media-binding.ts (SDP ↔ RTP).
import type { Logger } from 'pino';
import { sipDialogMachine, type SipDialogInput } from '../../../machines/sipDialog.machine.js';
import type { SipTimerConfig } from '../../../machines/sipTimers.js';
import type { CallManager } from '../../call/manager.js';
import type { Call, CallTransferOptions } from '../../call/call.js';
import { AuthThrottle } from '../../auth-throttle.js';
import { SipUdpTransport, type Endpoint } from '../transport/udp.js';
import { SipStreamTransport } from '../transport/stream.js';
import { SipRelayedStreamTransport } from '../transport/relayed-stream.js';
import { viaTransport, type SipStreamKind } from '../transport/types.js';
import { TransactionLayer, type ServerTransaction, type TransactionUser } from '../transactions/layer.js';
import { generateCallId, type SipRequest, type SipResponse } from '../codec/message.js';
import type { DatagramFeed } from '../transport/udp.js';
import { parseMaxForwards, parseNameAddr, tokenList } from '../codec/headers.js';
import type { SipUri } from '../codec/uri.js';
import type { AudioCodec } from '../codec/sdp.js';
import { createDigestServer, type DigestServer } from '../codec/digest.js';
import { LegRegistry, PendingInvites, type SipLeg } from './legs.js';
import {
  ALLOW,
  ALLOWED_METHODS,
  DEFAULT_MAX_PENDING_INVITES,
  KNOWN_METHODS,
  UNCONFIRMED_2XX_RETRANSMITS,
  emptySipStats,
  type OutboundCallOptions,
  type SipStats,
  type SipUserAgentOptions,
} from './options.js';
import { onAck, onCancel, onInvite } from './uas-invite.js';
import { onStrayResponse, placeCall, sendCancel, sendInvite } from './uac-invite.js';
import { handleInDialog, onDialogRequest, sendEarlyBye, sendInDialog, sendInfo, transfer } from './in-dialog.js';
import { inviteSessionId, memoizedSessions, provideInviteSession, type InviteSessionLogic } from './invite-session.js';
import { callIdOfInviteForks, inviteForksId, provideInviteForks, type InviteForksLogic } from './forks.js';
import { EndedDialogs, MAX_ENDED_FORGOTTEN } from './stray-2xx.js';
import { TagSigner } from './tag-auth.js';
import { Registrar } from '../registrar/registrar.js';
import { RegistrationClients, type RegisterOptions, type RegistrationClient } from '../registrar/client.js';

import { refereeRegistry, type RefereeRegistry } from './referee.js';
import { provideSessionTimer, sessionTimerConfig, sessionTimerId, type SessionTimerConfig } from './session-timer.js';
import { sendRefresh } from './in-dialog.js';
import { resendInviteWithTimer } from './uac-invite.js';
import { provideReliableProvisional, reliableProvisionalId, reliableProvisionalMode, type ReliableProvisionalMode } from './prack.js';
import type { SipReliableProvisionalInput } from '../../../machines/sipReliableProvisional.machine.js';

export {
  ALLOWED_METHODS,
  DEFAULT_MAX_PENDING_INVITES,
  UNCONFIRMED_2XX_RETRANSMITS,
  type OutboundCallOptions,
  type SipAuthOptions,
  type SipStats,
  type SipUserAgentOptions,
} from './options.js';
export type { SipLeg } from './legs.js';

export class SipUserAgent implements TransactionUser {
  readonly transport: SipUdpTransport;
  /** Where datagrams come from when not our own socket (a router thread): see newCallId(). */
  private readonly feed: DatagramFeed | undefined;
  /** TCP and TLS transports, when configured (their messages pass through `transport`). */
  readonly streams: SipStreamTransport[] = [];
  /** TCP and TLS relayed by a router thread (src/sip/workers/), when it serves them. */
  readonly relayed: SipRelayedStreamTransport[] = [];
  readonly transactions: TransactionLayer;
  readonly timers: SipTimerConfig;
  readonly codecs: AudioCodec[];
  readonly stats: SipStats = emptySipStats();
  // The rest is for the ua/ rooms, not for users of the class.
  /** @internal */ readonly legs = new LegRegistry();
  /**
   * @internal UAC legs forgotten after their INVITE failed, by Call-ID: their branches actor
   * lingers as long as the INVITE transaction may still bring another branch's 2xx (forks.ts).
   */
  readonly failedInvites = new Map<string, { leg: SipLeg; timer: NodeJS.Timeout }>();
  /** @internal */ readonly pendingInvites: PendingInvites;
  /** @internal Signs the From tags of our INVITEs, so a 2xx that outlives the call is known as ours (tag-auth.ts). */
  readonly tags: TagSigner;
  /** @internal Dialogs of forgotten INVITEs already sent their BYE (stray-2xx.ts): bounded, no call state. */
  readonly endedForgotten: EndedDialogs;
  /** @internal */ readonly authThrottle: AuthThrottle | undefined;
  /** @internal */ readonly digest: DigestServer | undefined;
  /** @internal */ readonly log: Logger;
  /** @internal */ readonly userAgentName: string;
  /** @internal */ readonly calls: CallManager;
  /** @internal */ readonly referees: RefereeRegistry;
  /** The registrar and location service (with `auth`, unless `registrar: false`). */
  readonly registrar: Registrar | undefined;
  /** Session timers (RFC 4028), unless `sessionTimers: false`. */
  /** @internal */ readonly sessionTimers: SessionTimerConfig | undefined;
  private readonly timerMachine: ReturnType<typeof provideSessionTimer>;
  /** Reliable provisional responses (RFC 3262): 'off', 'supported' or 'required'. */
  /** @internal */ readonly reliableProvisionals: ReliableProvisionalMode;
  private readonly relMachine: ReturnType<typeof provideReliableProvisional>;
  private readonly forksMachine: InviteForksLogic;
  private readonly dialogMachine;
  private clients: RegistrationClients | undefined;
  private readonly sessionMachine: InviteSessionLogic;
  private readonly sessionStart: ReturnType<typeof memoizedSessions>['start'];

  constructor(/** @internal */ readonly opts: SipUserAgentOptions) {
    this.log = opts.logger.child({ component: 'sip' });
    this.calls = opts.calls;
    this.feed = opts.datagrams;
    this.transport = new SipUdpTransport({ ...opts.edge, host: opts.host, port: opts.port, logger: opts.logger, feed: opts.datagrams });
    for (const [kind, o] of [['tcp', opts.tcp], ['tls', opts.tls]] as const) {
      if (!o) continue;
      const st = new SipStreamTransport({
        kind,
        host: opts.host,
        port: o.port,
        logger: opts.logger,
        tls: kind === 'tls' ? opts.tls : undefined,
        limits: o.limits,
        deliver: (buf, from) => this.transport.ingest(buf, from),
      });
      this.transport.attachStream(kind, st);
      this.streams.push(st);
    }
    const relay = opts.streamRelay;
    for (const kind of ['tcp', 'tls'] as const) {
      if (!relay || relay.ports[kind] === undefined || this.transport.stream(kind)) continue;
      const rt = new SipRelayedStreamTransport({ kind, relay, logger: opts.logger, deliver: (buf, from) => this.transport.ingest(buf, from) });
      this.transport.attachStream(kind, rt);
      this.relayed.push(rt);
    }
    this.transactions = new TransactionLayer(this.transport, opts.supervisor, this.log, opts.timers);
    this.transactions.setUser(this);
    this.timers = this.transactions.timers;
    this.tags = new TagSigner(opts.tagSecret);
    // As long as the far end retransmits its 2xx (64*T1, Timer D's 32 s at least).
    this.endedForgotten = new EndedDialogs(MAX_ENDED_FORGOTTEN, Math.max(32_000, 64 * this.timers.t1));
    this.codecs = opts.codecs ?? ['PCMU', 'PCMA'];
    this.userAgentName = opts.userAgent ?? 'callchart';
    this.digest = opts.auth
      ? createDigestServer({ realm: opts.auth.realm, nonceTtlMs: opts.auth.nonceTtlMs ?? 300_000, algorithm: opts.auth.algorithm })
      : undefined;
    this.authThrottle = opts.auth ? new AuthThrottle({ maxFailures: opts.auth.maxFailures, windowMs: opts.auth.failureWindowMs }) : undefined;
    const auth = opts.auth;
    this.registrar =
      auth && this.digest && this.authThrottle && opts.registrar !== false
        ? new Registrar(
            {
              supervisor: opts.supervisor,
              log: this.log,
              digest: this.digest,
              throttle: this.authThrottle,
              lookupUser: typeof auth.users === 'function' ? auth.users : (u) => (Object.hasOwn(auth.users, u) ? (auth.users as Record<string, string>)[u] : undefined),
              holdFlow: (e) => this.holdFlowTo(e),
            },
            opts.registrar || {},
          )
        : undefined;
    const maxPending = opts.maxPendingInvites ?? DEFAULT_MAX_PENDING_INVITES;
    this.pendingInvites = new PendingInvites(maxPending, opts.maxPendingInvitesPerSource ?? Math.max(1, Math.ceil(maxPending / 2)));
    const legOf = (id: string) => this.legs.byDialog(id);
    // Provided once, its payload-free transitions remembered from the shared start (invite-session.ts).
    const sessions = memoizedSessions(provideInviteSession(this, (id) => this.legs.bySession(id)));
    this.sessionMachine = sessions.logic;
    this.sessionStart = sessions.start;
    this.referees = refereeRegistry(this);
    this.sessionTimers = sessionTimerConfig(opts.sessionTimers);
    this.reliableProvisionals = reliableProvisionalMode(opts.reliableProvisionals);
    if (opts.unreliableEarlyMedia !== undefined && typeof opts.unreliableEarlyMedia !== 'boolean') {
      throw new Error(`sip.unreliableEarlyMedia must be a boolean, got ${String(opts.unreliableEarlyMedia)}`);
    }
    if (opts.holdMethod !== undefined && opts.holdMethod !== 'INVITE' && opts.holdMethod !== 'UPDATE') {
      throw new Error(`sip.holdMethod must be 'INVITE' or 'UPDATE', got ${String(opts.holdMethod)}`);
    }
    this.relMachine = provideReliableProvisional(this, (id) => this.legs.bySession(id));
    this.timerMachine = provideSessionTimer(this, (id) => this.legs.bySession(id), {
      resendInvite: (leg, interval, minSE) => resendInviteWithTimer(this, leg, interval, minSE),
      sendRefresh: (leg, method) => sendRefresh(this, leg, method),
    });
    this.forksMachine = provideInviteForks(this, (id) => this.legs.bySession(id) ?? this.failedInvites.get(callIdOfInviteForks(id))?.leg);
    this.dialogMachine = sipDialogMachine.provide({
      actions: {
        sendRequest: ({ self }, p) => {
          const leg = legOf(self.id);
          if (leg) sendInDialog(this, leg, p);
        },
        sendEarlyBye: ({ self }, p) => {
          const leg = legOf(self.id);
          if (leg) sendEarlyBye(this, leg, p);
        },
        acceptRequest: ({ self }) => {
          const leg = legOf(self.id);
          const tx = leg?.pending;
          if (!leg || !tx) return;
          leg.pending = undefined;
          handleInDialog(this, leg, tx);
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

  /** Our Supported header: the extensions we implement. */
  get supported(): string {
    const rel = this.reliableProvisionals === 'off' ? '' : ', 100rel';
    return (this.sessionTimers ? 'replaces, timer' : 'replaces') + rel;
  }

  get port(): number {
    return this.transport.port;
  }

  get advertisedHost(): string {
    return this.transport.advertisedHost;
  }

  /**
   * A Call-ID for a request we start. Behind a router that shards by Call-ID (SIP worker threads),
   * one it routes back to this thread: else the responses would reach another thread, which knows
   * nothing of the request. N threads take N draws on average.
   */
  newCallId(): string {
    const owns = this.feed?.owns?.bind(this.feed);
    for (let i = 0; ; i++) {
      const id = generateCallId(this.advertisedHost);
      if (!owns || owns(id) || i >= 10_000) return id;
    }
  }

  /** Our port for a transport (UDP when `kind` is undefined). */
  portFor(kind?: SipStreamKind): number {
    return (kind && this.transport.stream(kind)?.port) || this.port;
  }

  /** Our Contact URI; over a stream it names the stream's port and `;transport=` (§19.1.1). */
  contactUri(kind?: SipStreamKind): SipUri {
    const params = new Map<string, string | null>();
    if (kind && this.transport.stream(kind)) params.set('transport', kind);
    return { kind: 'sip', scheme: 'sip', host: this.advertisedHost, port: this.portFor(kind), params, headers: new Map() } as SipUri;
  }

  /** The Via for a request sent to `to` (its transport and our port on it). */
  viaFor(to: Endpoint): { transport: string; host: string; port: number; rport: true } {
    return { transport: viaTransport(to.transport), host: this.advertisedHost, port: this.portFor(to.transport), rport: true };
  }

  async listen(): Promise<void> {
    await this.transport.listen();
    for (const st of this.streams) await st.listen();
    for (const rt of this.relayed) await rt.listen();
  }

  async close(): Promise<void> {
    // Unregistered while the socket is still open: the registrar forgets us at once.
    await this.clients?.stopAll();
    this.registrar?.clear();
    for (const leg of this.legs.values()) leg.stopTimers();
    for (const f of this.failedInvites.values()) clearTimeout(f.timer);
    this.failedInvites.clear();
    this.transactions.stopAll();
    await Promise.all(this.streams.map((st) => st.close()));
    await Promise.all(this.relayed.map((rt) => rt.close()));
    await this.transport.close();
  }

  get liveLegs(): number {
    return this.legs.size;
  }

  /** Inbound INVITEs pending (set up, ringing, or waiting for the ACK of their 2xx). */
  get pendingInviteCount(): number {
    return this.pendingInvites.size;
  }

  /** Register a contact of ours at a registrar (src/sip/registrar/client.ts). */
  register(o: RegisterOptions): Promise<RegistrationClient> {
    this.clients ??= new RegistrationClients(this);
    return this.clients.register(o);
  }

  /** Place an outbound call to a SIP URI. */
  call(target: string, o: OutboundCallOptions = {}): Promise<Call> {
    return placeCall(this, target, o);
  }

  // ---- what a leg asks of the UA ------------------------------------------------------------

  /** @internal */ sendInvite(leg: SipLeg): void {
    sendInvite(this, leg);
  }

  /** @internal */ sendCancel(leg: SipLeg): void {
    sendCancel(this, leg);
  }

  /** @internal */ sendInfo(leg: SipLeg, digit: string): void {
    sendInfo(leg, digit);
  }

  /** @internal */ transfer(leg: SipLeg, target: string, opts?: CallTransferOptions): void {
    transfer(this, leg, target, opts);
  }

  // ---- TransactionUser ------------------------------------------------------------------------

  onRequest(tx: ServerTransaction): void {
    const req = tx.request;
    try {
      this.route(tx, req);
    } catch (err) {
      this.log.error({ err, method: req.method, callId: req.headers.get('Call-ID') }, 'request handling failed');
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
    if (req.method === 'REGISTER' && this.registrar) return this.registrar.onRegister(tx, req);
    if (!(ALLOWED_METHODS as readonly string[]).includes(req.method)) {
      tx.reply(405, 'Method Not Allowed', { headers: [['Allow', ALLOW]] });
      return;
    }
    const unsupported = tokenList(req.headers, 'Require').filter(
      (t) => t !== 'replaces' && !(t === 'timer' && this.sessionTimers) && !(t === '100rel' && this.reliableProvisionals !== 'off'),
    );
    if (unsupported.length && req.method !== 'CANCEL') {
      tx.reply(420, 'Bad Extension', { headers: [['Unsupported', unsupported.join(', ')]] });
      return;
    }
    if (req.method === 'CANCEL') return onCancel(this, tx, req);
    if (req.method === 'OPTIONS') {
      tx.reply(200, 'OK', {
        headers: [
          ['Allow', ALLOW],
          ['Accept', 'application/sdp, application/dtmf-relay, message/sipfrag'],
          ['Supported', this.supported],
          ['User-Agent', this.userAgentName],
        ],
      });
      return;
    }
    const to = req.headers.parsedFirst('To', parseNameAddr);
    if (to?.tag) return onDialogRequest(this, tx, req, to.tag);
    if (req.method === 'INVITE') return void onInvite(this, tx, req, to);
    // Out-of-dialog BYE/INFO/NOTIFY/REFER have no dialog to act on.
    tx.reply(481, 'Call/Transaction Does Not Exist');
  }

  onAck(ack: SipRequest, source: Endpoint): void {
    onAck(this, ack, source);
  }

  onStrayResponse(res: SipResponse, source: Endpoint): void {
    onStrayResponse(this, res, source);
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  /** A stream connection to `e` kept from the idle timeout until the release is called (UDP: none). */
  private holdFlowTo(e: Endpoint): (() => void) | undefined {
    return e.transport ? this.transport.stream(e.transport)?.hold?.(e) : undefined;
  }

  /**
   * @internal The connection the leg's dialog uses stays open while the leg lives (§18: a silent
   * call's BYE must still reach a client that listens nowhere else); again when the leg moves.
   */
  holdFlow(leg: SipLeg): void {
    leg.releaseFlow?.();
    leg.releaseFlow = this.holdFlowTo(leg.remote);
  }

  /** @internal Spawn the leg's dialog and INVITE session actors and register the leg under them. */
  startDialog(leg: SipLeg, input: SipDialogInput, session: { heldByRemote?: boolean } = {}): void {
    const id = this.legs.add(leg);
    this.holdFlow(leg);
    const sessionInput = { role: leg.role, t1: this.timers.t1, t2: this.timers.t2, unconfirmedLimit: UNCONFIRMED_2XX_RETRANSMITS, heldByRemote: session.heldByRemote };
    const start = this.sessionStart(sessionInput);
    leg.session = this.opts.supervisor.spawn(this.sessionMachine, {
      kind: 'sip-session',
      id: inviteSessionId(leg.callId),
      input: sessionInput,
      // The machine's own initial snapshot for this input, computed once and shared (memoizedSessions).
      ...(start ? { snapshot: start } : {}),
      group: leg.callId,
      bindings: { sipCallId: leg.callId, role: leg.role },
      onCrash: () => leg.call?.actor.send({ type: 'CALL.FAILED', code: 500, reason: 'INVITE session actor crashed' }),
    }).ref;
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

  /** @internal Spawn the leg's session timer actor (RFC 4028), on first need (session-timer.ts). */
  spawnSessionTimer(leg: SipLeg, minSE: number): NonNullable<SipLeg['timer']> {
    return this.opts.supervisor.spawn(this.timerMachine, {
      kind: 'sip-session-timer',
      id: sessionTimerId(leg.callId),
      input: { role: leg.role, minSE },
      group: leg.callId,
      bindings: { sipCallId: leg.callId, role: leg.role },
      onCrash: () => leg.call?.actor.send({ type: 'CALL.FAILED', code: 500, reason: 'session timer actor crashed' }),
    }).ref;
  }

  /** @internal Spawn the leg's reliable provisional actor (RFC 3262), when 100rel is in use (prack.ts). */
  spawnReliableProvisional(leg: SipLeg, input: SipReliableProvisionalInput): NonNullable<SipLeg['rel']> {
    return this.opts.supervisor.spawn(this.relMachine, {
      kind: 'sip-prack',
      id: reliableProvisionalId(leg.callId),
      input,
      group: leg.callId,
      bindings: { sipCallId: leg.callId, role: leg.role },
      onCrash: () => leg.call?.actor.send({ type: 'CALL.FAILED', code: 500, reason: 'reliable provisional actor crashed' }),
    }).ref;
  }

  /** @internal Spawn a UAC leg's branches actor (forked INVITE), with its first tagged response (forks.ts). */
  spawnInviteForks(leg: SipLeg): NonNullable<SipLeg['forks']> {
    return this.opts.supervisor.spawn(this.forksMachine, {
      kind: 'sip-invite-forks',
      id: inviteForksId(leg.callId),
      group: leg.callId,
      bindings: { sipCallId: leg.callId, role: leg.role },
      onCrash: () => leg.call?.actor.send({ type: 'CALL.FAILED', code: 500, reason: 'INVITE branches actor crashed' }),
    }).ref;
  }

  /**
   * @internal Forget a leg once its dialog is over. Late retransmissions need no leg: the server
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
    leg.stopTimers();
    leg.releaseFlow?.();
    leg.releaseFlow = undefined;
    this.pendingInvites.settle(leg);
    this.legs.remove(leg);
    this.opts.supervisor.stop(LegRegistry.dialogId(leg.callId));
    this.opts.supervisor.stop(inviteSessionId(leg.callId));
    if (leg.timer) this.opts.supervisor.stop(sessionTimerId(leg.callId));
    if (leg.rel) this.opts.supervisor.stop(reliableProvisionalId(leg.callId));
    if (leg.forks?.getSnapshot().matches('failed')) this.lingerFailedInvite(leg);
    else if (leg.forks) this.opts.supervisor.stop(inviteForksId(leg.callId));
  }

  /**
   * A failed INVITE's branches actor outlives its leg while the transaction can still match a 2xx
   * (Timer D on UDP; a stray after it, on TCP): the machine ACKs and BYEs each such branch once.
   */
  private lingerFailedInvite(leg: SipLeg): void {
    const timer = setTimeout(() => {
      this.failedInvites.delete(leg.callId);
      this.opts.supervisor.stop(inviteForksId(leg.callId));
    }, Math.max(32_000, 64 * this.timers.t1));
    timer.unref();
    this.failedInvites.set(leg.callId, { leg, timer });
  }
}
