// Outbound registration (RFC 3261 §10.2): `engine.register()` keeps callchart's contact bound at a
// registrar. The behaviour (refresh, challenge answers, 423, back-off, unregister) is the
// sipRegistrationClient machine; this adapter builds the REGISTERs, answers challenges with the
// credentials, turns responses into RESPONSE/TIMEOUT events, and reports state changes. Calls that
// arrive on the registered contact are ordinary inbound calls (the UA's INVITE path).
import { EventEmitter } from 'node:events';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  sipRegistrationClientMachine,
  type SipRegistrationClientEvent,
  type SipRegistrationClientState,
} from '../../../machines/sipRegistrationClient.machine.js';
import { ActorRegistry } from '../../actors/registry.js';
import { buildAuthorization, challengeFromResponse, type DigestChallenge } from '../codec/digest.js';
import { parseContact, parseExpires, parseRetryAfter, splitTopLevel } from '../codec/headers.js';
import { createRequest, generateTag, type SipResponse } from '../codec/message.js';
import { formatUri, parseUri, type SipUri, type Uri } from '../codec/uri.js';
import type { Endpoint } from '../transport/udp.js';
import type { SipUserAgent } from '../ua/user-agent.js';

export interface RegisterOptions {
  /** The registrar, e.g. `sip:pbx.example.com:5060` (host and port are where REGISTERs go). */
  registrar: string;
  /** The address-of-record to bind, e.g. `sip:alice@example.com`. */
  aor: string;
  /** Credentials for a 401/407 challenge (default user: the AOR's user part). */
  username?: string;
  password?: string;
  /** Requested expiry, seconds (default 3600). */
  expires?: number;
  /** Host written in our Contact (default the SIP transport's address; set it behind NAT). */
  contactHost?: string;
  /** First back-off after a failure, ms (default 2 s, doubled per failure, at most 5 min). */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

export interface RegistrationStateInfo {
  state: SipRegistrationClientState;
  /** Granted expiry, seconds (registered). */
  expires?: number;
  /** Status of the failure behind a retry (408 for no answer). */
  status?: number;
}

export interface RegistrationClientEvents {
  state: [info: RegistrationStateInfo];
}

/** `engine.register()`'s handle: its state, its changes, and `stop()` (unregisters). */
export class RegistrationClient extends EventEmitter<RegistrationClientEvents> {
  readonly aor: string;
  readonly contact: string;
  #state: SipRegistrationClientState | 'idle' = 'idle';
  #stopped: Promise<void> | undefined;
  /** @internal */ readonly actorId: string;

  constructor(
    aor: string,
    contact: string,
    actorId: string,
    private readonly send: (e: SipRegistrationClientEvent) => void,
  ) {
    super();
    this.aor = aor;
    this.contact = contact;
    this.actorId = actorId;
  }

  /** `idle` until started, then registering / registered / retrying / unregistering / stopped. */
  get state(): SipRegistrationClientState | 'idle' {
    return this.#state;
  }

  /** @internal */ setState(info: RegistrationStateInfo): void {
    this.#state = info.state;
    this.emit('state', info);
  }

  /** Resolves once the registration is in `state` (or already is). */
  waitFor(state: SipRegistrationClientState): Promise<void> {
    if (this.#state === state) return Promise.resolve();
    return new Promise((resolve) => {
      const on = (i: RegistrationStateInfo) => {
        if (i.state !== state) return;
        this.off('state', on);
        resolve();
      };
      this.on('state', on);
    });
  }

  /** Unregister (Expires: 0) and stop; resolves when done, or after `timeoutMs` (default 5 s). */
  stop(timeoutMs = 5000): Promise<void> {
    this.#stopped ??= new Promise<void>((resolve) => {
      if (this.#state === 'stopped') return resolve();
      const t = setTimeout(resolve, timeoutMs);
      t.unref();
      void this.waitFor('stopped').then(() => {
        clearTimeout(t);
        resolve();
      });
      this.send({ type: 'STOP' });
    });
    return this.#stopped;
  }
}

/** What the adapter keeps per client: wire handles only (the state is the machine's). */
interface ClientWire {
  handle: RegistrationClient;
  o: RegisterOptions;
  aorUri: SipUri;
  dest: Endpoint;
  callId: string;
  fromTag: string;
  cseq: number;
  /** The REGISTER last sent: only its responses are the machine's business. */
  current: number;
  challenge: DigestChallenge | undefined;
  nc: number;
}

async function resolve(host: string, port: number): Promise<Endpoint> {
  if (isIP(host)) return { address: host, port };
  const { address } = await lookup(host, { family: 4 });
  return { address, port };
}

/** The registration clients of one UA, the machine provided once for all of them. */
export class RegistrationClients {
  private readonly registry: ActorRegistry<typeof sipRegistrationClientMachine, ClientWire>;
  private seq = 0;
  private readonly live = new Set<RegistrationClient>();

  constructor(private readonly ua: SipUserAgent) {
    this.registry = new ActorRegistry(ua.opts.supervisor, (wireOf) =>
      sipRegistrationClientMachine.provide({
        actions: {
          sendRegister: ({ self }, p) => {
            const w = wireOf(self.id);
            if (w) this.sendRegister(self.id, w, p.expires);
          },
          announce: ({ self }, p) => {
            const w = wireOf(self.id);
            if (!w) return;
            ua.log.info({ aor: w.o.aor, registrar: w.o.registrar, ...p }, 'outbound registration');
            w.handle.setState(p);
          },
        },
      }),
    );
  }

  async register(o: RegisterOptions): Promise<RegistrationClient> {
    const aorUri = parseUri(o.aor);
    if (aorUri?.kind !== 'sip' || !aorUri.user) throw new Error(`aor must be a SIP URI with a user part, got ${o.aor}`);
    const reg = parseUri(o.registrar);
    if (reg?.kind !== 'sip') throw new Error(`registrar must be a SIP URI, got ${o.registrar}`);
    const expires = o.expires ?? 3600;
    if (!Number.isInteger(expires) || expires <= 0) throw new RangeError('expires must be a positive integer (seconds)');
    const dest = await resolve(reg.host, reg.port ?? 5060);
    const id = `registration-client:${++this.seq}`;
    const contact = formatUri({ kind: 'sip', scheme: 'sip', user: aorUri.user, host: o.contactHost ?? this.ua.advertisedHost, port: this.ua.port, params: new Map(), headers: new Map() });
    const actor = { ref: undefined as undefined | { send(e: SipRegistrationClientEvent): void } };
    const handle = new RegistrationClient(o.aor, contact, id, (e) => actor.ref?.send(e));
    const wire: ClientWire = { handle, o, aorUri, dest, callId: this.ua.newCallId(), fromTag: generateTag(), cseq: 0, current: 0, challenge: undefined, nc: 0 };
    actor.ref = this.registry.spawn(wire, {
      kind: 'registration-client',
      id,
      input: { expires, retryBaseMs: o.retryBaseMs, retryMaxMs: o.retryMaxMs },
      bindings: { aor: o.aor },
      onExit: () => this.live.delete(handle),
    }).ref;
    this.live.add(handle);
    actor.ref.send({ type: 'START' });
    return handle;
  }

  /** Unregister every client (engine shutdown). */
  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((c) => c.stop(3000)));
  }

  private sendRegister(id: string, w: ClientWire, expires: number): void {
    const ua = this.ua;
    const cseq = ++w.cseq;
    w.current = cseq;
    const aor = { ...w.aorUri, params: new Map(), headers: new Map() } as SipUri;
    const regUri = parseUri(w.o.registrar)!;
    const contactUri = parseUri(w.handle.contact)!;
    const headers: Array<[string, string]> = [
      ['Expires', String(expires)],
      ['User-Agent', ua.userAgentName],
    ];
    const req = createRequest({
      method: 'REGISTER',
      uri: { ...(regUri as SipUri), user: undefined, params: new Map(), headers: new Map() } as SipUri,
      from: { uri: aor, params: new Map(), tag: w.fromTag },
      to: { uri: aor, params: new Map() },
      callId: w.callId,
      cseq,
      via: { transport: 'UDP', host: ua.advertisedHost, port: ua.port, rport: true },
      contact: { uri: contactUri, params: new Map() },
      headers,
    });
    if (w.challenge && w.o.password !== undefined) {
      // The nonce is reused with a rising nonce-count until the registrar challenges again.
      const auth = buildAuthorization({ challenge: w.challenge, method: 'REGISTER', uri: formatUri(req.uri), username: w.o.username ?? w.aorUri.user!, password: w.o.password, nc: ++w.nc });
      req.headers.set(auth.name, auth.value);
    }
    const send = (e: SipRegistrationClientEvent) => {
      // A response to an older REGISTER (the machine moved on) is not the machine's business.
      if (w.current === cseq && this.registry.wire(id)) ua.opts.supervisor.get<typeof sipRegistrationClientMachine>(id)?.ref.send(e);
    };
    ua.transactions.request(req, w.dest, {
      onResponse: (res) => {
        if (res.status < 200) return;
        send(this.toEvent(w, res));
      },
      onTimeout: () => send({ type: 'TIMEOUT' }),
      onTransportError: () => send({ type: 'TIMEOUT' }),
    });
  }

  private toEvent(w: ClientWire, res: SipResponse): SipRegistrationClientEvent {
    const e: Extract<SipRegistrationClientEvent, { type: 'RESPONSE' }> = { type: 'RESPONSE', status: res.status };
    if (res.status === 401 || res.status === 407) {
      const c = challengeFromResponse(res);
      if (c) {
        w.challenge = c;
        w.nc = 0;
      }
      e.challenged = c !== undefined && w.o.password !== undefined;
    } else if (res.status >= 200 && res.status < 300) {
      const granted = grantedExpires(res, w.handle.contact);
      if (granted !== undefined) e.expires = granted;
    } else if (res.status === 423) {
      const m = res.headers.get('Min-Expires');
      const v = m === undefined ? undefined : parseExpires(m);
      if (v !== undefined) e.minExpires = v;
    }
    const ra = res.headers.get('Retry-After');
    const r = ra === undefined ? undefined : parseRetryAfter(ra);
    if (r !== undefined && res.status >= 300) e.retryAfter = r;
    return e;
  }
}

/** The expiry a 2xx grants our contact: its Contact's expires param, else the Expires header. */
function grantedExpires(res: SipResponse, contact: string): number | undefined {
  const ours = parseUri(contact);
  // Registrars may add parameters (transport, ob): the same user, host and port is our contact.
  const same = (u: Uri) => ours?.kind === 'sip' && u.kind === 'sip' && u.user === ours.user && u.host === ours.host && (u.port ?? 5060) === (ours.port ?? 5060);
  for (const raw of res.headers.getAll('Contact').flatMap((v) => splitTopLevel(v))) {
    const c = parseContact(raw);
    if (!c || c.star) continue;
    if (!same(c.uri)) continue;
    const e = c.params.get('expires');
    if (e !== undefined && e !== null) return parseExpires(e);
  }
  const h = res.headers.get('Expires');
  return h === undefined ? undefined : parseExpires(h);
}
