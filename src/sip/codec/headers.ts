import { isIPv4, isIPv6 } from 'node:net';
import { formatHost, formatUri, parseUri, type ParamMap, type Uri } from './uri.js';

/** RFC 3261 §7.3.3 and later extensions' single-letter forms. */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type',
  f: 'From', s: 'Subject', k: 'Supported', t: 'To', v: 'Via', o: 'Event', r: 'Refer-To',
  u: 'Allow-Events', x: 'Session-Expires', y: 'Identity', b: 'Referred-By', a: 'Accept-Contact',
  j: 'Reject-Contact', d: 'Request-Disposition', n: 'Identity-Info',
};

const KNOWN = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition',
  'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Error-Info',
  'Event', 'Expires', 'From', 'Identity', 'Identity-Info', 'In-Reply-To', 'Max-Forwards', 'Min-Expires',
  'Min-SE', 'MIME-Version', 'Organization', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Path',
  'Priority', 'Privacy', 'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason',
  'Record-Route', 'Refer-To', 'Referred-By', 'Reject-Contact', 'Replaces', 'Reply-To',
  'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq', 'Server', 'Service-Route',
  'Session-Expires', 'Subject', 'Subscription-State', 'Supported', 'Timestamp', 'To', 'Unsupported',
  'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
];
const CANONICAL = new Map(KNOWN.map((n) => [n.toLowerCase(), n]));

/** Headers whose grammar is a comma-separated list, so one line may carry several values (§7.3.1). */
const LIST_HEADERS = new Set(
  [
    'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
    'Call-Info', 'Contact', 'Content-Encoding', 'Content-Language', 'Error-Info', 'In-Reply-To', 'Path',
    'P-Asserted-Identity', 'Privacy', 'Proxy-Require', 'Reason', 'Record-Route', 'Reject-Contact',
    'Request-Disposition', 'Require', 'Route', 'Service-Route', 'Supported', 'Unsupported', 'Via', 'Warning',
  ].map((n) => n.toLowerCase()),
);

export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  const expanded = lower.length === 1 ? COMPACT[lower] : undefined;
  if (expanded) return expanded;
  return CANONICAL.get(lower) ?? name;
}

/** canonicalHeaderName() for a name whose headerKey() the caller already has. */
export function canonicalHeaderNameOfKey(key: string, raw: string): string {
  return CANONICAL.get(key) ?? raw;
}

/** Compact form → lower-cased full name, so a lookup key costs one toLowerCase. */
const COMPACT_KEY: ReadonlyMap<string, string> = new Map(Object.entries(COMPACT).map(([c, n]) => [c, n.toLowerCase()]));

/** The case-insensitive key of a header name: its canonical name, lower-cased. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT_KEY.get(lower) ?? lower) : lower;
}

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(headerKey(name));
}

/** isListHeader() for a name already turned into its key by headerKey(). */
export function isListHeaderKey(key: string): boolean {
  return LIST_HEADERS.has(key);
}

export interface HeaderEntry {
  readonly name: string;
  readonly value: string;
}

/**
 * Ordered, multi-valued, case-insensitive header store; each list element is its own entry.
 * Every entry's lookup key (headerKey) is kept alongside it, so a get() compares strings instead
 * of lower-casing every name it passes.
 */
export class HeaderList implements Iterable<HeaderEntry> {
  #entries: HeaderEntry[] = [];
  #keys: string[] = [];
  /**
   * Values already parsed, by parser and raw text. The parser's validation, the transaction layer
   * and the UA all read the same From/To/Via/CSeq of a message; each is parsed once. Keyed by the
   * raw string, so a header that changes simply misses.
   */
  #parsed: Array<{ parse: (raw: string) => unknown; raw: string; value: unknown }> | undefined;
  /**
   * How serialize() writes the values: 'latin1' for a message whose header bytes were not UTF-8,
   * whose values are byte strings (one character per byte; see parse.ts), so that they go back out
   * as the same bytes. Responses take it from their request.
   */
  encoding: 'utf8' | 'latin1' = 'utf8';

  constructor(init?: Iterable<readonly [string, string]>) {
    if (init) for (const [n, v] of init) this.append(n, v);
  }

  static key(name: string): string {
    return headerKey(name);
  }

  get(name: string): string | undefined {
    const k = headerKey(name);
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] === k) return this.#entries[i]!.value;
    return undefined;
  }

  getAll(name: string): string[] {
    const k = headerKey(name);
    const keys = this.#keys;
    const out: string[] = [];
    for (let i = 0; i < keys.length; i++) if (keys[i] === k) out.push(this.#entries[i]!.value);
    return out;
  }

  /** How many values the header has (without building them). */
  count(name: string): number {
    const k = headerKey(name);
    let n = 0;
    for (const key of this.#keys) if (key === k) n++;
    return n;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * `parse(raw)` for one of this list's values, computed once per (parser, raw) pair. The result is
   * shared by every caller: treat it as read-only (parse afresh to get an object to change).
   */
  parseValue<T>(raw: string, parse: (raw: string) => T): T {
    const seen = this.#parsed;
    if (seen) {
      for (let i = 0; i < seen.length; i++) {
        const p = seen[i]!;
        if (p.parse === parse && p.raw === raw) return p.value as T;
      }
    }
    const value = parse(raw);
    this.remember(parse, raw, value);
    return value;
  }

  /** The first value of a header, parsed (once) with `parse`; undefined when the header is absent. */
  parsedFirst<T>(name: string, parse: (raw: string) => T): T | undefined {
    const raw = this.get(name);
    return raw === undefined ? undefined : this.parseValue(raw, parse);
  }

  /** Records what `parse(raw)` gives, when the caller already has it (e.g. a Via it just stamped). */
  remember<T>(parse: (raw: string) => T, raw: string, value: T): void {
    (this.#parsed ??= []).push({ parse, raw, value });
  }

  /** Replaces every existing value, keeping the position of the first one. */
  set(name: string, value: string | readonly string[]): this {
    const values = typeof value === 'string' ? [value] : value;
    const canonical = canonicalHeaderName(name);
    const k = canonical.toLowerCase();
    const entries: HeaderEntry[] = [];
    const keys: string[] = [];
    let placed = false;
    const place = (): void => {
      for (const v of values) {
        entries.push({ name: canonical, value: v });
        keys.push(k);
      }
      placed = true;
    };
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === k) {
        if (!placed) place();
        continue;
      }
      entries.push(this.#entries[i]!);
      keys.push(this.#keys[i]!);
    }
    if (!placed) place();
    this.#entries = entries;
    this.#keys = keys;
    return this;
  }

  append(name: string, value: string): this {
    const canonical = canonicalHeaderName(name);
    this.#entries.push({ name: canonical, value });
    this.#keys.push(canonical.toLowerCase());
    return this;
  }

  /** append() for a name the caller has already canonicalised, with its headerKey(). */
  appendKeyed(canonical: string, key: string, value: string): this {
    this.#entries.push({ name: canonical, value });
    this.#keys.push(key);
    return this;
  }

  prepend(name: string, value: string): this {
    const canonical = canonicalHeaderName(name);
    this.#entries.unshift({ name: canonical, value });
    this.#keys.unshift(canonical.toLowerCase());
    return this;
  }

  /** Replaces the n-th value of a header (e.g. the topmost Via) in place. */
  replaceAt(name: string, index: number, value: string): boolean {
    const k = headerKey(name);
    let seen = 0;
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === k) {
        if (seen === index) {
          this.#entries[i] = { name: this.#entries[i]!.name, value };
          return true;
        }
        seen++;
      }
    }
    return false;
  }

  remove(name: string): number {
    const k = headerKey(name);
    const before = this.#entries.length;
    const entries: HeaderEntry[] = [];
    const keys: string[] = [];
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === k) continue;
      entries.push(this.#entries[i]!);
      keys.push(this.#keys[i]!);
    }
    this.#entries = entries;
    this.#keys = keys;
    return before - entries.length;
  }

  clone(): HeaderList {
    const c = new HeaderList();
    c.encoding = this.encoding;
    c.#entries = this.#entries.slice();
    c.#keys = this.#keys.slice();
    return c;
  }

  get size(): number {
    return this.#entries.length;
  }

  [Symbol.iterator](): Iterator<HeaderEntry> {
    return this.#entries[Symbol.iterator]();
  }
}

// ---------------------------------------------------------------------------
// Lexical helpers (RFC 3261 §25.1)
// ---------------------------------------------------------------------------

const TOKEN_CHAR = /[A-Za-z0-9\-.!%*_+`'~]/;
export const TOKEN_RE = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const GEN_VALUE_CHAR = /[A-Za-z0-9\-.!%*_+`'~[\]:]/;

const isWs = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** Strips only SP/HTAB: String#trim would also eat characters such as U+FEFF that are legal content. */
export function trimLws(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && (s.charCodeAt(start) === 32 || s.charCodeAt(start) === 9)) start++;
  while (end > start && (s.charCodeAt(end - 1) === 32 || s.charCodeAt(end - 1) === 9)) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

/** Splits at commas outside quoted strings and angle brackets. */
export function splitTopLevel(value: string, sep = ','): string[] {
  const out: string[] = [];
  let cur = '';
  let inQuote = false;
  let angle = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value[i] ?? '';
    if (inQuote) {
      cur += c;
      if (c === '\\' && i + 1 < value.length) cur += value[++i];
      else if (c === '"') inQuote = false;
    } else if (c === '"') {
      inQuote = true;
      cur += c;
    } else if (c === '<') {
      angle++;
      cur += c;
    } else if (c === '>') {
      if (angle > 0) angle--;
      cur += c;
    } else if (c === sep && angle === 0) {
      out.push(trimLws(cur));
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(trimLws(cur));
  return out;
}

/** Reads a quoted-string starting at `pos` (which must be '"'); returns the unescaped text. */
export function readQuoted(s: string, pos: number): { value: string; end: number } | undefined {
  if (s[pos] !== '"') return undefined;
  let value = '';
  for (let i = pos + 1; i < s.length; i++) {
    const c = s[i] ?? '';
    if (c === '\\') {
      const n = s[i + 1];
      if (n === undefined || n === '\r' || n === '\n') return undefined;
      value += n;
      i++;
    } else if (c === '"') {
      return { value, end: i + 1 };
    } else if (c.charCodeAt(0) < 0x20 && c !== '\t') {
      return undefined;
    } else {
      value += c;
    }
  }
  return undefined;
}

export function quote(s: string): string {
  return `"${s.replace(/["\\]/g, (m) => `\\${m}`)}"`;
}

function skipWs(s: string, pos: number): number {
  while (isWs(s[pos])) pos++;
  return pos;
}

/** Parses `*( SEMI generic-param )` from `pos` to the end of `s`. */
export function parseGenericParams(s: string, pos = 0): ParamMap | undefined {
  const params: ParamMap = new Map();
  pos = skipWs(s, pos);
  while (pos < s.length) {
    if (s[pos] !== ';') return undefined;
    pos = skipWs(s, pos + 1);
    const nameStart = pos;
    while (pos < s.length && TOKEN_CHAR.test(s[pos] ?? '')) pos++;
    if (pos === nameStart) return undefined;
    const name = s.slice(nameStart, pos).toLowerCase();
    pos = skipWs(s, pos);
    let value: string | null = null;
    if (s[pos] === '=') {
      pos = skipWs(s, pos + 1);
      if (s[pos] === '"') {
        const q = readQuoted(s, pos);
        if (!q) return undefined;
        value = q.value;
        pos = q.end;
      } else {
        const vs = pos;
        while (pos < s.length && GEN_VALUE_CHAR.test(s[pos] ?? '')) pos++;
        if (pos === vs) return undefined;
        value = s.slice(vs, pos);
      }
      pos = skipWs(s, pos);
    }
    params.set(name, value);
  }
  return params;
}

export function formatGenericParams(params: ParamMap): string {
  let out = '';
  for (const [k, v] of params) {
    if (v === null) out += `;${k}`;
    else out += `;${k}=${/^[A-Za-z0-9\-.!%*_+`'~[\]:]+$/.test(v) ? v : quote(v)}`;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Via
// ---------------------------------------------------------------------------

export interface Via {
  protocol: string;
  version: string;
  transport: string;
  host: string;
  port?: number;
  branch?: string;
  received?: string;
  /** `true` when present without a value (RFC 3581 request), a number once filled in. */
  rport?: true | number;
  maddr?: string;
  ttl?: number;
  /** Every parameter in order, including the ones surfaced above. */
  params: ParamMap;
}

export const BRANCH_MAGIC_COOKIE = 'z9hG4bK';

const VIA_RE =
  /^([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:[ \t]*:[ \t]*(\d{1,5}))?(.*)$/s;

function validHost(h: string): boolean {
  if (h.startsWith('[')) return h.endsWith(']') && isIPv6(h.slice(1, -1));
  return isIPv4(h) || /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/.test(h);
}

export function parseVia(value: string): Via | undefined {
  const m = VIA_RE.exec(trimLws(value));
  if (!m) return undefined;
  const [, protocol = '', version = '', transport = '', rawHost = '', rawPort, rest = ''] = m;
  if (!validHost(rawHost)) return undefined;
  const params = parseGenericParams(rest);
  if (!params) return undefined;
  const via: Via = {
    protocol: protocol.toUpperCase(),
    version,
    transport: transport.toUpperCase(),
    host: (rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost).toLowerCase(),
    params,
  };
  if (rawPort !== undefined) {
    const port = Number(rawPort);
    if (port > 65535) return undefined;
    via.port = port;
  }
  const branch = params.get('branch');
  if (branch === null) return undefined;
  if (branch !== undefined) via.branch = branch;
  const received = params.get('received');
  if (received === null) return undefined;
  if (received !== undefined) {
    const bare = received.startsWith('[') ? received.slice(1, -1) : received;
    if (!isIPv4(bare) && !isIPv6(bare)) return undefined;
    via.received = bare;
  }
  if (params.has('rport')) {
    const rp = params.get('rport');
    if (rp === null || rp === undefined) via.rport = true;
    else if (/^\d{1,5}$/.test(rp) && Number(rp) <= 65535) via.rport = Number(rp);
    else return undefined;
  }
  const maddr = params.get('maddr');
  if (maddr) via.maddr = maddr;
  const ttl = params.get('ttl');
  if (ttl !== undefined) {
    if (ttl === null || !/^\d{1,3}$/.test(ttl) || Number(ttl) > 255) return undefined;
    via.ttl = Number(ttl);
  }
  return via;
}

function syncParam(params: ParamMap, name: string, v: string | null | undefined): void {
  if (v === undefined) params.delete(name);
  else params.set(name, v);
}

export function formatVia(via: Via): string {
  const params: ParamMap = new Map(via.params);
  // Surfaced fields win over stale entries in the raw map, so edits to them round-trip.
  syncParam(params, 'branch', via.branch);
  syncParam(params, 'received', via.received);
  syncParam(params, 'rport', via.rport === undefined ? undefined : via.rport === true ? null : String(via.rport));
  syncParam(params, 'maddr', via.maddr);
  syncParam(params, 'ttl', via.ttl === undefined ? undefined : String(via.ttl));
  const port = via.port === undefined ? '' : `:${via.port}`;
  return `${via.protocol}/${via.version}/${via.transport} ${formatHost(via.host)}${port}${formatGenericParams(params)}`;
}

/** True when the branch carries the RFC 3261 magic cookie and something after it (RFC 4475 badbranch). */
export function isRfc3261Branch(branch: string | undefined): branch is string {
  return branch !== undefined && branch.startsWith(BRANCH_MAGIC_COOKIE) && branch.length > BRANCH_MAGIC_COOKIE.length;
}

// ---------------------------------------------------------------------------
// name-addr / addr-spec (From, To, Contact, Route, Record-Route, ...)
// ---------------------------------------------------------------------------

export interface NameAddr {
  displayName?: string;
  uri: Uri;
  params: ParamMap;
  tag?: string;
}

export type ContactValue = ({ star: false } & NameAddr) | { star: true; params: ParamMap };

export function parseNameAddr(value: string): NameAddr | undefined {
  const s = trimLws(value);
  let pos = 0;
  let displayName: string | undefined;
  let uriText: string;
  if (s.startsWith('"')) {
    const q = readQuoted(s, 0);
    if (!q) return undefined;
    displayName = q.value;
    pos = skipWs(s, q.end);
    if (s[pos] !== '<') return undefined;
  } else {
    const lt = s.indexOf('<');
    if (lt >= 0) {
      // Unquoted display names are `*(token LWS)`; anything else needs quoting (RFC 4475 baddn).
      const dn = trimLws(s.slice(0, lt));
      if (dn !== '') {
        const words = dn.split(/[ \t]+/);
        if (!words.every((w) => TOKEN_RE.test(w))) return undefined;
        displayName = words.join(' ');
      }
      pos = lt;
    }
  }
  if (s[pos] === '<') {
    const gt = s.indexOf('>', pos);
    if (gt < 0) return undefined;
    uriText = s.slice(pos + 1, gt);
    // No LWS is allowed inside the brackets (RFC 4475 badaspec).
    if (uriText !== trimLws(uriText) || uriText === '') return undefined;
    pos = gt + 1;
  } else {
    // Bare addr-spec: any ';' starts header params, and '?' or ',' would need brackets (RFC 4475 regbadct).
    const semi = s.indexOf(';');
    uriText = trimLws(semi < 0 ? s : s.slice(0, semi));
    pos = semi < 0 ? s.length : semi;
    if (/[?,\s]/.test(uriText)) return undefined;
  }
  const uri = parseUri(uriText);
  if (!uri) return undefined;
  const params = parseGenericParams(s, pos);
  if (!params) return undefined;
  const na: NameAddr = { uri, params };
  if (displayName !== undefined) na.displayName = displayName;
  const tag = params.get('tag');
  if (tag === null) return undefined;
  if (tag !== undefined) na.tag = tag;
  return na;
}

export function formatNameAddr(na: NameAddr): string {
  const params: ParamMap = new Map(na.params);
  if (na.tag !== undefined) params.set('tag', na.tag);
  else params.delete('tag');
  const dn = na.displayName === undefined || na.displayName === '' ? '' : `${quote(na.displayName)} `;
  return `${dn}<${formatUri(na.uri)}>${formatGenericParams(params)}`;
}

export function parseContact(value: string): ContactValue | undefined {
  const t = trimLws(value);
  if (t.startsWith('*')) {
    const params = parseGenericParams(t, 1);
    return params ? { star: true, params } : undefined;
  }
  const na = parseNameAddr(t);
  return na ? { star: false, ...na } : undefined;
}

// ---------------------------------------------------------------------------
// Scalar headers
// ---------------------------------------------------------------------------

export interface CSeq {
  seq: number;
  method: string;
}

/** RFC 3261 §8.1.1.5: the sequence number must be below 2**31. */
export const CSEQ_MAX = 2 ** 31 - 1;
export const DELTA_SECONDS_MAX = 2 ** 32 - 1;

export function parseCSeq(value: string): CSeq | undefined {
  const m = /^[ \t]*(\d{1,10})[ \t]+([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*$/.exec(value);
  if (!m) return undefined;
  const seq = Number(m[1]);
  if (seq > CSEQ_MAX) return undefined;
  return { seq, method: m[2] ?? '' };
}

export function formatCSeq(c: CSeq): string {
  return `${c.seq} ${c.method}`;
}

export function parseCallId(value: string): string | undefined {
  const v = trimLws(value);
  return /^[\x21-\x7e]+$/.test(v) ? v : undefined;
}

export function parseMaxForwards(value: string): number | undefined {
  const v = trimLws(value);
  if (!/^\d{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= 255 ? n : undefined;
}

/** delta-seconds as used by Expires, Min-Expires and the Contact expires parameter. */
export function parseDeltaSeconds(value: string): number | undefined {
  const v = trimLws(value);
  if (!/^\d{1,10}$/.test(v)) return undefined;
  const n = Number(v);
  return n <= DELTA_SECONDS_MAX ? n : undefined;
}

export const parseExpires = parseDeltaSeconds;

export function parseContentLength(value: string): number | undefined {
  const v = trimLws(value);
  if (!/^\d{1,10}$/.test(v)) return undefined;
  return Number(v);
}

/** Retry-After = delta-seconds [ comment ] *( SEMI retry-param ). */
export function parseRetryAfter(value: string): number | undefined {
  const m = /^[ \t]*(\d+)/.exec(value);
  return m ? parseDeltaSeconds(m[1] ?? '') : undefined;
}

const RFC1123 =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;

/** SIP only allows the RFC 1123 form in GMT (RFC 3261 §20.17, RFC 4475 baddate). */
export function parseDate(value: string): Date | undefined {
  const v = trimLws(value);
  if (!RFC1123.test(v)) return undefined;
  const d = new Date(v);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

export interface ContentType {
  type: string;
  subtype: string;
  params: ParamMap;
}

export function parseContentType(value: string): ContentType | undefined {
  const m = /^[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]*\/[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)(.*)$/s.exec(value);
  if (!m) return undefined;
  const params = parseGenericParams(m[3] ?? '');
  if (!params) return undefined;
  return { type: (m[1] ?? '').toLowerCase(), subtype: (m[2] ?? '').toLowerCase(), params };
}

export function formatContentType(ct: ContentType): string {
  return `${ct.type}/${ct.subtype}${formatGenericParams(ct.params)}`;
}

/** Token lists such as Allow, Supported, Require (values already split into entries). */
export function tokenList(headers: HeaderList, name: string): string[] {
  return headers
    .getAll(name)
    .flatMap((v) => splitTopLevel(v))
    .filter((t) => t !== '');
}

// ---------------------------------------------------------------------------
// Authentication headers (RFC 3261 §25.1 challenge / credentials)
// ---------------------------------------------------------------------------

export interface AuthHeader {
  scheme: string;
  /** Parameter names lower-cased; quoted values unescaped. */
  params: Map<string, string>;
}

export function parseAuthHeader(value: string): AuthHeader | undefined {
  const m = /^[ \t]*([A-Za-z0-9\-.!%*_+`'~]+)[ \t]+(.*)$/s.exec(value);
  if (!m) return undefined;
  const params = new Map<string, string>();
  const s = m[2] ?? '';
  let pos = 0;
  while (pos < s.length) {
    pos = skipWs(s, pos);
    if (s[pos] === ',') {
      pos++;
      continue;
    }
    const ns = pos;
    while (pos < s.length && TOKEN_CHAR.test(s[pos] ?? '')) pos++;
    if (pos === ns) return undefined;
    const name = s.slice(ns, pos).toLowerCase();
    pos = skipWs(s, pos);
    if (s[pos] !== '=') return undefined;
    pos = skipWs(s, pos + 1);
    if (s[pos] === '"') {
      const q = readQuoted(s, pos);
      if (!q) return undefined;
      params.set(name, q.value);
      pos = q.end;
    } else {
      const vs = pos;
      while (pos < s.length && s[pos] !== ',' && !isWs(s[pos])) pos++;
      if (pos === vs) return undefined;
      params.set(name, s.slice(vs, pos));
    }
    pos = skipWs(s, pos);
    if (pos < s.length && s[pos] !== ',') return undefined;
  }
  return { scheme: m[1] ?? '', params };
}

/** RFC 7616 sends these bare; everything else is safest quoted. */
const UNQUOTED_AUTH_PARAMS = new Set(['algorithm', 'nc', 'stale']);

export function formatAuthHeader(h: AuthHeader, unquoted: ReadonlySet<string> = UNQUOTED_AUTH_PARAMS): string {
  const parts = [...h.params].map(([k, v]) => (unquoted.has(k) ? `${k}=${v}` : `${k}=${quote(v)}`));
  return `${h.scheme} ${parts.join(', ')}`;
}
