import { isUtf8 } from 'node:buffer';
import { isIPv4, isIPv6 } from 'node:net';

/** Parameter maps keep insertion order; names are lower-cased, a `null` value is a flag parameter. */
export type ParamMap = Map<string, string | null>;

export interface SipUri {
  kind: 'sip';
  scheme: 'sip' | 'sips';
  /**
   * Percent-decoded user part (may contain any octet, e.g. NUL from `%00`; octets that are not
   * UTF-8 as lone surrogates U+DC80–U+DCFF, so that formatUri() writes the same escapes back).
   */
  user?: string;
  password?: string;
  /** Lower-cased; IPv6 addresses are stored without brackets. */
  host: string;
  port?: number;
  params: ParamMap;
  headers: Map<string, string>;
}

export interface TelUri {
  kind: 'tel';
  scheme: 'tel';
  number: string;
  params: ParamMap;
}

/** Any other absoluteURI: we keep it opaque so it can be carried but not routed on. */
export interface OtherUri {
  kind: 'other';
  scheme: string;
  raw: string;
}

export type Uri = SipUri | TelUri | OtherUri;

const HEX = '[0-9A-Fa-f]';
const ESC = `%${HEX}{2}`;
const UNRESERVED = "A-Za-z0-9\\-_.!~*'()";
const USER_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,;?/]|${ESC})+$`);
const PASSWORD_RE = new RegExp(`^(?:[${UNRESERVED}&=+$,]|${ESC})*$`);
const PARAM_RE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/:&+$]|${ESC})+$`);
const HNV_RE = new RegExp(`^(?:[${UNRESERVED}\\[\\]/?:+$]|${ESC})*$`);
const HOSTNAME_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.?$/;
const SCHEME_RE = /^[A-Za-z][A-Za-z0-9+\-.]*$/;
const TEL_RE = /^[0-9A-Fa-f+\-.()*#pwPW]+$/;

/**
 * Octets that are not UTF-8 become lone surrogates U+DC80–U+DCFF (Python's "surrogateescape"), which
 * escapeWith() turns back into the same %XX: a URI with `%FF` round-trips as `%FF`, instead of
 * coming back as the 9-byte escape of U+FFFD.
 */
function decodeOctets(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const n = utf8SequenceLength(bytes, i);
    if (n === 0) out += String.fromCharCode(0xdc00 | bytes[i++]!);
    else {
      out += Buffer.from(bytes.subarray(i, i + n)).toString('utf8');
      i += n;
    }
  }
  return out;
}

/** Length of the well-formed UTF-8 sequence at `i` (RFC 3629 table), 0 when there is none. */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => b[i + k] !== undefined && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** Decodes %XX escapes as UTF-8 octets (see decodeOctets); returns undefined on a malformed escape. */
export function unescapeUriPart(s: string): string | undefined {
  if (!s.includes('%')) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 0x25) {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      for (const b of Buffer.from(s[i] ?? '', 'utf8')) bytes.push(b);
    }
  }
  return decodeOctets(Uint8Array.from(bytes));
}

const ESCAPED_OCTET_RE = /[\udc80-\udcff]/;

function escapeByte(b: number, allowed: RegExp): string {
  const c = String.fromCharCode(b);
  return b < 0x80 && allowed.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

function escapeWith(s: string, allowed: RegExp): string {
  let out = '';
  if (!ESCAPED_OCTET_RE.test(s)) {
    for (const b of Buffer.from(s, 'utf8')) out += escapeByte(b, allowed);
    return out;
  }
  // Code point by code point: a lone low surrogate from decodeOctets is the octet it stands for.
  for (const cp of s) {
    const u = cp.charCodeAt(0);
    if (cp.length === 1 && u >= 0xdc80 && u <= 0xdcff) out += escapeByte(u & 0xff, allowed);
    else for (const b of Buffer.from(cp, 'utf8')) out += escapeByte(b, allowed);
  }
  return out;
}

const USER_CHAR = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]$/;
const PASSWORD_CHAR = /^[A-Za-z0-9\-_.!~*'()&=+$,]$/;
const PARAM_CHAR = /^[A-Za-z0-9\-_.!~*'()[\]/:&+$]$/;
const HNV_CHAR = /^[A-Za-z0-9\-_.!~*'()[\]/?:+$]$/;

function parseHost(s: string): { host: string; port?: number } | undefined {
  let host: string;
  let rest: string;
  if (s.startsWith('[')) {
    const end = s.indexOf(']');
    if (end < 0) return undefined;
    host = s.slice(1, end);
    if (!isIPv6(host)) return undefined;
    rest = s.slice(end + 1);
  } else {
    const colon = s.indexOf(':');
    host = colon < 0 ? s : s.slice(0, colon);
    rest = colon < 0 ? '' : s.slice(colon);
    if (!HOSTNAME_RE.test(host) && !isIPv4(host)) return undefined;
  }
  if (rest === '') return { host: host.toLowerCase() };
  if (!/^:\d{1,5}$/.test(rest)) return undefined;
  const port = Number(rest.slice(1));
  if (port > 65535) return undefined;
  return { host: host.toLowerCase(), port };
}

function parseUriParams(parts: string[]): ParamMap | undefined {
  const params: ParamMap = new Map();
  for (const p of parts) {
    const eq = p.indexOf('=');
    const rawName = eq < 0 ? p : p.slice(0, eq);
    const rawValue = eq < 0 ? null : p.slice(eq + 1);
    if (!PARAM_RE.test(rawName) || (rawValue !== null && !PARAM_RE.test(rawValue))) return undefined;
    const name = unescapeUriPart(rawName);
    const value = rawValue === null ? null : unescapeUriPart(rawValue);
    if (name === undefined || value === undefined) return undefined;
    params.set(name.toLowerCase(), value);
  }
  return params;
}

function parseSipUri(scheme: 'sip' | 'sips', rest: string): SipUri | undefined {
  // '@' is legal in none of hostport, params or headers, so the first one ends userinfo.
  const at = rest.indexOf('@');
  if (at >= 0 && rest.indexOf('@', at + 1) >= 0) return undefined;
  let user: string | undefined;
  let password: string | undefined;
  let hostPart = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostPart = rest.slice(at + 1);
    const colon = userinfo.indexOf(':');
    const rawUser = colon < 0 ? userinfo : userinfo.slice(0, colon);
    if (!USER_RE.test(rawUser)) return undefined;
    user = unescapeUriPart(rawUser);
    if (colon >= 0) {
      const rawPw = userinfo.slice(colon + 1);
      if (!PASSWORD_RE.test(rawPw)) return undefined;
      password = unescapeUriPart(rawPw);
      if (password === undefined) return undefined;
    }
    if (user === undefined) return undefined;
  }
  const q = hostPart.indexOf('?');
  const beforeHeaders = q < 0 ? hostPart : hostPart.slice(0, q);
  const headersPart = q < 0 ? undefined : hostPart.slice(q + 1);
  const [hostport = '', ...paramParts] = beforeHeaders.split(';');
  const hp = parseHost(hostport);
  if (!hp) return undefined;
  const params = parseUriParams(paramParts);
  if (!params) return undefined;
  const headers = new Map<string, string>();
  if (headersPart !== undefined) {
    for (const h of headersPart.split('&')) {
      const eq = h.indexOf('=');
      if (eq <= 0) return undefined;
      const rn = h.slice(0, eq);
      const rv = h.slice(eq + 1);
      if (!HNV_RE.test(rn) || !HNV_RE.test(rv)) return undefined;
      const n = unescapeUriPart(rn);
      const v = unescapeUriPart(rv);
      if (n === undefined || v === undefined) return undefined;
      headers.set(n, v);
    }
  }
  const uri: SipUri = { kind: 'sip', scheme, host: hp.host, params, headers };
  if (user !== undefined) uri.user = user;
  if (password !== undefined) uri.password = password;
  if (hp.port !== undefined) uri.port = hp.port;
  return uri;
}

function parseTelUri(rest: string): TelUri | undefined {
  const [num = '', ...paramParts] = rest.split(';');
  if (!TEL_RE.test(num)) return undefined;
  const params = parseUriParams(paramParts);
  if (!params) return undefined;
  return { kind: 'tel', scheme: 'tel', number: num, params };
}

/** Strict parse of a URI with no surrounding whitespace or brackets; undefined when malformed. */
export function parseUri(input: string): Uri | undefined {
  const colon = input.indexOf(':');
  if (colon <= 0) return undefined;
  const scheme = input.slice(0, colon).toLowerCase();
  const rest = input.slice(colon + 1);
  if (!SCHEME_RE.test(scheme) || rest === '') return undefined;
  if (scheme === 'sip' || scheme === 'sips') return parseSipUri(scheme, rest);
  if (scheme === 'tel') return parseTelUri(rest);
  // Opaque absoluteURI: reject only characters that can never appear unescaped in a URI.
  if (/[\s<>"\\^`{|}\x00-\x1f\x7f]/.test(rest)) return undefined;
  return { kind: 'other', scheme, raw: input };
}

function formatParams(params: ParamMap): string {
  let out = '';
  for (const [k, v] of params) {
    out += `;${escapeWith(k, PARAM_CHAR)}`;
    if (v !== null) out += `=${escapeWith(v, PARAM_CHAR)}`;
  }
  return out;
}

export function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export function formatUri(uri: Uri): string {
  switch (uri.kind) {
    case 'other':
      return uri.raw;
    case 'tel':
      return `tel:${uri.number}${formatParams(uri.params)}`;
    case 'sip': {
      let out = `${uri.scheme}:`;
      if (uri.user !== undefined) {
        out += escapeWith(uri.user, USER_CHAR);
        if (uri.password !== undefined) out += `:${escapeWith(uri.password, PASSWORD_CHAR)}`;
        out += '@';
      }
      out += formatHost(uri.host);
      if (uri.port !== undefined) out += `:${uri.port}`;
      out += formatParams(uri.params);
      if (uri.headers.size > 0) {
        out += `?${[...uri.headers]
          .map(([k, v]) => `${escapeWith(k, HNV_CHAR)}=${escapeWith(v, HNV_CHAR)}`)
          .join('&')}`;
      }
      return out;
    }
  }
}

export function sipUri(init: {
  scheme?: 'sip' | 'sips';
  user?: string;
  host: string;
  port?: number;
  params?: Record<string, string | null>;
}): SipUri {
  const uri: SipUri = {
    kind: 'sip',
    scheme: init.scheme ?? 'sip',
    host: init.host.toLowerCase(),
    params: new Map(Object.entries(init.params ?? {}).map(([k, v]) => [k.toLowerCase(), v])),
    headers: new Map(),
  };
  if (init.user !== undefined) uri.user = init.user;
  if (init.port !== undefined) uri.port = init.port;
  return uri;
}

/** Parameters that, per RFC 3261 §19.1.4, must match when present in either URI. */
const SIGNIFICANT_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'] as const;

function sameParam(a: string | null | undefined, b: string | null | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a === null || b === null) return a === b;
  return a.toLowerCase() === b.toLowerCase();
}

/** URI equivalence per RFC 3261 §19.1.4 (sip/sips); other schemes compare case-insensitively on the scheme only. */
export function uriEquals(a: Uri, b: Uri): boolean {
  if (a.kind === 'sip' && b.kind === 'sip') {
    if (a.scheme !== b.scheme) return false;
    if (a.user !== b.user || a.password !== b.password) return false;
    if (a.host !== b.host || a.port !== b.port) return false;
    for (const p of SIGNIFICANT_PARAMS) {
      if (!sameParam(a.params.get(p), b.params.get(p))) return false;
    }
    for (const [k, v] of a.params) {
      if (b.params.has(k) && !sameParam(v, b.params.get(k))) return false;
    }
    if (a.headers.size !== b.headers.size) return false;
    for (const [k, v] of a.headers) {
      let match = false;
      for (const [bk, bv] of b.headers) {
        if (bk.toLowerCase() === k.toLowerCase() && bv === v) match = true;
      }
      if (!match) return false;
    }
    return true;
  }
  if (a.kind === 'tel' && b.kind === 'tel') {
    return a.number.replace(/[-.()]/g, '') === b.number.replace(/[-.()]/g, '') && formatParams(a.params) === formatParams(b.params);
  }
  if (a.kind === 'other' && b.kind === 'other') {
    return a.scheme === b.scheme && a.raw.slice(a.scheme.length) === b.raw.slice(b.scheme.length);
  }
  return false;
}
