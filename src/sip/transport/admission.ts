// Per-source admission at the SIP edge (issue 13, finding 5): what a datagram must pass before it
// is parsed. Decided on the bytes (the method is the first token), per source IP, in O(1):
//
// 1. allow-list: when `allow` is set, a datagram from an address outside it is dropped, silently.
// 2. token buckets per source: new INVITE, REGISTER and OPTIONS requests each have a rate; a request
//    over its rate is refused with a stateless 503 + Retry-After, as long as the source's (and
//    everyone's) 503 budget lasts. Past that budget, refusals are silent: a source far over its limit
//    gets nothing back, so a flood, spoofed or not, buys no reflection.
// 3. every datagram that is to be parsed also spends from the source's general datagram budget;
//    over it, the datagram is dropped silently.
//
// The table of sources is bounded (`maxSources`): a new source takes the slot of the least recently
// seen one only if that one has been idle long enough for all its buckets to be full again (so
// forgetting it changes nothing). When every slot is busy, newcomers share one "overflow" set of
// buckets: spoofed addresses cannot grow the table, nor reset a flooder's buckets, and the sources
// already known keep their own.
//
// Requests from known scanners (by User-Agent) are dropped after parsing, in the transport
// (isScannerRequest below): that is a property of the message, not of the source.
import { BlockList, isIP } from 'node:net';
import type { Logger } from 'pino';
import type { Endpoint } from './udp.js';
import { applyReceivedRport, createResponse, generateTag, parseMessage, responseDestination, serialize, type ParseOptions, type SipRequest } from '../codec/message.js';

/** A token bucket: `rate` tokens per second, holding at most `burst`. */
export interface TokenRate {
  rate: number;
  burst: number;
}

export interface SipRateLimits {
  /** New INVITEs per source (default 200/s, burst 400). */
  invite: TokenRate | false;
  /** REGISTERs per source (default 50/s, burst 100): the registrar's flood cap (src/sip/registrar/). */
  register: TokenRate | false;
  /** OPTIONS per source (default 100/s, burst 200). */
  options: TokenRate | false;
  /** Every datagram that gets parsed, per source (default 20 000/s, burst 20 000). */
  datagrams: TokenRate | false;
  /** 503 answers per source (default 10/s, burst 20); beyond them refusals are silent. */
  replies: TokenRate;
  /** 503 answers over all sources together (default 1000/s, burst 1000). */
  repliesTotal: TokenRate;
}

/**
 * Defaults for one source: 200 new calls/s (720 000 an hour) leaves a trunk from one SBC room, and
 * keeps what one source can make the engine hold small. Memory, not CPU, sets it: calls at 1 000/s
 * (complete ones, which one thread serves) hold ~450 MB of RSS within 20 s, calls and transactions
 * lingering their 32 s; at 200/s one source stays well under 300 MB (test/interop/sipp-flood.test.ts).
 * A SIPp bench from one address passes `--sip-invite-rate` (bench/sip.ts does), as must one SBC
 * sending more.
 */
export const DEFAULT_RATE_LIMITS: Readonly<SipRateLimits> = Object.freeze({
  invite: { rate: 200, burst: 400 },
  register: { rate: 50, burst: 100 },
  options: { rate: 100, burst: 200 },
  datagrams: { rate: 20_000, burst: 20_000 },
  replies: { rate: 10, burst: 20 },
  repliesTotal: { rate: 1000, burst: 1000 },
});

export interface SipAdmissionOptions {
  /** Sources allowed to send SIP: CIDR blocks or single addresses, IPv4 or IPv6. Unset: everyone. */
  allow?: readonly string[];
  /** Token buckets (each missing one takes its default); false: no rate limits at all. */
  rateLimits?: Partial<SipRateLimits> | false;
  /** Sources tracked at once (default 10 000, ~1 MB). */
  maxSources?: number;
  /** Retry-After of the 503, seconds (default 5). */
  retryAfterS?: number;
  /** Clock in ms (tests); default performance.now. */
  now?: () => number;
}

export type RequestKind = 'invite' | 'register' | 'options';

export interface SipAdmissionStats {
  /** Datagrams let through. */
  accepted: number;
  /** Dropped because the source is not on the allow-list. */
  notAllowed: number;
  /** Requests over their rate, answered 503, by method. */
  refused: Record<RequestKind, number>;
  /** Requests over their rate dropped without an answer (503 budget spent), by method. */
  silenced: Record<RequestKind, number>;
  /** Datagrams over the source's general budget, dropped. */
  overBudget: number;
  /** Datagrams from sources that found the table full and shared the overflow buckets. */
  overflowed: number;
  /** Sources in the table now. */
  sources: number;
}

export type Verdict = 'accept' | 'refuse' | 'drop';

/** One source's buckets (tokens left) and when they were last refilled. */
interface Source {
  at: number;
  /** When the entry last moved to the recent end of the table (coarse LRU, see lookup()). */
  moved: number;
  invite: number;
  register: number;
  options: number;
  datagrams: number;
  replies: number;
}

/** Parses an allow-list into a BlockList; throws RangeError naming the first bad entry. */
export function parseAllowList(entries: readonly string[]): BlockList {
  const list = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const address = slash < 0 ? entry : entry.slice(0, slash);
    const family = isIP(address);
    const prefix = slash < 0 ? undefined : entry.slice(slash + 1);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || (prefix !== undefined && (!/^\d{1,3}$/.test(prefix) || Number(prefix) > max))) {
      throw new RangeError(`SIP allow-list entry ${JSON.stringify(raw)} is not an IPv4/IPv6 address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32)`);
    }
    const type = family === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, type);
    else list.addSubnet(address, Number(prefix), type);
  }
  return list;
}

/** Checks and completes rate limits (throws RangeError on a bucket that is not two positive numbers). */
export function resolveRateLimits(limits: Partial<SipRateLimits> = {}): SipRateLimits {
  const out: SipRateLimits = { ...DEFAULT_RATE_LIMITS, ...limits };
  for (const [name, b] of Object.entries(out) as Array<[string, TokenRate | false]>) {
    if (b === false) continue;
    if (!(b.rate > 0) || !(b.burst >= 1) || !Number.isFinite(b.rate) || !Number.isFinite(b.burst)) {
      throw new RangeError(`SIP rate limit ${name} needs rate > 0 and burst >= 1, got ${JSON.stringify(b)}`);
    }
  }
  return out;
}

/** The request method a datagram starts with, for the three with buckets; undefined for the rest. */
export function requestKind(buf: Uint8Array): RequestKind | undefined {
  let i = 0;
  while (buf[i] === 13 || buf[i] === 10) i++;
  const c = buf[i];
  // Methods are case-sensitive (RFC 3261 §7.1).
  if (c === 0x49) return startsWith(buf, i, 'INVITE ') ? 'invite' : undefined;
  if (c === 0x52) return startsWith(buf, i, 'REGISTER ') ? 'register' : undefined;
  if (c === 0x4f) return startsWith(buf, i, 'OPTIONS ') ? 'options' : undefined;
  return undefined;
}

function startsWith(buf: Uint8Array, at: number, s: string): boolean {
  for (let k = 0; k < s.length; k++) if (buf[at + k] !== s.charCodeAt(k)) return false;
  return true;
}

/** User-Agents of well-known SIP scanners (SIPVicious and its clones): answered with silence. */
const SCANNER_UA_RE = /friendly-scanner|sipvicious|sipcli|sip-scan|vaxsipuseragent|sundayddr|iwar|pplsip/i;

export function isScannerRequest(req: SipRequest): boolean {
  const ua = req.headers.get('User-Agent');
  return ua !== undefined && SCANNER_UA_RE.test(ua);
}

export class SipAdmission {
  readonly stats: SipAdmissionStats = {
    accepted: 0,
    notAllowed: 0,
    refused: { invite: 0, register: 0, options: 0 },
    silenced: { invite: 0, register: 0, options: 0 },
    overBudget: 0,
    overflowed: 0,
    sources: 0,
  };
  readonly retryAfterS: number;
  private readonly allow: BlockList | undefined;
  private readonly limits: SipRateLimits | undefined;
  private readonly maxSources: number;
  /** How long a source must be idle for all its buckets to be full again (then forgetting it is lossless). */
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly table = new Map<string, Source>();
  private readonly overflow: Source;
  private total: { at: number; tokens: number };

  constructor(opts: SipAdmissionOptions = {}) {
    this.allow = opts.allow && opts.allow.length > 0 ? parseAllowList(opts.allow) : undefined;
    this.limits = opts.rateLimits === false ? undefined : resolveRateLimits(opts.rateLimits);
    this.maxSources = opts.maxSources ?? 10_000;
    if (!Number.isInteger(this.maxSources) || this.maxSources < 1) throw new RangeError(`maxSources must be a positive integer, got ${opts.maxSources}`);
    this.retryAfterS = opts.retryAfterS ?? 5;
    this.now = opts.now ?? (() => performance.now());
    const l = this.limits;
    this.idleMs = l ? Math.max(...[l.invite, l.register, l.options, l.datagrams, l.replies].map((b) => (b ? (1000 * b.burst) / b.rate : 0))) : 0;
    this.overflow = this.fresh(this.now());
    this.total = { at: this.now(), tokens: l?.repliesTotal.burst ?? 0 };
  }

  /** Whether anything is checked at all (no allow-list and no limits: every datagram passes). */
  get active(): boolean {
    return this.allow !== undefined || this.limits !== undefined;
  }

  /**
   * The verdict for one datagram from `address`: 'accept' (parse it), 'refuse' (answer 503 with
   * refusal()), or 'drop' (nothing at all). Counts it.
   */
  check(address: string, buf: Uint8Array): Verdict {
    const l = this.limits;
    let s = l ? this.table.get(address) : undefined;
    if (!s) {
      // Only allowed sources ever enter the table, so a known one needs no second look.
      if (this.allow && !this.allow.check(address, address.includes(':') ? 'ipv6' : 'ipv4')) {
        this.stats.notAllowed++;
        return 'drop';
      }
      if (!l) {
        this.stats.accepted++;
        return 'accept';
      }
    }
    const now = this.now();
    s = this.lookup(address, s, now);
    this.refill(s, l!, now);
    const kind = requestKind(buf);
    if (kind !== undefined) {
      const bucket = l![kind];
      if (bucket !== false) {
        if (s[kind] < 1) return this.overLimit(s, kind, now);
        s[kind] -= 1;
      }
    }
    if (l!.datagrams !== false) {
      if (s.datagrams < 1) {
        this.stats.overBudget++;
        return 'drop';
      }
      s.datagrams -= 1;
    }
    this.stats.accepted++;
    return 'accept';
  }

  /**
   * The 503 for a refused request, and where it goes (the source, per the request's Via as
   * applyReceivedRport stamps it); undefined when the datagram is no request we can answer.
   */
  refusal(buf: Buffer, from: Endpoint, parse?: ParseOptions): { bytes: Buffer; to: Endpoint } | undefined {
    const p = parseMessage(buf, parse);
    if (!p.ok || p.message.kind !== 'request' || p.message.method === 'ACK') return undefined;
    const req = p.message;
    applyReceivedRport(req, from.address, from.port);
    const res = createResponse(req, 503, 'Service Unavailable (rate limit)', {
      toTag: generateTag(),
      headers: [['Retry-After', String(this.retryAfterS)]],
    });
    const dest = responseDestination(res);
    return { bytes: serialize(res), to: dest ? { address: dest.host, port: dest.port } : from };
  }

  private overLimit(s: Source, kind: RequestKind, now: number): Verdict {
    const l = this.limits!;
    const t = this.total;
    t.tokens = Math.min(l.repliesTotal.burst, t.tokens + ((now - t.at) * l.repliesTotal.rate) / 1000);
    t.at = now;
    if (s.replies >= 1 && t.tokens >= 1) {
      s.replies -= 1;
      t.tokens -= 1;
      this.stats.refused[kind]++;
      return 'refuse';
    }
    this.stats.silenced[kind]++;
    return 'drop';
  }

  private fresh(now: number): Source {
    const l = this.limits;
    const full = (b: TokenRate | false | undefined) => (b ? b.burst : 0);
    return {
      at: now,
      moved: now,
      invite: full(l?.invite),
      register: full(l?.register),
      options: full(l?.options),
      datagrams: full(l?.datagrams),
      replies: full(l?.replies),
    };
  }

  private lookup(address: string, known: Source | undefined, now: number): Source {
    const t = this.table;
    if (known) {
      // Move to the recent end of the Map's order at most once a second: the order stays a
      // least-recently-seen order to within a second, at one delete+set per source per second.
      if (now - known.moved > 1000) {
        t.delete(address);
        t.set(address, known);
        known.moved = now;
      }
      return known;
    }
    if (t.size >= this.maxSources) {
      const oldest = t.entries().next().value as [string, Source] | undefined;
      if (!oldest || now - oldest[1].at < this.idleMs) {
        this.stats.overflowed++;
        return this.overflow;
      }
      t.delete(oldest[0]);
    }
    const s = this.fresh(now);
    t.set(address, s);
    this.stats.sources = t.size;
    return s;
  }

  private refill(s: Source, l: SipRateLimits, now: number): void {
    const dt = now - s.at;
    if (dt <= 0) return;
    s.at = now;
    if (l.invite) s.invite = Math.min(l.invite.burst, s.invite + (dt * l.invite.rate) / 1000);
    if (l.register) s.register = Math.min(l.register.burst, s.register + (dt * l.register.rate) / 1000);
    if (l.options) s.options = Math.min(l.options.burst, s.options + (dt * l.options.rate) / 1000);
    if (l.datagrams) s.datagrams = Math.min(l.datagrams.burst, s.datagrams + (dt * l.datagrams.rate) / 1000);
    s.replies = Math.min(l.replies.burst, s.replies + (dt * l.replies.rate) / 1000);
  }
}

/**
 * Logs (warn) what admission refused in each `everyMs` window where it refused anything, so an
 * operator sees a flood or a misconfigured allow-list without a log line per datagram. Returns the
 * stop function; the timer does not keep the process alive.
 */
export function logRefusals(admission: SipAdmission, log: Logger, everyMs = 10_000): () => void {
  const snapshot = () => {
    const st = admission.stats;
    return {
      notAllowed: st.notAllowed,
      refused: st.refused.invite + st.refused.register + st.refused.options,
      silenced: st.silenced.invite + st.silenced.register + st.silenced.options,
      overBudget: st.overBudget,
      overflowed: st.overflowed,
    };
  };
  let last = snapshot();
  const timer = setInterval(() => {
    const now = snapshot();
    const delta = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - last[k as keyof typeof now]]));
    last = now;
    if (Object.values(delta).some((v) => v > 0)) log.warn({ ...delta, windowMs: everyMs, sources: admission.stats.sources }, 'sip admission refused datagrams');
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
