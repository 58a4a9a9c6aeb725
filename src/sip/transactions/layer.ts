// The RFC 3261 §17 transaction layer: matches messages to transactions and runs each transaction on
// the four machines in machines/. The machines are provided ONCE here; their actions dispatch to the
// transaction record registered under the actor's id. A new server transaction first runs on the
// machine's pure transition function (no actor) for the step in which its request arrives; it gets
// an actor only if it is still open when that step ends (see TransactionLayer.onRequest).
import type { Logger } from 'pino';
import type { AnyActorLogic, AnyEventObject, AnyMachineSnapshot } from 'xstate';
import {
  sipInviteServerTransactionMachine,
  sipNonInviteServerTransactionMachine,
  sipInviteClientTransactionMachine,
  sipNonInviteClientTransactionMachine,
} from '../../../machines/index.js';
import { sipTimerConfig, type SipTimerConfig } from '../../../machines/sipTimers.js';
import type { Supervisor } from '../../actors/supervisor.js';
import { pureStepper, type PureStepper } from './pure-stepper.js';
import { createResponse, serialize, type SipRequest, type SipResponse } from '../codec/message.js';
import type { Via } from '../codec/headers.js';
import type { Endpoint, SipUdpTransport } from '../transport/udp.js';
import { ackForNon2xx, clientKey, responseTarget, serverKey } from './keys.js';

export { ackForNon2xx, clientKey, responseTarget, serverKey } from './keys.js';

import type { ClientTransaction, ClientTransactionHandlers, SentResponse, ServerTransaction, TransactionUser } from './types.js';
export type { ClientTransaction, ClientTransactionHandlers, SentResponse, ServerTransaction, TransactionUser } from './types.js';

/**
 * Timer G copies of an INVITE's non-2xx final response (486, 480, 487 …) when the ACK does not
 * come: 4 (at T1, 3T1, 7T1, 15T1) instead of RFC 3261's 10 until Timer H, the same budget the UA
 * core gives an unconfirmed peer's 2xx. `timers.finalRetransmits: Infinity` restores the RFC's.
 */
export const DEFAULT_FINAL_RETRANSMITS = 4;

/** What a server transaction's machine is sent (both machines share these event shapes). */
type ServerEvent =
  | { type: 'REQUEST.RECEIVED'; request: SipRequest }
  | { type: 'REQUEST.RETRANSMITTED' }
  | { type: 'TU.RESPONSE'; status: number; response: WireResponse }
  | { type: 'ACK.RECEIVED'; request: SipRequest };


/**
 * A server transaction's record: what the TU holds, and what the machine's actions dispatch to.
 * One class (not a closure per transaction) because thousands are created per second.
 */
class ServerRecord implements ServerTransaction {
  onTimeout?: () => void;
  /** The machine's `finalStatus`, copied from every snapshot (nothing else writes it). */
  status: number | undefined = undefined;
  /**
   * While the request's own step runs (TransactionLayer.onRequest): the machine's snapshot, stepped
   * with its pure transition function, and the events it was given (replayed into an actor if the
   * transaction outlives the step).
   */
  snap: AnyMachineSnapshot | undefined = undefined;
  events: ServerEvent[] | undefined = undefined;
  /** Replaying `events` into a new actor: their effects already happened. */
  muted = false;
  /** The final response was sent by replyStateless during the request's step: keep nothing. */
  stateless = false;
  // The parsed request is dropped once the final response is out (see WireResponse).
  private req: SipRequest | undefined;
  private destVia: string | undefined = undefined;
  private dest: Endpoint;

  constructor(
    private readonly layer: TransactionLayer,
    readonly id: string,
    readonly key: string,
    request: SipRequest,
    readonly source: Endpoint,
    readonly isInvite: boolean,
  ) {
    this.req = request;
    this.dest = source;
  }

  get finalStatus(): number | undefined {
    return this.status;
  }

  get request(): SipRequest {
    if (!this.req) throw new Error(`transaction ${this.id} is finished: its request is no longer kept`);
    return this.req;
  }

  respond(res: SipResponse): SentResponse {
    // Every response of a transaction echoes the request's Via, so its destination is worked out
    // once (and again only if a TU changed the Via).
    const top = res.headers.get('Via');
    if (top !== this.destVia) {
      this.destVia = top;
      this.dest = responseTarget(res, this.source);
    }
    // Own the bytes: a small pooled Buffer would pin its whole 8 KB pool slab for 64*T1.
    const wire = { bytes: serialize(res, { owned: true }), to: this.dest };
    this.layer.deliver(this, { type: 'TU.RESPONSE', status: res.status, response: wire });
    if (this.status !== undefined) this.req = undefined;
    return wire;
  }

  reply(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse {
    const res = createResponse(this.request, status, reason, opts);
    this.respond(res);
    return res;
  }

  replyStateless(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse {
    const inStep = this.snap !== undefined;
    const res = this.reply(status, reason, opts);
    // The machine sent it (and took it as final); the layer just keeps no transaction afterwards.
    if (inStep && this.status === status) this.stateless = true;
    return res;
  }
}

/**
 * A server transaction in its linger phase. RFC 3261 keeps a non-INVITE server transaction in
 * Completed for Timer J and RFC 6026 keeps an INVITE one in Accepted for Timer L (both 64*T1,
 * 32 s): pure absorption of retransmissions. Those states are in the machines and model-tested;
 * at run time the layer replaces the actor by this record when it reaches them, because 32 s of
 * live actors at 1000 calls/s is ~64 000 actors and the GC pauses that come with them.
 */
interface Lingering {
  key: string;
  /** The final response to resend (NIST); none for an accepted INVITE (absorbed silently). */
  response: WireResponse | undefined;
  expiresAt: number;
}

/**
 * What a server transaction keeps of a response: the bytes and where they go. Retransmissions
 * resend these, and a lingering transaction (Timer J/L, 64*T1) holds a few hundred bytes instead
 * of a parsed message.
 */
interface WireResponse {
  bytes: Buffer;
  to: Endpoint;
}

interface ClientRecord extends ClientTransaction {
  key: string;
  handlers: ClientTransactionHandlers;
}

export interface TransactionLayerStats {
  serverCreated: number;
  clientCreated: number;
  retransmittedRequestsAbsorbed: number;
  responsesRetransmitted: number;
  requestsRetransmitted: number;
  timeouts: number;
  /** Final responses sent with no transaction kept (ServerTransaction.replyStateless). */
  statelessResponses: number;
}


export class TransactionLayer {
  private readonly servers = new Map<string, ServerRecord>();
  private readonly clients = new Map<string, ClientRecord>();
  private readonly byId = new Map<string, ServerRecord | ClientRecord>();
  private seq = 0;
  private readonly lingering = new Map<string, Lingering>();
  /** Where each response handed to a client transaction came from (for its TU). */
  private readonly responseSources = new WeakMap<SipResponse, Endpoint>();
  // Every linger lasts 64*T1, so insertion order is expiry order: a FIFO is the whole timer wheel.
  private readonly lingerQueue: Lingering[] = [];
  private lingerHead = 0;
  private lingerSweep: NodeJS.Timeout | undefined;
  readonly timers: SipTimerConfig;
  readonly stats: TransactionLayerStats = {
    serverCreated: 0,
    clientCreated: 0,
    retransmittedRequestsAbsorbed: 0,
    responsesRetransmitted: 0,
    requestsRetransmitted: 0,
    timeouts: 0,
    statelessResponses: 0,
  };
  private readonly ist;
  private readonly nist;
  private readonly istPure: PureStepper;
  private readonly nistPure: PureStepper;
  /** The same machines over TCP/TLS (no Timer G/I/J): made on the first request from a stream. */
  private streamPure: { ist: PureStepper; nist: PureStepper; input: SipTimerConfig } | undefined;
  private readonly ict;
  private readonly nict;
  private tu: TransactionUser | undefined;

  constructor(
    private readonly transport: SipUdpTransport,
    private readonly supervisor: Supervisor,
    private readonly logger: Logger,
    timers: Partial<SipTimerConfig> = {},
  ) {
    const cfg = sipTimerConfig(timers);
    this.timers = { ...cfg, finalRetransmits: cfg.finalRetransmits ?? DEFAULT_FINAL_RETRANSMITS };
    const server = (id: string) => this.byId.get(id) as ServerRecord | undefined;
    const client = (id: string) => this.byId.get(id) as ClientRecord | undefined;
    // The actor runs the same effects as the pure step (serverEffect), looked up by actor id.
    const effect = (type: string) => ({ self }: { self: { id: string } }, params: unknown) => {
      const tx = server(self.id);
      if (tx) this.serverEffect(tx, type, params);
    };
    const serverActions = {
      passToTU: effect('passToTU'),
      transmitResponse: effect('transmitResponse'),
      notifyTimeout: effect('notifyTimeout'),
      notifyTransportError: effect('notifyTransportError'),
    };
    this.ist = sipInviteServerTransactionMachine.provide({ actions: serverActions });
    this.nist = sipNonInviteServerTransactionMachine.provide({ actions: serverActions });
    this.istPure = pureStepper(this.ist, this.timers);
    this.nistPure = pureStepper(this.nist, this.timers);
    const transmitRequest = (id: string, retransmission: boolean) => {
      const tx = client(id);
      if (!tx) return;
      if (retransmission) this.stats.requestsRetransmitted++;
      this.transport.send(tx.request, tx.destination);
    };
    const clientActions = {
      transmitRequest: ({ self }: { self: { id: string } }) => transmitRequest(self.id, false),
      retransmitRequest: ({ self }: { self: { id: string } }) => transmitRequest(self.id, true),
      passToTU: ({ self }: { self: { id: string } }, p: { status: number; response: unknown }) => {
        const tx = client(self.id);
        const res = p.response as SipResponse | undefined;
        if (tx && res) tx.handlers.onResponse(res, this.responseSources.get(res) ?? tx.destination);
      },
      notifyTimeout: ({ self }: { self: { id: string } }) => {
        this.stats.timeouts++;
        client(self.id)?.handlers.onTimeout?.();
      },
      notifyTransportError: ({ self }: { self: { id: string } }, p: { error: unknown }) => client(self.id)?.handlers.onTransportError?.(p.error),
    };
    this.ict = sipInviteClientTransactionMachine.provide({
      actions: {
        ...clientActions,
        sendAck: ({ self }, p) => {
          const tx = client(self.id);
          if (tx && p.response) this.transport.send(ackForNon2xx(tx.request, p.response as SipResponse), tx.destination);
        },
      },
    });
    this.nict = sipNonInviteClientTransactionMachine.provide({ actions: clientActions });

    transport.on('request', (req, from, via) => this.onRequest(req, from, via));
    transport.on('response', (res, from) => this.onResponse(res, from));
  }

  setUser(tu: TransactionUser): void {
    this.tu = tu;
  }

  get size(): { server: number; client: number } {
    return { server: this.servers.size, client: this.clients.size };
  }

  private linger(key: string, response: WireResponse | undefined): void {
    const entry: Lingering = { key, response, expiresAt: performance.now() + 64 * this.timers.t1 };
    this.lingering.set(key, entry);
    this.lingerQueue.push(entry);
    if (!this.lingerSweep) {
      this.lingerSweep = setInterval(() => this.sweepLingering(), Math.max(50, this.timers.t1));
      this.lingerSweep.unref();
    }
  }

  private sweepLingering(): void {
    const now = performance.now();
    const q = this.lingerQueue;
    while (this.lingerHead < q.length && q[this.lingerHead]!.expiresAt <= now) {
      const e = q[this.lingerHead++]!;
      if (this.lingering.get(e.key) === e) this.lingering.delete(e.key);
    }
    if (this.lingerHead > 1024 && this.lingerHead * 2 > q.length) {
      q.splice(0, this.lingerHead);
      this.lingerHead = 0;
    }
    if (q.length === this.lingerHead && this.lingerSweep) {
      clearInterval(this.lingerSweep);
      this.lingerSweep = undefined;
    }
  }

  /**
   * An event for a server transaction's machine: stepped purely during the request's own step,
   * sent to its actor afterwards.
   */
  deliver(rec: ServerRecord, event: ServerEvent): void {
    if (rec.snap) this.pureStep(rec, event);
    else this.supervisor.get(rec.id)?.ref.send(event);
  }

  /** One pure transition of a server transaction's machine, then its effects, in order. */
  private pureStep(rec: ServerRecord, event: ServerEvent): void {
    const [next, actions] = this.steppers(rec).step(rec.snap!, event);
    // Recorded before the effects run: the TU may answer (a nested step) from passToTU.
    rec.snap = next;
    rec.events!.push(event);
    rec.status = (next.context as { finalStatus?: number }).finalStatus;
    for (const a of actions) this.serverEffect(rec, a.type, a.params);
  }

  /**
   * A server machine's effect, from its actor or from a pure step. Delayed events (xstate.raise /
   * xstate.cancel) of a pure step are not run: a transaction still open when its step ends is given
   * an actor, which schedules them; one that ends in Accepted/Completed is lingered instead.
   */
  private serverEffect(rec: ServerRecord, type: string, params: unknown): void {
    switch (type) {
      case 'passToTU': {
        if (rec.muted) return;
        const p = params as { request: SipRequest; method?: 'INVITE' | 'ACK' };
        // An ACK for our 2xx that reused the INVITE's branch (IST Accepted) belongs to the dialog.
        if (p.method === 'ACK') this.tu?.onAck(p.request, rec.source);
        else this.tu?.onRequest(rec);
        return;
      }
      case 'transmitResponse': {
        if (rec.muted) return;
        const p = params as { status: number; response: WireResponse | undefined; retransmission: boolean };
        if (p.retransmission) this.stats.responsesRetransmitted++;
        if (p.response) this.transport.sendBytes(p.response.bytes, p.response.to);
        else {
          // The automatic 100 Trying.
          const trying = createResponse(rec.request, p.status);
          this.transport.send(trying, responseTarget(trying, rec.source));
        }
        return;
      }
      case 'notifyTimeout':
        if (rec.muted) return;
        this.stats.timeouts++;
        rec.onTimeout?.();
        return;
      case 'notifyTransportError':
        return;
      default:
        if (!type.startsWith('xstate.')) throw new Error(`server transaction: unknown action ${type}`);
    }
  }

  /**
   * A server transaction that reached its linger phase (IST Accepted, NIST Completed) or its end:
   * drop the record (and its actor, if any) and, lingering, keep only a table entry.
   */
  private settle(rec: ServerRecord, snap: AnyMachineSnapshot): boolean {
    const lingers = rec.isInvite ? snap.matches('accepted') : snap.matches('completed');
    if (!lingers && snap.status !== 'done') return false;
    this.servers.delete(rec.key);
    this.byId.delete(rec.id);
    if (!lingers) return true;
    // Timer J is zero over a reliable transport; an accepted INVITE lingers Timer L on any.
    if (rec.isInvite) this.linger(rec.key, undefined);
    else if (!this.timers.reliable && rec.source.transport === undefined) {
      const last = (snap.context as { lastResponse?: { response: unknown } }).lastResponse;
      this.linger(rec.key, last?.response as WireResponse | undefined);
    }
    return true;
  }

  /** Server transactions in their linger phase (absorbing retransmissions). */
  get lingeringCount(): number {
    return this.lingering.size;
  }

  /** Whether a request is a retransmission for a server transaction here (live or lingering). */
  knows(req: SipRequest, parsedTopVia?: Via): boolean {
    const key = serverKey(req, parsedTopVia);
    return key !== undefined && (this.servers.has(key) || this.lingering.has(key));
  }

  /** The INVITE server transaction a CANCEL refers to (§9.2), if it is still there. */
  findInviteFor(cancel: SipRequest): ServerTransaction | undefined {
    const key = serverKey(cancel);
    if (!key) return undefined;
    return this.servers.get(key.replace(/\|CANCEL$/, '|INVITE'));
  }

  /** Start a client transaction for `req` towards `dest`. */
  request(req: SipRequest, dest: Endpoint, handlers: ClientTransactionHandlers): ClientTransaction {
    const key = clientKey(req);
    if (!key) throw new Error('request has no Via branch or CSeq');
    const id = `ctx-${++this.seq}`;
    const rec: ClientRecord = { id, key, request: req, destination: dest, handlers };
    this.clients.set(key, rec);
    this.byId.set(id, rec);
    this.stats.clientCreated++;
    const logic = req.method === 'INVITE' ? this.ict : this.nict;
    // Over TCP/TLS no Timer A/E retransmissions and no Timer D/K wait (§17.1.1.2, §17.1.2.2).
    const input = dest.transport !== undefined && !this.timers.reliable ? { ...this.timers, reliable: true } : undefined;
    const actor = this.spawn(
      logic,
      id,
      req.headers.get('Call-ID'),
      () => {
        this.clients.delete(key);
        this.byId.delete(id);
      },
      undefined,
      input,
    );
    actor?.send({ type: 'SEND', request: req });
    return rec;
  }

  /** Send a request with no transaction (the ACK for a 2xx, §13.2.2.4). */
  sendStateless(req: SipRequest, dest: Endpoint): void {
    this.transport.send(req, dest);
  }

  /** Cancel a client transaction's retransmissions (e.g. on shutdown). */
  stopAll(): void {
    for (const id of [...this.byId.keys()]) this.supervisor.stop(id);
    clearInterval(this.lingerSweep);
    this.lingerSweep = undefined;
    this.lingering.clear();
    this.lingerQueue.length = 0;
    this.lingerHead = 0;
  }

  private spawn(
    logic: typeof this.ist | typeof this.nist | typeof this.ict | typeof this.nict,
    id: string,
    callId: string | undefined,
    onExit: () => void,
    onSnapshot?: (snap: AnyMachineSnapshot) => void,
    input: SipTimerConfig = this.timers,
  ): { send(event: AnyEventObject): void } | undefined {
    try {
      return this.supervisor.spawn(logic as AnyActorLogic, {
        kind: 'transaction',
        id,
        input,
        onExit,
        ...(onSnapshot ? { onSnapshot: onSnapshot as (snap: unknown) => void } : {}),
        onCrash: (err) => this.logger.error({ err, id, callId }, 'transaction crashed'),
      }).ref;
    } catch (err) {
      onExit();
      this.logger.error({ err, id, callId }, 'cannot create transaction');
      return undefined;
    }
  }

  private onRequest(req: SipRequest, source: Endpoint, via?: Via): void {
    const key = serverKey(req, via);
    if (!key) {
      // No parsable Via: the parser already insists on one, so this is defensive only.
      return;
    }
    const existing = this.servers.get(key);
    if (req.method === 'ACK') {
      if (existing?.isInvite) {
        this.deliver(existing, { type: 'ACK.RECEIVED', request: req });
        return;
      }
      // A 2xx ACK (new branch, or the INVITE's branch while it lingers) belongs to the dialog.
      this.tu?.onAck(req, source);
      return;
    }
    if (existing) {
      this.stats.retransmittedRequestsAbsorbed++;
      this.deliver(existing, { type: 'REQUEST.RETRANSMITTED' });
      return;
    }
    const lingering = this.lingering.get(key);
    if (lingering) {
      // Completed (non-INVITE): answer the retransmission with the same final response.
      // Accepted (INVITE): absorb it silently; the UA core retransmits its own 2xx.
      this.stats.retransmittedRequestsAbsorbed++;
      if (lingering.response) {
        this.stats.responsesRetransmitted++;
        this.transport.sendBytes(lingering.response.bytes, lingering.response.to);
      }
      return;
    }
    const id = `stx-${++this.seq}`;
    const isInvite = req.method === 'INVITE';
    const rec = new ServerRecord(this, id, key, req, source, isInvite);
    this.servers.set(key, rec);
    this.byId.set(id, rec);
    this.stats.serverCreated++;
    // Most server transactions live one step: the TU answers a BYE, OPTIONS or error at once, and
    // an INVITE it accepts at once goes straight to Accepted. An actor for one step would cost ten
    // times the pure transitions, so the machine runs purely (its effects executed as they come)
    // until the step ends; only a transaction still open then becomes an actor.
    rec.snap = this.steppers(rec).initial;
    rec.events = [];
    try {
      this.pureStep(rec, { type: 'REQUEST.RECEIVED', request: req });
    } catch (err) {
      // The same end as an actor whose action threw: the transaction is gone.
      rec.snap = rec.events = undefined;
      this.servers.delete(key);
      this.byId.delete(id);
      this.logger.error({ err, id, callId: req.headers.get('Call-ID') }, 'transaction crashed');
      return;
    }
    const snap = rec.snap!;
    const events = rec.events!;
    rec.snap = rec.events = undefined;
    if (rec.stateless) {
      // §8.2.7: answered as a stateless UAS; retransmissions are answered afresh.
      this.servers.delete(key);
      this.byId.delete(id);
      this.stats.statelessResponses++;
      return;
    }
    if (this.settle(rec, snap)) return;
    // Still open (no final answer yet, or an INVITE's non-2xx awaiting its ACK): an actor takes
    // over, brought to the same state by the same events with their effects muted; its timers
    // start now, as the step's would have.
    const actor = this.spawn(
      isInvite ? this.ist : this.nist,
      id,
      req.headers.get('Call-ID'),
      () => {
        this.servers.delete(key);
        this.byId.delete(id);
      },
      (s) => {
        rec.status = (s.context as { finalStatus?: number }).finalStatus;
        if (!rec.muted && this.settle(rec, s)) this.supervisor.stop(id);
      },
      this.inputFor(rec),
    );
    if (!actor) return;
    rec.muted = true;
    try {
      for (const e of events) actor.send(e);
    } finally {
      rec.muted = false;
    }
  }

  /** Over TCP/TLS a server transaction retransmits nothing and waits no Timer G/I/J (§17.2.1, §17.2.2). */
  private inputFor(rec: ServerRecord): SipTimerConfig {
    if (rec.source.transport === undefined || this.timers.reliable) return this.timers;
    return (this.streamPure ??= this.makeStreamPure()).input;
  }

  private steppers(rec: ServerRecord): PureStepper {
    if (rec.source.transport === undefined || this.timers.reliable) return rec.isInvite ? this.istPure : this.nistPure;
    const sp = (this.streamPure ??= this.makeStreamPure());
    return rec.isInvite ? sp.ist : sp.nist;
  }

  private makeStreamPure(): { ist: PureStepper; nist: PureStepper; input: SipTimerConfig } {
    const input = { ...this.timers, reliable: true };
    return { ist: pureStepper(this.ist, input), nist: pureStepper(this.nist, input), input };
  }

  private onResponse(res: SipResponse, source: Endpoint): void {
    const key = clientKey(res);
    const tx = key ? this.clients.get(key) : undefined;
    if (tx) {
      this.responseSources.set(res, source);
      this.supervisor.get(tx.id)?.ref.send({ type: 'RESPONSE.RECEIVED', status: res.status, response: res });
      return;
    }
    this.tu?.onStrayResponse(res, source);
  }
}
