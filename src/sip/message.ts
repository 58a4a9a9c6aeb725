import { randomUUID } from 'node:crypto';
import { randomHex } from '../random.js';
import {
  BRANCH_MAGIC_COOKIE,
  HeaderList,
  canonicalHeaderNameOfKey,
  formatCSeq,
  formatNameAddr,
  formatVia,
  headerKey,
  isListHeaderKey,
  parseCSeq,
  parseCallId,
  parseContact,
  parseContentLength,
  parseContentType,
  parseDate,
  parseDeltaSeconds,
  parseMaxForwards,
  parseNameAddr,
  parseRetryAfter,
  parseVia,
  splitTopLevel,
  TOKEN_RE,
  trimLws,
  type NameAddr,
  type Via,
} from './headers.js';
import { formatUri, parseUri, type SipUri, type Uri } from './uri.js';

export interface SipRequest {
  kind: 'request';
  method: string;
  uri: Uri;
  version: 'SIP/2.0';
  headers: HeaderList;
  body: Buffer;
}

export interface SipResponse {
  kind: 'response';
  status: number;
  reason: string;
  version: 'SIP/2.0';
  headers: HeaderList;
  body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

/** Raw values of the headers an error response has to echo, kept when they could be read. */
export interface PartialHeaders {
  method?: string;
  via: string[];
  from?: string;
  to?: string;
  callId?: string;
  cseq?: string;
}

/** 416 is only produced for a well-formed request whose Request-URI scheme we cannot handle. */
export type ParseErrorStatus = 400 | 413 | 416 | 505;

export interface ParseFailure {
  ok: false;
  /** A failed response cannot be answered; the caller just drops it. */
  isResponse: boolean;
  status: ParseErrorStatus;
  reason: string;
  partial?: PartialHeaders;
}

export type ParseResult = { ok: true; message: SipMessage } | ParseFailure;

export interface ParseOptions {
  /** Largest datagram accepted, in bytes (default 65535, the UDP ceiling). */
  maxSize?: number;
}

const DEFAULT_MAX_SIZE = 65535;

/** Headers that must appear at most once (RFC 3261 §7.3, RFC 4475 multi01/mcl01). */
const SINGLETONS = ['To', 'From', 'CSeq', 'Call-ID', 'Max-Forwards', 'Content-Length', 'Content-Type', 'Expires'];
const REQUIRED_IN_REQUEST = ['To', 'From', 'CSeq', 'Call-ID', 'Max-Forwards', 'Via'];
const REQUIRED_IN_RESPONSE = ['To', 'From', 'CSeq', 'Call-ID', 'Via'];
/** Headers counted while the lines are read, for the two checks above. */
const COUNTED = new Set([...SINGLETONS, 'Via']);
/** List headers whose elements are name-addrs: an empty element is a syntax error, not noise. */
const STRICT_LISTS = new Set(['via', 'contact', 'route', 'record-route', 'path', 'service-route']);

/** Why a header value is invalid (the 400 reason), or undefined when it is fine. */
function validateHeader(name: string, value: string, headers: HeaderList): string | undefined {
  switch (name) {
    case 'Via':
      return headers.parseValue(value, parseVia) ? undefined : `Bad ${name} header`;
    case 'From':
    case 'To':
    case 'Route':
    case 'Record-Route':
    case 'Path':
    case 'Service-Route':
      return headers.parseValue(value, parseNameAddr) ? undefined : `Bad ${name} header`;
    case 'Contact': {
      const c = headers.parseValue(value, parseContact);
      if (!c) return `Bad ${name} header`;
      const exp = c.params.get('expires');
      if (exp !== undefined && (exp === null || parseDeltaSeconds(exp) === undefined)) return `Bad ${name} header`;
      return undefined;
    }
    case 'CSeq':
      return headers.parseValue(value, parseCSeq) ? undefined : `Bad ${name} header`;
    case 'Call-ID':
      return parseCallId(value) ? undefined : `Bad ${name} header`;
    case 'Max-Forwards':
      return parseMaxForwards(value) === undefined ? `Bad ${name} header` : undefined;
    case 'Content-Length':
      return parseContentLength(value) === undefined ? `Bad ${name} header` : undefined;
    case 'Expires':
    case 'Min-Expires':
      return parseDeltaSeconds(value) === undefined ? `Bad ${name} header` : undefined;
    case 'Retry-After':
      return parseRetryAfter(value) === undefined ? `Bad ${name} header` : undefined;
    case 'Date':
      return parseDate(value) ? undefined : `Bad ${name} header`;
    case 'Content-Type':
      return parseContentType(value) ? undefined : `Bad ${name} header`;
    default:
      return undefined;
  }
}

/**
 * The empty line ending the headers (CRLF CRLF, or bare LFs as some peers send), found on the
 * bytes: no string is made of the whole datagram, body included, just to look for it.
 */
function findHeaderEnd(buf: Buffer, from: number): { headEnd: number; bodyStart: number } | undefined {
  for (let i = buf.indexOf(0x0a, from); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
    let next = i + 1;
    if (buf[next] === 0x0d) next++;
    if (buf[next] === 0x0a) return { headEnd: i > from && buf[i - 1] === 0x0d ? i - 1 : i, bodyStart: next + 1 };
  }
  return undefined;
}

/** "SIP/" at `at`, in any case: a status line. */
/** `lower` (lower-case letters and '-') at `at`, letters in any case: each byte is OR-ed with 0x20. */
function matchesLower(buf: Uint8Array, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((buf[at + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

function startsWithSip(buf: Buffer, at: number): boolean {
  return matchesLower(buf, at, 'sip') && buf[at + 3] === 0x2f;
}

function failure(isResponse: boolean, status: ParseErrorStatus, reason: string, partial: PartialHeaders | undefined): ParseFailure {
  const f: ParseFailure = { ok: false, isResponse, status, reason };
  if (partial) f.partial = partial;
  return f;
}

function parseInner(buf: Buffer, maxSize: number, partial: PartialHeaders): SipMessage | ParseFailure {
  // RFC 3261 §7.5: CRLFs before the start-line are keep-alive noise, not an error.
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  const isResponse = startsWithSip(buf, start);
  const fail = (status: ParseErrorStatus, reason: string, withPartial = true): ParseFailure =>
    failure(isResponse, status, reason, withPartial ? partial : undefined);
  if (buf.length > maxSize) return fail(413, 'Message Too Large', false);

  // Offsets are found on the bytes; only the header section is decoded.
  const bounds = findHeaderEnd(buf, start);
  if (!bounds) return fail(400, 'Missing empty line after headers', false);
  const head = buf.toString('utf8', start, bounds.headEnd);
  let lineEnd = head.indexOf('\n');
  if (lineEnd < 0) lineEnd = head.length;
  const startLine = head.charCodeAt(lineEnd - 1) === 13 ? head.slice(0, lineEnd - 1) : head.slice(0, lineEnd);
  const lines: string[] = [];
  for (let from = lineEnd + 1; from < head.length; ) {
    let end = head.indexOf('\n', from);
    if (end < 0) end = head.length;
    const l = head.charCodeAt(end - 1) === 13 && end - 1 >= from ? head.slice(from, end - 1) : head.slice(from, end);
    from = end + 1;
    const c0 = l.charCodeAt(0);
    if (c0 === 32 || c0 === 9) {
      // Folded continuation: the CRLF plus leading whitespace is equivalent to one SP (§7.3.1).
      if (lines.length === 0) return fail(400, 'Continuation line before any header', false);
      lines[lines.length - 1] = `${(lines[lines.length - 1] ?? '').trimEnd()} ${l.trimStart()}`;
    } else {
      lines.push(l);
    }
  }

  let method: string | undefined;
  let uri: Uri | undefined;
  let status = 0;
  let reason = '';
  let versionError = false;
  if (isResponse) {
    const m = /^SIP\/(\d+\.\d+) (\d{3}) ([^\x00-\x08\x0a-\x1f\x7f]*)$/i.exec(startLine);
    if (!m) return fail(400, 'Malformed Status-Line', false);
    if (m[1] !== '2.0') return fail(505, 'Version Not Supported', false);
    status = Number(m[2]);
    if (status < 100 || status > 699) return fail(400, 'Status code out of range', false);
    reason = m[3] ?? '';
  } else {
    // Exactly one SP between elements (RFC 4475 lwsstart, trws, lwsruri).
    const parts = startLine.split(' ');
    if (parts.length !== 3 || parts.some((p) => p === '')) return fail(400, 'Malformed Request-Line', false);
    const [m = '', rawUri = '', version = ''] = parts;
    if (!TOKEN_RE.test(m)) return fail(400, 'Malformed method', false);
    method = m;
    partial.method = m;
    if (!/^SIP\/\d+\.\d+$/i.test(version)) return fail(400, 'Malformed SIP-Version');
    versionError = version.slice(4) !== '2.0';
    if (rawUri.startsWith('<')) return fail(400, 'Request-URI must not be enclosed in <>');
    uri = parseUri(rawUri);
    if (!uri) return fail(400, 'Malformed Request-URI');
  }

  const headers = new HeaderList();
  const counts = new Map<string, number>();
  for (const line of lines) {
    // name [SP/HTAB] ":" [SP/HTAB] value — the name ends at the first colon.
    const colon = line.indexOf(':');
    if (colon < 0) return fail(400, 'Malformed header line');
    let nameEnd = colon;
    while (nameEnd > 0 && (line.charCodeAt(nameEnd - 1) === 32 || line.charCodeAt(nameEnd - 1) === 9)) nameEnd--;
    const rawName = line.slice(0, nameEnd);
    if (!TOKEN_RE.test(rawName)) return fail(400, 'Malformed header name');
    const key = headerKey(rawName);
    const name = canonicalHeaderNameOfKey(key, rawName);
    const value = trimLws(line.slice(colon + 1));
    if (isListHeaderKey(key)) {
      for (const v of splitTopLevel(value)) {
        if (v === '') {
          if (STRICT_LISTS.has(key)) return fail(400, `Empty ${name} element`);
          continue;
        }
        headers.appendKeyed(name, key, v);
        if (name === 'Via') {
          partial.via.push(v);
          counts.set(name, (counts.get(name) ?? 0) + 1);
        }
      }
      continue;
    }
    headers.appendKeyed(name, key, value);
    if (COUNTED.has(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
    if (name === 'From') partial.from = value;
    else if (name === 'To') partial.to = value;
    else if (name === 'Call-ID') partial.callId = value;
    else if (name === 'CSeq') partial.cseq = value;
  }

  for (const e of headers) {
    const bad = validateHeader(e.name, e.value, headers);
    if (bad !== undefined) return fail(400, bad);
  }
  for (const n of SINGLETONS) {
    if ((counts.get(n) ?? 0) > 1) return fail(400, `Multiple ${n} headers`);
  }
  for (const n of isResponse ? REQUIRED_IN_RESPONSE : REQUIRED_IN_REQUEST) {
    if (!counts.has(n)) return fail(400, `Missing ${n} header`);
  }
  const cseq = headers.parsedFirst('CSeq', parseCSeq);
  if (!cseq) return fail(400, 'Bad CSeq header');
  if (method !== undefined && cseq.method !== method) return fail(400, 'CSeq method does not match Request-Line');

  let body: Buffer;
  const cl = headers.get('Content-Length');
  const available = buf.length - bounds.bodyStart;
  if (cl !== undefined) {
    const n = parseContentLength(cl) ?? 0;
    if (n > available) return fail(400, 'Content-Length larger than message');
    // Datagram framing: whatever follows the declared body is discarded (RFC 3261 §18.3).
    body = Buffer.from(buf.subarray(bounds.bodyStart, bounds.bodyStart + n));
  } else {
    body = Buffer.from(buf.subarray(bounds.bodyStart));
  }

  if (isResponse) {
    return { kind: 'response', status, reason, version: 'SIP/2.0', headers, body };
  }
  // Checked last so that a request broken in other ways gets the more useful 400.
  if (versionError) return fail(505, 'Version Not Supported');
  if (!uri || method === undefined) return fail(400, 'Malformed Request-Line');
  if (uri.kind === 'other') return fail(416, 'Unsupported URI Scheme');
  if (uri.kind === 'sip' && uri.headers.size > 0) return fail(400, 'Request-URI must not carry headers');
  return { kind: 'request', method, uri, version: 'SIP/2.0', headers, body };
}

/** Parses one datagram. Never throws: malformed input yields `{ ok: false }`. */
export function parseMessage(input: Buffer | string, opts?: ParseOptions): ParseResult {
  const buf = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  const partial: PartialHeaders = { via: [] };
  try {
    const r = parseInner(buf, opts?.maxSize ?? DEFAULT_MAX_SIZE, partial);
    return 'ok' in r ? r : { ok: true, message: r };
  } catch {
    // Defensive: a parser bug must not take the transport down with it.
    return { ok: false, isResponse: buf.subarray(0, 4).toString('latin1') === 'SIP/', status: 400, reason: 'Unparseable message' };
  }
}

/**
 * Canonical wire form; Content-Length always reflects the body actually sent. Written into one
 * buffer: `owned` gives it its own memory (allocUnsafeSlow) for bytes kept long, since a slice of
 * node's shared 8 KB pool would pin the whole slab.
 */
/**
 * FNV-1a hash of a datagram's Call-ID value, read off the bytes without parsing the message: the
 * SIP router (src/sip/workers.ts) shards calls over worker threads by it, so every request and
 * response of one call reaches the thread holding that call. Header names match case-insensitively
 * and in compact form (`i`), with optional whitespace before the colon (RFC 3261 §7.3.1); only the
 * first line of a folded value counts, which is enough since retransmissions repeat the bytes.
 * 0 when no Call-ID is readable: such a datagram belongs to no call, and whoever gets it rejects it.
 */
export function callIdHash(buf: Uint8Array): number {
  const n = buf.length;
  let i = buf.indexOf(10);
  while (i >= 0 && ++i < n) {
    if (buf[i] === 13 || buf[i] === 10) return 0; // the empty line: the headers ended
    const c = buf[i]! | 0x20;
    let j = -1;
    if (c === 0x69) j = i + 1; // i
    else if (c === 0x63 && i + 7 <= n && matchesLower(buf, i + 1, 'all-id')) j = i + 7;
    if (j > 0) {
      while (j < n && (buf[j] === 32 || buf[j] === 9)) j++;
      if (buf[j] === 58) {
        j++;
        while (j < n && (buf[j] === 32 || buf[j] === 9)) j++;
        let end = j;
        while (end < n && buf[end] !== 13 && buf[end] !== 10) end++;
        while (end > j && (buf[end - 1] === 32 || buf[end - 1] === 9)) end--;
        if (end === j) return 0;
        let h = 0x811c9dc5;
        for (let k = j; k < end; k++) h = Math.imul(h ^ buf[k]!, 0x01000193);
        return h >>> 0 || 1;
      }
    }
    i = buf.indexOf(10, i);
  }
  return 0;
}


export function serialize(msg: SipMessage, opts?: { owned?: boolean }): Buffer {
  const startLine =
    msg.kind === 'request'
      ? `${msg.method} ${formatUri(msg.uri)} SIP/2.0`
      : `SIP/2.0 ${msg.status} ${msg.reason}`;
  const lines = [startLine];
  let wroteLength = false;
  for (const h of msg.headers) {
    if (h.name === 'Content-Length') {
      if (wroteLength) continue;
      lines.push(`Content-Length: ${msg.body.length}`);
      wroteLength = true;
    } else {
      lines.push(`${h.name}: ${h.value}`);
    }
  }
  if (!wroteLength) lines.push(`Content-Length: ${msg.body.length}`);
  const head = `${lines.join('\r\n')}\r\n\r\n`;
  const headLength = Buffer.byteLength(head, 'utf8');
  const size = headLength + msg.body.length;
  const out = opts?.owned ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size);
  out.write(head, 0, 'utf8');
  msg.body.copy(out, headLength);
  return out;
}

// ---------------------------------------------------------------------------
// Identifiers
// ---------------------------------------------------------------------------

export function generateTag(): string {
  return randomHex(8);
}

export function generateBranch(): string {
  return `${BRANCH_MAGIC_COOKIE}${randomHex(12)}`;
}

export function generateCallId(host?: string): string {
  return host ? `${randomUUID()}@${host}` : randomUUID();
}

// ---------------------------------------------------------------------------
// Building messages
// ---------------------------------------------------------------------------

export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  200: 'OK', 202: 'Accepted', 300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily',
  400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed',
  407: 'Proxy Authentication Required', 408: 'Request Timeout', 413: 'Request Entity Too Large',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 420: 'Bad Extension', 421: 'Extension Required',
  423: 'Interval Too Brief', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected', 483: 'Too Many Hops', 484: 'Address Incomplete', 486: 'Busy Here',
  487: 'Request Terminated', 488: 'Not Acceptable Here', 491: 'Request Pending', 500: 'Server Internal Error',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Server Time-out',
  505: 'Version Not Supported', 513: 'Message Too Large', 600: 'Busy Everywhere', 603: 'Decline',
  604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
};

export interface ResponseOptions {
  toTag?: string;
  headers?: Iterable<readonly [string, string]>;
  body?: Buffer | string;
  contentType?: string;
}

// A UAS's 180 and 200 carry the same To with the same tag, usually one right after the other.
let lastTagged: { value: string; tag: string; out: string } | undefined;

function withTag(value: string, tag: string): string {
  if (lastTagged && lastTagged.value === value && lastTagged.tag === tag) return lastTagged.out;
  const na = parseNameAddr(value);
  const out = !na || na.tag !== undefined ? value : formatNameAddr({ ...na, tag });
  lastTagged = { value, tag, out };
  return out;
}

function buildResponse(
  echo: { via: readonly string[]; from: string; to: string; callId: string; cseq: string },
  status: number,
  reason: string | undefined,
  opts: ResponseOptions,
): SipResponse {
  const headers = new HeaderList();
  for (const v of echo.via) headers.append('Via', v);
  headers.append('From', echo.from);
  headers.append('To', opts.toTag === undefined ? echo.to : withTag(echo.to, opts.toTag));
  headers.append('Call-ID', echo.callId);
  headers.append('CSeq', echo.cseq);
  for (const [n, v] of opts.headers ?? []) headers.append(n, v);
  const body = opts.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(opts.body, 'utf8');
  if (opts.contentType !== undefined) headers.set('Content-Type', opts.contentType);
  return {
    kind: 'response',
    status,
    reason: reason ?? REASON_PHRASES[status] ?? 'Unknown',
    version: 'SIP/2.0',
    headers,
    body,
  };
}

/** RFC 3261 §8.2.6: a response echoes Via, From, To (plus our tag), Call-ID and CSeq of its request. */
export function createResponse(req: SipRequest, status: number, reason?: string, opts: ResponseOptions = {}): SipResponse {
  const res = buildResponse(
    {
      via: req.headers.getAll('Via'),
      from: req.headers.get('From') ?? '',
      to: req.headers.get('To') ?? '',
      callId: req.headers.get('Call-ID') ?? '',
      cseq: req.headers.get('CSeq') ?? '',
    },
    status,
    reason,
    opts,
  );
  // The response's top Via is the request's text: hand its parse over for responseDestination().
  const top = req.headers.get('Via');
  if (top !== undefined) res.headers.remember(parseVia, top, req.headers.parseValue(top, parseVia));
  const ts = req.headers.get('Timestamp');
  if (status === 100 && ts !== undefined) res.headers.append('Timestamp', ts);
  // §12.1.1: dialog-establishing responses carry the Record-Route set back unchanged.
  if (status > 100 && status < 300) {
    for (const rr of req.headers.getAll('Record-Route')) res.headers.append('Record-Route', rr);
  }
  return res;
}

/** Builds the stateless error reply for a request the parser rejected, if enough of it was readable. */
export function createErrorResponse(failure: ParseFailure, opts: ResponseOptions = {}): SipResponse | undefined {
  const p = failure.partial;
  if (failure.isResponse || !p || p.via.length === 0 || !p.from || !p.to || !p.callId || !p.cseq) return undefined;
  return buildResponse({ via: p.via, from: p.from, to: p.to, callId: p.callId, cseq: p.cseq }, failure.status, failure.reason, opts);
}

export interface RequestInit {
  method: string;
  uri: Uri;
  from: NameAddr;
  to: NameAddr;
  callId?: string;
  cseq: number;
  via: { transport: string; host: string; port?: number; branch?: string; rport?: boolean };
  maxForwards?: number;
  contact?: NameAddr;
  headers?: Iterable<readonly [string, string]>;
  body?: Buffer | string;
  contentType?: string;
}

export function createRequest(init: RequestInit): SipRequest {
  const headers = new HeaderList();
  const via: Via = {
    protocol: 'SIP',
    version: '2.0',
    transport: init.via.transport.toUpperCase(),
    host: init.via.host,
    branch: init.via.branch ?? generateBranch(),
    params: new Map(),
  };
  if (init.via.port !== undefined) via.port = init.via.port;
  if (init.via.rport) via.rport = true;
  headers.append('Via', formatVia(via));
  headers.append('Max-Forwards', String(init.maxForwards ?? 70));
  headers.append('From', formatNameAddr(init.from));
  headers.append('To', formatNameAddr(init.to));
  headers.append('Call-ID', init.callId ?? generateCallId());
  headers.append('CSeq', formatCSeq({ seq: init.cseq, method: init.method }));
  if (init.contact) headers.append('Contact', formatNameAddr(init.contact));
  for (const [n, v] of init.headers ?? []) headers.append(n, v);
  if (init.contentType !== undefined) headers.set('Content-Type', init.contentType);
  const body = init.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(init.body) ? init.body : Buffer.from(init.body, 'utf8');
  return { kind: 'request', method: init.method, uri: init.uri, version: 'SIP/2.0', headers, body };
}

// ---------------------------------------------------------------------------
// Transport-facing Via handling
// ---------------------------------------------------------------------------

function bareAddress(s: string): string {
  return (s.startsWith('[') && s.endsWith(']') ? s.slice(1, -1) : s).toLowerCase();
}

function sameAddress(a: string, b: string): boolean {
  return bareAddress(a) === bareAddress(b);
}

/**
 * RFC 3261 §18.2.1 + RFC 3581 §4: stamps the top Via with where the request really came from.
 * Returns the updated Via, or undefined when the request has no usable Via.
 */
export function applyReceivedRport(req: SipRequest, sourceAddress: string, sourcePort: number): Via | undefined {
  const top = req.headers.get('Via');
  // A fresh parse, not the shared one validation kept: this Via is about to change.
  const via = top === undefined ? undefined : parseVia(top);
  if (!via) return undefined;
  const address = sourceAddress.startsWith('[') ? sourceAddress.slice(1, -1) : sourceAddress;
  if (via.rport === true) {
    // RFC 3581 requires received whenever rport is filled, even if the host already matches.
    via.rport = sourcePort;
    via.received = address;
  } else if (!sameAddress(via.host, address)) {
    via.received = address;
  }
  const stamped = formatVia(via);
  req.headers.replaceAt('Via', 0, stamped);
  // Remembered as the parse of the new text, so its raw params must say what the text says.
  if (via.received !== undefined) via.params.set('received', via.received);
  if (typeof via.rport === 'number') via.params.set('rport', String(via.rport));
  req.headers.remember(parseVia, stamped, via);
  return via;
}

export interface Destination {
  host: string;
  port: number;
  transport: string;
}

function defaultPort(transport: string): number {
  return transport === 'TLS' || transport === 'WSS' ? 5061 : 5060;
}

/** RFC 3261 §18.2.2 + RFC 3581: where an unreliable-transport response goes, from its top Via. */
export function responseDestination(res: SipResponse): Destination | undefined {
  const via = res.headers.parsedFirst('Via', parseVia);
  if (!via) return undefined;
  const fallbackPort = via.port ?? defaultPort(via.transport);
  if (via.maddr) return { host: via.maddr, port: fallbackPort, transport: via.transport };
  const port = typeof via.rport === 'number' ? via.rport : fallbackPort;
  return { host: via.received ?? via.host, port, transport: via.transport };
}

export function isRequest(m: SipMessage): m is SipRequest {
  return m.kind === 'request';
}

export type { SipUri };
