// Parsing one SIP datagram (RFC 3261 §7, §18.3). Bounded and linear, because the bytes come from
// anyone: the header section is decoded once, folded lines are joined once per header field, and
// the caps below stop a datagram from buying more work than a legitimate one needs.
//
// Header bytes stay bytes: a header section that is not valid UTF-8 is decoded as latin1 (one
// character per byte) and the message's HeaderList says so, so serialize() writes echoed values
// back byte for byte instead of turning each invalid byte into a 3-byte U+FFFD. Valid UTF-8 (the
// RFC's TEXT-UTF8) is decoded as such, and re-encodes to the same bytes.
import { isAscii, isUtf8 } from 'node:buffer';
import {
  HeaderList,
  canonicalHeaderNameOfKey,
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
} from './headers.js';
import { parseUri, type Uri } from './uri.js';
import type { SipMessage } from './message.js';

/** Raw values of the headers an error response has to echo, kept when they could be read. */
export interface PartialHeaders {
  method?: string;
  via: string[];
  from?: string;
  to?: string;
  callId?: string;
  cseq?: string;
  /** The values are latin1 byte strings (the header section was not UTF-8). */
  latin1?: true;
}

/**
 * 400 syntax; 416 a well-formed request whose Request-URI scheme we cannot handle; 505 another SIP
 * version; 513 (RFC 3261 §21.5.13 Message Too Large) a message beyond a size or count cap.
 */
export type ParseErrorStatus = 400 | 416 | 505 | 513;

export interface ParseFailure {
  ok: false;
  /** A failed response cannot be answered; the caller just drops it. */
  isResponse: boolean;
  status: ParseErrorStatus;
  reason: string;
  partial?: PartialHeaders;
}

export type ParseResult = { ok: true; message: SipMessage } | ParseFailure;

/**
 * Caps on what one datagram may make the parser do. A cap exceeded is answered 513 Message Too
 * Large with the cap in the reason: the message may be well-formed (so not 400), and 413 is about a
 * request's body (§21.4.11), not its headers.
 */
export interface SipParseLimits {
  /** Header values after list splitting (`Route: <a>, <b>` is two). Default 256. */
  maxHeaderFields: number;
  /** Via values. Default 70: the default Max-Forwards, so no request that got here needs more. */
  maxVias: number;
  /** One header field, folded lines joined, in characters. Default 8192. */
  maxHeaderBytes: number;
  /** The start line and header section, in bytes. Default 32768 (RFC 4475 longreq has 19 KB). */
  maxHeadBytes: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<SipParseLimits> = Object.freeze({
  maxHeaderFields: 256,
  maxVias: 70,
  maxHeaderBytes: 8192,
  maxHeadBytes: 32768,
});

/** Checks and completes partial limits (throws RangeError on a value that is not a positive integer). */
export function resolveParseLimits(limits: Partial<SipParseLimits> = {}): SipParseLimits {
  const out = { ...DEFAULT_PARSE_LIMITS, ...limits };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`SIP parse limit ${k} must be a positive integer, got ${String(v)}`);
  }
  return out;
}

export interface ParseOptions {
  /** Largest datagram accepted, in bytes (default 65535, the UDP ceiling). */
  maxSize?: number;
  /** Caps (default DEFAULT_PARSE_LIMITS); resolveParseLimits() completes a partial set. */
  limits?: SipParseLimits;
}

const DEFAULT_MAX_SIZE = 65535;

/** Headers that must appear at most once (RFC 3261 §7.3, RFC 4475 multi01/mcl01). */
const SINGLETONS = ['To', 'From', 'CSeq', 'Call-ID', 'Max-Forwards', 'Content-Length', 'Content-Type', 'Expires'];
// Max-Forwards is not required: an RFC 2543 request has none and is processed as if it said 70
// (RFC 3261 §8.2, RFC 4475 §3.3.14); the UA core reads a missing one as 70.
const REQUIRED_IN_REQUEST = ['To', 'From', 'CSeq', 'Call-ID', 'Via'];
const REQUIRED_IN_RESPONSE = ['To', 'From', 'CSeq', 'Call-ID', 'Via'];
/** Headers counted while the lines are read, for the two checks above. */
const COUNTED = new Set([...SINGLETONS, 'Via']);
/** List headers whose elements are name-addrs: an empty element is a syntax error, not noise. */
const STRICT_LISTS = new Set(['via', 'contact', 'route', 'record-route', 'path', 'service-route']);

/**
 * A NUL, or a CR not starting a CRLF, anywhere in the head: a few native scans decide whether the
 * per-field check below is needed at all (LFs end lines, so none is left inside one).
 */
function hasNulOrBareCr(head: string): boolean {
  for (let i = head.indexOf('\r'); i >= 0; i = head.indexOf('\r', i + 1)) if (head.charCodeAt(i + 1) !== 10) return true;
  return head.indexOf('\0') >= 0;
}
/**
 * What no header line may hold: CR and LF would end the line for whoever reads it next (header
 * injection in anything that echoes it), NUL truncates it in C. Refused even as an RFC 3261
 * quoted-pair (RFC 4475 intmeth has `\<NUL>` in a display name): a deliberate deviation, since no
 * legitimate peer needs one. Other controls in quoted-pairs (BEL, DEL) are still accepted.
 */
const LINE_CTL_RE = /[\x00\n\r]/;

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

/** `lower` (lower-case letters and '-') at `at`, letters in any case: each byte is OR-ed with 0x20. */
function matchesLower(buf: Uint8Array, at: number, lower: string): boolean {
  for (let k = 0; k < lower.length; k++) if ((buf[at + k]! | 0x20) !== lower.charCodeAt(k)) return false;
  return true;
}

/** "SIP/" at `at`, in any case: a status line. */
function startsWithSip(buf: Buffer, at: number): boolean {
  return matchesLower(buf, at, 'sip') && buf[at + 3] === 0x2f;
}

function failure(isResponse: boolean, status: ParseErrorStatus, reason: string, partial: PartialHeaders | undefined): ParseFailure {
  const f: ParseFailure = { ok: false, isResponse, status, reason };
  if (partial) f.partial = partial;
  return f;
}

/** A header field and its continuation lines as one line: CRLF plus leading whitespace is one SP (§7.3.1). */
function unfold(first: string, folds: string[]): string {
  const parts = [trimLws(first)];
  for (const f of folds) {
    const t = trimLws(f);
    if (t !== '') parts.push(t);
  }
  return parts.join(' ');
}

function parseInner(buf: Buffer, maxSize: number, lim: SipParseLimits, partial: PartialHeaders): SipMessage | ParseFailure {
  // RFC 3261 §7.5: CRLFs before the start-line are keep-alive noise, not an error.
  let start = 0;
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a)) start++;
  const isResponse = startsWithSip(buf, start);
  const fail = (status: ParseErrorStatus, reason: string, withPartial = true): ParseFailure =>
    failure(isResponse, status, reason, withPartial ? partial : undefined);
  if (buf.length > maxSize) return fail(513, 'Message Too Large', false);

  // Offsets are found on the bytes; only the header section is decoded.
  const bounds = findHeaderEnd(buf, start);
  if (!bounds) return fail(400, 'Missing empty line after headers', false);
  // Past the cap only the fields before it are read (for the echo of the 513), never the rest.
  let headEnd = bounds.headEnd;
  const oversize = headEnd - start > lim.maxHeadBytes;
  if (oversize) {
    const lf = buf.lastIndexOf(0x0a, start + lim.maxHeadBytes);
    if (lf <= start) return fail(513, 'Header section too large', false);
    headEnd = buf[lf - 1] === 0x0d ? lf - 1 : lf;
  }
  const headBytes = buf.subarray(start, headEnd);
  const latin1 = !isAscii(headBytes) && !isUtf8(headBytes);
  if (latin1) partial.latin1 = true;
  const head = headBytes.toString(latin1 ? 'latin1' : 'utf8');
  const dirty = hasNulOrBareCr(head);

  let lineEnd = head.indexOf('\n');
  if (lineEnd < 0) lineEnd = head.length;
  const startLine = head.charCodeAt(lineEnd - 1) === 13 ? head.slice(0, lineEnd - 1) : head.slice(0, lineEnd);
  if (dirty && LINE_CTL_RE.test(startLine)) return fail(400, 'NUL or bare CR in start line', false);

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
  if (latin1) headers.encoding = 'latin1';
  const counts = new Map<string, number>();
  let fields = 0;
  let vias = 0;

  // Continuation lines are collected and joined once the field ends, so a header folded into
  // thousands of lines costs what the same bytes on one line cost.
  let field: string | undefined;
  let folds: string[] | undefined;
  let fieldChars = 0;
  for (let from = lineEnd + 1; ; ) {
    let line: string | undefined;
    if (from < head.length) {
      let end = head.indexOf('\n', from);
      if (end < 0) end = head.length;
      line = head.charCodeAt(end - 1) === 13 && end - 1 >= from ? head.slice(from, end - 1) : head.slice(from, end);
      from = end + 1;
      const c0 = line.charCodeAt(0);
      if (c0 === 32 || c0 === 9) {
        if (field === undefined) return fail(400, 'Continuation line before any header', false);
        (folds ??= []).push(line);
        fieldChars += line.length;
        if (fieldChars > lim.maxHeaderBytes) return fail(513, 'Header field too long');
        continue;
      }
    }
    if (field !== undefined) {
      // The field that just ended, unfolded: checked, split into list elements, stored.
      const text = folds ? unfold(field, folds) : field;
      // name [SP/HTAB] ":" [SP/HTAB] value — the name ends at the first colon.
      const colon = text.indexOf(':');
      if (colon < 0) return fail(400, 'Malformed header line');
      let nameEnd = colon;
      while (nameEnd > 0 && (text.charCodeAt(nameEnd - 1) === 32 || text.charCodeAt(nameEnd - 1) === 9)) nameEnd--;
      const rawName = text.slice(0, nameEnd);
      if (!TOKEN_RE.test(rawName)) return fail(400, 'Malformed header name');
      const key = headerKey(rawName);
      const name = canonicalHeaderNameOfKey(key, rawName);
      // Checked before the value is kept anywhere, the echo of an error response included: a bare CR
      // or a NUL never reaches a response (`Call-ID: x<CR>Contact: ...` would inject a header).
      if (dirty && LINE_CTL_RE.test(text)) return fail(400, `NUL or bare CR in ${name} header`);
      const value = trimLws(text.slice(colon + 1));
      if (isListHeaderKey(key)) {
        for (const v of splitTopLevel(value)) {
          if (v === '') {
            if (STRICT_LISTS.has(key)) return fail(400, `Empty ${name} element`);
            continue;
          }
          if (++fields > lim.maxHeaderFields) return fail(513, 'Too many header fields');
          headers.appendKeyed(name, key, v);
          if (name === 'Via') {
            if (++vias > lim.maxVias) return fail(513, 'Too many Via headers');
            partial.via.push(v);
            counts.set(name, vias);
          }
        }
      } else {
        if (++fields > lim.maxHeaderFields) return fail(513, 'Too many header fields');
        headers.appendKeyed(name, key, value);
        if (COUNTED.has(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
        if (name === 'From') partial.from = value;
        else if (name === 'To') partial.to = value;
        else if (name === 'Call-ID') partial.callId = value;
        else if (name === 'CSeq') partial.cseq = value;
      }
    }
    if (line === undefined) break;
    field = line;
    folds = undefined;
    fieldChars = line.length;
    if (fieldChars > lim.maxHeaderBytes) return fail(513, 'Header field too long');
  }
  if (oversize) return fail(513, 'Header section too large');

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
    const r = parseInner(buf, opts?.maxSize ?? DEFAULT_MAX_SIZE, opts?.limits ?? DEFAULT_PARSE_LIMITS, partial);
    return 'ok' in r ? r : { ok: true, message: r };
  } catch {
    // Defensive: a parser bug must not take the transport down with it.
    return { ok: false, isResponse: buf.subarray(0, 4).toString('latin1') === 'SIP/', status: 400, reason: 'Unparseable message' };
  }
}

/**
 * FNV-1a hash of a datagram's Call-ID value, read off the bytes without parsing the message: the
 * SIP router (src/sip/workers/router.ts) shards calls over worker threads by it, so every request and
 * response of one call reaches the thread holding that call. Header names match case-insensitively
 * and in compact form (`i`), with optional whitespace before the colon (RFC 3261 §7.3.1); only the
 * first line of a folded value counts, which is enough since retransmissions repeat the bytes.
 * 0 when no Call-ID is readable: such a datagram belongs to no call, and whoever gets it rejects it.
 */
/**
 * callIdHash's value for a Call-ID we make (ASCII): the same FNV-1a over its bytes, so a SIP
 * worker thread can pick Call-IDs the router sends back to it.
 */
export function callIdValueHash(callId: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < callId.length; k++) h = Math.imul(h ^ (callId.charCodeAt(k) & 0xff), 0x01000193);
  return h >>> 0 || 1;
}

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
