import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildAuthorization,
  challengeFromResponse,
  computeDigestResponse,
  createDigestServer,
  parseChallenge,
  type DigestChallenge,
} from '../../src/sip/codec/digest.js';
import { AuthThrottle } from '../../src/auth-throttle.js';
import { parseAuthHeader } from '../../src/sip/codec/headers.js';
import { parseMessage, type SipResponse } from '../../src/sip/codec/message.js';

describe('digest client', () => {
  it('reproduces the RFC 2617 §3.5 MD5 qop=auth example', () => {
    const challenge = parseChallenge(
      'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"',
    );
    assert.ok(challenge);
    assert.equal(challenge.algorithm, 'MD5');
    assert.deepEqual(challenge.qop, ['auth', 'auth-int']);
    const auth = buildAuthorization({
      challenge,
      method: 'GET',
      uri: '/dir/index.html',
      username: 'Mufasa',
      password: 'Circle Of Life',
      cnonce: '0a4f113b',
      nc: 1,
    });
    assert.equal(auth.name, 'Authorization');
    const p = parseAuthHeader(auth.value)?.params;
    assert.equal(p?.get('response'), '6629fae49393a05397450978507c4ef1');
    assert.equal(p?.get('nc'), '00000001');
    assert.equal(p?.get('qop'), 'auth');
    assert.equal(p?.get('opaque'), '5ccc069c403ebaf9f0171e9517f40e41');
    assert.match(auth.value, /qop=auth(,|$)/);
    assert.match(auth.value, /nc=00000001/);
  });

  it('reproduces the RFC 7616 §3.9.1 SHA-256 and MD5 examples', () => {
    const common = {
      realm: 'http-auth@example.org',
      nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v',
      username: 'Mufasa',
      password: 'Circle of Life',
      method: 'GET',
      uri: '/dir/index.html',
      qop: 'auth' as const,
      nc: '00000001',
      cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ',
    };
    assert.equal(
      computeDigestResponse({ ...common, algorithm: 'SHA-256' }),
      '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1',
    );
    assert.equal(computeDigestResponse({ ...common, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
    const challenge = parseChallenge(
      'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
      { proxy: true },
    );
    assert.ok(challenge);
    const auth = buildAuthorization({ challenge, method: 'GET', uri: '/dir/index.html', username: 'Mufasa', password: 'Circle of Life', cnonce: common.cnonce });
    assert.equal(auth.name, 'Proxy-Authorization');
    assert.equal(parseAuthHeader(auth.value)?.params.get('response'), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
    assert.match(auth.value, /algorithm=SHA-256/);
  });

  it('falls back to RFC 2069 digests when no qop is offered', () => {
    const challenge = parseChallenge('Digest realm="sip.example.com", nonce="abc123"');
    assert.ok(challenge);
    const auth = buildAuthorization({ challenge, method: 'REGISTER', uri: 'sip:sip.example.com', username: 'bob', password: 'zanzibar' });
    const p = parseAuthHeader(auth.value)?.params;
    assert.equal(p?.has('qop'), false);
    assert.equal(p?.has('nc'), false);
    assert.equal(p?.has('cnonce'), false);
    assert.equal(
      p?.get('response'),
      computeDigestResponse({ algorithm: 'MD5', username: 'bob', realm: 'sip.example.com', password: 'zanzibar', method: 'REGISTER', uri: 'sip:sip.example.com', nonce: 'abc123' }),
    );
  });

  it('rejects non-Digest and unknown-algorithm challenges', () => {
    assert.equal(parseChallenge('Basic realm="x"'), undefined);
    assert.equal(parseChallenge('Digest realm="x", nonce="y", algorithm=SHA-512-256-foo'), undefined);
    assert.equal(parseChallenge('Digest realm="x"'), undefined);
  });

  it('extracts the challenge from 401 and 407 responses', () => {
    const wire = (status: string, header: string): SipResponse => {
      const r = parseMessage(
        [
          `SIP/2.0 ${status}`,
          'Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1',
          'From: <sip:a@example.com>;tag=1',
          'To: <sip:b@example.com>;tag=2',
          'Call-ID: c',
          'CSeq: 1 INVITE',
          `${header}: Digest realm="example.com", nonce="n1", qop="auth"`,
          '',
          '',
        ].join('\r\n'),
      );
      assert.ok(r.ok && r.message.kind === 'response');
      return r.message;
    };
    assert.equal(challengeFromResponse(wire('401 Unauthorized', 'WWW-Authenticate'))?.proxy, false);
    assert.equal(challengeFromResponse(wire('407 Proxy Authentication Required', 'Proxy-Authenticate'))?.proxy, true);
    assert.equal(challengeFromResponse(wire('407 Proxy Authentication Required', 'WWW-Authenticate')), undefined);
  });
});

describe('digest server', () => {
  const users: Record<string, string> = { alice: 'wonderland' };
  const lookup = (u: string): string | undefined => users[u];

  function setup(algorithm: 'MD5' | 'SHA-256' = 'MD5') {
    let clock = 1_700_000_000_000;
    const server = createDigestServer({ realm: 'pbx.example.com', nonceTtlMs: 30_000, now: () => clock, secret: 'test-secret', algorithm });
    return {
      server,
      advance: (ms: number) => {
        clock += ms;
      },
      challenge: (): DigestChallenge => {
        const c = parseChallenge(server.challenge());
        assert.ok(c);
        return c;
      },
    };
  }

  for (const algorithm of ['MD5', 'SHA-256'] as const) {
    it(`accepts correct ${algorithm} credentials and rejects a wrong password`, () => {
      const { server, challenge } = setup(algorithm);
      const c = challenge();
      assert.equal(c.algorithm, algorithm);
      const good = buildAuthorization({ challenge: c, method: 'INVITE', uri: 'sip:bob@pbx.example.com', username: 'alice', password: 'wonderland' });
      assert.deepEqual(server.verify({ method: 'INVITE', authorization: good.value, lookup, requestUri: 'sip:bob@pbx.example.com' }), { ok: true, username: 'alice' });
      const bad = buildAuthorization({ challenge: c, method: 'INVITE', uri: 'sip:bob@pbx.example.com', username: 'alice', password: 'nope', nc: 2 });
      const r = server.verify({ method: 'INVITE', authorization: bad.value, lookup });
      assert.equal(r.ok, false);
      assert.equal(!r.ok && r.reason, 'bad-response');
      assert.equal(!r.ok && r.stale, false);
    });
  }

  it('reports stale=true only for an expired nonce with a correct response', () => {
    const { server, challenge, advance } = setup();
    const c = challenge();
    advance(31_000);
    assert.equal(server.checkNonce(c.nonce), 'expired');
    const good = buildAuthorization({ challenge: c, method: 'REGISTER', uri: 'sip:pbx.example.com', username: 'alice', password: 'wonderland' });
    const r = server.verify({ method: 'REGISTER', authorization: good.value, lookup });
    assert.deepEqual(r, { ok: false, reason: 'stale', username: 'alice', stale: true });
    const bad = buildAuthorization({ challenge: c, method: 'REGISTER', uri: 'sip:pbx.example.com', username: 'alice', password: 'guess' });
    const rb = server.verify({ method: 'REGISTER', authorization: bad.value, lookup });
    assert.equal(!rb.ok && rb.stale, false);
    assert.match(server.challenge({ stale: true }), /stale=true/);
  });

  it('rejects forged nonces, other realms, unknown users, wrong URIs and replays', () => {
    const { server, challenge } = setup();
    const c = challenge();
    const make = (over: Partial<DigestChallenge> = {}, nc = 1, username = 'alice', uri = 'sip:pbx.example.com') =>
      buildAuthorization({ challenge: { ...c, ...over }, method: 'REGISTER', uri, username, password: 'wonderland', nc }).value;
    const reason = (authorization: string, requestUri?: string) => {
      const r = server.verify(requestUri === undefined ? { method: 'REGISTER', authorization, lookup } : { method: 'REGISTER', authorization, lookup, requestUri });
      return r.ok ? 'ok' : r.reason;
    };
    const [payload = '', sig = ''] = c.nonce.split('.');
    // Change the leading (timestamp) character: trailing base64 characters may only hold padding bits.
    const tampered = `${payload.startsWith('A') ? 'B' : 'A'}${payload.slice(1)}.${sig}`;
    assert.equal(reason(make({ nonce: tampered })), 'bad-nonce');
    assert.equal(reason(make({ nonce: 'plainly-made-up' })), 'bad-nonce');
    assert.equal(reason(make({ realm: 'evil.example.com' })), 'wrong-realm');
    assert.equal(reason(make({}, 1, 'mallory')), 'unknown-user');
    assert.equal(reason(make({}, 1, 'alice', 'sip:other.example.com'), 'sip:pbx.example.com'), 'uri-mismatch');
    assert.equal(reason('Digest username="alice"'), 'malformed');
    assert.equal(reason('Basic YWxpY2U6d29uZGVybGFuZA=='), 'malformed');
    assert.equal(reason(make({}, 5)), 'ok');
    assert.equal(reason(make({}, 5)), 'replay');
    assert.equal(reason(make({}, 6)), 'ok');
  });

  it('nonces from another secret do not verify', () => {
    const a = createDigestServer({ realm: 'r', nonceTtlMs: 60_000, secret: 'one' });
    const b = createDigestServer({ realm: 'r', nonceTtlMs: 60_000, secret: 'two' });
    const c = parseChallenge(a.challenge());
    assert.ok(c);
    assert.equal(a.checkNonce(c.nonce), 'valid');
    assert.equal(b.checkNonce(c.nonce), 'invalid');
  });
});

describe('digest server under a flood (issue 13, finding 7)', () => {
  const lookup = (u: string): string | undefined => (u === 'alice' ? 'wonderland' : undefined);

  it('keeps no state for challenges or failed attempts; successes are remembered up to maxTrackedNonces', () => {
    const server = createDigestServer({ realm: 'r', nonceTtlMs: 60_000, maxTrackedNonces: 100 });
    for (let i = 0; i < 5000; i++) {
      const c = parseChallenge(server.challenge())!;
      const bad = buildAuthorization({ challenge: c, method: 'INVITE', uri: 'sip:x@r', username: i % 2 ? 'alice' : 'mallory', password: `guess${i}` });
      assert.equal(server.verify({ method: 'INVITE', authorization: bad.value, lookup }).ok, false);
    }
    assert.equal(server.trackedNonces, 0, 'a flood of challenges and wrong answers leaves nothing behind');
    for (let i = 0; i < 500; i++) {
      const c = parseChallenge(server.challenge())!;
      const good = buildAuthorization({ challenge: c, method: 'INVITE', uri: 'sip:x@r', username: 'alice', password: 'wonderland' });
      assert.equal(server.verify({ method: 'INVITE', authorization: good.value, lookup }).ok, true);
    }
    assert.ok(server.trackedNonces <= 100, `tracked ${server.trackedNonces}`);
  });

  it('forgets replay records once their nonce expired', () => {
    let clock = 1_000_000;
    const server = createDigestServer({ realm: 'r', nonceTtlMs: 1000, now: () => clock });
    for (let i = 0; i < 50; i++) {
      const c = parseChallenge(server.challenge())!;
      assert.equal(server.verify({ method: 'INVITE', authorization: buildAuthorization({ challenge: c, method: 'INVITE', uri: 'sip:x@r', username: 'alice', password: 'wonderland' }).value, lookup }).ok, true);
    }
    assert.equal(server.trackedNonces, 50);
    clock += 2000;
    const c = parseChallenge(server.challenge())!;
    server.verify({ method: 'INVITE', authorization: buildAuthorization({ challenge: c, method: 'INVITE', uri: 'sip:x@r', username: 'alice', password: 'wonderland' }).value, lookup });
    assert.equal(server.trackedNonces, 1);
  });
});

describe('failed authentications per source (AuthThrottle)', () => {
  it('locks a source after maxFailures in its window, and only that source, until the window ends', () => {
    let clock = 0;
    const t = new AuthThrottle({ maxFailures: 3, windowMs: 1000, now: () => clock });
    assert.equal(t.locked('10.0.0.1'), false);
    assert.deepEqual([t.failed('10.0.0.1'), t.failed('10.0.0.1'), t.failed('10.0.0.1')], [false, false, true]);
    assert.equal(t.locked('10.0.0.1'), true);
    assert.equal(t.locked('10.0.0.2'), false);
    clock += 999;
    assert.equal(t.locked('10.0.0.1'), true);
    clock += 1;
    assert.equal(t.locked('10.0.0.1'), false, 'a new window');
  });

  it('tracks a bounded number of sources', () => {
    const t = new AuthThrottle({ maxSources: 100, now: () => 0 });
    for (let i = 0; i < 10_000; i++) t.failed(`10.0.${i >> 8}.${i & 255}`);
    assert.ok(t.size <= 100, `size ${t.size}`);
  });
});
