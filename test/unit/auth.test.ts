// Credentials of the WebSocket/HTTP port without sockets: per-path policy, minting and checking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { Authenticator, mintToken, signUrl } from '../../src/http/auth.js';

const SECRET = 'unit-secret-0123456789';
const req = (authorization?: string) => ({ headers: authorization ? { authorization } : {} }) as IncomingMessage;
const url = (u: string) => new URL(u, 'http://localhost');
const basic = (up: string) => `Basic ${Buffer.from(up).toString('base64')}`;

test('per-path policy: exact keys, /* prefixes (most specific wins), open paths, methods a path does not take', () => {
  const auth = new Authenticator({ secret: SECRET, users: { jambonz: 'pw' }, routes: { '/hook': ['basic'], '/public/*': 'open', '/public/private/*': ['bearer'] } });
  assert.deepEqual(auth.policy('/hook'), ['basic']);
  assert.equal(auth.policy('/public'), 'open');
  assert.equal(auth.policy('/public/x/y'), 'open');
  assert.deepEqual(auth.policy('/public/private/x'), ['bearer']);
  assert.deepEqual(auth.policy('/hook/menu'), ['bearer', 'signed-url', 'basic'], 'an exact key does not cover sub-paths');
  assert.deepEqual(auth.authenticate(req(), url('/public/page')), { ok: true, credential: undefined });
  const token = mintToken(SECRET, { sub: 'alice' });
  const refused = auth.authenticate(req(`Bearer ${token}`), url('/hook'));
  assert.equal(refused.ok, false);
  assert.match(refused.ok ? '' : refused.reason, /bearer credentials are not accepted on \/hook/);
  assert.deepEqual(refused.ok ? [] : refused.challenges, ['Basic realm="callchart", charset="UTF-8"']);
  assert.deepEqual(auth.authenticate(req(basic('jambonz:pw')), url('/hook')), { ok: true, credential: { principal: 'jambonz', method: 'basic', scope: undefined } });
  assert.throws(() => new Authenticator({ secret: SECRET, routes: { '/x': [] } }), /must be "open" or a non-empty list/);
  assert.throws(() => new Authenticator({ secret: SECRET, routes: { hook: 'open' } }), /must be a path/);
});

test('tokens and signed URLs: expiry, scope, principal rules, secret length, relative and absolute URLs', () => {
  const auth = new Authenticator({ secret: SECRET });
  const now = 1_800_000_000;
  const t = mintToken(SECRET, { sub: 'alice', ttlSeconds: 60, scope: '/rooms/a/', now });
  assert.deepEqual(auth.authenticate(req(`bearer ${t}`), url('/rooms/a'), now + 60), { ok: true, credential: { principal: 'alice', method: 'bearer', scope: '/rooms/a' } });
  assert.deepEqual(auth.authenticate(req(`Bearer ${t}`), url('/rooms/a/b'), now), { ok: true, credential: { principal: 'alice', method: 'bearer', scope: '/rooms/a' } });
  const late = auth.authenticate(req(`Bearer ${t}`), url('/rooms/a'), now + 61);
  assert.equal(late.ok ? '' : late.reason, 'token expired');
  const out = auth.authenticate(req(`Bearer ${t}`), url('/rooms/ab'), now);
  assert.equal(out.ok ? '' : out.reason, 'credentials are scoped to /rooms/a');

  const rel = signUrl(SECRET, '/rooms/a?x=1&b=2', { sub: 'bob', now });
  assert.match(rel, /^\/rooms\/a\?x=1&b=2&cc_sub=bob&cc_exp=\d+&cc_sig=[\w-]+$/);
  assert.equal(auth.authenticate(req(), url(rel), now).ok, true);
  // Parameter order does not matter to the MAC (it covers the sorted query).
  const reordered = `/rooms/a?b=2&${rel.split('?')[1]!.replace('x=1&b=2&', '')}&x=1`;
  assert.equal(auth.authenticate(req(), url(reordered), now).ok, true);
  const scoped = signUrl(SECRET, 'ws://h:1/rooms/a/x', { sub: 'bob', scope: '/rooms/a', now });
  assert.ok(scoped.startsWith('ws://h:1/rooms/a/x?'));
  assert.deepEqual(auth.authenticate(req(), url(scoped.replace('ws://h:1', '').replace('/rooms/a/x', '/rooms/a/y')), now), { ok: true, credential: { principal: 'bob', method: 'signed-url', scope: '/rooms/a' } });
  assert.equal(auth.authenticate(req(), url(scoped.replace('ws://h:1', '').replace('/rooms/a/x', '/rooms/b')), now).ok, false);
  assert.equal(auth.authenticate(req(), url(`${rel}&cc_sub=eve`), now).ok, false, 'a repeated signed-URL parameter');
  // A token is no signed URL: the two use different keys.
  const sig = rel.split('cc_sig=')[1]!;
  assert.equal(auth.authenticate(req(`Bearer cc1.${Buffer.from(JSON.stringify({ sub: 'bob', exp: now + 10 })).toString('base64url')}.${sig}`), url('/rooms/a'), now).ok, false);

  assert.throws(() => signUrl(SECRET, '/rooms/b', { sub: 'bob', scope: '/rooms/a' }), /outside its scope/);
  assert.throws(() => mintToken(SECRET, { sub: 'has space' }), /sub must be/);
  assert.throws(() => mintToken(SECRET, { sub: 'a', ttlSeconds: 0 }), /ttlSeconds/);
  assert.throws(() => mintToken('short', { sub: 'a' }), /at least 16 characters/);
  assert.throws(() => new Authenticator({ secret: SECRET, users: { 'a:b': 'x' } }), /basic auth user/);
  assert.equal(auth.authenticate(req(basic('nobody:pw')), url('/x')).ok, false, 'basic without users');
  assert.equal(auth.authenticate(req(`Bearer ${'x'.repeat(3000)}`), url('/x')).ok, false);
});
