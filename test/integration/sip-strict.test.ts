// Parser strictness over real UDP on loopback (issue 16, item 7): a request missing From/To/
// Call-ID/CSeq gets its 400 back at the Via; an RFC 2543 OPTIONS without Max-Forwards is answered
// 200; an INVITE whose Accept rules out application/sdp gets 406 and no call is offered.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createEngine, type Engine } from '../../src/index.js';
import { RawSip, request } from '../helpers/raw-sip.js';

const engines: Engine[] = [];
const clients: RawSip[] = [];
after(async () => {
  for (const c of clients) c.close();
  await Promise.all(engines.map((e) => e.close()));
});

let offered = 0;
async function setup(): Promise<{ port: number; client: RawSip }> {
  const engine = createEngine({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: 0,
    rtpPorts: '37900-37999',
    inboundCall: false,
    onIncomingCall: () => {
      offered++;
      return { action: 'reject', code: 486 };
    },
  });
  engines.push(engine);
  await engine.listen();
  const client = await new RawSip().open();
  clients.push(client);
  return { port: engine.sipPort as number, client };
}

const drop = (text: string, name: string) => text.split('\n').filter((l) => !l.startsWith(`${name}:`)).join('\n');

test('a request missing Call-ID, From and To gets 400 at its Via; one without Max-Forwards is processed', async () => {
  const { port, client } = await setup();
  const insuf = drop(drop(drop(request('OPTIONS', port, client.port), 'Call-ID'), 'From'), 'To');
  // The 400 lacks the headers the request lacked, so it is read as bytes, not parsed.
  const raw = new Promise<string>((resolve) => client.sock.once('message', (b) => resolve(b.toString())));
  client.send(insuf, port);
  const r400 = await raw;
  assert.match(r400, /^SIP\/2\.0 400 Missing (To|From|Call-ID) header\r\n/);
  assert.match(r400, /\r\nVia: SIP\/2\.0\/UDP 127\.0\.0\.1:\d+;branch=/);
  assert.doesNotMatch(r400, /\r\nCall-ID:/);

  const mf = request('OPTIONS', port, client.port, { 'Call-ID': 'no-mf@127.0.0.1' });
  client.send(drop(mf, 'Max-Forwards'), port);
  const ok = await client.response((r) => r.headers.get('Call-ID') === 'no-mf@127.0.0.1');
  assert.equal(ok.status, 200);
});

test('an INVITE whose Accept excludes application/sdp gets 406, not an SDP answer', async () => {
  const { port, client } = await setup();
  const before = offered;
  client.send(request('INVITE', port, client.port, { 'Call-ID': 'acc-1@127.0.0.1', Accept: 'text/plain' }), port);
  const res = await client.response((r) => r.headers.get('Call-ID') === 'acc-1@127.0.0.1' && r.status >= 200);
  assert.equal(res.status, 406);
  assert.equal(res.body.length, 0);
  assert.equal(offered, before, 'the app was not offered the call');
  // Accept naming SDP among others is fine: the call reaches the app (which rejects it here).
  client.send(request('INVITE', port, client.port, { 'Call-ID': 'acc-2@127.0.0.1', Accept: 'text/plain, application/sdp' }), port);
  const res2 = await client.response((r) => r.headers.get('Call-ID') === 'acc-2@127.0.0.1' && r.status >= 200);
  assert.equal(res2.status, 486);
});
