// PeerLink on real loopback sockets: an RTP socket connected to its one source, the sends around
// dgram's connect (which marks the socket connected a tick before it says so), and release.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { PeerLink } from '../../src/media/rtp/peer-link.js';
import { sleep, waitFor } from '../helpers/wait.js';

const LO = '127.0.0.1';
const sockets: dgram.Socket[] = [];
after(() => {
  for (const s of sockets.splice(0)) s.close();
});

// Explicit ports, as PortAllocator binds: Linux unbinds a kernel-chosen port on disconnect.
let nextPort = 44500;

/** A bound socket that keeps what it receives. */
async function udp(host = LO): Promise<{ sock: dgram.Socket; port: number; got: string[] }> {
  const sock = dgram.createSocket('udp4');
  sockets.push(sock);
  const got: string[] = [];
  sock.on('message', (m) => got.push(m.toString()));
  await new Promise<void>((r) => sock.bind(nextPort++, host, r));
  return { sock, port: sock.address().port, got };
}

/** The socket under test, its source, and a stranger on another host. */
async function trio() {
  return { own: await udp(), peer: await udp(), stranger: await udp('127.0.0.5') };
}

function link(sock: dgram.Socket, enabled = true): { link: PeerLink; errors: Error[] } {
  const errors: Error[] = [];
  return { link: new PeerLink(sock, enabled, (e) => errors.push(e)), errors };
}

test('connected: sends reach the source without an address, and the kernel refuses every other source', async () => {
  const { own, peer, stranger } = await trio();
  const { link: l, errors } = link(own.sock);
  const to = { address: LO, port: peer.port };
  assert.equal(l.idle, true);
  l.connect(to);
  assert.equal(l.idle, false);
  await waitFor(() => l.connected, 'connected');
  assert.equal(l.isTo(to), true);
  assert.equal(l.isTo({ address: LO, port: peer.port + 1 }), false);
  l.send(Buffer.from('a'), to);
  peer.sock.send('from-peer', own.port, LO);
  stranger.sock.send('from-stranger', own.port, LO);
  await waitFor(() => peer.got.length === 1 && own.got.length === 1, 'both ways');
  await sleep(30);
  assert.deepEqual(peer.got, ['a']);
  assert.deepEqual(own.got, ['from-peer'], "the stranger's datagram never arrived");
  assert.deepEqual(errors, []);
});

test('a send in the tick where dgram is connected but has not said so still reaches the source', async () => {
  const own = await udp();
  const peer = await udp();
  const { link: l } = link(own.sock);
  const to = { address: LO, port: peer.port };
  l.connect(to);
  // Runs after dgram's connect (its address lookup is the tick before) and before its 'connect'
  // event: the link still says connecting.
  let threw: unknown = null;
  let linkSaid: boolean | null = null;
  process.nextTick(() => {
    linkSaid = l.connected;
    try {
      l.send(Buffer.from('window'), to);
    } catch (err) {
      threw = err;
    }
  });
  await waitFor(() => l.connected, 'connected');
  await waitFor(() => peer.got.length === 1, 'the datagram sent in the window');
  assert.equal(threw, null);
  assert.equal(linkSaid, false, 'the send ran while the link still said connecting');
  assert.deepEqual(peer.got, ['window']);
});

test('release while connecting: disconnected once the connect completes, nothing misdirected, addresses again', async () => {
  const own = await udp();
  const old = await udp();
  const moved = await udp();
  const { link: l } = link(own.sock);
  l.connect({ address: LO, port: old.port });
  l.release(); // a re-INVITE moved the peer before the connect completed
  const to = { address: LO, port: moved.port };
  process.nextTick(() => l.send(Buffer.from('window'), to)); // connected to the old target: dropped
  await waitFor(() => l.idle, 'disconnected and open again');
  assert.equal(l.connected, false);
  l.send(Buffer.from('after'), to);
  await waitFor(() => moved.got.length === 1, 'sent with the address');
  await sleep(30);
  assert.deepEqual(moved.got, ['after']);
  assert.deepEqual(old.got, [], 'nothing went to the old target');
  // Open again: any source reaches the socket, and it may connect again.
  old.sock.send('old', own.port, LO);
  await waitFor(() => own.got.includes('old'), 'unfiltered again');
  l.connect(to);
  await waitFor(() => l.connected, 'connected again');
});

test('release when connected disconnects at once; disabled never connects', async () => {
  const { own, peer, stranger } = await trio();
  const { link: l } = link(own.sock);
  l.connect({ address: LO, port: peer.port });
  await waitFor(() => l.connected, 'connected');
  l.release();
  assert.equal(l.connected, false);
  assert.equal(l.idle, true);
  stranger.sock.send('s', own.port, LO);
  await waitFor(() => own.got.includes('s'), 'a stranger reaches the socket again');

  const other = await udp();
  const { link: off } = link(other.sock, false);
  assert.equal(off.idle, false);
  off.connect({ address: LO, port: peer.port });
  await sleep(20);
  assert.equal(off.connected, false);
  off.send(Buffer.from('b'), { address: LO, port: peer.port });
  await waitFor(() => peer.got.includes('b'), 'sent with the address');
});

test('a connect dgram refuses (the socket closed meanwhile) turns the link off, not the process', async () => {
  const own = await udp();
  const { link: l, errors } = link(own.sock);
  own.sock.close();
  sockets.splice(sockets.indexOf(own.sock), 1);
  l.connect({ address: LO, port: 9 });
  await sleep(20);
  assert.equal(l.connected, false);
  assert.equal(l.idle, false, 'not retried');
  assert.equal(errors.length, 1);
});

test('close() disconnects, waiting for a connect in flight: the socket hears every source again', async () => {
  const { own, peer, stranger } = await trio();
  const { link: l } = link(own.sock);
  l.connect({ address: LO, port: peer.port });
  await l.close(); // the connect was still in flight
  assert.equal(l.connected, false);
  assert.equal(l.idle, false, 'closed: never connects again');
  stranger.sock.send('s', own.port, LO);
  await waitFor(() => own.got.includes('s'), 'a stranger reaches the socket');
});

test("a pooled port pair goes to the next call disconnected: it hears and answers that call's peer", async () => {
  const { RtpSession } = await import('../../src/media/rtp/session.js');
  const { PortAllocator } = await import('../../src/media/rtp/ports.js');
  const { writeRtp } = await import('../../src/media/codecs/rtp.js');
  // One pair in the range: the second session must get the first one's sockets back.
  const allocator = new PortAllocator({ range: '44600-44601', host: LO, pool: 1, reuseAfterMs: 0 });
  try {
    const pkt = (seq: number) => writeRtp({ marker: false, payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc: 7 }, Buffer.alloc(160, 0xff));
    for (const round of [1, 2]) {
      const peer = await udp();
      const s = await RtpSession.create({ allocator, timeoutMs: 0, rtcpIntervalMs: 60_000 });
      assert.equal(s.localPort, 44600);
      s.setRemote(LO, peer.port);
      s.on('payload', (p) => s.sendPayload(p)); // echo
      for (let i = 0; i < 5; i++) {
        peer.sock.send(pkt(i), s.localPort, LO);
        await sleep(20);
      }
      await waitFor(() => peer.got.length >= 4, `round ${round}: echoes at this call's peer`);
      assert.equal(s.stats().connected, true);
      await s.close();
    }
  } finally {
    await allocator.close();
  }
});
