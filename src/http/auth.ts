// Credentials on the WebSocket/HTTP port. Three ways to prove who you are, all checked before an
// upgrade reaches a route:
//
//   bearer      `Authorization: Bearer <token>` or `?token=<token>` (browsers cannot set headers on
//               a WebSocket). A token is minted here: `cc1.<payload>.<mac>`, payload {sub, exp, scope?}.
//   signed-url  `?cc_sub=<principal>&cc_exp=<unix s>[&cc_scope=<path>]&cc_sig=<mac>`: an HMAC-SHA256
//               over the canonical path and query (as Jamsocket/Plane hand out connection URLs), so
//               the URL works for that path (or that scope) only, until it expires.
//   basic       `Authorization: Basic …` against the configured users. jambonz sends this on hook
//               sockets when the application has a username/password, and on listen/stream sockets
//               from the verb's `wsAuth`.
//
// Tokens and signed URLs are stateless (nothing stored, nothing to revoke but the secret); each
// has its own key derived from the secret, so one kind can never be replayed as the other. MACs
// and passwords are compared in constant time over fixed-length digests.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export type AuthMethod = 'bearer' | 'signed-url' | 'basic';
export const AUTH_METHODS: readonly AuthMethod[] = ['bearer', 'signed-url', 'basic'];

/** `'open'`: no credentials on these paths; a list: only these methods. */
export type RouteAuthPolicy = 'open' | readonly AuthMethod[];

export interface AuthOptions {
  /** Key for tokens and signed URLs (at least 16 characters). Prefer the environment to argv. */
  secret: string;
  /** HTTP Basic credentials, user → password; the user name is the principal. */
  users?: Readonly<Record<string, string>>;
  /**
   * Policy per path. A key names one path exactly (`/hook`); a key ending in `/*` covers that
   * prefix and everything under it (`/rooms/*`, `/*`). The most specific key wins; paths no key
   * covers accept every method. `GET /status` (liveness) is always open.
   */
  routes?: Readonly<Record<string, RouteAuthPolicy>>;
  /** Realm named in WWW-Authenticate (default `callchart`). */
  realm?: string;
  /**
   * Wrong Basic passwords allowed per source address and minute (default 20); beyond, the
   * source's requests get 429 without their credentials being checked until its minute is over.
   */
  maxPasswordFailures?: number;
}

/** Who a request proved to be, and how. */
export interface Credential {
  principal: string;
  method: AuthMethod;
  /**
   * The path the credential was issued for, when it names one: a signed URL's path (or its
   * `cc_scope`), a token's `scope`. Rooms treat a credential scoped to a room's own path as an
   * invitation to that room.
   */
  scope: string | undefined;
}

export type AuthDecision =
  | { ok: true; credential: Credential | undefined }
  | {
      ok: false;
      reason: string;
      challenges: string[];
      /** A user name and password were checked and did not match: a guess, counted per source. */
      passwordGuess?: boolean;
    };

export interface MintOptions {
  /** The principal (1-128 printable ASCII characters, no spaces). */
  sub: string;
  /** Lifetime in seconds (default 3600). */
  ttlSeconds?: number;
  /** Limit the credential to this path and everything under it. */
  scope?: string;
  /** Current time in seconds since the epoch (tests). */
  now?: number;
}

const PRINCIPAL = /^[\x21-\x7e]{1,128}$/;
const TOKEN_VERSION = 'cc1';
const MAX_TOKEN_CHARS = 2048;
const DEFAULT_TTL_S = 3600;
const MAX_TTL_S = 10 * 366 * 24 * 3600;
/** Query parameters of a signed URL. */
export const SIGNED_URL_PARAMS = { sub: 'cc_sub', exp: 'cc_exp', scope: 'cc_scope', sig: 'cc_sig' } as const;
export const TOKEN_QUERY_PARAM = 'token';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

function deriveKey(secret: string, purpose: string): Buffer {
  return createHmac('sha256', secret).update(`callchart ${purpose} v1`).digest();
}

function checkSecret(secret: unknown): string {
  if (typeof secret !== 'string' || secret.length < 16) throw new TypeError('auth secret must be a string of at least 16 characters');
  return secret;
}

function checkScope(scope: string | undefined): string | undefined {
  if (scope === undefined) return undefined;
  if (!scope.startsWith('/') || /[?#\s]/.test(scope)) throw new TypeError(`scope must be a path starting with "/": ${JSON.stringify(scope)}`);
  return normalizePath(scope);
}

function normalizePath(p: string): string {
  const n = new URL(p, 'http://localhost').pathname;
  return n.length > 1 ? n.replace(/\/+$/, '') : n;
}

function inScope(pathname: string, scope: string): boolean {
  return scope === '/' || pathname === scope || pathname.startsWith(scope + '/');
}

function mintFields(o: MintOptions): { sub: string; exp: number; scope: string | undefined } {
  if (typeof o.sub !== 'string' || !PRINCIPAL.test(o.sub)) throw new TypeError('sub must be 1-128 printable ASCII characters without spaces');
  const ttl = o.ttlSeconds ?? DEFAULT_TTL_S;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TTL_S) throw new TypeError(`ttlSeconds must be an integer 1-${MAX_TTL_S}`);
  const now = o.now ?? Math.floor(Date.now() / 1000);
  return { sub: o.sub, exp: now + ttl, scope: checkScope(o.scope) };
}

/** Constant-time equality of two byte strings of any length (compared as SHA-256 digests). */
function safeEqual(a: Buffer | string, b: Buffer | string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** The string a signed URL's MAC covers: the path (or scope), then the sorted query minus the MAC. */
function canonical(url: URL, scope: string | undefined): string {
  const enc = encodeURIComponent;
  const pairs = [...url.searchParams].filter(([k]) => k !== SIGNED_URL_PARAMS.sig).map(([k, v]) => `${enc(k)}=${enc(v)}`);
  pairs.sort();
  return `${scope ?? url.pathname}\n${pairs.join('&')}`;
}

/** Mint a bearer token (stand-alone: an app server holding the secret needs no engine). */
export function mintToken(secret: string, o: MintOptions): string {
  const key = deriveKey(checkSecret(secret), 'token');
  const f = mintFields(o);
  const payload = b64url(JSON.stringify({ sub: f.sub, exp: f.exp, ...(f.scope ? { scope: f.scope } : {}) }));
  const mac = createHmac('sha256', key).update(`${TOKEN_VERSION}.${payload}`).digest();
  return `${TOKEN_VERSION}.${payload}.${b64url(mac)}`;
}

/**
 * Sign a URL (absolute `ws://…` or a path `/rooms/a?x=1`): the same form comes back with
 * `cc_sub`, `cc_exp`, optional `cc_scope` and `cc_sig` appended (any older ones replaced).
 */
export function signUrl(secret: string, url: string | URL, o: MintOptions): string {
  const key = deriveKey(checkSecret(secret), 'signed-url');
  const f = mintFields(o);
  const absolute = url instanceof URL || /^[a-z][a-z0-9+.-]*:\/\//i.test(url);
  const u = new URL(url.toString(), 'http://localhost');
  for (const p of [...Object.values(SIGNED_URL_PARAMS), TOKEN_QUERY_PARAM]) u.searchParams.delete(p);
  if (f.scope && !inScope(u.pathname, f.scope)) throw new TypeError(`the URL's path ${u.pathname} is outside its scope ${f.scope}`);
  u.searchParams.set(SIGNED_URL_PARAMS.sub, f.sub);
  u.searchParams.set(SIGNED_URL_PARAMS.exp, String(f.exp));
  if (f.scope) u.searchParams.set(SIGNED_URL_PARAMS.scope, f.scope);
  u.searchParams.set(SIGNED_URL_PARAMS.sig, b64url(createHmac('sha256', key).update(canonical(u, f.scope)).digest()));
  return absolute ? u.toString() : `${u.pathname}${u.search}`;
}

type Check = { ok: true; credential: Credential } | { ok: false; reason: string; passwordGuess?: boolean };

export class Authenticator {
  private readonly tokenKey: Buffer;
  private readonly urlKey: Buffer;
  private readonly users = new Map<string, string>();
  private readonly exact = new Map<string, RouteAuthPolicy>();
  /** Prefix policies, longest first. */
  private readonly prefixes: Array<[string, RouteAuthPolicy]> = [];
  private readonly realm: string;
  /** Compared against when the user is unknown, so a miss costs what a wrong password costs. */
  private readonly dummy = randomBytes(32).toString('hex');

  constructor(private readonly opts: AuthOptions) {
    const secret = checkSecret(opts.secret);
    this.tokenKey = deriveKey(secret, 'token');
    this.urlKey = deriveKey(secret, 'signed-url');
    this.realm = (opts.realm ?? 'callchart').replace(/["\\\r\n]/g, '');
    for (const [user, password] of Object.entries(opts.users ?? {})) {
      if (!PRINCIPAL.test(user) || user.includes(':')) throw new TypeError(`basic auth user must be 1-128 printable ASCII characters without spaces or ":": ${JSON.stringify(user)}`);
      if (typeof password !== 'string' || password.length === 0) throw new TypeError(`basic auth user ${user} needs a non-empty password`);
      this.users.set(user, password);
    }
    for (const [key, policy] of Object.entries(opts.routes ?? {})) {
      if (policy !== 'open' && (!Array.isArray(policy) || policy.length === 0 || policy.some((m) => !AUTH_METHODS.includes(m)))) {
        throw new TypeError(`auth policy for ${key} must be "open" or a non-empty list of ${AUTH_METHODS.join(', ')}`);
      }
      if (key.endsWith('/*')) this.prefixes.push([key === '/*' ? '/' : normalizePath(key.slice(0, -2)), policy]);
      else if (key.startsWith('/')) this.exact.set(normalizePath(key), policy);
      else throw new TypeError(`auth route key must be a path: ${JSON.stringify(key)}`);
    }
    this.prefixes.sort((a, b) => b[0].length - a[0].length);
  }

  /** Basic auth is offered only when users are configured. */
  get hasUsers(): boolean {
    return this.users.size > 0;
  }

  token(o: MintOptions): string {
    return mintToken(this.opts.secret, o);
  }

  signUrl(url: string | URL, o: MintOptions): string {
    return signUrl(this.opts.secret, url, o);
  }

  /** The policy for a path (see `AuthOptions.routes`). */
  policy(pathname: string): RouteAuthPolicy {
    const exact = this.exact.get(pathname);
    if (exact) return exact;
    for (const [prefix, policy] of this.prefixes) if (inScope(pathname, prefix)) return policy;
    return AUTH_METHODS;
  }

  /** Check a request's credentials against its path's policy. */
  authenticate(req: IncomingMessage, url: URL, now = Math.floor(Date.now() / 1000)): AuthDecision {
    const policy = this.policy(url.pathname);
    if (policy === 'open') return { ok: true, credential: undefined };
    const challenges = this.challenges(policy);
    const fail = (reason: string): AuthDecision => ({ ok: false, reason, challenges });
    let method: AuthMethod;
    let check: () => Check;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^(\S+)\s+(\S+)\s*$/.exec(header);
      const scheme = m?.[1]?.toLowerCase();
      if (scheme === 'bearer') {
        method = 'bearer';
        check = () => this.checkToken(m![2]!, now);
      } else if (scheme === 'basic') {
        method = 'basic';
        check = () => this.checkBasic(m![2]!);
      } else return fail('unsupported Authorization scheme');
    } else if (url.searchParams.has(TOKEN_QUERY_PARAM)) {
      method = 'bearer';
      check = () => this.checkToken(url.searchParams.get(TOKEN_QUERY_PARAM)!, now);
    } else if (url.searchParams.has(SIGNED_URL_PARAMS.sig)) {
      method = 'signed-url';
      check = () => this.checkSignedUrl(url, now);
    } else return fail('credentials required');
    if (!policy.includes(method)) return fail(`${method} credentials are not accepted on ${url.pathname}`);
    const r = check();
    // Tokens and signed URLs carry a 256-bit MAC: only a password can be guessed.
    if (!r.ok) return r.passwordGuess ? { ok: false, reason: r.reason, challenges, passwordGuess: true } : fail(r.reason);
    if (r.credential.scope !== undefined && !inScope(url.pathname, r.credential.scope)) return fail(`credentials are scoped to ${r.credential.scope}`);
    return { ok: true, credential: r.credential };
  }

  private challenges(policy: readonly AuthMethod[]): string[] {
    const out: string[] = [];
    if (policy.includes('bearer') || policy.includes('signed-url')) out.push(`Bearer realm="${this.realm}"`);
    if (policy.includes('basic') && this.hasUsers) out.push(`Basic realm="${this.realm}", charset="UTF-8"`);
    return out;
  }

  private checkToken(token: string, now: number): Check {
    if (token.length > MAX_TOKEN_CHARS) return { ok: false, reason: 'invalid token' };
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== TOKEN_VERSION) return { ok: false, reason: 'invalid token' };
    const [, payload, mac] = parts as [string, string, string];
    const expected = createHmac('sha256', this.tokenKey).update(`${TOKEN_VERSION}.${payload}`).digest();
    if (!safeEqual(Buffer.from(mac, 'base64url'), expected)) return { ok: false, reason: 'invalid token' };
    let claims: unknown;
    try {
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    } catch {
      return { ok: false, reason: 'invalid token' };
    }
    const c = claims as { sub?: unknown; exp?: unknown; scope?: unknown };
    if (typeof c.sub !== 'string' || !PRINCIPAL.test(c.sub) || typeof c.exp !== 'number' || (c.scope !== undefined && typeof c.scope !== 'string')) {
      return { ok: false, reason: 'invalid token' };
    }
    if (now > c.exp) return { ok: false, reason: 'token expired' };
    return { ok: true, credential: { principal: c.sub, method: 'bearer', scope: c.scope } };
  }

  private checkSignedUrl(url: URL, now: number): Check {
    const q = url.searchParams;
    for (const p of Object.values(SIGNED_URL_PARAMS)) if (q.getAll(p).length > 1) return { ok: false, reason: 'invalid signed URL' };
    const sub = q.get(SIGNED_URL_PARAMS.sub);
    const exp = Number(q.get(SIGNED_URL_PARAMS.exp));
    const scope = q.get(SIGNED_URL_PARAMS.scope) ?? undefined;
    const sig = q.get(SIGNED_URL_PARAMS.sig) ?? '';
    if (!sub || !PRINCIPAL.test(sub) || !Number.isInteger(exp) || sig.length > 128) return { ok: false, reason: 'invalid signed URL' };
    const expected = createHmac('sha256', this.urlKey).update(canonical(url, scope)).digest();
    if (!safeEqual(Buffer.from(sig, 'base64url'), expected)) return { ok: false, reason: 'invalid signed URL' };
    if (now > exp) return { ok: false, reason: 'signed URL expired' };
    return { ok: true, credential: { principal: sub, method: 'signed-url', scope: scope ?? url.pathname } };
  }

  private checkBasic(b64: string): Check {
    const decoded = Buffer.from(b64, 'base64').toString('utf8');
    const i = decoded.indexOf(':');
    if (i <= 0) return { ok: false, reason: 'invalid basic credentials' };
    const user = decoded.slice(0, i);
    const expected = this.users.get(user);
    // Always one comparison, so an unknown user takes as long as a wrong password.
    const match = safeEqual(decoded.slice(i + 1), expected ?? this.dummy);
    if (expected === undefined || !match) return { ok: false, reason: 'unknown user or wrong password', passwordGuess: true };
    return { ok: true, credential: { principal: user, method: 'basic', scope: undefined } };
  }
}
