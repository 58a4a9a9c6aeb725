// The SIP codec against hostile input (issue 13, findings 2, 4 and 5): where responses go, what
// an error response may echo, how header bytes are kept, how much work a folded header costs, and
// the caps. Each test fails on the code before the fix (fe89b32).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GCProfiler } from 'node:v8';
import {
  applyReceivedRport,
  createErrorResponse,
  createResponse,
  parseMessage,
  responseDestination,
  serialize,
  DEFAULT_PARSE_LIMITS,
  type ParseResult,
  type SipParseLimits,
  type SipRequest,
} from '../../src/sip/codec/message.js';
import { HeaderList, parseVia } from '../../src/sip/codec/headers.js';
import { formatUri, parseUri } from '../../src/sip/codec/uri.js';

const crlf = (lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;

function options(over: { via?: string; from?: string; callId?: string; extra?: string[] } = {}): string {
  return crlf([
    'OPTIONS sip:callchart@192.0.2.1 SIP/2.0',
    `Via: ${over.via ?? 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKhostile;rport'}`,
    'Max-Forwards: 70',
    `From: ${over.from ?? '<sip:alice@192.0.2.10>;tag=1'}`,
    'To: <sip:callchart@192.0.2.1>',
    `Call-ID: ${over.callId ?? 'hostile-1'}`,
    'CSeq: 1 OPTIONS',
    ...(over.extra ?? []),
    'Content-Length: 0',
  ]);
}

/** The message as bytes, each char one byte (for 0xFF and friends). */
const bytes = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Caps out of the way: the behaviour under test must not hinge on a cap refusing the input. */
const unlimited: SipParseLimits = { maxHeaderFields: 10_000, maxVias: 10_000, maxHeaderBytes: 1 << 20, maxHeadBytes: 1 << 20 };

function request(r: ParseResult): SipRequest {
  assert.ok(r.ok, r.ok ? '' : `${r.status} ${r.reason}`);
  assert.equal(r.message.kind, 'request');
  return r.message as SipRequest;
}

function failed(r: ParseResult): { status: number; reason: string } {
  assert.ok(!r.ok, 'expected the parser to refuse the message');
  return { status: r.status, reason: r.reason };
}

describe('where responses go (finding 2)', () => {
  it('ignores Via maddr: the response goes to the source', () => {
    const req = request(parseMessage(options({ via: 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKm;maddr=198.51.100.66' })));
    applyReceivedRport(req, '192.0.2.10', 5060);
    assert.deepEqual(responseDestination(createResponse(req, 200)), { host: '192.0.2.10', port: 5060, transport: 'UDP' });
  });

  it('overwrites a received the client wrote, even when its sent-by is the source', () => {
    const req = request(parseMessage(options({ via: 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKr;received=198.51.100.66' })));
    const via = applyReceivedRport(req, '192.0.2.10', 5060);
    assert.equal(via?.received, '192.0.2.10');
    assert.equal(parseVia(req.headers.get('Via')!)?.received, '192.0.2.10');
    assert.deepEqual(responseDestination(createResponse(req, 200)), { host: '192.0.2.10', port: 5060, transport: 'UDP' });
  });

  it('fills an rport the client sent with a value with the real source port', () => {
    const req = request(parseMessage(options({ via: 'SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKp;rport=9' })));
    applyReceivedRport(req, '192.0.2.10', 40000);
    assert.deepEqual(responseDestination(createResponse(req, 200)), { host: '192.0.2.10', port: 40000, transport: 'UDP' });
  });
});

describe('header values (finding 4)', () => {
  it('refuses a bare CR in Call-ID and never echoes it', () => {
    const r = parseMessage(options({ callId: 'x\rContact: <sip:evil@198.51.100.66>' }));
    const f = failed(r);
    assert.equal(f.status, 400);
    assert.match(f.reason, /NUL or bare CR in Call-ID header/);
    const res = r.ok ? undefined : createErrorResponse(r);
    if (res) assert.ok(!serialize(res).includes('\rContact: <sip:evil'), 'the injected header must not come back');
  });

  it('refuses a bare CR or a NUL in a header no one echoes, with 400 and the header named', () => {
    for (const [bad, what] of [
      ['a\rb', 'bare CR'],
      ['a\0b', 'NUL'],
    ] as const) {
      const r = parseMessage(options({ extra: [`Subject: ${bad}`] }));
      const f = failed(r);
      assert.equal(f.status, 400, what);
      assert.match(f.reason, /NUL or bare CR in Subject header/, what);
      const res = r.ok ? undefined : createErrorResponse(r);
      assert.ok(res, `the 400 for a ${what} in Subject is sent`);
      const wire = serialize(res).toString('latin1');
      assert.match(wire, /^SIP\/2\.0 400 NUL or bare CR in Subject header\r\n/);
      assert.equal(/\r(?!\n)|\0/.test(wire), false);
    }
  });

  it('keeps invalid UTF-8 as the bytes it was: a 20 000 × 0xFF display name is echoed 1:1, not as U+FFFD', () => {
    const ff = '\xff'.repeat(20_000);
    const wireIn = bytes(options({ from: `"${ff}" <sip:alice@192.0.2.10>;tag=1` }));
    const req = request(parseMessage(wireIn, { limits: unlimited }));
    assert.equal(req.headers.encoding, 'latin1');
    const out = serialize(createResponse(req, 200, undefined, { toTag: 't' }));
    assert.ok(out.length < wireIn.length + 100, `a ${out.length}-byte answer to a ${wireIn.length}-byte request`);
    const from = `From: "${ff}" <sip:alice@192.0.2.10>;tag=1\r\n`;
    assert.ok(out.includes(bytes(from)), 'the From bytes come back unchanged');
  });

  it('answers invalid UTF-8 in Call-ID with a 400 no bigger than the request', () => {
    const wireIn = bytes(options({ callId: `x${'\xff'.repeat(20_000)}` }));
    const r = parseMessage(wireIn, { limits: unlimited });
    assert.equal(failed(r).status, 400);
    const res = r.ok ? undefined : createErrorResponse(r);
    assert.ok(res);
    assert.ok(serialize(res).length <= wireIn.length, 'no amplification');
  });

  it('round-trips UTF-8 display names byte for byte', () => {
    const from = '"Jörg 大平 \u{1F600}" <sip:j%C3%B6rg@192.0.2.10>;tag=1';
    const wireIn = Buffer.from(options({ from }), 'utf8');
    const req = request(parseMessage(wireIn));
    const out = serialize(createResponse(req, 200, undefined, { toTag: 't' }));
    assert.ok(out.includes(Buffer.from(`From: ${from}\r\n`, 'utf8')));
  });

  it('appends our To tag to the bytes the peer sent (an escaped URI is not re-escaped)', () => {
    const to = `<sip:${'%FF'.repeat(1000)}@192.0.2.1>`;
    const wireIn = bytes(options().replace('To: <sip:callchart@192.0.2.1>', `To: ${to}`));
    const req = request(parseMessage(wireIn));
    const out = serialize(createResponse(req, 200, undefined, { toTag: 't1' })).toString('latin1');
    assert.ok(out.includes(`To: ${to};tag=t1\r\n`), 'To echoed as sent, plus our tag');
    assert.ok(out.length < wireIn.length + 100);
  });

  it('re-formats an escaped URI to the same escapes, UTF-8 or not (no 3-byte U+FFFD per %FF)', () => {
    for (const u of ['sip:%FF%FE@192.0.2.1', 'sip:j%C3%B6rg@192.0.2.1', 'sip:a%00b@192.0.2.1;x=%E2%82', `sip:${'%FF'.repeat(1000)}@h`]) {
      assert.equal(formatUri(parseUri(u)!), u);
    }
  });

  it('never writes a CR, LF or NUL inside a header value or reason phrase, whoever put it there', () => {
    const req = request(parseMessage(options()));
    const res = createResponse(req, 486, 'Busy\r\nX-Evil: 1', { headers: [['X-App', 'a\r\nContact: <sip:evil@198.51.100.66>\0']] });
    const wire = serialize(res).toString('latin1');
    assert.ok(!wire.includes('\r\nX-Evil'), wire);
    assert.ok(!wire.includes('\r\nContact: <sip:evil'), wire);
    assert.ok(!wire.includes('\0'));
  });

  it('writes a character above U+00FF that our side adds to a latin1 message as UTF-8, never as its low byte', () => {
    const headers = new HeaderList([['X-App', 'Ċ']]); // U+010A: its low byte is LF
    headers.encoding = 'latin1';
    const wire = serialize({ kind: 'response', status: 200, reason: 'OK', version: 'SIP/2.0', headers, body: Buffer.alloc(0) });
    assert.ok(wire.includes(Buffer.from('X-App: Ċ\r\n', 'utf8')));
  });
});

describe('parsing work and caps (finding 5)', () => {
  it('unfolds a header folded into 15 000 lines with linear work (GC count, not time)', () => {
    const folded = Buffer.from(options({ extra: [`Subject: x${'\r\n y'.repeat(15_000)}`] }));
    const parse = () => parseMessage(folded, { limits: unlimited });
    const subject = request(parse()).headers.get('Subject');
    assert.equal(subject, `x${' y'.repeat(15_000)}`);
    // The quadratic join re-copied the growing value once per line: ~225 MB of strings for this
    // datagram, dozens of scavenges. Linear unfolding allocates about the datagram's size.
    const p = new GCProfiler();
    p.start();
    parse();
    const gcs = p.stop().statistics.length;
    assert.ok(gcs <= 4, `${gcs} garbage collections for one 60 KB datagram`);
  });

  const cases: Array<{ name: string; text: string; reason: RegExp }> = [
    {
      name: 'more header fields than maxHeaderFields',
      text: options({ extra: Array.from({ length: DEFAULT_PARSE_LIMITS.maxHeaderFields }, (_, i) => `X-H${i}: ${i}`) }),
      reason: /^Too many header fields$/,
    },
    {
      name: 'more Vias than maxVias (one per line)',
      text: options({ extra: Array.from({ length: DEFAULT_PARSE_LIMITS.maxVias }, (_, i) => `Via: SIP/2.0/UDP 192.0.2.${i % 250}:5060;branch=z9hG4bK${i}`) }),
      reason: /^Too many Via headers$/,
    },
    {
      name: 'more Vias than maxVias (one line, comma-separated)',
      text: options({ extra: [`v: ${Array.from({ length: DEFAULT_PARSE_LIMITS.maxVias }, (_, i) => `SIP/2.0/UDP h${i};branch=z9hG4bK${i}`).join(',')}`] }),
      reason: /^Too many Via headers$/,
    },
    {
      name: 'one header field longer than maxHeaderBytes',
      text: options({ extra: [`Subject: ${'s'.repeat(DEFAULT_PARSE_LIMITS.maxHeaderBytes)}`] }),
      reason: /^Header field too long$/,
    },
    {
      name: 'a folded field longer than maxHeaderBytes',
      text: options({ extra: [`Subject: x${'\r\n y'.repeat(DEFAULT_PARSE_LIMITS.maxHeaderBytes)}`] }),
      reason: /^Header field too long$/,
    },
    {
      name: 'a header section larger than maxHeadBytes',
      text: options({ extra: Array.from({ length: 8 }, (_, i) => `X-Big${i}: ${'b'.repeat(DEFAULT_PARSE_LIMITS.maxHeadBytes / 8)}`) }),
      reason: /^Header section too large$/,
    },
  ];
  for (const c of cases) {
    it(`answers ${c.name} with 513 and says which cap`, () => {
      const r = parseMessage(c.text);
      const f = failed(r);
      assert.equal(f.status, 513);
      assert.match(f.reason, c.reason);
      // The headers before the cap were read: the 513 can be sent, and echoes the request.
      const res = r.ok ? undefined : createErrorResponse(r);
      assert.ok(res, 'a 513 is sent');
      assert.equal(res.headers.get('Call-ID'), 'hostile-1');
    });
  }

  it('accepts what sits just under every cap', () => {
    const lim = DEFAULT_PARSE_LIMITS;
    request(parseMessage(options({ extra: Array.from({ length: lim.maxHeaderFields - 8 }, (_, i) => `X-H${i}: ${i}`) })));
    request(parseMessage(options({ extra: Array.from({ length: lim.maxVias - 1 }, (_, i) => `Via: SIP/2.0/UDP h${i};branch=z9hG4bK${i}`) })));
    request(parseMessage(options({ extra: [`Subject: ${'s'.repeat(lim.maxHeaderBytes - 'Subject: '.length)}`] })));
  });

  it('takes its caps from the options', () => {
    const r = parseMessage(options(), { limits: { ...DEFAULT_PARSE_LIMITS, maxHeaderFields: 5 } });
    assert.deepEqual(failed(r), { status: 513, reason: 'Too many header fields' });
  });
});
