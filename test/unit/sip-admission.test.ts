// Per-source admission at the SIP edge (issue 13, finding 5), on a fake clock: token buckets, the
// 503-then-silence rule, the allow-list and the bounded table of sources.
import { describe, it, mock } from 'node:test';
import { Writable } from 'node:stream';
import pino from 'pino';
import assert from 'node:assert/strict';
import { SipAdmission, logRefusals, parseAllowList, requestKind, resolveRateLimits, DEFAULT_RATE_LIMITS, type SipAdmissionOptions } from '../../src/sip/transport/admission.js';
import { parseMessage } from '../../src/sip/codec/message.js';
import { parseNameAddr } from '../../src/sip/codec/headers.js';

function req(method: string, callId = 'c1'): Buffer {
  return Buffer.from(
    [
      `${method} sip:callchart@192.0.2.1 SIP/2.0`,
      'Via: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKadm;rport',
      'Max-Forwards: 70',
      'From: <sip:alice@192.0.2.10>;tag=a',
      'To: <sip:callchart@192.0.2.1>',
      `Call-ID: ${callId}`,
      `CSeq: 1 ${method}`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  );
}

function clocked(opts: SipAdmissionOptions = {}): { a: SipAdmission; tick: (ms: number) => void } {
  let t = 1000;
  const a = new SipAdmission({ ...opts, now: () => t });
  return { a, tick: (ms) => (t += ms) };
}

const INVITE = req('INVITE');

describe('requestKind', () => {
  it('reads the method off the bytes, case-sensitively, after keep-alive CRLFs', () => {
    assert.equal(requestKind(INVITE), 'invite');
    assert.equal(requestKind(Buffer.concat([Buffer.from('\r\n\r\n'), req('REGISTER')])), 'register');
    assert.equal(requestKind(req('OPTIONS')), 'options');
    assert.equal(requestKind(req('BYE')), undefined);
    assert.equal(requestKind(Buffer.from('invite sip:a SIP/2.0\r\n')), undefined);
    assert.equal(requestKind(Buffer.from('INVITEX sip:a SIP/2.0\r\n')), undefined);
    assert.equal(requestKind(Buffer.from('SIP/2.0 200 OK\r\n')), undefined);
  });
});

describe('token buckets per source', () => {
  const limits = { invite: { rate: 2, burst: 3 }, replies: { rate: 1, burst: 2 } };

  it('admits a burst, answers 503 while the reply budget lasts, then goes silent; refills with time', () => {
    const { a, tick } = clocked({ rateLimits: limits });
    const verdicts = Array.from({ length: 8 }, () => a.check('192.0.2.10', INVITE));
    assert.deepEqual(verdicts, ['accept', 'accept', 'accept', 'refuse', 'refuse', 'drop', 'drop', 'drop']);
    assert.deepEqual(a.stats.refused, { invite: 2, register: 0, options: 0 });
    assert.deepEqual(a.stats.silenced, { invite: 3, register: 0, options: 0 });
    tick(500); // one INVITE token, half a reply token
    assert.equal(a.check('192.0.2.10', INVITE), 'accept');
    assert.equal(a.check('192.0.2.10', INVITE), 'drop');
    tick(1000);
    assert.equal(a.check('192.0.2.10', INVITE), 'accept');
    assert.equal(a.check('192.0.2.10', INVITE), 'accept');
    assert.equal(a.check('192.0.2.10', INVITE), 'refuse');
  });

  it('keeps each source and each method apart; ACK, BYE and responses only spend the datagram budget', () => {
    const { a } = clocked({ rateLimits: { ...limits, datagrams: { rate: 1, burst: 6 } } });
    for (let i = 0; i < 3; i++) assert.equal(a.check('192.0.2.10', INVITE), 'accept');
    assert.equal(a.check('192.0.2.10', INVITE), 'refuse');
    assert.equal(a.check('192.0.2.11', INVITE), 'accept', 'another source has its own bucket');
    assert.equal(a.check('192.0.2.10', req('OPTIONS')), 'accept', 'OPTIONS has its own bucket');
    assert.equal(a.check('192.0.2.10', req('ACK')), 'accept');
    assert.equal(a.check('192.0.2.10', Buffer.from('SIP/2.0 200 OK\r\n\r\n')), 'accept');
    // 3 INVITEs + OPTIONS + ACK + 200 = 6: the budget is spent. A refused INVITE spent none of it.
    assert.equal(a.check('192.0.2.10', req('BYE')), 'drop');
    assert.equal(a.stats.overBudget, 1);
  });

  it('bounds 503s over all sources together', () => {
    const { a } = clocked({ rateLimits: { invite: { rate: 1, burst: 1 }, repliesTotal: { rate: 1, burst: 3 } } });
    const refusals = [];
    for (let i = 0; i < 10; i++) {
      const src = `198.51.100.${i}`;
      a.check(src, INVITE);
      refusals.push(a.check(src, INVITE));
    }
    assert.equal(refusals.filter((v) => v === 'refuse').length, 3);
    assert.equal(refusals.filter((v) => v === 'drop').length, 7);
  });

  it('rateLimits false turns them all off', () => {
    const { a } = clocked({ rateLimits: false });
    assert.equal(a.active, false);
    for (let i = 0; i < 5000; i++) assert.equal(a.check('192.0.2.10', INVITE), 'accept');
  });

  it('refuses limits that are not positive numbers', () => {
    assert.throws(() => resolveRateLimits({ invite: { rate: 0, burst: 1 } }), /invite needs rate > 0/);
    assert.throws(() => resolveRateLimits({ options: { rate: 1, burst: Number.NaN } }), /options/);
    assert.deepEqual(resolveRateLimits({}), DEFAULT_RATE_LIMITS);
  });
});

describe('the 503', () => {
  it('is a stateless 503 with Retry-After and a To tag, to the source per its Via', () => {
    const { a } = clocked({ retryAfterS: 7 });
    const r = a.refusal(INVITE, { address: '203.0.113.5', port: 40000 });
    assert.ok(r);
    assert.deepEqual(r.to, { address: '203.0.113.5', port: 40000 }, 'received/rport: the source, not the Via sent-by');
    const p = parseMessage(r.bytes);
    assert.ok(p.ok && p.message.kind === 'response');
    assert.equal(p.message.status, 503);
    assert.equal(p.message.headers.get('Retry-After'), '7');
    assert.ok(parseNameAddr(p.message.headers.get('To')!)?.tag);
    assert.equal(p.message.headers.get('Call-ID'), 'c1');
    assert.equal(a.refusal(req('ACK'), { address: '203.0.113.5', port: 40000 }), undefined, 'an ACK is never answered');
    assert.equal(a.refusal(Buffer.from('INVITE garbage\r\n\r\n'), { address: '203.0.113.5', port: 1 }), undefined);
  });
});

describe('allow-list', () => {
  it('drops datagrams from outside it, IPv4 and IPv6, CIDR and single addresses', () => {
    const { a } = clocked({ allow: ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32', '::1'] });
    assert.equal(a.check('10.200.3.4', INVITE), 'accept');
    assert.equal(a.check('192.0.2.7', INVITE), 'accept');
    assert.equal(a.check('192.0.2.8', INVITE), 'drop');
    assert.equal(a.check('11.0.0.1', INVITE), 'drop');
    assert.equal(a.check('2001:db8:1::5', INVITE), 'accept');
    assert.equal(a.check('2001:db9::5', INVITE), 'drop');
    assert.equal(a.check('::1', INVITE), 'accept');
    assert.equal(a.check('::ffff:10.1.1.1', INVITE), 'accept', 'IPv4-mapped IPv6 matches the IPv4 block');
    assert.equal(a.stats.notAllowed, 3);
    assert.equal(a.stats.sources, 5, 'only allowed sources are tracked');
  });

  it('works with rate limits off, and refuses entries that are no address or block', () => {
    const { a } = clocked({ allow: ['127.0.0.2'], rateLimits: false });
    assert.equal(a.check('127.0.0.1', INVITE), 'drop');
    assert.equal(a.check('127.0.0.2', INVITE), 'accept');
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/', '2001:db8::/129', '10.0.0.0/8/8', '']) {
      assert.throws(() => parseAllowList([bad]), RangeError, bad);
    }
  });
});

describe('the table of sources', () => {
  it('never grows past maxSources, whatever the number of (spoofed) sources', () => {
    const { a } = clocked({ maxSources: 100 });
    for (let i = 0; i < 20_000; i++) a.check(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, INVITE);
    assert.equal(a.stats.sources, 100);
    assert.equal(a.stats.overflowed, 19_900, 'newcomers shared the overflow buckets');
  });

  it('newcomers share one overflow set while every known source is busy; the known keep their own', () => {
    const { a } = clocked({ maxSources: 2, rateLimits: { invite: { rate: 1, burst: 2 } } });
    assert.equal(a.check('192.0.2.1', INVITE), 'accept');
    assert.equal(a.check('192.0.2.2', INVITE), 'accept');
    // Spoofed newcomers: two tokens between all of them.
    const spoofed = Array.from({ length: 6 }, (_, i) => a.check(`198.51.100.${i}`, INVITE));
    assert.equal(spoofed.filter((v) => v === 'accept').length, 2);
    assert.equal(a.check('192.0.2.1', INVITE), 'accept', 'a known source still has its second token');
  });

  it('forgets a source once it has been idle long enough for its buckets to be full again', () => {
    const { a, tick } = clocked({ maxSources: 1, rateLimits: { invite: { rate: 1, burst: 1 } } });
    assert.equal(a.check('192.0.2.1', INVITE), 'accept');
    assert.equal(a.check('192.0.2.2', INVITE), 'accept'); // overflow set's token
    assert.equal(a.stats.overflowed, 1);
    tick(60_000);
    assert.equal(a.check('192.0.2.2', INVITE), 'accept');
    assert.equal(a.stats.overflowed, 1, 'took the idle slot instead');
    assert.equal(a.check('192.0.2.2', INVITE), 'refuse', 'with a bucket of its own');
    assert.equal(a.stats.sources, 1);
  });
});

describe('logRefusals', () => {
  it('logs one warn line per window in which something was refused, none otherwise', () => {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        cb();
      },
    });
    const log = pino({ level: 'warn' }, sink);
    const { a } = clocked({ allow: ['192.0.2.0/24'], rateLimits: { invite: { rate: 1, burst: 1 } } });
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      const stop = logRefusals(a, log, 1000);
      a.check('192.0.2.1', INVITE);
      a.check('192.0.2.1', INVITE); // refused
      a.check('198.51.100.1', INVITE); // not allowed
      mock.timers.tick(1000);
      mock.timers.tick(1000);
      stop();
    } finally {
      mock.timers.reset();
    }
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.msg, 'sip admission refused datagrams');
    assert.equal(lines[0]!.refused, 1);
    assert.equal(lines[0]!.notAllowed, 1);
  });
});
