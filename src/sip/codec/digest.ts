import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { formatAuthHeader, parseAuthHeader } from './headers.js';
import type { SipResponse } from './message.js';

export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';
export type DigestQop = 'auth' | 'auth-int';

export interface DigestChallenge {
  realm: string;
  nonce: string;
  opaque?: string;
  algorithm: DigestAlgorithm;
  /** Empty when the server offered no qop (RFC 2069 compatibility mode). */
  qop: DigestQop[];
  stale: boolean;
  /** True when it came from Proxy-Authenticate, so the answer goes in Proxy-Authorization. */
  proxy: boolean;
}

const ALGORITHMS: Readonly<Record<string, DigestAlgorithm>> = {
  'md5': 'MD5',
  'md5-sess': 'MD5-sess',
  'sha-256': 'SHA-256',
  'sha-256-sess': 'SHA-256-sess',
};

function toAlgorithm(v: string | undefined): DigestAlgorithm | undefined {
  // RFC 2617 §3.2.1: an absent algorithm means MD5.
  return v === undefined ? 'MD5' : ALGORITHMS[v.toLowerCase()];
}

function hash(alg: DigestAlgorithm, data: string | Buffer): string {
  return createHash(alg.startsWith('SHA-256') ? 'sha256' : 'md5').update(data).digest('hex');
}

/** Parses a WWW-Authenticate / Proxy-Authenticate value; undefined if not Digest or not usable. */
export function parseChallenge(header: string, opts: { proxy?: boolean } = {}): DigestChallenge | undefined {
  const h = parseAuthHeader(header);
  if (!h || h.scheme.toLowerCase() !== 'digest') return undefined;
  const realm = h.params.get('realm');
  const nonce = h.params.get('nonce');
  const algorithm = toAlgorithm(h.params.get('algorithm'));
  if (realm === undefined || nonce === undefined || !algorithm) return undefined;
  const qop = (h.params.get('qop') ?? '')
    .split(',')
    .map((q) => q.trim().toLowerCase())
    .filter((q): q is DigestQop => q === 'auth' || q === 'auth-int');
  const c: DigestChallenge = {
    realm,
    nonce,
    algorithm,
    qop,
    stale: (h.params.get('stale') ?? '').toLowerCase() === 'true',
    proxy: opts.proxy ?? false,
  };
  const opaque = h.params.get('opaque');
  if (opaque !== undefined) c.opaque = opaque;
  return c;
}

export interface DigestInputs {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  password: string;
  method: string;
  uri: string;
  nonce: string;
  qop?: DigestQop;
  cnonce?: string;
  nc?: string;
  body?: Buffer | string;
}

/** request-digest of RFC 2617 §3.2.2.1 / RFC 7616 §3.4.1. */
export function computeDigestResponse(i: DigestInputs): string {
  let ha1 = hash(i.algorithm, `${i.username}:${i.realm}:${i.password}`);
  if (i.algorithm.endsWith('-sess')) ha1 = hash(i.algorithm, `${ha1}:${i.nonce}:${i.cnonce ?? ''}`);
  const bodyHash = i.qop === 'auth-int' ? hash(i.algorithm, i.body ?? '') : undefined;
  const ha2 = hash(i.algorithm, bodyHash === undefined ? `${i.method}:${i.uri}` : `${i.method}:${i.uri}:${bodyHash}`);
  if (i.qop === undefined) return hash(i.algorithm, `${ha1}:${i.nonce}:${ha2}`);
  return hash(i.algorithm, `${ha1}:${i.nonce}:${i.nc ?? ''}:${i.cnonce ?? ''}:${i.qop}:${ha2}`);
}

export interface AuthorizationInput {
  challenge: DigestChallenge;
  method: string;
  uri: string;
  username: string;
  password: string;
  body?: Buffer | string;
  cnonce?: string;
  /** Nonce count for this nonce (1 on first use). */
  nc?: number;
}

export interface AuthorizationHeader {
  name: 'Authorization' | 'Proxy-Authorization';
  value: string;
}

/** Builds the credentials answering a challenge (RFC 3261 §22.2 / §22.3). */
export function buildAuthorization(input: AuthorizationInput): AuthorizationHeader {
  const { challenge: c } = input;
  // Prefer plain auth; auth-int only when it is all the server accepts.
  const qop: DigestQop | undefined = c.qop.includes('auth') ? 'auth' : c.qop.includes('auth-int') ? 'auth-int' : undefined;
  const usesCnonce = qop !== undefined || c.algorithm.endsWith('-sess');
  const cnonce = usesCnonce ? (input.cnonce ?? randomBytes(12).toString('hex')) : undefined;
  const nc = qop === undefined ? undefined : (input.nc ?? 1).toString(16).padStart(8, '0');
  const digestInputs: DigestInputs = {
    algorithm: c.algorithm,
    username: input.username,
    realm: c.realm,
    password: input.password,
    method: input.method,
    uri: input.uri,
    nonce: c.nonce,
  };
  if (qop !== undefined) digestInputs.qop = qop;
  if (cnonce !== undefined) digestInputs.cnonce = cnonce;
  if (nc !== undefined) digestInputs.nc = nc;
  if (input.body !== undefined) digestInputs.body = input.body;
  const params = new Map<string, string>([
    ['username', input.username],
    ['realm', c.realm],
    ['nonce', c.nonce],
    ['uri', input.uri],
    ['response', computeDigestResponse(digestInputs)],
    ['algorithm', c.algorithm],
  ]);
  if (cnonce !== undefined) params.set('cnonce', cnonce);
  if (c.opaque !== undefined) params.set('opaque', c.opaque);
  if (qop !== undefined && nc !== undefined) {
    params.set('qop', qop);
    params.set('nc', nc);
  }
  return {
    name: c.proxy ? 'Proxy-Authorization' : 'Authorization',
    value: formatAuthHeader({ scheme: 'Digest', params }, new Set(['algorithm', 'qop', 'nc'])),
  };
}

// ---------------------------------------------------------------------------
// Server side
// ---------------------------------------------------------------------------

export interface DigestServerOptions {
  realm: string;
  nonceTtlMs: number;
  now?: () => number;
  /** HMAC key for nonces; random per process when omitted (nonces then die with the process). */
  secret?: Buffer | string;
  algorithm?: 'MD5' | 'SHA-256';
  /** Offer qop=auth (default true); false gives RFC 2069-style challenges. */
  qop?: boolean;
  /**
   * Nonces whose nonce-count is remembered for replay detection (default 65 536). Challenges
   * keep no state (the nonce is signed), so only successful authentications add an entry; past
   * this many, the oldest is forgotten (its nonce could then be replayed until it expires).
   */
  maxTrackedNonces?: number;
}

export interface VerifyInput {
  method: string;
  /** Value of the Authorization or Proxy-Authorization header. */
  authorization: string;
  lookup: (username: string) => string | undefined;
  /** When given, the digest-uri must equal it. */
  requestUri?: string;
  body?: Buffer | string;
}

export type VerifyFailure =
  | 'malformed'
  | 'wrong-realm'
  | 'unknown-user'
  | 'bad-nonce'
  | 'uri-mismatch'
  | 'bad-response'
  | 'stale'
  | 'replay';

export type VerifyResult =
  | { ok: true; username: string }
  | { ok: false; reason: VerifyFailure; username?: string; /** Challenge again with stale=true. */ stale: boolean };

export interface DigestServer {
  /** Header value for WWW-Authenticate / Proxy-Authenticate. */
  challenge(opts?: { stale?: boolean }): string;
  verify(input: VerifyInput): VerifyResult;
  /** Exposed for tests and diagnostics: 'valid' | 'expired' | 'invalid'. */
  checkNonce(nonce: string): 'valid' | 'expired' | 'invalid';
  /** Nonces remembered for replay detection (bounded by maxTrackedNonces). */
  readonly trackedNonces: number;
}

const NONCE_MAC_BYTES = 16;

export function createDigestServer(opts: DigestServerOptions): DigestServer {
  const now = opts.now ?? Date.now;
  const secret = opts.secret === undefined ? randomBytes(32) : Buffer.from(opts.secret);
  const algorithm: DigestAlgorithm = opts.algorithm ?? 'MD5';
  const offerQop = opts.qop ?? true;
  const maxTracked = opts.maxTrackedNonces ?? 65_536;
  // Highest nonce-count seen per nonce, to refuse replayed credentials while the nonce lives.
  // In first-use order, which is close to issue order: expired entries gather at the head.
  const seenNc = new Map<string, { nc: number; issuedAt: number }>();

  const mac = (payload: Buffer): Buffer =>
    createHmac('sha256', secret).update(opts.realm).update(payload).digest().subarray(0, NONCE_MAC_BYTES);

  function issueNonce(): string {
    const payload = Buffer.alloc(16);
    payload.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now()))), 0);
    randomBytes(8).copy(payload, 8);
    return `${payload.toString('base64url')}.${mac(payload).toString('base64url')}`;
  }

  function nonceTime(nonce: string): number | undefined {
    const [p, m, extra] = nonce.split('.');
    if (p === undefined || m === undefined || extra !== undefined) return undefined;
    const payload = Buffer.from(p, 'base64url');
    const given = Buffer.from(m, 'base64url');
    if (payload.length !== 16 || given.length !== NONCE_MAC_BYTES) return undefined;
    if (!timingSafeEqual(given, mac(payload))) return undefined;
    return Number(payload.readBigUInt64BE(0));
  }

  function checkNonce(nonce: string): 'valid' | 'expired' | 'invalid' {
    const t = nonceTime(nonce);
    if (t === undefined) return 'invalid';
    const age = now() - t;
    if (age < 0) return 'invalid';
    return age > opts.nonceTtlMs ? 'expired' : 'valid';
  }

  // Amortised O(1): stops at the first live entry. An expired nonce is refused (stale) before its
  // count is looked at, so one left behind costs memory only, and the cap bounds that.
  function prune(): void {
    const cutoff = now() - opts.nonceTtlMs;
    for (const [n, v] of seenNc) {
      if (v.issuedAt >= cutoff && seenNc.size < maxTracked) break;
      seenNc.delete(n);
    }
  }

  return {
    checkNonce,
    get trackedNonces() {
      return seenNc.size;
    },
    challenge({ stale = false } = {}) {
      const params = new Map<string, string>([
        ['realm', opts.realm],
        ['nonce', issueNonce()],
        ['algorithm', algorithm],
      ]);
      if (offerQop) params.set('qop', 'auth');
      if (stale) params.set('stale', 'true');
      return formatAuthHeader({ scheme: 'Digest', params }, new Set(['algorithm', 'stale']));
    },
    verify(input) {
      const h = parseAuthHeader(input.authorization);
      if (!h || h.scheme.toLowerCase() !== 'digest') return { ok: false, reason: 'malformed', stale: false };
      const p = h.params;
      const username = p.get('username');
      const realm = p.get('realm');
      const nonce = p.get('nonce');
      const uri = p.get('uri');
      const response = p.get('response');
      const alg = toAlgorithm(p.get('algorithm'));
      const qopRaw = p.get('qop');
      if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined || !alg) {
        return { ok: false, reason: 'malformed', stale: false };
      }
      if (qopRaw !== undefined && qopRaw !== 'auth' && qopRaw !== 'auth-int') return { ok: false, reason: 'malformed', username, stale: false };
      const qop: DigestQop | undefined = qopRaw;
      const nc = p.get('nc');
      const cnonce = p.get('cnonce');
      if (qop !== undefined && (nc === undefined || !/^[0-9a-fA-F]{8}$/.test(nc) || cnonce === undefined)) {
        return { ok: false, reason: 'malformed', username, stale: false };
      }
      if (qop === undefined && offerQop) return { ok: false, reason: 'malformed', username, stale: false };
      if (realm !== opts.realm) return { ok: false, reason: 'wrong-realm', username, stale: false };
      if (input.requestUri !== undefined && uri !== input.requestUri) return { ok: false, reason: 'uri-mismatch', username, stale: false };
      const nonceState = checkNonce(nonce);
      if (nonceState === 'invalid') return { ok: false, reason: 'bad-nonce', username, stale: false };
      const password = input.lookup(username);
      if (password === undefined) return { ok: false, reason: 'unknown-user', username, stale: false };
      const di: DigestInputs = { algorithm: alg, username, realm, password, method: input.method, uri, nonce };
      if (qop !== undefined) di.qop = qop;
      if (nc !== undefined) di.nc = nc;
      if (cnonce !== undefined) di.cnonce = cnonce;
      if (input.body !== undefined) di.body = input.body;
      const expected = Buffer.from(computeDigestResponse(di));
      const given = Buffer.from(response.toLowerCase());
      if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
        return { ok: false, reason: 'bad-response', username, stale: false };
      }
      // Only a correct answer earns stale=true; otherwise the user would never be asked for a new password.
      if (nonceState === 'expired') return { ok: false, reason: 'stale', username, stale: true };
      if (nc !== undefined) {
        prune();
        const count = parseInt(nc, 16);
        const prev = seenNc.get(nonce);
        if (prev && count <= prev.nc) return { ok: false, reason: 'replay', username, stale: false };
        seenNc.set(nonce, { nc: count, issuedAt: nonceTime(nonce) ?? now() });
      }
      return { ok: true, username };
    },
  };
}

/** Picks the first usable Digest challenge of a 401 (WWW-Authenticate) or 407 (Proxy-Authenticate). */
export function challengeFromResponse(res: SipResponse): DigestChallenge | undefined {
  const proxy = res.status === 407;
  if (!proxy && res.status !== 401) return undefined;
  for (const v of res.headers.getAll(proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate')) {
    const c = parseChallenge(v, { proxy });
    if (c) return c;
  }
  return undefined;
}
