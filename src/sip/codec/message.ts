// SIP messages: the types, the wire form (serialize), and the builders of requests and responses.
// Parsing lives in parse.ts (re-exported here).
import { randomHex, randomUuid } from '../../random.js';
import {
  BRANCH_MAGIC_COOKIE,
  HeaderList,
  formatCSeq,
  formatNameAddr,
  formatVia,
  parseNameAddr,
  parseVia,
  type NameAddr,
  type Via,
} from './headers.js';
import { formatUri, type SipUri, type Uri } from './uri.js';
import type { ParseFailure } from './parse.js';

export {
  parseMessage,
  callIdHash,
  callIdValueHash,
  resolveParseLimits,
  DEFAULT_PARSE_LIMITS,
  type ParseFailure,
  type ParseResult,
  type ParseOptions,
  type ParseErrorStatus,
  type PartialHeaders,
  type SipParseLimits,
} from './parse.js';

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

/** CR, LF and NUL: never inside a start line or a header line we write, whoever built the value. */
const BREAKS_RE = /[\r\n\0]/g;
const NON_LATIN1_RE = /[^\x00-\xff]+/g;

/**
 * True when the only CRs and LFs in `head` are its `breaks` CRLF line ends and there is no NUL: the
 * common case, checked with a few native scans instead of a regex per line.
 */
function onlyOurBreaks(head: string, breaks: number): boolean {
  if (head.indexOf('\0') >= 0) return false;
  let n = 0;
  for (let i = head.indexOf('\n'); i >= 0; i = head.indexOf('\n', i + 1)) {
    if (head.charCodeAt(i - 1) !== 13 || ++n > breaks) return false;
  }
  let r = 0;
  for (let i = head.indexOf('\r'); i >= 0; i = head.indexOf('\r', i + 1)) if (++r > breaks) return false;
  return n === breaks && r === breaks;
}

/**
 * Canonical wire form; Content-Length always reflects the body actually sent. Written into one
 * buffer: `owned` gives it its own memory (allocUnsafeSlow) for bytes kept long, since a slice of
 * node's shared 8 KB pool would pin the whole slab. Headers of a message read as latin1 (see
 * parse.ts) are written back as the bytes they were; a character above U+00FF that our side added
 * to such a message is written as its UTF-8 bytes.
 */
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
  let head = `${lines.join('\r\n')}\r\n\r\n`;
  // A CR, LF or NUL inside a line (an app's value, say) becomes a space: no header injection.
  if (!onlyOurBreaks(head, lines.length + 1)) head = `${lines.map((l) => l.replace(BREAKS_RE, ' ')).join('\r\n')}\r\n\r\n`;
  const enc = msg.headers.encoding;
  if (enc === 'latin1') head = head.replace(NON_LATIN1_RE, (s) => Buffer.from(s, 'utf8').toString('latin1'));
  const headLength = Buffer.byteLength(head, enc);
  const size = headLength + msg.body.length;
  const out = opts?.owned ? Buffer.allocUnsafeSlow(size) : Buffer.allocUnsafe(size);
  out.write(head, 0, enc);
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
  // join, not a template: a dialog keeps its Call-ID for life, and one flat string is the smallest.
  return host ? [randomUuid(), host].join('@') : randomUuid();
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

/**
 * The To of a response with our tag: the request's text with `;tag=` appended, so the peer's bytes
 * come back as they were (re-formatting would re-escape its URI: a `%FF` would come back as the
 * 9-byte escape of U+FFFD). A To that already has a tag, or does not parse, is left as it is.
 */
function withTag(value: string, from: HeaderList | undefined, tag: string): string {
  // Without the letters "tag" anywhere there is no tag parameter: no need for the parse.
  if (!TAG_RE.test(value)) return `${value};tag=${tag}`;
  const na = from ? from.parsedFirst('To', parseNameAddr) : parseNameAddr(value);
  return !na || na.tag !== undefined ? value : `${value};tag=${tag}`;
}

const TAG_RE = /tag/i;

interface Echo {
  via: readonly string[];
  /** Undefined (left out of the response) only for a stateless error reply to a request lacking it. */
  from: string | undefined;
  to: string | undefined;
  /** The request's headers, whose To parse withTag() reuses (undefined: parse `to`). */
  request: HeaderList | undefined;
  callId: string | undefined;
  cseq: string | undefined;
  encoding: HeaderList['encoding'];
}

function buildResponse(echo: Echo, status: number, reason: string | undefined, opts: ResponseOptions): SipResponse {
  const headers = new HeaderList();
  headers.encoding = echo.encoding;
  for (const v of echo.via) headers.append('Via', v);
  if (echo.from !== undefined) headers.append('From', echo.from);
  if (echo.to !== undefined) headers.append('To', opts.toTag === undefined ? echo.to : withTag(echo.to, echo.request, opts.toTag));
  if (echo.callId !== undefined) headers.append('Call-ID', echo.callId);
  if (echo.cseq !== undefined) headers.append('CSeq', echo.cseq);
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
      request: req.headers,
      callId: req.headers.get('Call-ID') ?? '',
      cseq: req.headers.get('CSeq') ?? '',
      encoding: req.headers.encoding,
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

/** Any C0 control but HTAB, or DEL. */
const CONTROL_RE = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Builds the stateless error reply for a request the parser rejected, if enough of it was readable:
 * a top Via to answer to. A request missing From, To, Call-ID or CSeq still gets its 400 with the
 * headers it had (RFC 4475 §3.1.2.18: "respond with 400, if it can"). It echoes values in the bytes
 * they came in, and none with a control character in it (parse.ts never keeps one with CR, LF or
 * NUL; BEL and the like, legal in a quoted-pair, are not echoed either): such a request gets no answer.
 */
export function createErrorResponse(failure: ParseFailure, opts: ResponseOptions = {}): SipResponse | undefined {
  const p = failure.partial;
  if (failure.isResponse || !p || p.via.length === 0) return undefined;
  for (const v of [p.from, p.to, p.callId, p.cseq]) if (v !== undefined && CONTROL_RE.test(v)) return undefined;
  if (p.via.some((v) => CONTROL_RE.test(v))) return undefined;
  const echo: Echo = {
    via: p.via,
    from: p.from || undefined,
    to: p.to || undefined,
    request: undefined,
    callId: p.callId || undefined,
    cseq: p.cseq || undefined,
    encoding: p.latin1 ? 'latin1' : 'utf8',
  };
  return buildResponse(echo, failure.status, failure.reason, opts);
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

/**
 * RFC 3261 §18.2.1 + RFC 3581 §4: stamps the top Via with where the request really came from.
 * Returns the updated Via, or undefined when the request has no usable Via.
 *
 * Deliberately stricter than §18.2.1, which adds `received` only when the sent-by host differs from
 * the source: `received` is ALWAYS set to the real source address, so a `received` the client wrote
 * itself (say, a third party's address behind a sent-by equal to its own) never survives to steer
 * the response. An `rport` with a value (requests must send it empty) is overwritten the same way.
 */
export function applyReceivedRport(req: SipRequest, sourceAddress: string, sourcePort: number): Via | undefined {
  const top = req.headers.get('Via');
  // A fresh parse, not the shared one validation kept: this Via is about to change.
  const via = top === undefined ? undefined : parseVia(top);
  if (!via) return undefined;
  via.received = sourceAddress.startsWith('[') ? sourceAddress.slice(1, -1) : sourceAddress;
  if (via.rport !== undefined) via.rport = sourcePort;
  const stamped = formatVia(via);
  req.headers.replaceAt('Via', 0, stamped);
  // Remembered as the parse of the new text, so its raw params must say what the text says.
  via.params.set('received', via.received);
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

/**
 * Where an unreliable-transport response goes, from its top Via: the address the request came from
 * (`received`, which applyReceivedRport always sets), at the RFC 3581 `rport` when the client asked
 * for it, else at the sent-by port (RFC 3261 §18.2.2).
 *
 * Deliberate deviation from §18.2.2: `maddr` is ignored. Honouring it lets any sender aim our
 * responses (and their retransmissions) at an address of its choosing, a reflection tool; callchart
 * does not do SIP multicast, and a real client reachable at its source needs no maddr.
 */
export function responseDestination(res: SipResponse): Destination | undefined {
  const via = res.headers.parsedFirst('Via', parseVia);
  if (!via) return undefined;
  const port = typeof via.rport === 'number' ? via.rport : (via.port ?? defaultPort(via.transport));
  return { host: via.received ?? via.host, port, transport: via.transport };
}

export function isRequest(m: SipMessage): m is SipRequest {
  return m.kind === 'request';
}

export type { SipUri };
