// The RFC 3261 §17 transaction layer: matches messages to transactions and runs each transaction as
// an actor of the four machines in machines/. The machines are provided ONCE here; their actions
// dispatch to the transaction record registered under the actor's id.
import type { Logger } from 'pino';
import type { AnyActorLogic, AnyEventObject } from 'xstate';
import {
  sipInviteServerTransactionMachine,
  sipNonInviteServerTransactionMachine,
  sipInviteClientTransactionMachine,
  sipNonInviteClientTransactionMachine,
} from '../../../machines/index.js';
import { sipTimerConfig, type SipTimerConfig } from '../../../machines/sipTimers.js';
import type { Supervisor } from '../../actors/supervisor.js';
import { createResponse, createRequest, serialize, responseDestination, type SipRequest, type SipResponse } from '../codec/message.js';
import { parseVia, parseCSeq, parseNameAddr, isRfc3261Branch, type Via } from '../codec/headers.js';
import type { Endpoint, SipUdpTransport } from '../transport/udp.js';

export interface ServerTransaction {
  readonly id: string;
  readonly request: SipRequest;
  readonly source: Endpoint;
  readonly isInvite: boolean;
  /** Hand a response to the transaction (it sends and retransmits as the RFC says). */
  respond(res: SipResponse): void;
  /** Convenience: build and send a response to this transaction's request. */
  reply(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse;
  /**
   * A final response sent as a stateless UAS does (RFC 3261 §8.2.7): once, with no transaction
   * kept to retransmit it or absorb retransmissions (each retransmitted request is answered
   * afresh, one for one). For refusals that must cost nothing: challenges, overload, throttling.
   * Only while the TU is handling the request inline; later it is an ordinary reply.
   */
  replyStateless(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse;
  /** The final status sent, once one was. */
  finalStatus: number | undefined;
  onTimeout?: () => void;
}

export interface ClientTransactionHandlers {
  /** `source`: where the response came from (it echoed our branch, so it saw the request). */
  onResponse(res: SipResponse, source: Endpoint): void;
  onTimeout?(): void;
  onTransportError?(err: unknown): void;
}

export interface ClientTransaction {
  readonly id: string;
  readonly request: SipRequest;
  readonly destination: Endpoint;
}

/** What the layer asks of the transaction user (the UA core). */
export interface TransactionUser {
  onRequest(tx: ServerTransaction): void;
  /** ACK that matched no server transaction: the ACK for a 2xx, which belongs to the dialog. */
  onAck(ack: SipRequest, source: Endpoint): void;
  /** A 2xx to INVITE after its client transaction ended: retransmitted 2xx, the dialog re-ACKs. */
  onStrayResponse(res: SipResponse, source: Endpoint): void;
}

/**
 * Timer G copies of an INVITE's non-2xx final response (486, 480, 487 …) when the ACK does not
 * come: 4 (at T1, 3T1, 7T1, 15T1) instead of RFC 3261's 10 until Timer H, the same budget the UA
 * core gives an unconfirmed peer's 2xx. `timers.finalRetransmits: Infinity` restores the RFC's.
 */
export const DEFAULT_FINAL_RETRANSMITS = 4;

/** A response handed to a server transaction, as it goes on the wire. */
interface TuResponse {
  status: number;
  wire: WireResponse;
  /** Sent by replyStateless: no transaction survives it. */
  stateless?: true;
}

/**
 * Where a response to a request from `source` goes. §18.2.2 and RFC 3581 read it off the top Via
 * (received, rport, sent-by port), but never toward another IP than the request came from:
 * a Via the sender wrote (maddr, a received= it put there itself) must not aim our responses
 * and their retransmissions at a third party. The port may differ (a Via without rport names
 * the sender's listening port on the same host).
 */
export function responseTarget(res: SipResponse, source: Endpoint): Endpoint {
  const d = responseDestination(res);
  return d && d.host === source.address ? { address: d.host, port: d.port } : source;
}

/**
 * A server transaction's record: what the TU holds, and what the machine's actions dispatch to.
 * One class (not a closure per transaction) because thousands are created per second.
 */
class ServerRecord implements ServerTransaction {
  finalStatus: number | undefined = undefined;
  onTimeout?: () => void;
  /** The latest response (the final one once there is one): what the NIST linger resends. */
  lastResponse: WireResponse | undefined = undefined;
  /**
   * Set while the TU is called inline, before any actor exists (see TransactionLayer.onRequest):
   * responses collect here instead of going to an actor.
   */
  inline: TuResponse[] | undefined = undefined;
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

  get request(): SipRequest {
    if (!this.req) throw new Error(`transaction ${this.id} is finished: its request is no longer kept`);
    return this.req;
  }

  respond(res: SipResponse): void {
    if (res.status >= 200) {
      this.finalStatus = res.status;
      this.req = undefined;
    }
    // Every response of a transaction echoes the request's Via, so its destination is worked out
    // once (and again only if a TU changed the Via).
    const top = res.headers.get('Via');
    if (top !== this.destVia) {
      this.destVia = top;
      this.dest = responseTarget(res, this.source);
    }
    // Own the bytes: a small pooled Buffer would pin its whole 8 KB pool slab for 64*T1.
    const bytes = serialize(res, { owned: true });
    const wire: WireResponse = { bytes, to: this.dest };
    this.lastResponse = wire;
    if (this.inline) this.inline.push({ status: res.status, wire });
    else this.layer.deliver(this.id, res.status, wire);
  }

  reply(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse {
    const res = createResponse(this.request, status, reason, opts);
    this.respond(res);
    return res;
  }

  replyStateless(status: number, reason?: string, opts?: Parameters<typeof createResponse>[3]): SipResponse {
    const inline = this.inline;
    const res = this.reply(status, reason, opts);
    if (inline && status >= 200) inline[inline.length - 1]!.stateless = true;
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

function topVia(msg: SipRequest | SipResponse) {
  return msg.headers.parsedFirst('Via', parseVia);
}

/**
 * §17.2.3 server matching key; falls back to the RFC 2543 key when the branch has no magic cookie.
 * `parsedTopVia` saves parsing the top Via again when the caller already has it.
 */
export function serverKey(req: SipRequest, parsedTopVia?: Via): string | undefined {
  const via = parsedTopVia ?? topVia(req);
  if (!via) return undefined;
  const method = req.method === 'ACK' ? 'INVITE' : req.method;
  if (isRfc3261Branch(via.branch)) return `${via.branch}|${via.host}:${via.port ?? 5060}|${method}`;
  const cseq = req.headers.parsedFirst('CSeq', parseCSeq);
  const from = req.headers.parsedFirst('From', parseNameAddr);
  return `2543|${req.headers.get('Call-ID')}|${from?.tag ?? ''}|${cseq?.seq ?? ''}|${req.headers.get('Via')}|${method}`;
}

/** §17.1.3 client matching key: top Via branch + CSeq method. */
export function clientKey(msg: SipRequest | SipResponse): string | undefined {
  const via = topVia(msg);
  const cseq = msg.headers.parsedFirst('CSeq', parseCSeq);
  if (!via?.branch || !cseq) return undefined;
  const method = cseq.method === 'ACK' ? 'INVITE' : cseq.method;
  return `${via.branch}|${method}`;
}

/** §17.1.1.3: the ACK a client transaction sends for a non-2xx final response. */
export function ackForNon2xx(invite: SipRequest, res: SipResponse): SipRequest {
  const cseq = invite.headers.parsedFirst('CSeq', parseCSeq)!;
  const ack = createRequest({
    method: 'ACK',
    uri: invite.uri,
    from: invite.headers.parsedFirst('From', parseNameAddr)!,
    to: res.headers.parsedFirst('To', parseNameAddr)!,
    callId: invite.headers.get('Call-ID')!,
    cseq: cseq.seq,
    via: { transport: 'UDP', host: '0.0.0.0' },
    maxForwards: 70,
  });
  // Same top Via (branch!) as the INVITE, and the INVITE's Route set.
  ack.headers.set('Via', invite.headers.get('Via')!);
  for (const r of invite.headers.getAll('Route')) ack.headers.append('Route', r);
  return ack;
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
    const transmitResponse = (id: string, p: { status: number; response: unknown; retransmission: boolean }) => {
      const tx = server(id);
      if (!tx) return;
      if (p.retransmission) this.stats.responsesRetransmitted++;
      const wire = p.response as WireResponse | undefined;
      if (wire) this.transport.sendBytes(wire.bytes, wire.to);
      else {
        // The automatic 100 Trying.
        const trying = createResponse(tx.request, p.status);
        this.transport.send(trying, responseTarget(trying, tx.source));
      }
    };
    const serverTimeout = (id: string) => {
      this.stats.timeouts++;
      server(id)?.onTimeout?.();
    };
    this.ist = sipInviteServerTransactionMachine.provide({
      actions: {
        // The TU already has the INVITE: the layer hands every new request over before any actor
        // exists (answeredInline). An ACK for our 2xx that reused the INVITE's branch still
        // belongs to the dialog.
        passToTU: ({ self }, p) => {
          const tx = server(self.id);
          if (tx && p.method !== 'INVITE' && p.request) this.tu?.onAck(p.request as SipRequest, tx.source);
        },
        transmitResponse: ({ self }, p) => transmitResponse(self.id, p),
        notifyTimeout: ({ self }) => serverTimeout(self.id),
      },
    });
    this.nist = sipNonInviteServerTransactionMachine.provide({
      actions: {
        // Nothing to pass: the layer handed the request to the TU before spawning (answeredInline).
        passToTU: () => {},
        transmitResponse: ({ self }, p) => transmitResponse(self.id, p),
      },
    });
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

  /** A TU response for a server transaction's actor (ServerRecord.respond). */
  deliver(id: string, status: number, wire: WireResponse): void {
    this.supervisor.get(id)?.ref.send({ type: 'TU.RESPONSE', status, response: wire });
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
    const actor = this.spawn(logic, id, () => {
      this.clients.delete(key);
      this.byId.delete(id);
    });
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
    onExit: () => void,
    onSnapshot?: (snap: { matches(state: string): boolean }) => void,
  ): { send(event: AnyEventObject): void } | undefined {
    try {
      return this.supervisor.spawn(logic as AnyActorLogic, {
        kind: 'transaction',
        id,
        input: this.timers,
        onExit,
        ...(onSnapshot ? { onSnapshot: onSnapshot as (snap: unknown) => void } : {}),
        onCrash: (err) => this.logger.error({ err, id }, 'transaction crashed'),
      }).ref;
    } catch (err) {
      onExit();
      this.logger.error({ err }, 'cannot create transaction');
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
        this.supervisor.get(existing.id)?.ref.send({ type: 'ACK.RECEIVED', request: req });
        return;
      }
      // A 2xx ACK (new branch, or the INVITE's branch while it lingers) belongs to the dialog.
      this.tu?.onAck(req, source);
      return;
    }
    if (existing) {
      this.stats.retransmittedRequestsAbsorbed++;
      this.supervisor.get(existing.id)?.ref.send({ type: 'REQUEST.RETRANSMITTED' });
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
    if (this.answeredInline(rec)) return;
    const actor = this.spawn(
      isInvite ? this.ist : this.nist,
      id,
      () => {
        this.servers.delete(key);
        this.byId.delete(id);
      },
      (snap) => {
        // Hand the linger phase (IST Accepted / NIST Completed) to a compact absorber.
        if (this.timers.reliable) return;
        if (isInvite ? snap.matches('accepted') : snap.matches('completed')) {
          this.linger(key, isInvite ? undefined : rec.lastResponse);
          this.supervisor.stop(id);
        }
      },
    );
    actor?.send({ type: 'REQUEST.RECEIVED', request: req });
    // The TU gave no final answer inline (or an INVITE's non-2xx): the actor takes over from
    // Trying/Proceeding with what the TU already sent, in order.
    const early = rec.inline ?? [];
    rec.inline = undefined;
    for (const r of early) actor?.send({ type: 'TU.RESPONSE', status: r.status, response: r.wire });
  }

  /**
   * A server transaction whose TU answers in the same call would live as an actor for one step:
   * a non-INVITE one (BYE, CANCEL, OPTIONS, INFO, NOTIFY, every error reply) goes from Trying to
   * Completed, an INVITE one answered 2xx (a call the app accepts at once, its RTP pair coming
   * from the pool) from Proceeding to Accepted (RFC 6026), and both of those are lingered as a
   * table entry anyway. So the TU is called first, here (what the machines' passToTU does on
   * REQUEST.RECEIVED); when such a final response came back synchronously it is sent (after any
   * provisional one, as the machine would) and the transaction goes straight to the linger table.
   * Otherwise (no final response yet, or an INVITE's non-2xx, which Completed retransmits until
   * the ACK) the caller spawns the actor, which takes over with what the TU already sent; its
   * passToTU does not hand the request over again.
   */
  private answeredInline(rec: ServerRecord): boolean {
    rec.inline = [];
    try {
      this.tu?.onRequest(rec);
    } catch (err) {
      // The same end as an actor whose action threw: the transaction is gone, nothing is sent.
      rec.inline = undefined;
      this.servers.delete(rec.key);
      this.byId.delete(rec.id);
      this.logger.error({ err, id: rec.id }, 'transaction crashed');
      return true;
    }
    const responses = rec.inline;
    const final = responses.findIndex((r) => r.status >= 200);
    if (final < 0) return false;
    const stateless = responses[final]!.stateless === true;
    if (rec.isInvite && responses[final]!.status >= 300 && !stateless) return false;
    rec.inline = undefined;
    this.servers.delete(rec.key);
    this.byId.delete(rec.id);
    // Responses after the final one are discarded, as in Completed.
    for (let i = 0; i <= final; i++) this.transport.sendBytes(responses[i]!.wire.bytes, responses[i]!.wire.to);
    if (stateless) {
      this.stats.statelessResponses++;
      return true;
    }
    // An accepted INVITE lingers Timer L on any transport, absorbing retransmissions silently
    // (the UA core retransmits its own 2xx); over a reliable transport Timer J is zero.
    if (rec.isInvite) this.linger(rec.key, undefined);
    else if (!this.timers.reliable) this.linger(rec.key, responses[final]!.wire);
    return true;
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
