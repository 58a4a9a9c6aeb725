import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as sdpTransform from 'sdp-transform';
import { answerDirection, createOffer, isHoldOffer, negotiate, parseRemote, writeSession, type LocalMedia } from '../../src/sip/codec/sdp.js';

const lines = (...l: string[]): string => `${l.join('\r\n')}\r\n`;

// Shaped like SIPp's built-in uac scenario body: static PCMU with an rtpmap.
const SIPP_OFFER = lines(
  'v=0',
  'o=user1 53655765 2353687637 IN IP4 10.0.0.5',
  's=-',
  'c=IN IP4 10.0.0.5',
  't=0 0',
  'm=audio 6000 RTP/AVP 0',
  'a=rtpmap:0 PCMU/8000',
);

// Shaped like a baresip offer: opus first, G.711 next, RFC 4733 events, media-level attributes.
const BARESIP_OFFER = lines(
  'v=0',
  'o=- 1402378473 1862417906 IN IP4 192.168.1.20',
  's=-',
  'c=IN IP4 192.168.1.20',
  't=0 0',
  'm=audio 10008 RTP/AVP 96 8 0 101',
  'b=AS:96',
  'a=rtpmap:96 opus/48000/2',
  'a=fmtp:96 stereo=1;sprop-stereo=1',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=sendrecv',
  'a=label:1',
  'a=ssrc:1419330591 cname:8c2a1f1e-3a5f-4c0b-a0a4-0d4f7d6c8d11',
  'a=ptime:20',
);

const local: LocalMedia = { address: '203.0.113.10', port: 40000, supported: ['PCMU', 'PCMA'], telephoneEvent: true };

describe('createOffer', () => {
  it('writes PCMU/PCMA/telephone-event with static payload types', () => {
    const sdp = createOffer({ address: '198.51.100.2', port: 30000, codecs: ['PCMU', 'PCMA'], sessionId: '42', sessionVersion: 7 });
    const d = sdpTransform.parse(sdp);
    assert.equal(d.origin.sessionId, 42);
    assert.equal(d.origin.sessionVersion, 7);
    assert.equal(d.connection?.ip, '198.51.100.2');
    const m = d.media[0];
    assert.ok(m);
    assert.equal(m.port, 30000);
    assert.equal(m.payloads, '0 8 101');
    assert.deepEqual(m.rtp.map((r) => [r.payload, r.codec, r.rate]), [
      [0, 'PCMU', 8000],
      [8, 'PCMA', 8000],
      [101, 'telephone-event', 8000],
    ]);
    assert.equal(m.direction, 'sendrecv');
    assert.ok(sdp.includes('\r\n'));
  });

  it('honours direction, custom DTMF PT, no DTMF and IPv6', () => {
    const held = createOffer({ address: '2001:db8::5', port: 4000, codecs: ['PCMA'], telephoneEvent: 96, direction: 'sendonly' });
    assert.match(held, /^c=IN IP6 2001:db8::5\r$/m);
    assert.match(held, /^m=audio 4000 RTP\/AVP 8 96\r$/m);
    assert.match(held, /^a=sendonly\r$/m);
    assert.ok(isHoldOffer(held));
    const noDtmf = createOffer({ address: '192.0.2.1', port: 4000, codecs: ['PCMU'], telephoneEvent: false });
    assert.doesNotMatch(noDtmf, /telephone-event/);
  });
});

describe('parseRemote', () => {
  it('reads a SIPp offer', () => {
    const r = parseRemote(SIPP_OFFER);
    assert.ok(r.ok);
    assert.equal(r.address, '10.0.0.5');
    assert.equal(r.port, 6000);
    assert.deepEqual(r.codecs, [{ pt: 0, name: 'PCMU', rate: 8000 }]);
    assert.equal(r.telephoneEventPt, undefined);
    assert.equal(r.direction, 'sendrecv');
  });

  it('reads a baresip offer, with media-level connection overriding the session one', () => {
    const r = parseRemote(BARESIP_OFFER.replace('m=audio 10008 RTP/AVP 96 8 0 101\r\n', 'm=audio 10008 RTP/AVP 96 8 0 101\r\nc=IN IP4 192.168.1.99\r\n'));
    assert.ok(r.ok);
    assert.equal(r.address, '192.168.1.99');
    assert.deepEqual(r.codecs.map((c) => [c.pt, c.name, c.rate]), [
      [96, 'OPUS', 48000],
      [8, 'PCMA', 8000],
      [0, 'PCMU', 8000],
    ]);
    assert.equal(r.telephoneEventPt, 101);
    assert.equal(r.ptime, 20);
  });

  it('recognises static payload types without rtpmap and rejects junk', () => {
    const r = parseRemote(lines('v=0', 'o=- 1 1 IN IP4 192.0.2.9', 's=-', 'c=IN IP4 192.0.2.9', 't=0 0', 'm=audio 5004 RTP/AVP 8 0 18'));
    assert.ok(r.ok);
    assert.deepEqual(r.codecs.map((c) => c.name), ['PCMA', 'PCMU', 'G729']);
    assert.equal(parseRemote('hello').ok, false);
    assert.equal(parseRemote(lines('v=0', 'o=- 1 1 IN IP4 192.0.2.9', 's=-', 't=0 0', 'm=audio 5004 RTP/AVP 0')).ok, false);
    assert.equal(parseRemote(lines('v=0', 'o=- 1 1 IN IP4 192.0.2.9', 's=-', 'c=IN IP4 192.0.2.9', 't=0 0', 'm=video 5004 RTP/AVP 31')).ok, false);
  });
});

describe('negotiate', () => {
  it('answers a SIPp offer with PCMU and no DTMF', () => {
    const r = negotiate(SIPP_OFFER, local);
    assert.ok(r.ok);
    assert.deepEqual(r.chosen, { pt: 0, name: 'PCMU' });
    assert.equal(r.telephoneEventPt, undefined);
    assert.deepEqual(r.remote, { address: '10.0.0.5', port: 6000 });
    assert.equal(r.direction, 'sendrecv');
    const a = sdpTransform.parse(r.answer);
    assert.equal(a.connection?.ip, '203.0.113.10');
    assert.equal(a.media.length, 1);
    assert.equal(a.media[0]?.port, 40000);
    assert.match(r.answer, /^m=audio 40000 RTP\/AVP 0\r$/m);
  });

  it('follows the offerer preference among shared codecs and mirrors its DTMF PT', () => {
    const r = negotiate(BARESIP_OFFER.replace(/101/g, '100'), local);
    assert.ok(r.ok);
    assert.deepEqual(r.chosen, { pt: 8, name: 'PCMA' });
    assert.equal(r.telephoneEventPt, 100);
    const m = sdpTransform.parse(r.answer).media[0];
    assert.equal(m?.payloads, '8 100');
    assert.deepEqual(m?.fmtp.map((f) => f.payload), [100]);
    const noDtmf = negotiate(BARESIP_OFFER, { ...local, telephoneEvent: false });
    assert.ok(noDtmf.ok);
    assert.equal(noDtmf.telephoneEventPt, undefined);
    assert.doesNotMatch(noDtmf.answer, /telephone-event/);
  });

  it('answers 488 when no audio codec matches', () => {
    const opusOnly = BARESIP_OFFER.replace('m=audio 10008 RTP/AVP 96 8 0 101', 'm=audio 10008 RTP/AVP 96 101');
    const r = negotiate(opusOnly, local);
    assert.deepEqual(r, { ok: false, status: 488, reason: 'No common audio codec' });
    const pcmuOnlyLocal = negotiate(
      lines('v=0', 'o=- 1 1 IN IP4 192.0.2.9', 's=-', 'c=IN IP4 192.0.2.9', 't=0 0', 'm=audio 5004 RTP/AVP 8'),
      { ...local, supported: ['PCMU'] },
    );
    assert.equal(pcmuOnlyLocal.ok, false);
    assert.equal(negotiate('garbage', local).ok, false);
  });

  it('keeps m-line alignment, rejecting the non-audio streams with port 0', () => {
    const withVideo = SIPP_OFFER + lines('m=video 6002 RTP/AVP 31', 'a=rtpmap:31 H261/90000');
    const r = negotiate(withVideo, local);
    assert.ok(r.ok);
    const a = sdpTransform.parse(r.answer);
    assert.deepEqual(a.media.map((m) => [m.type, m.port]), [
      ['audio', 40000],
      ['video', 0],
    ]);
  });

  it('derives the answer direction from the offer', () => {
    const cases: Array<[string, string]> = [
      ['sendonly', 'recvonly'],
      ['recvonly', 'sendonly'],
      ['inactive', 'inactive'],
      ['sendrecv', 'sendrecv'],
    ];
    for (const [offered, expected] of cases) {
      const r = negotiate(BARESIP_OFFER.replace('a=sendrecv', `a=${offered}`), local);
      assert.ok(r.ok);
      assert.equal(r.direction, expected, offered);
      assert.match(r.answer, new RegExp(`^a=${expected}\\r$`, 'm'));
    }
    // Session-level direction applies when the m-line has none.
    const sessionLevel = SIPP_OFFER.replace('t=0 0\r\n', 't=0 0\r\na=sendonly\r\n');
    const sl = negotiate(sessionLevel, local);
    assert.ok(sl.ok);
    assert.equal(sl.direction, 'recvonly');
    assert.equal(answerDirection('sendrecv', 'recvonly'), 'recvonly');
    assert.equal(answerDirection('sendonly', 'sendonly'), 'inactive');
  });
});

describe('isHoldOffer', () => {
  it('detects sendonly, inactive and c=0.0.0.0 holds but not a normal offer', () => {
    assert.equal(isHoldOffer(BARESIP_OFFER), false);
    assert.equal(isHoldOffer(BARESIP_OFFER.replace('a=sendrecv', 'a=sendonly')), true);
    assert.equal(isHoldOffer(BARESIP_OFFER.replace('a=sendrecv', 'a=inactive')), true);
    assert.equal(isHoldOffer(SIPP_OFFER.replace('c=IN IP4 10.0.0.5', 'c=IN IP4 0.0.0.0')), true);
    assert.equal(isHoldOffer(BARESIP_OFFER.replace('a=sendrecv', 'a=recvonly')), false);
  });
});

describe('writeSession', () => {
  // The hand-written writer must produce exactly what sdp-transform's generic write() does.
  const viaTransform = (address: string, sessionId: string, sessionVersion: number, media: Parameters<typeof writeSession>[3]): string => {
    const ipVer = address.includes(':') ? 6 : 4;
    return sdpTransform.write({
      version: 0,
      origin: { username: '-', sessionId, sessionVersion, netType: 'IN', ipVer, address },
      name: '-',
      connection: { version: ipVer, ip: address },
      timing: { start: 0, stop: 0 },
      media: media.map((m) => ({ ...m, rtp: [...m.rtp], fmtp: [...m.fmtp], ...(m.crypto ? { crypto: [...m.crypto] } : {}) })),
    });
  };
  const cases: Array<[string, Parameters<typeof writeSession>]> = [
    ['offer with DTMF', ['203.0.113.10', '1234567890', 1, [
      { type: 'audio', port: 40000, protocol: 'RTP/AVP', payloads: '0 8 101', rtp: [{ payload: 0, codec: 'PCMU', rate: 8000 }, { payload: 8, codec: 'PCMA', rate: 8000 }, { payload: 101, codec: 'telephone-event', rate: 8000 }], fmtp: [{ payload: 101, config: '0-16' }], ptime: 20, direction: 'sendrecv' },
    ]]],
    ['IPv6, no ptime, sendonly', ['2001:db8::1', '42', 7, [
      { type: 'audio', port: 40002, protocol: 'RTP/AVP', payloads: '8', rtp: [{ payload: 8, codec: 'PCMA', rate: 8000 }], fmtp: [], direction: 'sendonly' },
    ]]],
    ['SRTP offer: RTP/SAVP with two a=crypto lines', ['203.0.113.10', '77', 1, [
      { type: 'audio', port: 40006, protocol: 'RTP/SAVP', payloads: '0 101', rtp: [{ payload: 0, codec: 'PCMU', rate: 8000 }, { payload: 101, codec: 'telephone-event', rate: 8000 }], fmtp: [{ payload: 101, config: '0-16' }], crypto: [{ id: 1, suite: 'AES_CM_128_HMAC_SHA1_80', config: `inline:${'A'.repeat(40)}` }, { id: 2, suite: 'AES_CM_128_HMAC_SHA1_32', config: `inline:${'B'.repeat(40)}` }], ptime: 20, direction: 'sendrecv' },
    ]]],
    ['answer with a rejected video stream and odd rtpmaps', ['198.51.100.1', '99', 3, [
      { type: 'audio', port: 40004, protocol: 'RTP/AVP', payloads: '0', rtp: [{ payload: 0, codec: 'PCMU', rate: 8000 }, { payload: 96, codec: 'opus', rate: 48000, encoding: 2 }, { payload: 97, codec: 'X' }], fmtp: [], ptime: 30, direction: 'inactive' },
      { type: 'video', port: 0, protocol: 'RTP/AVP', payloads: '96 97', rtp: [], fmtp: [] },
    ]]],
  ];
  for (const [name, args] of cases) {
    it(`matches sdp-transform: ${name}`, () => {
      assert.equal(writeSession(...args), viaTransform(...args));
    });
  }

  it('createOffer and negotiate output round-trips through sdp-transform unchanged', () => {
    const offer = createOffer({ address: '203.0.113.10', port: 40000, codecs: ['PCMU', 'PCMA'], sessionId: '5', sessionVersion: 2 });
    assert.equal(sdpTransform.write(sdpTransform.parse(offer)), offer);
    const n = negotiate(BARESIP_OFFER, local);
    assert.ok(n.ok);
    assert.equal(sdpTransform.write(sdpTransform.parse(n.answer)), n.answer);
  });
});

describe('SDES (RFC 4568) in offers and answers', () => {
  const KEY_A = Buffer.alloc(30, 0xa1);
  const KEY_B = Buffer.alloc(30, 0xb2);
  const inline = (k: Buffer): string => `inline:${k.toString('base64')}`;
  const savp = (cryptoLines: string[], profile = 'RTP/SAVP'): string =>
    lines('v=0', 'o=- 1 1 IN IP4 10.0.0.5', 's=-', 'c=IN IP4 10.0.0.5', 't=0 0', `m=audio 6000 ${profile} 0`, 'a=rtpmap:0 PCMU/8000', ...cryptoLines);

  it('parses usable crypto lines in order, leaving out unknown suites, MKIs and session parameters', () => {
    const r = parseRemote(savp([
      `a=crypto:1 AES_256_CM_HMAC_SHA1_80 inline:${Buffer.alloc(46).toString('base64')}`,
      `a=crypto:2 AES_CM_128_HMAC_SHA1_80 ${inline(KEY_A)}|2^20|1:4`,
      `a=crypto:3 AES_CM_128_HMAC_SHA1_80 ${inline(KEY_A)} UNENCRYPTED_SRTP`,
      `a=crypto:4 AES_CM_128_HMAC_SHA1_32 ${inline(KEY_A)}|2^31`,
      `a=crypto:5 AES_CM_128_HMAC_SHA1_80 ${inline(KEY_B)}`,
    ]));
    assert.ok(r.ok);
    assert.equal(r.secure, true);
    assert.deepEqual(r.crypto.map((c) => [c.tag, c.suite]), [[4, 'AES_CM_128_HMAC_SHA1_32'], [5, 'AES_CM_128_HMAC_SHA1_80']]);
    assert.deepEqual(r.crypto[0]!.key, KEY_A);
  });

  it('answers the first usable line with its tag and suite, our key, and the offer\'s profile', () => {
    const n = negotiate(savp([`a=crypto:9 AES_CM_128_HMAC_SHA1_32 ${inline(KEY_A)}`, `a=crypto:10 AES_CM_128_HMAC_SHA1_80 ${inline(KEY_A)}`]), { ...local, srtp: { mode: 'optional', key: KEY_B } });
    assert.ok(n.ok);
    assert.match(n.answer, /^m=audio 40000 RTP\/SAVP 0/m);
    assert.match(n.answer, new RegExp(`^a=crypto:9 AES_CM_128_HMAC_SHA1_32 ${inline(KEY_B).replace(/[+/]/g, '\\$&')}\\r$`, 'm'));
    assert.equal((n.answer.match(/a=crypto/g) ?? []).length, 1);
    assert.deepEqual(n.srtp && { tag: n.srtp.tag, suite: n.srtp.suite, protocol: n.srtp.protocol }, { tag: 9, suite: 'AES_CM_128_HMAC_SHA1_32', protocol: 'RTP/SAVP' });
    assert.deepEqual(n.srtp?.remoteKey, KEY_A);
    assert.deepEqual(n.srtp?.localKey, KEY_B);
  });

  it('per mode: off refuses RTP/SAVP and ignores best-effort a=crypto; required refuses offers without; optional falls back to RTP', () => {
    const withCrypto = savp([`a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline(KEY_A)}`]);
    const bestEffort = savp([`a=crypto:1 AES_CM_128_HMAC_SHA1_80 ${inline(KEY_A)}`], 'RTP/AVP');
    const plain = savp([], 'RTP/AVP');
    const offNeg = negotiate(withCrypto, local);
    assert.deepEqual(offNeg.ok ? 'ok' : offNeg.status, 488);
    const offBe = negotiate(bestEffort, local);
    assert.ok(offBe.ok && !offBe.srtp && !/a=crypto/.test(offBe.answer));
    const req = negotiate(plain, { ...local, srtp: { mode: 'required', key: KEY_B } });
    assert.equal(req.ok, false);
    const reqBe = negotiate(bestEffort, { ...local, srtp: { mode: 'required', key: KEY_B } });
    assert.ok(reqBe.ok && reqBe.srtp?.protocol === 'RTP/AVP' && /^m=audio \d+ RTP\/AVP /m.test(reqBe.answer));
    const opt = negotiate(plain, { ...local, srtp: { mode: 'optional', key: KEY_B } });
    assert.ok(opt.ok && !opt.srtp);
    const savpNoKeys = negotiate(savp([]), { ...local, srtp: { mode: 'optional', key: KEY_B } });
    assert.equal(savpNoKeys.ok, false, 'RTP/SAVP without usable keys');
  });

  it('createOffer writes the profile and every crypto line', () => {
    const offer = createOffer({ address: '203.0.113.10', port: 40000, codecs: ['PCMU'], protocol: 'RTP/SAVP', crypto: [{ tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', key: KEY_A }, { tag: 2, suite: 'AES_CM_128_HMAC_SHA1_32', key: KEY_B }] });
    const r = parseRemote(offer);
    assert.ok(r.ok);
    assert.equal(r.secure, true);
    assert.deepEqual(r.crypto.map((c) => [c.tag, c.suite, c.key.toString('hex')]), [[1, 'AES_CM_128_HMAC_SHA1_80', KEY_A.toString('hex')], [2, 'AES_CM_128_HMAC_SHA1_32', KEY_B.toString('hex')]]);
  });
});
