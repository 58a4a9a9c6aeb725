import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyReceivedRport,
  callIdHash,
  callIdValueHash,
  createErrorResponse,
  createRequest,
  createResponse,
  generateBranch,
  generateCallId,
  generateTag,
  parseMessage,
  responseDestination,
  serialize,
  type SipRequest,
  type SipResponse,
} from '../../src/sip/codec/message.js';
import {
  HeaderList,
  formatVia,
  parseAuthHeader,
  parseContact,
  parseContentType,
  parseCSeq,
  parseNameAddr,
  parseVia,
  tokenList,
} from '../../src/sip/codec/headers.js';
import { formatUri, parseUri, sipUri, uriEquals, type SipUri } from '../../src/sip/codec/uri.js';

const crlf = (lines: string[]): string => lines.join('\r\n');

const INVITE = crlf([
  'INVITE sip:bob@biloxi.example.com SIP/2.0',
  'Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport',
  'Max-Forwards: 70',
  'From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@biloxi.example.com>',
  'Call-ID: 3848276298220188511@atlanta.example.com',
  'CSeq: 1 INVITE',
  'Contact: <sip:alice@192.0.2.10:5060>',
  'Content-Type: application/sdp',
  'Content-Length: 5',
  '',
  'v=0\r\n',
]);

function req(text: string): SipRequest {
  const r = parseMessage(text);
  assert.ok(r.ok, r.ok ? '' : r.reason);
  assert.equal(r.message.kind, 'request');
  return r.message as SipRequest;
}

function sipOf(u: unknown): SipUri {
  assert.ok(u && typeof u === 'object' && (u as SipUri).kind === 'sip');
  return u as SipUri;
}

describe('HeaderList', () => {
  it('is case-insensitive, ordered and multi-valued, and expands compact names', () => {
    const h = new HeaderList([
      ['v', 'SIP/2.0/UDP a'],
      ['VIA', 'SIP/2.0/UDP b'],
      ['call-id', 'x'],
    ]);
    assert.deepEqual(h.getAll('Via'), ['SIP/2.0/UDP a', 'SIP/2.0/UDP b']);
    assert.equal(h.get('i'), 'x');
    assert.deepEqual([...h].map((e) => e.name), ['Via', 'Via', 'Call-ID']);
    h.set('via', 'SIP/2.0/TCP c');
    assert.deepEqual(h.getAll('Via'), ['SIP/2.0/TCP c']);
    assert.deepEqual([...h].map((e) => e.name), ['Via', 'Call-ID']);
    assert.equal(h.remove('CALL-ID'), 1);
    assert.equal(h.has('Call-ID'), false);
  });
});

describe('parsed header values', () => {
  it('parses a value once per parser, and a changed header is parsed afresh', () => {
    const r = req(INVITE);
    let calls = 0;
    const counting = (raw: string) => {
      calls++;
      return parseNameAddr(raw);
    };
    const from = r.headers.parsedFirst('From', counting);
    assert.equal(from?.tag, '9fxced76sl');
    assert.equal(r.headers.parsedFirst('f', counting), from, 'the same object, by compact name too');
    assert.equal(calls, 1);
    // Validation already parsed From with parseNameAddr: the UA's read costs nothing.
    assert.equal(r.headers.parsedFirst('From', parseNameAddr), r.headers.parsedFirst('From', parseNameAddr));
    r.headers.set('From', '<sip:carol@example.com>;tag=c1');
    assert.equal(r.headers.parsedFirst('From', counting)?.tag, 'c1');
    assert.equal(calls, 2);
    assert.equal(r.headers.parsedFirst('Subject', counting), undefined, 'an absent header is not parsed');
    assert.equal(calls, 2);
  });

  it('the top Via stamped with received/rport is what the transaction layer and the response read', () => {
    const r = req(INVITE);
    const stamped = applyReceivedRport(r, '203.0.113.7', 40000)!;
    assert.equal(r.headers.parsedFirst('Via', parseVia), stamped);
    assert.equal(stamped.rport, 40000);
    const res = createResponse(r, 180);
    assert.deepEqual(responseDestination(res), { host: '203.0.113.7', port: 40000, transport: 'UDP' });
    // The response's Via text and its parse agree (a fresh parse gives the same fields).
    assert.deepEqual(parseVia(res.headers.get('Via')!), res.headers.parsedFirst('Via', parseVia));
  });
});

describe('parseMessage', () => {
  it('parses a plain INVITE with body framed by Content-Length', () => {
    const m = req(INVITE + 'trailing-garbage');
    assert.equal(m.method, 'INVITE');
    const u = sipOf(m.uri);
    assert.equal(u.user, 'bob');
    assert.equal(u.host, 'biloxi.example.com');
    assert.equal(m.body.toString(), 'v=0\r\n');
    assert.equal(m.headers.get('call-id'), '3848276298220188511@atlanta.example.com');
  });

  it('parses responses including the reason phrase', () => {
    const r = parseMessage(
      crlf([
        'SIP/2.0 180 Ringing',
        'Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1',
        'From: <sip:a@a.example>;tag=1',
        'To: <sip:b@b.example>;tag=2',
        'Call-ID: c1',
        'CSeq: 1 INVITE',
        '',
        '',
      ]),
    );
    assert.ok(r.ok);
    assert.equal(r.message.kind, 'response');
    const res = r.message as SipResponse;
    assert.equal(res.status, 180);
    assert.equal(res.reason, 'Ringing');
    assert.equal(res.body.length, 0);
  });

  it('uses the rest of the datagram when Content-Length is absent', () => {
    const m = req(INVITE.replace('Content-Length: 5\r\n', '') + 'more');
    assert.equal(m.body.toString(), 'v=0\r\nmore');
  });

  it('rejects a body shorter than Content-Length with 400 and keeps partial headers', () => {
    const r = parseMessage(INVITE.replace('Content-Length: 5', 'Content-Length: 50'));
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.equal(r.status, 400);
    assert.equal(r.isResponse, false);
    assert.equal(r.partial?.callId, '3848276298220188511@atlanta.example.com');
    assert.equal(r.partial?.via.length, 1);
    const err = createErrorResponse(r);
    assert.ok(err);
    assert.equal(err.status, 400);
    assert.equal(err.headers.get('CSeq'), '1 INVITE');
  });

  it('rejects oversize messages with 513 Message Too Large (RFC 3261 §21.5.13; 413 is about bodies)', () => {
    const r = parseMessage(INVITE, { maxSize: 100 });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.status, 513);
  });

  it('enforces mandatory headers and CSeq/method agreement', () => {
    for (const drop of ['To', 'From', 'CSeq', 'Call-ID', 'Via']) {
      const text = INVITE.split('\r\n').filter((l) => !l.startsWith(`${drop}:`)).join('\r\n');
      const r = parseMessage(text);
      assert.equal(r.ok, false, `missing ${drop}`);
      assert.equal(!r.ok && r.status, 400);
    }
    const r = parseMessage(INVITE.replace('CSeq: 1 INVITE', 'CSeq: 1 BYE'));
    assert.equal(!r.ok && r.status, 400);
    const big = parseMessage(INVITE.replace('CSeq: 1 INVITE', 'CSeq: 2147483648 INVITE'));
    assert.equal(!big.ok && big.status, 400);
    const mf = parseMessage(INVITE.replace('Max-Forwards: 70', 'Max-Forwards: seventy'));
    assert.equal(!mf.ok && mf.status, 400);
  });

  it('answers 505 for other SIP versions and 416 for unknown URI schemes', () => {
    const v = parseMessage(INVITE.replace('SIP/2.0\r\n', 'SIP/3.0\r\n'));
    assert.equal(!v.ok && v.status, 505);
    const s = parseMessage(INVITE.replace('sip:bob@biloxi.example.com SIP', 'gopher:bob.example SIP'));
    assert.equal(!s.ok && s.status, 416);
  });

  it('splits comma lists only outside quotes and angle brackets', () => {
    const m = req(
      INVITE.replace(
        'Contact: <sip:alice@192.0.2.10:5060>',
        'Contact: "Smith, J" <sip:j@a.example;x=1>, <sip:k@b.example>;q=0.5\r\nSupported: timer, 100rel\r\nSupported: replaces',
      ),
    );
    const contacts = m.headers.getAll('Contact');
    assert.equal(contacts.length, 2);
    const c0 = parseContact(contacts[0] ?? '');
    assert.ok(c0 && !c0.star);
    assert.equal(c0.displayName, 'Smith, J');
    assert.deepEqual(tokenList(m.headers, 'Supported'), ['timer', '100rel', 'replaces']);
  });

  it('never throws on garbage', () => {
    for (const g of ['', '\r\n\r\n', 'SIP/2.0', 'INVITE', '\x00\xff\r\n\r\n', 'SIP/2.0 999999 x\r\n\r\n']) {
      const r = parseMessage(g);
      assert.equal(r.ok, false);
    }
  });
});

describe('serialize', () => {
  it('round-trips and rewrites Content-Length from the body', () => {
    const m = req(INVITE);
    m.body = Buffer.from('v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n');
    const wire = serialize(m);
    const again = req(wire.toString('utf8'));
    assert.equal(again.headers.get('Content-Length'), String(m.body.length));
    assert.deepEqual(again.body, m.body);
    assert.deepEqual(again.headers.getAll('Via'), m.headers.getAll('Via'));
    assert.ok(wire.toString().startsWith('INVITE sip:bob@biloxi.example.com SIP/2.0\r\n'));
  });
});

describe('typed header accessors', () => {
  it('parses Via with rport flag, received and IPv6 sent-by', () => {
    const v = parseVia('SIP/2.0/udp [2001:db8::1]:5062;branch=z9hG4bKx;rport;received=192.0.2.4;foo=bar');
    assert.ok(v);
    assert.equal(v.transport, 'UDP');
    assert.equal(v.host, '2001:db8::1');
    assert.equal(v.port, 5062);
    assert.equal(v.branch, 'z9hG4bKx');
    assert.equal(v.rport, true);
    assert.equal(v.received, '192.0.2.4');
    assert.equal(v.params.get('foo'), 'bar');
    assert.equal(formatVia(v), 'SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKx;rport;received=192.0.2.4;foo=bar');
    assert.equal(parseVia('SIP/2.0/UDP host;rport=abc'), undefined);
  });

  it('parses name-addr, addr-spec and Contact *', () => {
    const a = parseNameAddr('"Bob \\"B\\"" <sip:bob@example.com;transport=tcp>;tag=abc;expires=60');
    assert.ok(a);
    assert.equal(a.displayName, 'Bob "B"');
    assert.equal(a.tag, 'abc');
    assert.equal(sipOf(a.uri).params.get('transport'), 'tcp');
    const b = parseNameAddr('sip:carol@example.com;tag=x');
    assert.ok(b);
    assert.equal(b.tag, 'x');
    assert.equal(sipOf(b.uri).params.size, 0);
    const star = parseContact('*');
    assert.deepEqual(star, { star: true, params: new Map() });
  });

  it('parses CSeq, Content-Type and auth headers', () => {
    assert.deepEqual(parseCSeq('0042 REGISTER'), { seq: 42, method: 'REGISTER' });
    const ct = parseContentType('multipart/mixed; boundary="abc def"');
    assert.equal(ct?.subtype, 'mixed');
    assert.equal(ct?.params.get('boundary'), 'abc def');
    const auth = parseAuthHeader('Digest realm="a, b", nonce="n", qop="auth,auth-int", algorithm=MD5');
    assert.equal(auth?.scheme, 'Digest');
    assert.equal(auth?.params.get('realm'), 'a, b');
    assert.equal(auth?.params.get('qop'), 'auth,auth-int');
  });
});

describe('URIs', () => {
  it('parses user escapes, password, IPv6, params and headers and formats them back', () => {
    const u = parseUri('sips:al%69ce:secret@[2001:DB8::1]:5061;transport=tls;lr?subject=hi%20there&priority=urgent');
    assert.ok(u && u.kind === 'sip');
    assert.equal(u.scheme, 'sips');
    assert.equal(u.user, 'alice');
    assert.equal(u.password, 'secret');
    assert.equal(u.host, '2001:db8::1');
    assert.equal(u.port, 5061);
    assert.equal(u.params.get('lr'), null);
    assert.equal(u.headers.get('subject'), 'hi there');
    assert.equal(formatUri(u), 'sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?subject=hi%20there&priority=urgent');
    const t = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    assert.ok(t && t.kind === 'tel');
    assert.equal(t.number, '+1-201-555-0123');
    assert.equal(parseUri('sip:bad host'), undefined);
    assert.equal(parseUri('sip:a@b@c'), undefined);
    assert.equal(parseUri('sip:x@example.com:99999'), undefined);
  });

  it('compares per RFC 3261 §19.1.4', () => {
    const eq = (a: string, b: string): boolean => {
      const ua = parseUri(a);
      const ub = parseUri(b);
      assert.ok(ua && ub);
      return uriEquals(ua, ub);
    };
    assert.ok(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp'));
    assert.ok(eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;newparam=5'));
    assert.ok(!eq('SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP'));
    assert.ok(!eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060'));
    assert.ok(!eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp'));
    assert.ok(!eq('sip:carol@chicago.com;security=on', 'sip:carol@chicago.com;security=off'));
    assert.ok(!eq('sip:bob@biloxi.com', 'sips:bob@biloxi.com'));
  });
});

describe('building messages', () => {
  it('createResponse copies Vias, From, To (+tag), Call-ID, CSeq', () => {
    const m = req(INVITE.replace('Via:', 'Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp\r\nVia:'));
    const res = createResponse(m, 180, undefined, { toTag: 'totag1' });
    assert.equal(res.reason, 'Ringing');
    assert.deepEqual(res.headers.getAll('Via'), m.headers.getAll('Via'));
    assert.equal(res.headers.get('From'), m.headers.get('From'));
    assert.equal(parseNameAddr(res.headers.get('To') ?? '')?.tag, 'totag1');
    assert.equal(res.headers.get('Call-ID'), m.headers.get('Call-ID'));
    assert.equal(res.headers.get('CSeq'), '1 INVITE');
    const wire = parseMessage(serialize(res));
    assert.ok(wire.ok && wire.message.kind === 'response' && wire.message.status === 180);
    // An existing To tag is never replaced.
    const tagged = req(INVITE.replace('To: Bob <sip:bob@biloxi.example.com>', 'To: <sip:bob@biloxi.example.com>;tag=old'));
    assert.equal(parseNameAddr(createResponse(tagged, 200, 'OK', { toTag: 'new' }).headers.get('To') ?? '')?.tag, 'old');
  });

  it('applyReceivedRport fills rport and received, responseDestination follows them', () => {
    const m = req(INVITE);
    const via = applyReceivedRport(m, '203.0.113.7', 40123);
    assert.equal(via?.received, '203.0.113.7');
    assert.equal(via?.rport, 40123);
    const top = parseVia(m.headers.get('Via') ?? '');
    assert.equal(top?.rport, 40123);
    const res = createResponse(m, 200);
    assert.deepEqual(responseDestination(res), { host: '203.0.113.7', port: 40123, transport: 'UDP' });
  });

  it('always stamps received with the real source, whatever the Via says (issue 13, finding 2)', () => {
    // §18.2.1 would add received only when the host differs; callchart always does, so that a
    // received the client wrote itself never survives.
    const same = req(INVITE.replace(';rport', ''));
    applyReceivedRport(same, '192.0.2.10', 5060);
    assert.equal(parseVia(same.headers.get('Via') ?? '')?.received, '192.0.2.10');
    assert.deepEqual(responseDestination(createResponse(same, 200)), { host: '192.0.2.10', port: 5060, transport: 'UDP' });
    const natted = req(INVITE.replace(';rport', ''));
    applyReceivedRport(natted, '198.51.100.1', 6000);
    const v = parseVia(natted.headers.get('Via') ?? '');
    assert.equal(v?.received, '198.51.100.1');
    assert.equal(v?.rport, undefined);
    assert.deepEqual(responseDestination(createResponse(natted, 200)), { host: '198.51.100.1', port: 5060, transport: 'UDP' });
  });

  it('createRequest produces a parseable request with fresh identifiers', () => {
    const r = createRequest({
      method: 'OPTIONS',
      uri: sipUri({ user: 'bob', host: 'example.com' }),
      from: { uri: sipUri({ user: 'alice', host: 'example.org' }), params: new Map(), tag: generateTag() },
      to: { uri: sipUri({ user: 'bob', host: 'example.com' }), params: new Map() },
      cseq: 7,
      via: { transport: 'udp', host: '192.0.2.1', port: 5070, rport: true },
    });
    const p = parseMessage(serialize(r));
    assert.ok(p.ok && p.message.kind === 'request');
    const via = parseVia(p.message.headers.get('Via') ?? '');
    assert.ok(via?.branch?.startsWith('z9hG4bK'));
    assert.equal(via?.rport, true);
    assert.equal(p.message.headers.get('CSeq'), '7 OPTIONS');
    assert.notEqual(generateBranch(), generateBranch());
    assert.notEqual(generateTag(), generateTag());
    assert.match(generateCallId('h.example'), /@h\.example$/);
  });
});

describe('callIdHash (the SIP worker router reads the Call-ID off the bytes)', () => {
  const msg = (callIdLine: string | undefined, body = '') =>
    Buffer.from(
      crlf([
        'BYE sip:bob@example.com SIP/2.0',
        'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1',
        'Identity: i-is-not-a-call-id',
        ...(callIdLine ? [callIdLine] : []),
        'CSeq: 2 BYE',
        `Content-Length: ${body.length}`,
        '',
        body,
      ]),
    );
  it('is the same however the header is spelled', () => {
    const h = callIdHash(msg('Call-ID: abc123@host'));
    assert.notEqual(h, 0);
    for (const line of ['call-id: abc123@host', 'CALL-ID :abc123@host  ', 'i: abc123@host', 'I:\tabc123@host', 'Call-ID:\t abc123@host\t']) {
      assert.equal(callIdHash(msg(line)), h, JSON.stringify(line));
    }
    const res = Buffer.from(crlf(['SIP/2.0 200 OK', 'Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1', 'i: abc123@host', 'CSeq: 2 BYE', '', '']));
    assert.equal(callIdHash(res), h, 'a response hashes like its request');
    assert.equal(callIdValueHash('abc123@host'), h, 'a Call-ID we make hashes as the router will read it');
    for (let i = 0; i < 50; i++) {
      const id = generateCallId('192.0.2.7');
      assert.equal(callIdValueHash(id), callIdHash(msg(`Call-ID: ${id}`)), id);
    }
  });
  it('differs between calls and is 0 without a Call-ID (the body does not count)', () => {
    assert.notEqual(callIdHash(msg('Call-ID: abc124@host')), callIdHash(msg('Call-ID: abc123@host')));
    assert.equal(callIdHash(msg(undefined)), 0);
    assert.equal(callIdHash(msg(undefined, 'Call-ID: in-the-body')), 0);
    assert.equal(callIdHash(msg('Call-ID:   ')), 0);
    assert.equal(callIdHash(Buffer.from('no line break at all')), 0);
    assert.equal(callIdHash(Buffer.alloc(0)), 0);
  });
});
