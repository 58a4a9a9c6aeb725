// The registrar and its location service (RFC 3261 §10.3): REGISTER with digest authentication
// against the configured users, one sipRegistration actor per binding (AOR + contact), and the
// lookup `engine.registrations` gives the application.
//
// One domain: callchart serves the users of its `sip.auth` realm, so an AOR is keyed by its user
// part (sip:alice@10.0.0.1 and sip:alice@pbx.example are the same alice). Only an authenticated
// user registers, and only its own AOR, so the table holds at most users × maxBindingsPerAor
// bindings, and never more than maxBindings: a REGISTER flood from unknown users costs stateless
// challenges (and the per-source REGISTER bucket of the admission layer), never memory.
import type { Logger } from 'pino';
import { sipRegistrationMachine, type SipRegistrationEndReason, type SipRegistrationInput } from '../../../machines/sipRegistration.machine.js';
import { ActorRegistry } from '../../actors/registry.js';
import type { Supervisor } from '../../actors/supervisor.js';
import type { AuthThrottle } from '../../auth-throttle.js';
import type { DigestServer } from '../codec/digest.js';
import { parseCSeq, parseContact, parseExpires, parseNameAddr, splitTopLevel } from '../codec/headers.js';
import type { SipRequest } from '../codec/message.js';
import { formatUri, parseUri, type SipUri } from '../codec/uri.js';
import type { ServerTransaction } from '../transactions/types.js';
import type { Endpoint } from '../transport/udp.js';

export interface RegistrarOptions {
  /** Shortest expiry accepted, seconds (default 60); below it 423 Interval Too Brief. */
  minExpires?: number;
  /** Longest expiry granted, seconds (default 3600); longer requests are granted this. */
  maxExpires?: number;
  /** Expiry when the REGISTER names none, seconds (default 3600). */
  defaultExpires?: number;
  /** Contacts one AOR may bind (default 10); more: 403. */
  maxBindingsPerAor?: number;
  /** Bindings in all (default 10 000); more: 503. */
  maxBindings?: number;
}

/** One binding, as `engine.registrations` reports it. */
export interface Registration {
  /** The address-of-record as the REGISTER's To named it, e.g. `sip:alice@example.com`. */
  aor: string;
  /** Its user part: the key bindings are looked up by. */
  user: string;
  /** Where calls to the AOR go (the Contact URI). */
  contact: string;
  /** Seconds left until the binding expires. */
  expires: number;
  /** When it expires (ms since the epoch). */
  expiresAt: number;
  /** The q-value of the Contact, when given. */
  q?: number;
  /** Where the REGISTER came from: for an outbound binding, its flow. */
  source: Endpoint;
  callId: string;
  /**
   * Set for an RFC 5626 outbound binding (the Contact had `+sip.instance` and `reg-id`, and the
   * REGISTER came straight from the client): one binding per flow, keyed by these two, and calls
   * to it go down that flow or fail with 430.
   */
  outbound?: OutboundBinding;
  /**
   * The REGISTER's Path (RFC 3327), when it came through proxies that added one: their name-addrs
   * in order, nearest the registrar first. Calls to the binding (`engine.connect`) take it as their
   * preloaded Route set, so they reach the phone through the same proxies. Each REGISTER replaces it.
   */
  path?: string[];
}

/** The identity of an RFC 5626 outbound binding (§4.1 instance id, §4.2 reg-id). */
export interface OutboundBinding {
  instance: string;
  regId: number;
}

/** The location service's read side: `engine.registrations`. */
export interface Registrations {
  /** Live bindings of an AOR (a SIP URI, or a bare user name), highest q first. */
  lookup(aorOrUser: string): Registration[];
  /** Every live binding. */
  list(): Registration[];
  /** Live bindings in all. */
  readonly size: number;
}

export interface RegistrarDeps {
  supervisor: Supervisor;
  log: Logger;
  digest: DigestServer;
  throttle: AuthThrottle;
  /** The configured users' passwords. */
  lookupUser: (username: string) => string | undefined;
  /** Keep the stream connection a binding came over from the idle timeout (its release; UDP: none). */
  holdFlow?: (e: Endpoint) => (() => void) | undefined;
  now?: () => number;
}

export interface RegistrarStats {
  registers: number;
  /** REGISTERs refused after authentication (403/423/400/500/503). */
  refused: number;
}

interface BindingWire {
  user: string;
  aor: string;
  contact: string;
  /** The binding's key among its AOR's: the Contact URI, or the outbound instance and reg-id. */
  key: string;
  /** Where the last REGISTER came from (an outbound binding's flow moves with its re-REGISTERs). */
  source: Endpoint;
  outbound?: OutboundBinding;
  /** Lets `source`'s connection idle out again (the binding held it: calls come down it). */
  release?: (() => void) | undefined;
}

/** RFC 5626 §4.2: reg-id is 1 to 2**31 - 1. */
const REG_ID_MAX = 2 ** 31 - 1;
const INSTANCE_ID = /^<[A-Za-z0-9:._~%!$&'()*+,;=@/?-]{1,256}>$/;
const outboundKey = (o: OutboundBinding) => `outbound ${o.regId} ${o.instance}`;

/**
 * A Path value calls can be routed by: a name-addr (angle brackets: its parameters are the URI's)
 * of a SIP URI. The parser already refused bad syntax; this refuses what is no SIP hop (tel:, bare).
 */
const isPathHop = (v: string) => parseNameAddr(v)?.uri.kind === 'sip' && v.includes('<');

const ACTOR_PREFIX = 'registration:';

/** The user part that keys an AOR: from a SIP URI's user, or the string itself when it is no URI. */
export function aorKey(aorOrUser: string): string | undefined {
  if (!/^sips?:/i.test(aorOrUser)) return aorOrUser || undefined;
  const uri = parseUri(aorOrUser);
  return uri?.kind === 'sip' ? uri.user : undefined;
}

export class Registrar implements Registrations {
  readonly stats: RegistrarStats = { registers: 0, refused: 0 };
  private readonly registry: ActorRegistry<typeof sipRegistrationMachine, BindingWire>;
  /** user → binding key (Contact, or outbound instance and reg-id) → actor id: which binding actors exist (their state lives in them). */
  private readonly index = new Map<string, Map<string, string>>();
  private readonly minExpires: number;
  private readonly maxExpires: number;
  private readonly defaultExpires: number;
  private readonly maxPerAor: number;
  private readonly maxBindings: number;
  private readonly now: () => number;
  private seq = 0;

  constructor(
    private readonly deps: RegistrarDeps,
    o: RegistrarOptions = {},
  ) {
    this.minExpires = o.minExpires ?? 60;
    this.maxExpires = Math.max(this.minExpires, o.maxExpires ?? 3600);
    this.defaultExpires = Math.min(this.maxExpires, Math.max(this.minExpires, o.defaultExpires ?? 3600));
    this.maxPerAor = o.maxBindingsPerAor ?? 10;
    this.maxBindings = o.maxBindings ?? 10_000;
    this.now = deps.now ?? Date.now;
    const log = deps.log;
    this.registry = new ActorRegistry(deps.supervisor, (wireOf) =>
      sipRegistrationMachine.provide({
        actions: {
          announce: ({ self }, p) => {
            const w = wireOf(self.id);
            if (w) log.debug({ aor: w.aor, contact: w.contact, state: p.state, expires: p.expires }, 'registration');
          },
        },
        // The granted seconds, on the real clock.
        delays: { expiry: ({ context }) => context.expires * 1000 },
      }),
    );
  }

  get size(): number {
    return this.registry.size;
  }

  lookup(aorOrUser: string): Registration[] {
    const user = aorKey(aorOrUser);
    const ids = user === undefined ? undefined : this.index.get(user);
    if (!ids) return [];
    const out: Registration[] = [];
    for (const id of ids.values()) {
      const r = this.read(id);
      if (r) out.push(r);
    }
    return out.sort((a, b) => (b.q ?? 1) - (a.q ?? 1));
  }

  list(): Registration[] {
    return [...this.index.keys()].flatMap((u) => this.lookup(u));
  }

  private read(id: string): Registration | undefined {
    const w = this.registry.wire(id);
    const ref = this.ref(id);
    if (!w || !ref) return undefined;
    const snap = ref.getSnapshot();
    if (snap.status !== 'active') return undefined;
    const c = snap.context;
    const r: Registration = {
      aor: w.aor,
      user: w.user,
      contact: w.contact,
      expires: Math.max(0, Math.round((c.expiresAt - this.now()) / 1000)),
      expiresAt: c.expiresAt,
      source: w.source,
      callId: c.callId,
    };
    if (c.q !== undefined) r.q = c.q;
    if (w.outbound) r.outbound = w.outbound;
    if (c.path?.length) r.path = [...c.path];
    return r;
  }

  /**
   * An outbound binding's flow is gone (RFC 5626 §5.3): the binding goes with it, so later calls
   * look for another flow rather than this one.
   */
  flowFailed(r: Registration): void {
    if (!r.outbound) return;
    const id = this.bindingsOf(r.user)?.get(outboundKey(r.outbound));
    if (id && this.registry.wire(id)?.source === r.source) this.ref(id)?.send({ type: 'EVICT' });
  }

  private ref(id: string) {
    return this.deps.supervisor.get<typeof sipRegistrationMachine>(id)?.ref;
  }

  private bindingsOf(user: string): Map<string, string> | undefined {
    return this.index.get(user);
  }

  /** Drop every binding (engine shutdown). */
  clear(): void {
    for (const ids of [...this.index.values()]) for (const id of [...ids.values()]) this.ref(id)?.send({ type: 'EVICT' });
  }

  /** A REGISTER (§10.3), from the UA's router. */
  onRegister(tx: ServerTransaction, req: SipRequest): void {
    this.stats.registers++;
    const username = this.authenticate(tx, req);
    if (username === undefined) return;
    const refuse = (status: number, reason: string, headers: Array<[string, string]> = []) => {
      this.stats.refused++;
      tx.reply(status, reason, { headers });
    };
    // §10.3 step 5: the authenticated user may bind only its own AOR.
    const to = req.headers.parsedFirst('To', parseNameAddr);
    if (!to || to.uri.kind !== 'sip' || to.uri.user === undefined) return refuse(404, 'Not Found');
    if (to.uri.user !== username) return refuse(403, 'Forbidden (not your address-of-record)');
    const aor = formatUri({ ...to.uri, params: new Map(), headers: new Map(), port: undefined } as SipUri);
    const callId = req.headers.get('Call-ID')!;
    const cseq = req.headers.parsedFirst('CSeq', parseCSeq)!.seq;
    const expiresHeader = req.headers.get('Expires');
    const headerExpires = expiresHeader === undefined ? undefined : parseExpires(expiresHeader);
    if (expiresHeader !== undefined && headerExpires === undefined) return refuse(400, 'Bad Request (Expires)');
    // RFC 3327 §5.3: the proxies that added Path want the calls back through them: stored with each
    // contact, in order. Taken (and echoed) whether or not the UA's Supported names `path`: RFC 3327
    // lets a registrar refuse that with 420, but Path is the proxies' doing, not the UA's, and a 420
    // would leave a phone behind an edge proxy unreachable rather than reachable.
    const path = req.headers.getAll('Path').flatMap((v) => splitTopLevel(v)).map((v) => v.trim());
    if (!path.every(isPathHop)) return refuse(400, 'Bad Request (Path)');

    const contacts: Array<{ uri: string; expires: number; q?: number; outbound?: OutboundBinding }> = [];
    let star = false;
    // RFC 5626 §6: outbound needs the client's own connection, i.e. no proxy between us (one Via).
    // With a Path an edge proxy keeps the flow: an ordinary binding, called through the Path.
    const direct = req.headers.getAll('Via').flatMap((v) => splitTopLevel(v)).length === 1 && path.length === 0;
    let regIds = 0;
    for (const raw of req.headers.getAll('Contact').flatMap((v) => splitTopLevel(v))) {
      const c = parseContact(raw);
      if (!c) return refuse(400, 'Bad Request (Contact)');
      if (c.star) {
        star = true;
        continue;
      }
      const pe = c.params.get('expires');
      const e = pe === undefined || pe === null ? headerExpires : parseExpires(pe);
      const qs = c.params.get('q');
      const q = qs === undefined || qs === null ? undefined : Number(qs);
      const rid = c.params.get('reg-id');
      const instance = c.params.get('+sip.instance');
      let outbound: OutboundBinding | undefined;
      if (rid !== undefined) {
        const regId = rid === null || !/^\d{1,10}$/.test(rid) ? NaN : Number(rid);
        if (!(regId >= 1 && regId <= REG_ID_MAX)) return refuse(400, 'Bad Request (reg-id)');
        if (++regIds > 1) return refuse(400, 'Bad Request (more than one Contact with reg-id)');
        // An instance id is a URN in angle brackets (§4.1); it goes back quoted in the 200's Contact.
        if (instance !== undefined && (instance === null || !INSTANCE_ID.test(instance))) return refuse(400, 'Bad Request (+sip.instance)');
        // reg-id without an instance id, or through a proxy: an ordinary binding (§6).
        if (instance && direct) outbound = { instance, regId };
      }
      contacts.push({ uri: formatUri(c.uri), expires: e ?? this.defaultExpires, ...(q !== undefined && Number.isFinite(q) ? { q } : {}), ...(outbound ? { outbound } : {}) });
    }
    const ids = this.bindingsOf(username);
    if (star) {
      // §10.3 step 6: `*` only alone and with Expires: 0.
      if (contacts.length || headerExpires !== 0) return refuse(400, 'Bad Request (Contact: * needs Expires: 0 and no other contact)');
      const event = { type: 'REGISTER.REMOVE_ALL' as const, callId, cseq };
      const refs = [...(ids?.values() ?? [])].map((id) => this.ref(id));
      if (refs.some((r) => r && !r.getSnapshot().can(event))) return refuse(500, 'Server Internal Error (out-of-order REGISTER)');
      for (const r of refs) r?.send(event);
      return this.ok(tx, username, { path });
    }
    // §10.3 step 6: a nonzero expiry below the minimum gets 423 with Min-Expires.
    if (contacts.some((c) => c.expires > 0 && c.expires < this.minExpires)) {
      return refuse(423, 'Interval Too Brief', [['Min-Expires', String(this.minExpires)]]);
    }
    // §10.3 step 7: judged for every contact before any changes, so a failing REGISTER changes nothing.
    const at = this.now();
    const plan: Array<{ id: string | undefined; uri: string; key: string; expires: number; q?: number; outbound?: OutboundBinding }> = [];
    let added = 0;
    let removed = 0;
    for (const c of contacts) {
      const expires = Math.min(c.expires, this.maxExpires);
      const key = c.outbound ? outboundKey(c.outbound) : c.uri;
      const id = ids?.get(key);
      if (id) {
        const ref = this.ref(id);
        const event = { type: 'REGISTER.REFRESH' as const, callId, cseq, expires, at };
        if (ref && !ref.getSnapshot().can(event)) return refuse(500, 'Server Internal Error (out-of-order REGISTER)');
        if (expires === 0) removed++;
      } else if (expires > 0) added++;
      plan.push({ id, uri: c.uri, key, expires, ...(c.q !== undefined ? { q: c.q } : {}), ...(c.outbound ? { outbound: c.outbound } : {}) });
    }
    if ((ids?.size ?? 0) + added - removed > this.maxPerAor) return refuse(403, `Forbidden (at most ${this.maxPerAor} contacts per address-of-record)`);
    if (added > 0 && this.size + added > this.maxBindings) return refuse(503, 'Service Unavailable (registrar full)', [['Retry-After', '60']]);
    const paths = path.length ? { path } : {};
    const input = (p: (typeof plan)[number]): SipRegistrationInput => ({ aor, contact: p.uri, callId, cseq, expires: p.expires, at, ...(p.q !== undefined ? { q: p.q } : {}), ...paths });
    for (const p of plan) {
      const wire: BindingWire = { user: username, aor, contact: p.uri, key: p.key, source: tx.source, ...(p.outbound ? { outbound: p.outbound } : {}) };
      const old = p.id ? this.registry.wire(p.id) : undefined;
      if (p.id && old && old.contact !== p.uri) {
        // The same outbound flow id with another Contact (§6): the new binding replaces the old.
        this.ref(p.id)?.send({ type: 'EVICT' });
        if (p.expires > 0) this.bind(wire, input(p));
      } else if (p.id) {
        // An outbound binding follows its flow: the re-REGISTER's connection is the one to use.
        if (old && p.outbound && old.source !== tx.source) {
          old.release?.();
          old.source = tx.source;
          old.release = this.deps.holdFlow?.(tx.source);
        }
        this.ref(p.id)?.send({ type: 'REGISTER.REFRESH', callId, cseq, expires: p.expires, at, ...(p.q !== undefined ? { q: p.q } : {}), ...paths });
      } else if (p.expires > 0) this.bind(wire, input(p));
    }
    this.ok(tx, username, { outbound: contacts.some((c) => c.outbound), path });
  }

  private bind(wire: BindingWire, input: SipRegistrationInput): void {
    const id = `${ACTOR_PREFIX}${++this.seq}`;
    let ids = this.index.get(wire.user);
    if (!ids) this.index.set(wire.user, (ids = new Map()));
    ids.set(wire.key, id);
    wire.release = this.deps.holdFlow?.(wire.source);
    const forget = () => {
      wire.release?.();
      wire.release = undefined;
      const m = this.index.get(wire.user);
      if (m?.get(wire.key) === id) m.delete(wire.key);
      if (m?.size === 0) this.index.delete(wire.user);
    };
    try {
      this.registry.spawn(wire, { kind: 'registration', id, input, bindings: { aor: wire.aor }, onExit: forget });
    } catch (err) {
      forget();
      throw err;
    }
  }

  /**
   * 200 with every current contact and its remaining expiry (§10.3 step 8); `Require: outbound`
   * when the REGISTER made or refreshed an outbound binding (RFC 5626 §6); the REGISTER's Path
   * values back, in order (RFC 3327 §5.3), and `Supported: path`.
   */
  private ok(tx: ServerTransaction, user: string, o: { outbound?: boolean; path?: readonly string[] } = {}): void {
    const headers: Array<[string, string]> = this.lookup(user).map((r) => [
      'Contact',
      `<${r.contact}>;expires=${r.expires}${r.q !== undefined ? `;q=${r.q}` : ''}${r.outbound ? `;+sip.instance="${r.outbound.instance}";reg-id=${r.outbound.regId}` : ''}`,
    ]);
    if (o.outbound) headers.push(['Require', 'outbound']);
    for (const p of o.path ?? []) headers.push(['Path', p]);
    headers.push(['Supported', 'path']);
    headers.push(['Date', new Date(this.now()).toUTCString()]);
    tx.reply(200, 'OK', { headers });
  }

  /** Digest authentication (§22): the user name, or undefined once answered (401/403). */
  private authenticate(tx: ServerTransaction, req: SipRequest): string | undefined {
    const { digest, throttle, log } = this.deps;
    const source = tx.source.address;
    if (throttle.locked(source)) {
      tx.replyStateless(403, 'Forbidden (too many failed attempts)');
      return undefined;
    }
    const authorization = req.headers.get('Authorization');
    // Challenges are stateless (§8.2.7): an unauthenticated flood allocates nothing.
    const challenge = (stale: boolean) => void tx.replyStateless(401, 'Unauthorized', { headers: [['WWW-Authenticate', digest.challenge({ stale })]] });
    if (!authorization) return challenge(false);
    const v = digest.verify({ method: req.method, authorization, lookup: this.deps.lookupUser, requestUri: formatUri(req.uri), body: req.body });
    if (v.ok) return v.username;
    if (v.stale) return challenge(true);
    const locked = throttle.failed(source);
    log.info({ reason: v.reason, username: v.username, source, locked }, 'REGISTER authentication failed');
    tx.replyStateless(403, 'Forbidden');
    return undefined;
  }
}

export type { SipRegistrationEndReason };
