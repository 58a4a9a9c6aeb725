import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { lookupLiteral } from '../../src/udp-lookup.js';

test('an IPv4 literal is answered synchronously, with family 4', () => {
  let got: [string, number] | undefined;
  lookupLiteral('127.0.0.1', 4, (err, address, family) => {
    assert.equal(err, null);
    got = [address, family];
  });
  assert.deepEqual(got, ['127.0.0.1', 4]);
});

test('an IPv6 literal on a udp6 lookup is answered synchronously, with family 6', () => {
  let got: [string, number] | undefined;
  lookupLiteral('::1', 6, (_err, address, family) => (got = [address, family]));
  assert.deepEqual(got, ['::1', 6]);
});

test('a name still resolves through DNS (asynchronously)', async () => {
  let sync = true;
  const done = new Promise<[NodeJS.ErrnoException | null, string, number]>((resolve) =>
    lookupLiteral('localhost', 4, (err, address, family) => resolve([err, address, family])),
  );
  sync = false;
  const [err, address, family] = await done;
  assert.equal(sync, false);
  assert.equal(err, null);
  assert.equal(address, '127.0.0.1');
  assert.equal(family, 4);
});

test('a socket created with it sends to a literal within send(): closing it right after still delivers', async () => {
  const rx = dgram.createSocket('udp4');
  const tx = dgram.createSocket({ type: 'udp4', lookup: lookupLiteral });
  try {
    await new Promise<void>((resolve) => rx.bind(0, '127.0.0.1', resolve));
    // The bind address goes through the lookup too, so 'listening' comes within bind(): only the
    // callback form (registered first) sees it.
    await new Promise<void>((resolve) => tx.bind(0, '127.0.0.1', resolve));
    const got = once(rx, 'message');
    // dgram's default lookup defers the send by a tick, and a socket closed before it sends
    // nothing; with the literal answered at once the datagram has left before close().
    tx.send(Buffer.from('ping'), rx.address().port, '127.0.0.1');
    tx.close();
    const [msg] = (await got) as [Buffer];
    assert.equal(msg.toString(), 'ping');
  } finally {
    rx.close();
  }
});
