// Drain for rolling restarts: the engine stops taking new inbound calls, live calls finish, and
// (when asked) the engine closes once the last one has ended. The state is the drain statechart
// (machines/drain.machine.ts), run under the supervisor; this adapter feeds it the live call count
// and provides its announcements.
//
// While draining:
// - SIP: a new out-of-dialog INVITE or OPTIONS gets a stateless 503 + Retry-After at the transport
//   edge (a gate installed only while draining, so an open engine pays nothing), before any
//   transaction, call or RTP port exists. Retransmissions of transactions already here and
//   in-dialog requests (re-INVITE, BYE) pass as usual.
// - every transport: CallManager asks admit() before an inbound call actor is created; it throws
//   DrainingError (a LimitExceededError), which each transport already turns into its own refusal:
//   WebSocket close 1013, jambonz sip:decline 503. Outbound calls the application places still go.
import type { Logger } from 'pino';
import type { Actor } from 'xstate';
import { LimitExceededError, type Supervisor } from '../actors/supervisor.js';
import type { CallManager, CreateCallOptions } from '../call/manager.js';
import type { SipUserAgent } from '../sip/ua/user-agent.js';
import type { SipRequestGate } from '../sip/transport/udp.js';
import { createResponse, generateTag } from '../sip/codec/message.js';
import { parseNameAddr } from '../sip/codec/headers.js';
import { drainMachine, type DrainMachine } from '../../machines/drain.machine.js';

/** Thrown by CallManager.create() for a new inbound call while the engine drains. */
export class DrainingError extends LimitExceededError {
  constructor() {
    super('call', 0);
    this.name = 'DrainingError';
    this.message = 'server draining: not taking new calls, try another server';
  }
}

export interface DrainOptions {
  /** Close the engine once the last live call has ended (the CLI then exits 0). Default false. */
  exitWhenIdle?: boolean;
}

export interface EngineDrainOptions {
  supervisor: Supervisor;
  calls: CallManager;
  sip: SipUserAgent | undefined;
  logger: Logger;
  /** Retry-After of the SIP 503s, seconds (default 30). */
  retryAfterS?: number;
  /** Draining with no live call left (after announcing it). */
  onIdle: (exitWhenIdle: boolean) => void;
  onDraining?: () => void;
}

export type DrainStatus = 'open' | 'draining';

export class EngineDrain {
  /** New calls refused because of the drain, by where. */
  readonly refused = { sip: 0, calls: 0 };
  /** Spawned on the first drain(): an engine never drained runs no drain actor. */
  private actor: Actor<DrainMachine> | undefined;
  private readonly logic: DrainMachine;
  private readonly retryAfter: string;
  private idleWaiters: Array<() => void> = [];
  /** Live calls outside this engine that its drain waits for too (the SIP worker threads'). */
  private remoteLive: () => number = () => 0;

  constructor(private readonly opts: EngineDrainOptions) {
    this.retryAfter = String(opts.retryAfterS ?? 30);
    const log = opts.logger.child({ component: 'drain' });
    this.logic = drainMachine.provide({
      actions: {
        announceDraining: (_, p) => {
          log.info({ liveCalls: p.live }, 'draining: new calls are refused, live calls finish');
          this.setGate(true);
          opts.onDraining?.();
        },
        announceIdle: (_, p) => {
          log.info({ exitWhenIdle: p.exitWhenIdle }, 'drained: no live calls');
          this.setGate(true);
          for (const w of this.idleWaiters.splice(0)) w();
          opts.onIdle(p.exitWhenIdle);
        },
        announceOpen: () => {
          log.info('drain called off: taking new calls again');
          this.setGate(false);
        },
      },
    });
  }

  get status(): DrainStatus {
    return !this.actor || this.actor.getSnapshot().matches('open') ? 'open' : 'draining';
  }

  /** Draining and no live call left. */
  get idle(): boolean {
    return this.actor?.getSnapshot().matches('idle') ?? false;
  }

  /** Start draining (idempotent); resolves once no live call is left. */
  drain(o: DrainOptions = {}): Promise<void> {
    const done = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.actor ??= this.opts.supervisor.spawn(this.logic, { kind: 'drain', id: 'engine-drain' }).ref;
    this.actor.send({ type: 'CALLS.CHANGED', live: this.live() });
    this.actor.send({ type: 'DRAIN', exitWhenIdle: o.exitWhenIdle ?? false });
    if (this.idle) for (const w of this.idleWaiters.splice(0)) w();
    return done;
  }

  /** Take new calls again. */
  resume(): void {
    this.actor?.send({ type: 'RESUME' });
  }

  /** A call started or ended (the call manager's hooks): while draining, the statechart is told. */
  callsMoved(): void {
    if (this.status === 'draining') this.callsChanged();
  }

  /** CallManager's admission: a new inbound call while draining throws DrainingError. */
  admit(o: Pick<CreateCallOptions, 'direction'>): void {
    if (o.direction !== 'inbound' || this.status === 'open') return;
    this.refused.calls++;
    throw new DrainingError();
  }

  /** Count calls that live elsewhere (see EnginePeers); call remoteChanged() when they change. */
  countRemote(live: () => number): void {
    this.remoteLive = live;
  }

  remoteChanged(): void {
    if (this.status === 'draining') this.callsChanged();
  }

  private live(): number {
    return this.opts.calls.size + this.remoteLive();
  }

  private callsChanged(): void {
    this.actor?.send({ type: 'CALLS.CHANGED', live: this.live() });
  }

  private setGate(on: boolean): void {
    const sip = this.opts.sip;
    if (sip) sip.transport.gate = on ? this.sipGate : undefined;
  }

  /** New out-of-dialog INVITE/OPTIONS: stateless 503 + Retry-After. */
  private readonly sipGate: SipRequestGate = (req, via, from) => {
    const sip = this.opts.sip;
    if (!sip || (req.method !== 'INVITE' && req.method !== 'OPTIONS')) return false;
    if (req.headers.parsedFirst('To', parseNameAddr)?.tag) return false;
    if (sip.transactions.knows(req, via)) return false;
    const res = createResponse(req, 503, 'Service Unavailable (draining)', {
      toTag: generateTag(),
      headers: [['Retry-After', this.retryAfter]],
    });
    if (req.method === 'INVITE') this.refused.sip++;
    sip.transport.sendResponse(res, from);
    return true;
  };
}
