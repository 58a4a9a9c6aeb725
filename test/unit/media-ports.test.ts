import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { PortAllocator, PortExhaustedError, parsePortRange, splitPortRange } from '../../src/media/rtp/ports.js';

const BASE = 43100;

test('parsePortRange', () => {
  assert.deepEqual(parsePortRange('20000-29999'), { min: 20000, max: 29999 });
  assert.deepEqual(parsePortRange(' 10 - 11 '), { min: 10, max: 11 });
  assert.throws(() => parsePortRange('20000'), RangeError);
  assert.throws(() => parsePortRange('30000-20000'), RangeError);
  assert.throws(() => new PortAllocator({ range: '20001-20002' }), /no even\/odd pair/);
});

test('allocates even RTP / odd RTCP pairs, skips busy ports, exhausts clearly, releases', async () => {
  const alloc = new PortAllocator({ range: `${BASE + 1}-${BASE + 6}`, host: '127.0.0.1' }); // odd min rounds up: pairs 43102/3 and 43104/5
  assert.equal(alloc.capacity, 2);
  // Someone else holds the RTCP port of the first pair.
  const squatter = dgram.createSocket('udp4');
  await new Promise<void>((r) => squatter.bind(BASE + 3, '127.0.0.1', r));
  try {
    const a = await alloc.allocate();
    assert.equal(a.rtpPort, BASE + 4);
    assert.equal(a.rtcpPort, BASE + 5);
    assert.equal(a.rtp.address().port, BASE + 4);
    assert.equal(a.rtcp.address().port, BASE + 5);
    await assert.rejects(alloc.allocate(), (e: Error) => e instanceof PortExhaustedError && /no free RTP port pair in 43101-43106/.test(e.message) && /1 held by other sockets/.test(e.message));
    assert.equal(alloc.allocated, 1);
    await a.release();
    await a.release(); // idempotent
    assert.equal(alloc.allocated, 0);
    // The released pair is really free: binding it again works.
    const b = await alloc.allocate();
    assert.equal(b.rtpPort, BASE + 4);
    await b.release();
  } finally {
    squatter.close();
  }
});

test('concurrent allocations never hand out the same pair', async () => {
  // 20 pairs for 10 calls: a port of the range may be some other process's ephemeral port (the
  // range lies inside Linux's 32768-60999), which the allocator skips rather than shares.
  const alloc = new PortAllocator({ range: `${BASE + 100}-${BASE + 139}`, host: '127.0.0.1' });
  const pairs = await Promise.all(Array.from({ length: 10 }, () => alloc.allocate()));
  assert.equal(new Set(pairs.map((p) => p.rtpPort)).size, 10);
  assert.ok(pairs.every((p) => p.rtpPort % 2 === 0 && p.rtcpPort === p.rtpPort + 1));
  await Promise.all(pairs.map((p) => p.release()));
  assert.equal(alloc.allocated, 0);
});

test('released pairs are parked bound, rest before reuse, drop late datagrams, and close with the allocator', async () => {
  const alloc = new PortAllocator({ range: `${BASE + 40}-${BASE + 49}`, host: '127.0.0.1', pool: 2, reuseAfterMs: 60 });
  const a = await alloc.allocate();
  a.rtp.on('message', () => assert.fail('the old call must not hear anything after release'));
  await a.release();
  assert.equal(alloc.allocated, 0);
  assert.equal(alloc.pooled, 1);
  assert.equal(alloc.isAllocated(a.rtpPort), false);
  // Not rested yet: the next call gets another pair, and the parked ports are not re-bound.
  const b = await alloc.allocate();
  assert.notEqual(b.rtpPort, a.rtpPort);
  // A late packet of the old call is read and dropped while the pair rests.
  const peer = dgram.createSocket('udp4');
  await new Promise<void>((r) => peer.bind(0, '127.0.0.1', r));
  peer.send(Buffer.from('late'), a.rtpPort, '127.0.0.1');
  await new Promise((r) => setTimeout(r, 80));
  const c = await alloc.allocate();
  assert.equal(c.rtpPort, a.rtpPort); // rested: reused, still bound
  assert.equal(c.rtcpPort, a.rtpPort + 1);
  assert.equal(c.rtp, a.rtp);
  assert.equal(c.rtp.listenerCount('message'), 0);
  const got = new Promise<string>((r) => c.rtp.once('message', (m) => r(m.toString())));
  peer.send(Buffer.from('new call'), c.rtpPort, '127.0.0.1');
  assert.equal(await got, 'new call');
  peer.close();
  await Promise.all([b.release(), c.release()]);
  assert.equal(alloc.pooled, 2);
  await alloc.close();
  assert.equal(alloc.pooled, 0);
  // Closed for real: the ports can be bound again by anyone.
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.bind(a.rtpPort, '127.0.0.1', resolve);
  });
  probe.close();
  // After close(), released pairs are closed, not parked.
  const d = await alloc.allocate();
  await d.release();
  assert.equal(alloc.pooled, 0);
});

test('a parked pair is used at once when the range is otherwise exhausted', async () => {
  const alloc = new PortAllocator({ range: `${BASE + 60}-${BASE + 63}`, host: '127.0.0.1', pool: 2, reuseAfterMs: 60_000 });
  const a = await alloc.allocate();
  const b = await alloc.allocate();
  await a.release();
  const c = await alloc.allocate(); // the only free pair is resting: better than failing
  assert.equal(c.rtpPort, a.rtpPort);
  await Promise.all([b.release(), c.release()]);
  await alloc.close();
});

test('splitPortRange gives each SIP worker its own whole RTP/RTCP pairs', () => {
  const slices = splitPortRange('20001-20020', 3);
  assert.deepEqual(slices, ['20002-20007', '20008-20013', '20014-20019']);
  const all = slices.flatMap((s) => {
    const { min, max } = parsePortRange(s);
    assert.equal(min % 2, 0, `${s} starts on an even (RTP) port`);
    assert.equal(max % 2, 1, `${s} ends on an odd (RTCP) port`);
    return Array.from({ length: max - min + 1 }, (_, i) => min + i);
  });
  assert.equal(new Set(all).size, all.length, 'no port in two slices');
  assert.deepEqual(splitPortRange('30000-39999', 1), ['30000-39999']);
  assert.throws(() => splitPortRange('30000-30003', 3), /holds 2 RTP pairs, fewer than 3 workers/);
});
