// Creates call actors for every transport and runs the application's incoming-call hook.
// The call machine is provided ONCE (an ActorRegistry): its wire actions dispatch to the CallWire
// registered for the actor's id, so a call costs one createActor and no machine cloning.
import type { Logger } from 'pino';
import type { SnapshotFrom } from 'xstate';
import { callMachine, type CallEnd, type CallInput, type CallMachine, type CallTimer } from '../../machines/call.machine.js';
import { Call, CallDriver, type CallWire, type CallSipInvite, type IncomingCallHook, type IncomingCallDecision } from './call.js';
import type { SpawnOptions, Supervisor } from '../actors/supervisor.js';
import { ActorRegistry } from '../actors/registry.js';
import { DeadlineQueue, type DeadlineEntry } from './deadlines.js';
import { randomUuid } from '../random.js';
import { logCallAnswered, logCallEnded, logCallOffered } from '../logging/call-log.js';

export interface CallManagerOptions {
  supervisor: Supervisor;
  logger: Logger;
  ringTimeoutMs: number;
  maxDurationMs: number;
  onIncomingCall?: IncomingCallHook;
  /** Every new call (inbound and outbound), before the hook runs. */
  onCall?: (call: Call) => void;
  /**
   * Every call's answer and end (the engine's metrics and drain), before the app's listeners:
   * hooks here instead of listeners on each call, so a live call holds no listener array for them.
   */
  onAnswered?: (call: Call) => void;
  onEnded?: (call: Call, end: CallEnd) => void;
  /** Asked before a call actor is created; throws (a LimitExceededError) to refuse it (the engine's drain). */
  admit?: (o: CreateCallOptions) => void;
}

export interface CreateCallOptions extends Omit<CallInput, 'callId'> {
  callId?: string;
  wire: CallWire;
  /** Supervisor group (e.g. the WebSocket connection id) so a disconnect stops this call. */
  group?: string;
  bindings?: Record<string, string | number>;
  /** Inbound SIP: the INVITE as received (call.sipInvite). */
  sipInvite?: CallSipInvite;
}

/**
 * One live call as the manager keeps it: the transport's driver of the call, its wire, the timers
 * its machine armed (startTimer/stopTimer), and the supervisor's hooks for its actor — as methods
 * of this one object (the spawn options), so a call costs no closure here.
 */
class CallSlot extends CallDriver implements SpawnOptions<CallMachine>, DeadlineEntry {
  // The constant spawn options are prototype getters: as instance fields they were 24 B per call.
  get kind(): 'call' {
    return 'call';
  }
  get traced(): boolean {
    return true;
  }
  /** The call machine has no delayed transitions (its timers are the runtime's): it may share the supervisor's system. */
  get sharedSystem(): boolean {
    return true;
  }
  ring: NodeJS.Timeout | undefined = undefined;
  /** The maximum-duration timer: this slot's place in the manager's one queue of them. */
  deadlinePrev: DeadlineEntry | undefined = undefined;
  deadlineNext: DeadlineEntry | undefined = undefined;
  deadlineAt = -1;
  /** The state path last announced (`state` event). */
  last = '';
  finished = false;

  /** The actor's input, kept only until the handle exists (released()): the call then holds the same ids. */
  #input: CallInput | undefined;

  constructor(
    private readonly manager: CallManager,
    readonly wire: CallWire,
    input: CallInput,
    readonly group: string | undefined,
    private readonly extra: Record<string, string | number> | undefined,
  ) {
    // The handle is made once the actor exists (setCall): its driver is this slot.
    super();
    this.#input = input;
  }

  get input(): CallInput {
    const c = this.call;
    return this.#input ?? { callId: c.id, direction: c.direction, transport: c.transport, from: c.from, to: c.to };
  }

  /** The handle exists: the input object is no longer needed (~60 B per live call). */
  released(): void {
    this.#input = undefined;
  }

  get id(): string {
    return this.#input?.callId ?? this.call.id;
  }

  /** The actor's logger and span ids (read when the logger is first made, and for a recording span). */
  get bindings(): Record<string, string | number> {
    const i = this.input;
    return { callId: i.callId, transport: i.transport, direction: i.direction, ...this.extra };
  }

  /** One subscription per actor (the supervisor's): keep the handle's cached state current and announce answer/state changes. */
  onSnapshot(snap: SnapshotFrom<CallMachine>): void {
    const c = this.call;
    if (!c) return;
    this.setActive(snap.status === 'active' && snap.matches('active'));
    const now = c.state;
    if (now === this.last) return;
    this.last = now;
    const answered = c.isActive && c.answeredAt === undefined;
    if (answered) {
      c.answeredAt = Date.now();
      this.manager.answered(c);
    }
    this.stateChanged(now, answered);
  }

  /** The call ends: the manager's observers, before the app's `ended` listeners. */
  override ending(end: CallEnd): void {
    this.manager.ended(this.call, end);
  }

  onDone(output: unknown): void {
    this.end(output as CallEnd);
  }

  onCrash(err: unknown): void {
    this.end({ reason: 'failed', code: 500, detail: `call actor crashed: ${err instanceof Error ? err.message : String(err)}` });
  }

  /** Stopped from outside (disconnect, shutdown) without reaching `ended`. */
  onExit(): void {
    if (!this.finished) this.end({ reason: 'failed', detail: 'call actor stopped' });
  }

  private end(end: CallEnd): void {
    if (this.finished) return;
    this.finished = true;
    // An actor stopped from outside runs no exit actions: its timers are cleared here.
    clearTimeout(this.ring);
    this.manager.forget(this);
    if (this.call) this.finish(end);
  }
}

const RING_TIMEOUT = { type: 'CALL.RING_TIMEOUT' } as const;
const MAX_DURATION = { type: 'CALL.MAX_DURATION' } as const;

/** The ring timer fired: its event to the actor (module-level, so arming a timer makes no closure). */
function sendRingTimeout(actor: { send(event: typeof RING_TIMEOUT): void }): void {
  actor.send(RING_TIMEOUT);
}

export class CallManager {
  /** Live calls by id (the handle is `slot.call`): the registry's wires are the slots. */
  private readonly registry: ActorRegistry<CallMachine, CallSlot>;
  private live = 0;
  private readonly infoOn: boolean;
  /** Every answered call's maximum-duration timer: one Node timer, not one per call (all have the same length). */
  private readonly durations: DeadlineQueue<CallSlot>;

  constructor(private readonly opts: CallManagerOptions) {
    this.infoOn = opts.logger.isLevelEnabled('info');
    const durations = (this.durations = new DeadlineQueue<CallSlot>(opts.maxDurationMs, (slot) => opts.supervisor.get(slot.id)?.ref.send(MAX_DURATION)));
    this.registry = new ActorRegistry(opts.supervisor, (slotOf) => {
      const wireOf = (id: string): CallWire | undefined => slotOf(id)?.wire;
      return callMachine.provide({
        actions: {
          startTimer: ({ self }, p: { timer: CallTimer }) => {
            const slot = slotOf(self.id);
            if (!slot) return;
            if (p.timer === 'duration') return durations.add(slot);
            clearTimeout(slot.ring);
            slot.ring = setTimeout(sendRingTimeout, opts.ringTimeoutMs, self);
          },
          stopTimer: ({ self }, p: { timer: CallTimer }) => {
            const slot = slotOf(self.id);
            if (!slot) return;
            if (p.timer === 'duration') return durations.remove(slot);
            clearTimeout(slot.ring);
            slot.ring = undefined;
          },
          announceIncoming: ({ self }) => wireOf(self.id)?.announceIncoming?.(),
          sendDial: ({ self }) => wireOf(self.id)?.sendDial?.(),
          sendProgress: ({ self }, p) => wireOf(self.id)?.sendProgress?.(p.code),
          sendAnswer: ({ self }) => {
            wireOf(self.id)?.sendAnswer?.();
          },
          sendReject: ({ self }, p) => wireOf(self.id)?.sendReject?.(p.code, p.reason),
          sendRedirect: ({ self }, p) => wireOf(self.id)?.sendRedirect?.(p.code, p.contacts),
          sendCancel: ({ self }) => wireOf(self.id)?.sendCancel?.(),
          sendHangup: ({ self }) => wireOf(self.id)?.sendHangup?.(),
          sendHold: ({ self }) => wireOf(self.id)?.sendHold?.(),
          sendResume: ({ self }) => wireOf(self.id)?.sendResume?.(),
          notifyDtmf: ({ self }, p) => {
            const driver = slotOf(self.id);
            if (!driver) return;
            driver.call.logger.info({ digit: p.digit, source: p.source }, 'dtmf');
            driver.dtmf(p.digit, p.source);
          },
        },
      });
    });
  }

  /** The call machine as provided for this engine. */
  get machine(): CallMachine {
    return this.registry.logic;
  }

  get size(): number {
    return this.live;
  }

  get(id: string): Call | undefined {
    const slot = this.registry.wire(id);
    return slot && !slot.finished ? slot.call : undefined;
  }

  list(): Call[] {
    const out: Call[] = [];
    for (const slot of this.registry.values()) if (!slot.finished && slot.call) out.push(slot.call);
    return out;
  }

  /** @internal the transport's side of a live call (media, audio, transfer progress). */
  driverOf(call: Call): CallDriver | undefined {
    const slot = this.registry.wire(call.id);
    return slot && !slot.finished ? slot : undefined;
  }

  /** @internal a slot's call has ended (it leaves the registry with its actor; its timers are cleared). */
  forget(slot: CallSlot): void {
    this.durations.remove(slot);
    this.live--;
  }

  /** @internal a call answered: its info line and the engine's hook. */
  answered(call: Call): void {
    if (this.infoOn) logCallAnswered(call);
    this.opts.onAnswered?.(call);
  }

  /** @internal a call ended: its info line (reason, duration, RTP, MOS) and the engine's hook. */
  ended(call: Call, end: CallEnd): void {
    if (this.infoOn) logCallEnded(call, end);
    this.opts.onEnded?.(call, end);
  }

  /**
   * Spawn a call actor under the supervisor. Throws LimitExceededError when the engine is at its
   * concurrent-call limit; the transport turns that into its own refusal (WS close 1013, SIP 503).
   */
  create(o: CreateCallOptions): Call {
    this.opts.admit?.(o);
    const callId = o.callId ?? randomUuid();
    const input: CallInput = { callId, direction: o.direction, transport: o.transport, from: o.from, to: o.to };
    const slot = new CallSlot(this, o.wire, input, o.group, o.bindings);
    // Throws when refused (LimitExceededError): the registry then forgets the slot, no timer is armed.
    const sup = this.registry.spawn(slot, slot);
    const call = new Call({ id: callId, ...input, ...(o.sipInvite ? { sipInvite: o.sipInvite } : {}) }, sup.ref, o.wire, sup);
    slot.setCall(call);
    slot.released();
    slot.last = call.state;
    this.live++;
    // The offered line; answered and ended come from the slot's hooks (answered(), ended()).
    if (this.infoOn) logCallOffered(call);
    this.opts.onCall?.(call);
    return call;
  }

  /**
   * Offer an inbound call to the app (the call must have been sent CALL.INCOMING). A hook that
   * throws or rejects fails closed: the call is rejected with 500 rather than left ringing.
   */
  offer(call: Call): void {
    const hook = this.opts.onIncomingCall;
    if (!hook) return;
    const apply = (d: IncomingCallDecision | void) => {
      if (!d || call.isEnded) return;
      switch (d.action) {
        case 'accept':
          return call.answer();
        case 'reject':
          return call.reject(d.code ?? 486, d.reason ?? 'Busy Here');
        case 'redirect':
          return call.redirect(d.contacts, d.code ?? 302);
        case 'defer':
          return;
      }
    };
    const fail = (err: unknown) => {
      call.logger.error({ err }, 'incoming-call hook failed');
      if (!call.isEnded) call.reject(500, 'Application Error');
    };
    try {
      const result = hook(call);
      if (result && typeof (result as Promise<unknown>).then === 'function') {
        (result as Promise<IncomingCallDecision | void>).then(apply, fail);
      } else apply(result as IncomingCallDecision | void);
    } catch (err) {
      fail(err);
    }
  }

  /**
   * The call's transport is gone: stop its actor if it is still running. Not its whole supervisor
   * group: the call's playback, recording and stream actors share it and end by themselves when
   * the call's media leg closes (a recording still has its file to finalise).
   */
  release(call: Call): void {
    this.opts.supervisor.stop(call.id);
  }

  /** Hang up every live call (graceful shutdown). */
  hangupAll(detail = 'engine shutting down'): void {
    for (const call of this.list()) {
      try {
        call.hangup(detail);
      } catch (err) {
        call.logger.warn({ err }, 'hangup during shutdown failed');
      }
    }
  }
}
