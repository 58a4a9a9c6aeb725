// Input generators for the fuzz suite (test/fuzz/) and the long run (bench/fuzz.ts): valid SIP
// requests and WebSocket messages as templates, and mutators that break them the ways a hostile
// peer does. Pure: no sockets; every choice comes from the seeded Rng, so a seed replays a run.
import type { Rng } from './prng.js';

// ---- SIP -----------------------------------------------------------------------------------------

/**
 * Loopback addresses that never send anything: a SIP server that sends to one of them was steered
 * there by a header (Via maddr/received, Contact, SDP c=) — reflection.
 */
export const THIRD_PARTY = { maddr: '127.0.0.2', received: '127.0.0.3', contact: '127.0.0.4', media: '127.0.0.5' } as const;

export interface SipContext {
  /** Where the engine listens. */
  target: { host: string; port: number };
  /** The sender's own address and port (what the engine sees as the source). */
  source: { address: string; port: number };
  /** The port every third-party listener binds (signalling), and its RTP port (RTCP = +1). */
  thirdPort: number;
  thirdRtpPort: number;
}

export const SIP_METHODS = ['INVITE', 'OPTIONS', 'BYE', 'REGISTER', 'ACK', 'CANCEL', 'INFO', 'MESSAGE'] as const;
export type SipMethod = (typeof SIP_METHODS)[number];

/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM = 65_507;

export function sdpOffer(address: string, port: number, sessionId = 1): string {
  return [
    'v=0',
    `o=fuzz ${sessionId} 1 IN IP4 ${address}`,
    's=-',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-16',
    'a=ptime:20',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export interface SipRequestInit {
  method: SipMethod;
  callId?: string;
  cseq?: number;
  /** Steer the engine towards the third parties (the reflection vectors of finding 2). */
  reflect?: boolean;
  /** Media address/port of the SDP (default: the sender's address, port 4000). */
  media?: { address: string; port: number };
  extraHeaders?: string[];
}

/** A well-formed request, as a SIP peer at `ctx.source` would send it (CRLF line ends). */
export function sipRequest(rng: Rng, ctx: SipContext, init: SipRequestInit): string {
  const { method } = init;
  const src = ctx.source;
  const t = ctx.target;
  const branch = `z9hG4bK-${rng.token(12)}`;
  const via = init.reflect
    ? rng.chance(0.5)
      ? `SIP/2.0/UDP ${src.address}:${ctx.thirdPort};branch=${branch};maddr=${THIRD_PARTY.maddr}`
      : // Host = the real source and no rport: the engine keeps a client-supplied received.
        `SIP/2.0/UDP ${src.address}:${ctx.thirdPort};branch=${branch};received=${THIRD_PARTY.received}`
    : `SIP/2.0/UDP ${src.address}:${src.port};branch=${branch};rport`;
  const contactHost = init.reflect ? `${THIRD_PARTY.contact}:${ctx.thirdPort}` : `${src.address}:${src.port}`;
  const media = init.media ?? (init.reflect ? { address: THIRD_PARTY.media, port: ctx.thirdRtpPort } : { address: src.address, port: 4000 });
  const body = method === 'INVITE' ? sdpOffer(media.address, media.port, rng.range(1, 1e6)) : method === 'MESSAGE' || method === 'INFO' ? 'Signal=5\r\nDuration=160\r\n' : '';
  const uri = method === 'REGISTER' ? `sip:${t.host}:${t.port}` : `sip:callchart@${t.host}:${t.port}`;
  const headers = [
    `Via: ${via}`,
    'Max-Forwards: 70',
    `From: "Fuzz" <sip:fuzz@${src.address}>;tag=${rng.token(8)}`,
    `To: <sip:callchart@${t.host}:${t.port}>`,
    `Call-ID: ${init.callId ?? `${rng.token(16)}@${src.address}`}`,
    `CSeq: ${init.cseq ?? rng.range(1, 1000)} ${method}`,
    `Contact: <sip:fuzz@${contactHost}>`,
    'User-Agent: callchart-fuzz',
    ...(method === 'REGISTER' ? ['Expires: 3600'] : []),
    ...(method === 'INVITE' || method === 'OPTIONS' ? ['Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO', 'Supported: timer'] : []),
    ...(body ? [`Content-Type: ${method === 'INVITE' ? 'application/sdp' : 'application/dtmf-relay'}`] : []),
    ...(init.extraHeaders ?? []),
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  return `${method} ${uri} SIP/2.0\r\n${headers.join('\r\n')}\r\n\r\n${body}`;
}

// Mutators work on latin1 strings so that every byte survives the round trip.
type Mutator = (rng: Rng, s: string, ctx: SipContext) => string;

const headerLines = (s: string) => {
  const end = s.indexOf('\r\n\r\n');
  const head = end < 0 ? s : s.slice(0, end);
  return { lines: head.split('\r\n'), rest: end < 0 ? '' : s.slice(end) };
};

const withHeaders = (s: string, f: (lines: string[]) => string[]): string => {
  const { lines, rest } = headerLines(s);
  return f(lines).join('\r\n') + rest;
};

/** Replace the value of one random header (never the start-line). */
const onValue = (rng: Rng, s: string, f: (value: string, name: string) => string, prefer?: string): string =>
  withHeaders(s, (lines) => {
    if (lines.length < 2) return lines;
    let i = 1 + rng.int(lines.length - 1);
    if (prefer && rng.chance(0.5)) {
      const j = lines.findIndex((l) => l.toLowerCase().startsWith(prefer.toLowerCase() + ':'));
      if (j > 0) i = j;
    }
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon < 0) return lines;
    lines[i] = `${line.slice(0, colon + 1)} ${f(line.slice(colon + 1).trim(), line.slice(0, colon))}`;
    return lines;
  });

const repeat = (unit: string, bytes: number) => unit.repeat(Math.max(1, Math.ceil(bytes / unit.length)));

export const SIP_MUTATORS: Record<string, Mutator> = {
  bitFlips(rng, s) {
    const b = Buffer.from(s, 'latin1');
    for (let n = 1 + rng.size(32); n > 0 && b.length; n--) b[rng.int(b.length)]! ^= 1 << rng.int(8);
    return b.toString('latin1');
  },
  truncate(rng, s) {
    return s.slice(0, rng.int(s.length + 1));
  },
  insertBytes(rng, s) {
    const at = rng.int(s.length + 1);
    return s.slice(0, at) + rng.bytes(1 + rng.size(256)).toString('latin1') + s.slice(at);
  },
  deleteRange(rng, s) {
    const at = rng.int(s.length + 1);
    return s.slice(0, at) + s.slice(at + 1 + rng.size(64));
  },
  duplicateHeader(rng, s) {
    return withHeaders(s, (lines) => {
      const i = 1 + rng.int(Math.max(1, lines.length - 1));
      const line = lines[i] ?? 'Via: SIP/2.0/UDP 127.0.0.1';
      return [...lines.slice(0, i), ...Array<string>(1 + rng.size(400)).fill(line), ...lines.slice(i)];
    });
  },
  hugeValue(rng, s) {
    const filler = rng.pick(['A', 'x', ';p=1', ',', '<sip:a@b>', '%00', '"', '\\']);
    return onValue(rng, s, () => repeat(filler, 1 + rng.size(60_000)));
  },
  deepFolding(rng, s) {
    // Many continuation lines in one header: quadratic unfolding is finding 5.
    const lines = 1 + rng.size(20_000);
    const folded = `X-Folded: start${'\r\n a'.repeat(lines)}`;
    return withHeaders(s, (ls) => [...ls.slice(0, 2), folded, ...ls.slice(2)]);
  },
  controlInValue(rng, s) {
    // Bare CR / LF / NUL inside a value: a 400 that echoes them is header injection (finding 4).
    const inject = rng.pick(['\r', '\0', '\n', '\rContact: <sip:evil@127.0.0.1>', '\0\0\0', '\x7f', '\r\n\r\n', '\x1b[2J']);
    return onValue(rng, s, (v) => {
      const at = rng.int(v.length + 1);
      return v.slice(0, at) + inject + v.slice(at);
    }, 'Call-ID');
  },
  invalidUtf8(rng, s) {
    // 0xFF decoded as UTF-8 becomes a 3-byte U+FFFD: a response echoing it grows 3x (finding 4).
    const unit = rng.pick(['\xff', '\xc0', '\xe2\x82', '\xed\xa0\x80', '\xf4\x90\x80\x80']);
    const run = repeat(unit, 1 + rng.size(20_000));
    return onValue(rng, s, (v) => (rng.chance(0.5) ? v + run : run), 'Call-ID');
  },
  giantVia(rng, s) {
    const n = 2 + rng.size(4000);
    const via = `SIP/2.0/UDP 127.0.0.1:${rng.range(1, 65535)};branch=z9hG4bK${rng.token(6)}`;
    return withHeaders(s, (lines) => {
      const i = Math.max(1, lines.findIndex((l) => l.startsWith('Via:')));
      const extra = rng.chance(0.5) ? [`Via: ${Array<string>(n).fill(via).join(',')}`] : Array<string>(n).fill(`Via: ${via}`);
      return [...lines.slice(0, i + 1), ...extra, ...lines.slice(i + 1)];
    });
  },
  paramBomb(rng, s) {
    const p = `;${rng.pick(['x', 'lr', 'maddr', 'received', 'rport', 'branch', 'tag'])}=${rng.token(3)}`;
    return onValue(rng, s, (v) => v + repeat(p, 1 + rng.size(40_000)), 'Via');
  },
  badContentLength(rng, s) {
    const bodyLen = Math.max(0, s.length - s.indexOf('\r\n\r\n') - 4);
    const v = rng.pick(['-1', '99999999999999999999', 'abc', '', ' 0', '1e3', '0x10', String(bodyLen + rng.range(1, 5000)), String(Math.max(0, bodyLen - rng.range(1, 50))), '4294967296', '+5']);
    return withHeaders(s, (lines) => {
      const out = lines.map((l) => (l.startsWith('Content-Length:') ? `Content-Length: ${v}` : l));
      if (rng.chance(0.3)) out.push(`Content-Length: ${rng.range(0, 9999)}`);
      if (rng.chance(0.2)) out.push(`l: ${rng.range(0, 99)}`);
      return out;
    });
  },
  deleteHeader(rng, s) {
    return withHeaders(s, (lines) => (lines.length > 1 ? lines.filter((_, i) => i !== 1 + rng.int(lines.length - 1)) : lines));
  },
  shuffleHeaders(rng, s) {
    return withHeaders(s, (lines) => {
      const [first = '', ...rest] = lines;
      for (let i = rest.length - 1; i > 0; i--) {
        const j = rng.int(i + 1);
        [rest[i], rest[j]] = [rest[j]!, rest[i]!];
      }
      return [first, ...rest];
    });
  },
  startLine(rng, s) {
    const [first = '', ...rest] = s.split('\r\n');
    const parts = first.split(' ');
    const choice = rng.int(7);
    if (choice === 0) parts[2] = rng.pick(['SIP/3.0', 'SIP/2', 'HTTP/1.1', 'sip/2.0', 'SIP/2.0 ', '']);
    else if (choice === 1) parts[0] = rng.pick(['', 'INVITEX', 'IN VITE', 'invite', 'FOO', 'X'.repeat(1 + rng.size(5000)), 'SIP/2.0']);
    else if (choice === 2) parts[1] = rng.pick(['<sip:a@b>', 'tel:+1555', 'sip:', 'sips:a@b;transport=tcp', `sip:${'a'.repeat(1 + rng.size(30_000))}@x`, 'sip:a@b?Route=%3Csip:evil%3E', 'http://x/']);
    else if (choice === 3) return `SIP/2.0 ${rng.pick(['200 OK', '999 X', '100', '486 Busy', '-1 Neg'])}\r\n${rest.join('\r\n')}`;
    else if (choice === 4) return `${first.replace(/ /g, rng.pick(['  ', '\t', ' \r ']))}\r\n${rest.join('\r\n')}`;
    else if (choice === 5) return `${'\r\n'.repeat(1 + rng.size(100))}${s}`;
    else return s.replace(/\r\n/g, '\n');
    return `${parts.join(' ')}\r\n${rest.join('\r\n')}`;
  },
  mangleSdp(rng, s) {
    const end = s.indexOf('\r\n\r\n');
    if (end < 0) return s;
    const body = s.slice(end + 4).split('\r\n');
    const lines = [
      () => `m=audio ${rng.pick(['-1', '70000', '0', '65535', 'x'])} RTP/AVP ${Array.from({ length: 1 + rng.size(300) }, () => rng.int(256)).join(' ')}`,
      () => `c=IN IP4 ${rng.pick(['999.1.1.1', '127.0.0.1/127', '', '::1', 'a'.repeat(1 + rng.size(2000))])}`,
      () => `a=rtpmap:${rng.int(300)} ${rng.pick(['PCMU', 'opus', ''])}/${rng.pick(['8000', '0', '-1', '1e9'])}`,
      () => `a=rtcp:${rng.pick(['1', '70000', 'x', `${rng.range(1024, 65535)} IN IP4 127.0.0.1`])}`,
      () => `m=audio ${rng.range(1024, 65535)} RTP/AVP 0`,
      () => `a=${'x'.repeat(1 + rng.size(20_000))}`,
      () => 'v=1',
    ];
    for (let n = 1 + rng.size(40); n > 0; n--) body.splice(rng.int(body.length + 1), 0, rng.pick(lines)());
    const text = body.join('\r\n');
    return withHeaders(s.slice(0, end + 4), (ls) => ls.map((l) => (l.startsWith('Content-Length:') ? `Content-Length: ${Buffer.byteLength(text, 'latin1')}` : l))) + text;
  },
  reflectionParams(rng, s) {
    return onValue(rng, s, (v) => `${v};${rng.pick([`maddr=${THIRD_PARTY.maddr}`, `received=${THIRD_PARTY.received}`, 'rport=1', `maddr=${THIRD_PARTY.maddr};ttl=255`])}`, 'Via');
  },
  compactForms(_rng, s) {
    const short: Record<string, string> = { 'Via:': 'v:', 'From:': 'f:', 'To:': 't:', 'Call-ID:': 'i:', 'Contact:': 'm:', 'Content-Length:': 'l:', 'Content-Type:': 'c:' };
    return withHeaders(s, (lines) => lines.map((l) => Object.entries(short).reduce((acc, [k, v]) => (acc.startsWith(k) ? v + acc.slice(k.length) : acc), l)));
  },
};

export const SIP_MUTATOR_NAMES = Object.keys(SIP_MUTATORS);

/**
 * Keep every IPv4 literal on loopback: a bit flip can turn 127.0.0.1 into a routable address, and
 * the fuzz must never make the engine send anything off this machine.
 */
export function keepOnLoopback(s: string): string {
  return s.replace(/(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/g, (m, a: string) => (a === '127' ? m : '127.0.0.1'));
}

export interface SipFuzzCase {
  bytes: Buffer;
  method: SipMethod;
  mutators: string[];
}

/** A valid request with 0-3 mutations (a few are left intact so deeper code paths are reached too). */
export function sipFuzzCase(rng: Rng, ctx: SipContext): SipFuzzCase {
  const method = rng.pick(SIP_METHODS);
  let s = sipRequest(rng, ctx, { method, reflect: rng.chance(0.15) });
  const mutators: string[] = [];
  for (let n = rng.chance(0.1) ? 0 : 1 + rng.size(2); n > 0; n--) {
    const name = rng.pick(SIP_MUTATOR_NAMES);
    mutators.push(name);
    s = SIP_MUTATORS[name]!(rng, s, ctx);
    if (s.length > MAX_DATAGRAM) s = s.slice(0, MAX_DATAGRAM);
  }
  return { bytes: Buffer.from(keepOnLoopback(s), 'latin1'), method, mutators };
}

// ---- JSON --------------------------------------------------------------------------------------

const WEIRD_STRINGS = ['', ' ', '\u0000', '\ud800', '\uffff', '🙂', '__proto__', 'constructor', 'toString', '../../etc/passwd', '%00', '<script>', '\r\n', 'null', '-1', '1e309', '\\'];
const WEIRD_NUMBERS = [0, -0, -1, 1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, 65535, 65536, 1e21];

export function randomString(rng: Rng, max = 64): string {
  const k = rng.int(5);
  if (k === 0) return rng.pick(WEIRD_STRINGS);
  if (k === 1) return rng.token(1 + rng.size(max));
  if (k === 2) return String.fromCharCode(...Array.from({ length: 1 + rng.size(max) }, () => rng.int(0x10000)));
  if (k === 3) return 'x'.repeat(1 + rng.size(max * 1000));
  return rng.token(rng.range(1, 12));
}

/** Any JSON value, nested up to `depth`. */
export function randomJson(rng: Rng, depth = 4): unknown {
  const k = rng.int(depth > 0 ? 8 : 5);
  switch (k) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.chance(0.5) ? rng.pick(WEIRD_NUMBERS) : rng.range(-1000, 1_000_000);
    case 3:
    case 4:
      return randomString(rng);
    case 5:
      return Array.from({ length: rng.size(20) }, () => randomJson(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let n = rng.size(12); n > 0; n--) o[rng.chance(0.7) ? rng.token(rng.range(1, 10)) : randomString(rng, 8)] = randomJson(rng, depth - 1);
      return o;
    }
  }
}

/** `n`-deep nested arrays as text (JSON.stringify would overflow the stack building it). */
export const deepArrayText = (n: number) => '['.repeat(n) + ']'.repeat(n);
export const deepObjectText = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

/** Marker a template may hold in place of a value; `jsonText` splices deep nesting in for it. */
export const DEEP = '\u0000deep\u0000';

/** A structural mutation of a valid message: wrong types, missing and unknown fields, huge values. */
export function mutateJson(rng: Rng, value: unknown, depth = 0): unknown {
  if (depth > 8) return value;
  const here = rng.chance(value !== null && typeof value === 'object' ? 0.25 : 0.5);
  if (here) {
    switch (rng.int(8)) {
      case 0:
        return randomJson(rng, 3);
      case 1:
        return randomString(rng, 200);
      case 2:
        return rng.pick(WEIRD_NUMBERS);
      case 3:
        return [value];
      case 4:
        return { value };
      case 5:
        return DEEP;
      case 6:
        return null;
      default:
        return Array.from({ length: 1 + rng.size(20_000) }, () => value);
    }
  }
  if (Array.isArray(value)) return value.map((v) => (rng.chance(0.3) ? mutateJson(rng, v, depth + 1) : v));
  if (value !== null && typeof value === 'object') {
    const o: Record<string, unknown> = { ...(value as Record<string, unknown>) };
    const keys = Object.keys(o);
    if (keys.length && rng.chance(0.2)) delete o[rng.pick(keys)];
    if (rng.chance(0.2)) o[rng.chance(0.5) ? rng.token(6) : rng.pick(['__proto__', 'constructor', 'type', 'payload', 'msgid'])] = randomJson(rng, 2);
    for (const k of Object.keys(o)) if (rng.chance(0.4)) o[k] = mutateJson(rng, o[k], depth + 1);
    return o;
  }
  return value;
}

/** Serialize, splicing deep nesting for DEEP markers, sometimes breaking the JSON text itself. */
export function jsonText(rng: Rng, value: unknown): string {
  let text = JSON.stringify(value) ?? 'null';
  text = text.replaceAll(JSON.stringify(DEEP), () => (rng.chance(0.5) ? deepArrayText(rng.range(100, 20_000)) : deepObjectText(rng.range(100, 5000))));
  switch (rng.int(14)) {
    case 0:
      return text.slice(0, rng.int(text.length + 1));
    case 1:
      return text + rng.pick(['}', ']', ',', ' garbage', '\u0000']);
    case 2:
      return '\ufeff' + text;
    case 3:
      return text.replace(/"([a-zA-Z]+)":/, '"$1":1,"$1":');
    default:
      return text;
  }
}
