// The server side of the transaction layer: a new request's step runs on the machine's pure
// transition function, and only a transaction still open when the step ends gets an actor. These
// tests drive the layer with a recording transport and a scripted TU and check the wire, the
// actors and the linger table for each way a step can end.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import { Supervisor } from '../../src/actors/supervisor.js';
import { TransactionLayer, type ServerTransaction, type TransactionUser } from '../../src/sip/transactions/layer.js';
import { serialize, type SipRequest, type SipResponse } from '../../src/sip/codec/message.js';
import { parseMessage } from '../../src/sip/codec/parse.js';
import type { Endpoint, SipUdpTransport } from '../../src/sip/transport/udp.js';

const peer: Endpoint = { address: '127.0.0.1', port: 5070 };

class WireRecorder extends EventEmitter {
  sent: string[] = [];
  send(msg: SipRequest | SipResponse): void {
    this.sendBytes(serialize(msg));
  }
  sendBytes(buf: Buffer): void {
    const first = buf.toString('utf8').split('\r\n')[0]!;
    const cseq = /CSeq: *\d+ (\w+)/i.exec(buf.toString('utf8'))?.[1] ?? '?';
    this.sent.push(`${first.replace('SIP/2.0 ', '')} ${cseq}`);
  }
}

function setup(tu: Partial<TransactionUser> & { onRequest(tx: ServerTransaction): void }, t1 = 20) {
  const wire = new WireRecorder();
  const supervisor = new Supervisor({ logger: pino({ level: 'silent' }) });
  const layer = new TransactionLayer(wire as unknown as SipUdpTransport, supervisor, pino({ level: 'silent' }), { t1, t2: 8 * t1, t4: 10 * t1 });
  layer.setUser({ onAck: () => {}, onStrayResponse: () => {}, ...tu });
  const actors = () => supervisor.count('transaction');
  return { wire, layer, supervisor, actors };
}

function request(method: string, branch = `z9hG4bK-${method}-${Math.random().toString(36).slice(2)}`): SipRequest {
  const text = [
    `${method} sip:bob@127.0.0.1 SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=${branch}`,
    'Max-Forwards: 70',
    'From: <sip:alice@127.0.0.1>;tag=a1',
    'To: <sip:bob@127.0.0.1>',
    'Call-ID: call-1',
    `CSeq: 1 ${method}`,
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const r = parseMessage(text);
  assert.ok(r.ok && r.message.kind === 'request');
  return r.message as SipRequest;
}

/** Delivers a request as the transport would (a fresh parse each time, like a datagram). */
function receive(wire: WireRecorder, req: SipRequest): void {
  const r = parseMessage(serialize(req));
  assert.ok(r.ok);
  wire.emit('request', r.message, peer);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('server transactions: one pure step, an actor only if still open', () => {
  test('a non-INVITE answered in its step: sent at once, no actor, lingered; a retransmission gets the same bytes', () => {
    const { wire, layer, actors } = setup({ onRequest: (tx) => void tx.reply(200, 'OK') });
    const bye = request('BYE');
    receive(wire, bye);
    assert.deepEqual(wire.sent, ['200 OK BYE']);
    assert.equal(actors(), 0);
    assert.equal(layer.lingeringCount, 1);
    receive(wire, bye);
    assert.deepEqual(wire.sent, ['200 OK BYE', '200 OK BYE']);
    assert.equal(layer.stats.responsesRetransmitted, 1);
    layer.stopAll();
  });

  test('an INVITE answered 180 + 200 in its step: both in order, no actor, Timer L entry, finalStatus from the machine', () => {
    let held: ServerTransaction | undefined;
    const { wire, layer, actors } = setup({
      onRequest: (tx) => {
        held = tx;
        tx.reply(180, 'Ringing');
        assert.equal(tx.finalStatus, undefined);
        tx.reply(200, 'OK');
        assert.equal(tx.finalStatus, 200);
      },
    });
    const invite = request('INVITE');
    receive(wire, invite);
    assert.deepEqual(wire.sent, ['180 Ringing INVITE', '200 OK INVITE']);
    assert.equal(actors(), 0);
    assert.equal(layer.lingeringCount, 1);
    assert.equal(held?.finalStatus, 200);
    const before = wire.sent.length;
    receive(wire, invite); // absorbed in Accepted
    assert.equal(wire.sent.length, before);
    layer.stopAll();
  });

  test('an INVITE refused 486 in its step: an actor takes over Completed and Timer G retransmits until the ACK', async () => {
    const { wire, layer, actors } = setup({ onRequest: (tx) => void tx.reply(486, 'Busy Here') });
    const invite = request('INVITE');
    receive(wire, invite);
    assert.deepEqual(wire.sent, ['486 Busy Here INVITE'], 'the muted replay does not send it again');
    assert.equal(actors(), 1);
    await sleep(35); // Timer G at T1 = 20 ms
    assert.deepEqual(wire.sent, ['486 Busy Here INVITE', '486 Busy Here INVITE']);
    const ack = request('ACK', /branch=([^;\s]+)/.exec(invite.headers.get('Via')!)![1]);
    receive(wire, ack);
    await sleep(60);
    assert.equal(wire.sent.length, 2, 'no Timer G after the ACK');
    layer.stopAll();
  });

  test('an INVITE left unanswered: 100 Trying from the actor, then the CANCEL gets its 200 before the INVITE its 487', async () => {
    let inviteTx: ServerTransaction | undefined;
    const { wire, layer, actors } = setup({
      onRequest: (tx) => {
        if (tx.request.method === 'INVITE') {
          inviteTx = tx;
          return;
        }
        // What the UA's CANCEL handling does: 200 for the CANCEL, then 487 through the INVITE's machine.
        tx.reply(200, 'OK');
        assert.equal(inviteTx!.finalStatus, undefined);
        inviteTx!.reply(487, 'Request Terminated');
        assert.equal(inviteTx!.finalStatus, 487);
      },
    });
    const invite = request('INVITE');
    receive(wire, invite);
    assert.deepEqual(wire.sent, []);
    assert.equal(actors(), 1);
    await sleep(250);
    assert.deepEqual(wire.sent, ['100 Trying INVITE']);
    const branch = /branch=([^;\s]+)/.exec(invite.headers.get('Via')!)![1];
    receive(wire, request('CANCEL', branch));
    assert.deepEqual(wire.sent, ['100 Trying INVITE', '200 OK CANCEL', '487 Request Terminated INVITE']);
    assert.equal(layer.findInviteFor(request('CANCEL', branch))?.finalStatus, 487);
    layer.stopAll();
  });

  test('a non-INVITE answered later: the actor (replayed, muted) sends it and hands over to the linger table', async () => {
    let later: ServerTransaction | undefined;
    const { wire, layer, actors } = setup({ onRequest: (tx) => void (later = tx) });
    const info = request('INFO');
    receive(wire, info);
    assert.equal(actors(), 1);
    receive(wire, info); // Trying: absorbed, nothing to resend
    assert.deepEqual(wire.sent, []);
    await sleep(5);
    later!.reply(200, 'OK');
    assert.deepEqual(wire.sent, ['200 OK INFO']);
    assert.equal(later!.finalStatus, 200);
    assert.equal(actors(), 0, 'Completed is a linger entry, not an actor');
    assert.equal(layer.lingeringCount, 1);
    layer.stopAll();
  });

  test('replyStateless in the step: the machine sends it once, nothing is kept, a retransmission reaches the TU again', () => {
    let calls = 0;
    const { wire, layer, actors } = setup({
      onRequest: (tx) => {
        calls++;
        tx.replyStateless(503, 'Service Unavailable');
      },
    });
    const invite = request('INVITE');
    receive(wire, invite);
    receive(wire, invite);
    assert.equal(calls, 2);
    assert.deepEqual(wire.sent, ['503 Service Unavailable INVITE', '503 Service Unavailable INVITE']);
    assert.equal(actors(), 0);
    assert.equal(layer.lingeringCount, 0);
    assert.equal(layer.stats.statelessResponses, 2);
    layer.stopAll();
  });

  test('a TU that throws: the transaction is dropped, nothing lingers', () => {
    const { wire, layer, actors } = setup({
      onRequest: () => {
        throw new Error('boom');
      },
    });
    receive(wire, request('OPTIONS'));
    assert.deepEqual(wire.sent, []);
    assert.equal(actors(), 0);
    assert.equal(layer.size.server, 0);
    layer.stopAll();
  });

  test('finalStatus is read-only to the TU', () => {
    let thrown: unknown;
    const { wire, layer } = setup({
      onRequest: (tx) => {
        try {
          // @ts-expect-error the status is the machine's
          tx.finalStatus = 487;
        } catch (err) {
          thrown = err;
        }
        assert.equal(tx.finalStatus, undefined);
        tx.reply(200, 'OK');
      },
    });
    receive(wire, request('OPTIONS'));
    assert.ok(thrown instanceof TypeError);
    assert.deepEqual(wire.sent, ['200 OK OPTIONS']);
    layer.stopAll();
  });
});
