// SIP header value grammars (RFC 3261 §20, §25): Via, name-addr, CSeq, auth params and the rest.
// Header names and the HeaderList store are in header-list.ts (re-exported here).
import { isIPv4, isIPv6 } from 'node:net';
import { formatHost, formatUri, parseUri, type ParamMap, type Uri } from './uri.js';
import type { HeaderList } from './header-list.js';

export * from './header-list.js';

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

/** The methods an Allow header names, upper-cased; undefined when the message has none. */
export function allowSet(headers: HeaderList): ReadonlySet<string> | undefined {
  const methods = tokenList(headers, 'Allow');
  return methods.length ? new Set(methods.map((m) => m.trim().toUpperCase())) : undefined;
}

/**
 * Whether the request's Accept header (§20.1) admits `mediaType` (e.g. "application/sdp"): true
 * without an Accept header; otherwise a range naming it, its type with a wildcard subtype, or the
 * full wildcard, with a q other than 0.
 */
export function acceptsMediaType(headers: HeaderList, mediaType: string): boolean {
  const ranges = tokenList(headers, 'Accept');
  if (ranges.length === 0) return true;
  const want = mediaType.toLowerCase();
  const type = want.slice(0, want.indexOf('/'));
  return ranges.some((r) => {
    const [range = '', ...params] = r.split(';').map((x) => x.trim().toLowerCase());
    if (range !== want && range !== `${type}/*` && range !== '*/*') return false;
    const q = params.find((p) => p.startsWith('q='));
    return q === undefined || Number(q.slice(2)) > 0;
  });
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

/** The URI of a Contact value, formatted; undefined for `*` or a value that does not parse. */
export function contactUriOf(value: string): string | undefined {
  const c = parseContact(value);
  return c && !c.star ? formatUri(c.uri) : undefined;
}
