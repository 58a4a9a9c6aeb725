// The call handle an application holds. It owns no call state: state lives in the call actor, wire
// effects live in the transport's CallWire. The handle turns app intents into actor events and
// re-emits what the actor and the media path report.
import { EventEmitter } from 'node:events';
import type { Actor } from 'xstate';
import type { Logger } from 'pino';
import type { CallEnd, CallMachine, CallDirection, CallTransport, DtmfSource } from '../machines/call.machine.js';

/**
 * What a transport does on the wire for one call. The call machine's named actions are provided once
 * per engine and dispatch to the wire of the call they run for (looked up by actor id), so no machine
 * is re-created per call.
 */
export interface CallWire {
  announceIncoming?(): void;
  sendDial?(): void;
  sendProgress?(code: number): void;
  sendAnswer?(): void;
  sendReject?(code: number, reason?: string): void;
  sendRedirect?(code: number, contacts: string[]): void;
  sendCancel?(): void;
  sendHangup?(): void;
  sendHold?(): void;
  sendResume?(): void;
  /** Media out: one frame of audio in the transport's format (WS: as received; SIP: 16-bit PCM). */
  sendAudio?(frame: Buffer): boolean;
  sendDtmf?(digits: string): void;
  /** Blind transfer of the far end to `target` (SIP REFER). */
  transfer?(target: string): void;
  /** Called once when the call actor has ended (after any final wire message was sent). */
  ended?(end: CallEnd): void;
}

export type IncomingCallDecision =
  | { action: 'accept' }
  | { action: 'reject'; code?: number; reason?: string }
  | { action: 'redirect'; contacts: string[]; code?: number }
  | { action: 'defer' };

export type IncomingCallHook = (call: Call) => IncomingCallDecision | void | Promise<IncomingCallDecision | void>;

export interface CallEvents {
  state: [state: string];
  answered: [];
  dtmf: [digit: string, source: DtmfSource];
  audio: [frame: Buffer];
  ended: [end: CallEnd];
  /** Transfer progress: the status line the transferee reported (100, 180, 200, 503…). */
  transfer: [status: number];
}

export interface CallInfo {
  id: string;
  direction: CallDirection;
  transport: CallTransport;
  from?: string;
  to?: string;
}

function stateName(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const [k, v] = Object.entries(value)[0] ?? ['unknown', undefined];
    return v === undefined ? k : `${k}.${stateName(v)}`;
  }
  return 'unknown';
}

export class Call extends EventEmitter<CallEvents> {
  readonly id: string;
  readonly direction: CallDirection;
  readonly transport: CallTransport;
  readonly from: string | undefined;
  readonly to: string | undefined;
  readonly createdAt = Date.now();
  answeredAt: number | undefined;
  /** Free slot for the application's own per-call data. */
  data: Record<string, unknown> = {};
  private endInfo: CallEnd | undefined;
  // Cached from the actor's snapshots so the audio fast path never walks the state tree.
  private active = false;

  constructor(
    info: CallInfo,
    readonly actor: Actor<CallMachine>,
    private readonly wire: CallWire,
    private readonly loggerFactory: () => Logger,
  ) {
    super();
    this.id = info.id;
    this.direction = info.direction;
    this.transport = info.transport;
    this.from = info.from;
    this.to = info.to;
  }

  /** Current state path, e.g. `ringing`, `active.talking`, `active.held`, `ended`. */
  get state(): string {
    return stateName(this.actor.getSnapshot().value);
  }

  /** The call's pino child logger (bound to its ids). */
  get logger(): Logger {
    return this.loggerFactory();
  }

  /** Answered and not ended (talking or held). */
  get isActive(): boolean {
    return this.active;
  }

  /** @internal kept current by the engine from the actor's snapshots. */
  _setActive(active: boolean): void {
    this.active = active;
  }

  get isEnded(): boolean {
    return this.endInfo !== undefined || this.actor.getSnapshot().status !== 'active';
  }

  /** Why and how the call ended (undefined while it lives). */
  get end(): CallEnd | undefined {
    return this.endInfo ?? (this.actor.getSnapshot().context.end as CallEnd | undefined);
  }

  answer(): void {
    this.actor.send({ type: 'CALL.ANSWER' });
  }

  reject(code = 486, reason = 'Busy Here'): void {
    this.actor.send({ type: 'CALL.REJECT', code, reason });
  }

  redirect(contacts: string[], code = 302): void {
    this.actor.send({ type: 'CALL.REDIRECT', code, contacts });
  }

  progress(code = 180): void {
    this.actor.send({ type: 'CALL.PROGRESS', code });
  }

  hangup(detail?: string): void {
    const snap = this.actor.getSnapshot();
    if (snap.status !== 'active') return;
    if (snap.matches('ringing') && this.direction === 'outbound') this.actor.send({ type: 'CALL.CANCEL' });
    else this.actor.send({ type: 'CALL.HANGUP', detail });
  }

  hold(): void {
    this.actor.send({ type: 'CALL.HOLD', by: 'local' });
  }

  resume(): void {
    this.actor.send({ type: 'CALL.RESUME' });
  }

  /** Send one audio frame to the far end. Returns false when the call cannot carry media now. */
  sendAudio(frame: Buffer): boolean {
    if (!this.active || !this.wire.sendAudio) return false;
    return this.wire.sendAudio(frame);
  }

  sendDtmf(digits: string): void {
    if (!/^[0-9*#A-D]+$/.test(digits)) throw new RangeError(`invalid DTMF digits: ${JSON.stringify(digits)}`);
    if (!this.wire.sendDtmf) throw new Error(`transport ${this.transport} cannot send DTMF`);
    this.wire.sendDtmf(digits);
  }

  /** Blind-transfer the far end to `target` (SIP only); progress arrives as `transfer` events. */
  transfer(target: string): void {
    if (!this.isActive) throw new Error('only an answered call can be transferred');
    if (!this.wire.transfer) throw new Error(`transport ${this.transport} cannot transfer`);
    this.wire.transfer(target);
  }

  /** Resolves with the end reason once the call has ended. */
  waitForEnd(): Promise<CallEnd> {
    const end = this.end;
    if (end && this.isEnded) return Promise.resolve(end);
    return new Promise((resolve) => this.once('ended', resolve));
  }

  toJSON(): CallInfo & { state: string; end?: CallEnd } {
    return { id: this.id, direction: this.direction, transport: this.transport, from: this.from, to: this.to, state: this.state, end: this.end };
  }

  /** @internal called by the engine when the actor is done. */
  _finish(end: CallEnd): void {
    if (this.endInfo) return;
    this.endInfo = end;
    this.active = false;
    try {
      this.wire.ended?.(end);
    } finally {
      this.emit('ended', end);
    }
  }
}
