// engine.mediaStreams(path, handler): the bot side of Twilio Media Streams on the engine's port.
// A SIP call is streamed (call.stream) to a bot served by engine.mediaStreams that echoes what it
// hears; raw sockets check what the route refuses.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { toneRatio } from '../../src/media/index.js';
import type { Call } from '../../src/index.js';
import type { MediaStreamsSession } from '../../src/streams/route.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { sleep, waitFor } from '../helpers/wait.js';

const engines = loopbackEngines(48500, 50);
after(() => engines.closeAll());

test('a SIP call streamed to a bot served by engine.mediaStreams: the bot hears the caller, the caller hears the bot, marks round-trip', async () => {
  const b = await engines.start({ onIncomingCall: () => ({ action: 'accept' }) });
  const sessions: MediaStreamsSession[] = [];
  const marks: string[] = [];
  b.mediaStreams('/echo-bot', (session) => {
    sessions.push(session);
    let n = 0;
    // An echo bot: what the caller says comes back, a mark after every 25 frames.
    session.on('audio', (pcm) => {
      session.send(pcm);
      if (++n % 25 === 0) session.mark(`m${n}`);
    });
    session.on('mark', (name) => marks.push(name));
  });
  b.on('call', (call) => call.once('answered', () => call.stream(`ws://127.0.0.1:${b.wsPort}/echo-bot`, { customParameters: { who: 'test' } })));
  const a = await engines.start();
  const call: Call = await a.call(`sip:echo@127.0.0.1:${b.sipPort}`);
  await waitFor(() => call.isActive && sessions.length === 1, 'answered and streaming', 5000);
  const s = sessions[0]!;
  assert.deepEqual(s.customParameters, { who: 'test' });
  assert.deepEqual(s.tracks, ['inbound']);
  const heard: number[] = [];
  call.media!.onAudio((f) => {
    for (const x of f) heard.push(x);
  });
  await call.play({ kind: 'tone', frequencies: [700], durationMs: 1200 }).done;
  await sleep(300);
  const got = Int16Array.from(heard.slice(-8000));
  assert.ok(toneRatio(got, 8000, 700) > 0.5, `700 Hz share back at the caller ${toneRatio(got, 8000, 700).toFixed(2)}`);
  assert.ok(marks.length >= 1, 'marks come back to the bot');
  assert.match(marks[0]!, /^m\d+$/);
  const stopped = new Promise<void>((r) => s.once('stop', () => r()));
  call.hangup();
  await stopped;
});

test('the route refuses sockets that do not speak the protocol, each on its own', async () => {
  const e = await engines.start();
  let handled = 0;
  e.mediaStreams('/bot', () => void handled++, { startTimeoutMs: 300 });
  const url = `ws://127.0.0.1:${e.wsPort}/bot`;
  const closeOf = (send: (ws: WebSocket) => void) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(url);
      ws.on('open', () => send(ws));
      ws.on('close', (code) => resolve(code));
    });
  assert.equal(await closeOf((ws) => ws.send('{"event":"media","sequenceNumber":"1","streamSid":"MZ1","media":{"track":"inbound","chunk":"1","timestamp":"0","payload":""}}')), 1008);
  assert.equal(await closeOf((ws) => ws.send('garbage')), 1008);
  assert.equal(await closeOf(() => {}), 1008, 'no start in time');
  assert.equal(handled, 0);
  // A well-formed start is handed over; garbage afterwards is dropped, not fatal.
  const ws = new WebSocket(url);
  await new Promise((r) => ws.on('open', r));
  ws.send(JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }));
  ws.send(JSON.stringify({
    event: 'start',
    sequenceNumber: '1',
    streamSid: 'MZ1',
    start: { streamSid: 'MZ1', accountSid: 'AC1', callSid: 'CA1', tracks: ['inbound'], customParameters: {}, mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 } },
  }));
  ws.send('garbage after start');
  await sleep(400);
  assert.equal(handled, 1);
  assert.equal(ws.readyState, WebSocket.OPEN);
  ws.close();
});
