// --inspect: the local relay from @statelyai/inspect receives the engine's actors, filtered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { createEngine } from '../../src/index.js';
import { TestClient } from '../helpers/ws-client.js';

async function relayMessages(port: number): Promise<{ msgs: string[]; ws: WebSocket }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}`);
  const msgs: string[] = [];
  ws.on('message', (d) => msgs.push(d.toString()));
  await new Promise((r, j) => (ws.once('open', r), ws.once('error', j)));
  return { msgs, ws };
}

/**
 * An engine whose inspector relay watches `filter`, a client of that relay, and one inbound call
 * answered over the inbound-call protocol; `then` sees the relay's messages and the call.
 */
async function withInspectedCall(
  filter: string,
  then: (x: { msgs: string[]; sessionId: string; client: TestClient }) => Promise<void>,
): Promise<void> {
  const port = 18000 + Math.floor(Math.random() * 2000);
  const engine = createEngine({
    host: '127.0.0.1',
    wsPort: 0,
    sipPort: false,
    inspect: { port, filter },
    inboundCall: { offerDelayMs: 0 },
    onIncomingCall: () => ({ action: 'accept' }),
    rooms: false,
  });
  await engine.listen();
  try {
    const { msgs, ws } = await relayMessages(port);
    const client = new TestClient(`ws://127.0.0.1:${engine.wsPort}/`);
    await client.opened();
    const { sessionId } = await client.json('incoming_call');
    await client.json('answer');
    await then({ msgs, sessionId, client });
    ws.close();
  } finally {
    await engine.close();
  }
}

test('inspector relay receives the watched actors only', async () => {
  await withInspectedCall('call', async ({ msgs, sessionId, client }) => {
    client.send({ event: 'hangup', sessionId });
    await client.waitClose();
    const deadline = Date.now() + 5000;
    while (!msgs.some((m) => m.includes(sessionId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const mine = msgs.filter((m) => m.includes(sessionId));
    assert.ok(mine.length > 0, `no inspection event for call ${sessionId} (got ${msgs.length} messages)`);
    assert.ok(mine.some((m) => m.includes('CALL.ANSWER')), 'the CALL.ANSWER event was not inspected');
  });
});

test('the inspect filter keeps unwatched actors out', async () => {
  await withInspectedCall('no-such-call-prefix', async ({ msgs, sessionId, client }) => {
    client.close();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(msgs.filter((m) => m.includes(sessionId)).length, 0);
  });
});
