// The feature-server's view of the INVITE and the app's live commands, over real loopback sockets:
// the INVITE's headers in session:new (`sip`) and on the call handle, `sip:request` sent in the
// caller's dialog (a raw SIP caller reads it and answers), and `listen:status` pausing and
// resuming a running listen (an audio.jambonz.org server counts the frames), and `whisper` into a
// bridged dial (the dialled party hears the whisper instead of the caller, then the caller again),
// and `mute:status` in a dial (the muted party reaches the other as silence, then again).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { meanSquare, toneRatio } from '../../src/media/codecs/tones.js';
import { collectAudio, toneWav } from '../helpers/jambonz-fs-app.js';
import { WebSocketServer } from 'ws';
import type { JambonzSession } from '../../src/jambonz/index.js';
import type { Call } from '../../src/call/call.js';
import type { Engine } from '../../src/index.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { waitFor } from '../helpers/wait.js';

const engines = loopbackEngines(26000, 40);

/** A pino logger whose JSON lines land in `lines` (to see what the feature-server logged). */
function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const logger: Logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines };
}

/** A call to an app that replies `verbs`: the call, the app's session and the jambonz:errors it got. */
async function appCall(verbs: unknown[]): Promise<{ session: JambonzSession; errors: string[]; call: Call; fs: Engine }> {
  let session: JambonzSession | undefined;
  const errors: string[] = [];
  const fs = await engines.start({
    wsPort: 0,
    logger: pino({ level: 'silent' }),
    jambonzApp: {
      handler: (s: JambonzSession) => {
        session = s;
        s.on('jambonz:error', (d) => void errors.push(String((d as { msg?: unknown }).msg)));
        s.reply(verbs as never);
      },
    },
  });
  const caller = await engines.start({ wsPort: false });
  const call = await caller.call(`sip:app@127.0.0.1:${fs.sipPort}`);
  await waitFor(() => call.isActive && session !== undefined, 'the call is up');
  return { session: session!, errors, call, fs };
}

/** An app that answers and pauses. */
const pausedCall = () => appCall([{ verb: 'answer' }, { verb: 'pause', length: 5 }]);

/** An app that dials B: the caller's call (a), B's, the session and its jambonz:errors, once bridged. */
async function bridgedDial(): Promise<{ a: Call; b: Call; session: JambonzSession; errors: string[]; fs: Engine }> {
  let b: Call | undefined;
  const callee = await engines.start({ wsPort: false, onIncomingCall: (c) => ((b = c), { action: 'accept' }) });
  const { call: a, session, errors, fs } = await appCall([{ verb: 'dial', target: [{ type: 'sip', sipUri: `sip:bob@127.0.0.1:${callee.sipPort}` }] }]);
  await waitFor(() => b?.isActive === true, 'the dial is bridged');
  return { a, b: b!, session, errors, fs };
}

test('the INVITE on the call handle: call.sipInvite and call.sipHeader (compact forms, case-insensitive)', async (t) => {
  t.after(() => engines.closeAll());
  let got: Call | undefined;
  const callee = await engines.start({ wsPort: false, onIncomingCall: (c) => ((got = c), { action: 'accept' }) });
  const caller = await engines.start({ wsPort: false });
  const call = await caller.call(`sip:svc@127.0.0.1:${callee.sipPort}`, { headers: { 'X-Tenant': 'acme', 'X-Trace': 'a b c' } });
  await waitFor(() => got !== undefined && call.isActive, 'the call is up');
  const inv = got!.sipInvite!;
  assert.match(inv.uri, /^sip:svc@127\.0\.0\.1:\d+$/);
  assert.match(inv.body, /m=audio \d+ RTP\/AVP/);
  assert.equal(got!.sipHeader('x-tenant'), 'acme');
  assert.equal(got!.sipHeader('X-TRACE'), 'a b c');
  assert.equal(got!.sipHeader('i'), call.id, 'compact i is Call-ID');
  assert.equal(got!.sipHeader('X-Absent'), undefined);
  assert.ok(inv.headers.some((h) => h.name === 'Via'));
  assert.ok(Object.isFrozen(inv) && Object.isFrozen(inv.headers), 'a read-only view');
  assert.equal(call.sipInvite, undefined, 'an outbound call has no INVITE received');
  call.hangup();
  await call.waitForEnd();
});

test('session:new carries the INVITE (sip.headers by lower-case name, uri, body) and the From display name', async (t) => {
  t.after(() => engines.closeAll());
  let session: JambonzSession | undefined;
  const fs = await engines.start({
    wsPort: 0,
    logger: pino({ level: 'silent' }),
    jambonzApp: { handler: (s: JambonzSession) => ((session = s), s.reply([{ verb: 'answer' }, { verb: 'pause', length: 5 }])) },
  });
  const caller = await engines.start({ wsPort: false });
  const call = await caller.call(`sip:app@127.0.0.1:${fs.sipPort}`, { from: 'sip:+15550001@127.0.0.1', headers: { 'X-Tenant': 'acme' } });
  await waitFor(() => session !== undefined, 'session:new reached the app');
  const sip = session!.request.sip!;
  assert.equal(sip.method, 'INVITE');
  assert.match(sip.uri ?? '', /^sip:app@127\.0\.0\.1:\d+$/);
  assert.equal(sip.headers?.['x-tenant'], 'acme', 'the app receives the custom header');
  assert.equal(sip.headers?.['call-id'], call.id);
  assert.match(sip.headers?.from ?? '', /\+15550001/);
  assert.match(sip.headers?.via ?? '', /^SIP\/2\.0\/UDP /);
  assert.match(sip.body ?? '', /m=audio/);
  assert.equal(session!.request.from, '+15550001');
  call.hangup();
  await call.waitForEnd();
});

/** A 200 (or `status`) for a request the raw client received. */
function answer(client: RawSip, req: import('../../src/sip/codec/message.js').SipRequest, port: number, status = 200, reason = 'OK'): void {
  const h = req.headers;
  const via = h.getAll('Via').map((v) => `Via: ${v}`).join('\n');
  client.send(`SIP/2.0 ${status} ${reason}\n${via}\nFrom: ${h.get('From')}\nTo: ${h.get('To')}\nCall-ID: ${h.get('Call-ID')}\nCSeq: ${h.get('CSeq')}\nContent-Length: 0\n\n`, port);
}

test('sip:request: the app’s INFO goes in the caller’s dialog with its content and headers; its answer is logged; a BYE is refused', async (t) => {
  t.after(() => engines.closeAll());
  const { logger, lines } = capturingLogger();
  let session: JambonzSession | undefined;
  const errors: string[] = [];
  const fs = await engines.start({
    wsPort: 0,
    logger,
    jambonzApp: {
      handler: (s: JambonzSession) => {
        session = s;
        s.on('jambonz:error', (d) => void errors.push(String((d as { msg?: unknown }).msg)));
        s.reply([{ verb: 'answer' }, { verb: 'pause', length: 10 }]);
      },
    },
  });
  const port = fs.sipPort!;
  const client = await new RawSip().open();
  t.after(() => client.close());
  const callId = `cmd-${Math.random().toString(36).slice(2)}@127.0.0.1`;
  const from = `"Alice Smith" <sip:alice@127.0.0.1:${client.port}>;tag=c1`;
  const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40100 RTP/AVP 0\n';
  client.send(request('INVITE', port, client.port, { 'Content-Type': 'application/sdp', 'Call-ID': callId, From: from, 'X-Account': '42' }, sdp), port);
  const ok = await client.response((r) => r.status === 200 && (r.headers.get('CSeq') ?? '').endsWith('INVITE'));
  const to = ok.headers.get('To')!;
  client.send(request('ACK', port, client.port, { 'Call-ID': callId, From: from, To: to }), port);
  await waitFor(() => session !== undefined, 'session:new reached the app');
  assert.equal(session!.request.caller_name, 'Alice Smith', 'caller_name is the From display name');
  assert.equal(session!.request.sip?.headers?.['x-account'], '42');

  session!.command('sip:request', { sip_request: { method: 'INFO', content_type: 'application/x-test', content: 'hello there', headers: { 'X-Info': 'yes' } } });
  const info = await client.request((r) => r.method === 'INFO');
  assert.equal(info.headers.get('Call-ID'), callId, 'in the caller’s dialog');
  assert.equal(info.headers.get('X-Info'), 'yes');
  assert.equal(info.headers.get('Content-Type'), 'application/x-test');
  assert.equal(info.body.toString('utf8'), 'hello there');
  assert.match(info.headers.get('To') ?? '', /tag=c1/, 'To is the caller (its tag)');
  answer(client, info, port, 200);
  await waitFor(() => lines.some((l) => l.msg === 'sip:request answered' && l.status === 200 && l.method === 'INFO'), 'the 200 was matched to the request');

  // A MESSAGE refused by the far end: its status is what gets logged.
  session!.command('sip:request', { sip_request: { method: 'MESSAGE', content_type: 'text/plain', content: 'hi' } });
  const msg = await client.request((r) => r.method === 'MESSAGE');
  answer(client, msg, port, 488, 'Not Acceptable Here');
  await waitFor(() => lines.some((l) => l.msg === 'sip:request answered' && l.status === 488 && l.method === 'MESSAGE'), 'the 488 was matched');

  // BYE belongs to the call: refused with jambonz:error, and the call stays up.
  session!.command('sip:request', { sip_request: { method: 'BYE' } });
  await waitFor(() => errors.some((e) => /sip:request.*BYE/.test(e)), 'jambonz:error for the BYE');
  assert.equal(client.requests.filter((r) => r.method === 'BYE').length, 0);

  client.send(request('BYE', port, client.port, { 'Call-ID': callId, From: from, To: to, CSeq: '2 BYE' }), port);
  await client.response((r) => r.headers.get('CSeq') === '2 BYE' && r.status === 200);
  await waitFor(() => fs.featureServer!.size === 0, 'the session is gone');
});

test('listen:status pause stops the audio to the listen socket (still open) and resume starts it again', async (t) => {
  t.after(() => engines.closeAll());
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('audio.jambonz.org') ? 'audio.jambonz.org' : false) });
  await new Promise((r) => wss.once('listening', r));
  t.after(() => new Promise((r) => wss.close(r)));
  const frames: number[] = [];
  let closed = false;
  wss.on('connection', (ws) => {
    ws.on('message', (_d, binary) => void (binary && frames.push(Date.now())));
    ws.on('close', () => void (closed = true));
  });
  const url = `ws://127.0.0.1:${(wss.address() as { port: number }).port}/listen`;
  const { session, errors, call, fs } = await appCall([{ verb: 'answer' }, { verb: 'listen', url, sampleRate: 8000 }]);
  const tone = call.play({ kind: 'tone', frequencies: [440], durationMs: 4000 });
  await waitFor(() => frames.length >= 10, 'audio flows to the listen socket');

  session.command('listen:status', { listen_status: 'pause' });
  const pausedAt = Date.now();
  await new Promise((r) => setTimeout(r, 800));
  const inPause = frames.filter((f) => f > pausedAt + 150).length;
  assert.equal(inPause, 0, 'no frame while paused');
  assert.equal(closed, false, 'the socket stays open while paused');

  session.command('listen:status', { listen_status: 'resume' });
  const resumedAt = Date.now();
  await waitFor(() => frames.filter((f) => f > resumedAt).length >= 10, 'audio flows again after resume');
  tone.stop();
  call.hangup();
  await call.waitForEnd();
  await waitFor(() => fs.featureServer!.size === 0, 'the session is gone');
  assert.deepEqual(errors, []);
});

test('whisper: during a bridged dial the dialled party hears the whisper (not the caller), then the bridge is back', async (t) => {
  t.after(() => engines.closeAll());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-whisper-'));
  const callerTone = toneWav(dir, 600, 6000);
  const whisperTone = toneWav(dir, 1000, 800);
  const { a, b, session, errors, fs } = await bridgedDial();
  a.play(callerTone);
  await new Promise((r) => setTimeout(r, 500));
  let heard = collectAudio(b);
  await new Promise((r) => setTimeout(r, 400));
  assert.ok(toneRatio(heard(), 8000, 600) > 0.5, 'B hears the caller before the whisper');

  // Whisper a call_sid other than the session's: the dialled party (dial.js: B's call_sid).
  session.command('whisper', { whisper: { verb: 'play', url: whisperTone } }, { callSid: 'the-dialled-leg' });
  await new Promise((r) => setTimeout(r, 150));
  heard = collectAudio(b);
  await new Promise((r) => setTimeout(r, 500));
  const during = heard();
  assert.ok(toneRatio(during, 8000, 1000) > 0.5, `B hears the whisper (ratio ${toneRatio(during, 8000, 1000).toFixed(2)})`);
  assert.ok(toneRatio(during, 8000, 600) < 0.1, `B does not hear the caller during the whisper (ratio ${toneRatio(during, 8000, 600).toFixed(2)})`);

  await new Promise((r) => setTimeout(r, 600));
  heard = collectAudio(b);
  await new Promise((r) => setTimeout(r, 500));
  const afterW = heard();
  assert.ok(toneRatio(afterW, 8000, 600) > 0.5, `the bridge is back: B hears the caller again (ratio ${toneRatio(afterW, 8000, 600).toFixed(2)})`);
  assert.deepEqual(errors, []);
  a.hangup();
  await a.waitForEnd();
  await waitFor(() => fs.featureServer!.size === 0, 'the session is gone');
});

test('mute:status in a bridged dial: the muted party reaches the other as silence until unmuted; B by its call_sid', async (t) => {
  t.after(() => engines.closeAll());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-mute-'));
  const callerTone = toneWav(dir, 600, 8000);
  const calleeTone = toneWav(dir, 900, 8000);
  const { a, b, session, errors, fs } = await bridgedDial();
  a.play(callerTone);
  b.play(calleeTone);
  const window = async (call: Call): Promise<Int16Array> => {
    await new Promise((r) => setTimeout(r, 150));
    const heard = collectAudio(call);
    await new Promise((r) => setTimeout(r, 500));
    return heard();
  };
  const loud = (pcm: Int16Array): boolean => pcm.length >= 2400 && meanSquare(pcm) > 1e5;
  await new Promise((r) => setTimeout(r, 300));
  assert.ok(toneRatio(await window(b), 8000, 600) > 0.5, 'B hears the caller');

  session.command('mute:status', { mute_status: 'mute' }); // no call_sid: the session's own call, the caller
  const bMuted = await window(b);
  assert.ok(bMuted.length >= 2400, `frames keep coming while muted (${bMuted.length} samples)`);
  assert.ok(!loud(bMuted), `B hears silence while the caller is muted (mean square ${meanSquare(bMuted).toFixed(0)})`);
  assert.ok(toneRatio(await window(a), 8000, 900) > 0.5, 'the caller still hears B');

  session.command('mute:status', { mute_status: 'unmute' });
  assert.ok(toneRatio(await window(b), 8000, 600) > 0.5, 'B hears the caller again');

  session.command('mute:status', { mute_status: 'mute' }, { callSid: 'the-dialled-leg' });
  assert.ok(!loud(await window(a)), 'the caller hears silence while B is muted');
  assert.ok(toneRatio(await window(b), 8000, 600) > 0.5, 'B still hears the caller');
  assert.deepEqual(errors, []);
  a.hangup();
  await a.waitForEnd();
  await waitFor(() => fs.featureServer!.size === 0, 'the session is gone');
});


test('listen:status, whisper and mute:status with nothing to act on are answered with jambonz:error; the call goes on', async (t) => {
  t.after(() => engines.closeAll());
  const { session, errors, call } = await pausedCall();
  session.command('listen:status', { listen_status: 'pause' });
  await waitFor(() => errors.some((e) => /listen:status.*no listen/.test(e)), 'jambonz:error for listen:status');
  session.command('whisper', { whisper: { verb: 'say', text: 'hello' } });
  await waitFor(() => errors.some((e) => /whisper.*no bridged dial/.test(e)), 'jambonz:error for whisper');
  session.command('mute:status', { mute_status: 'mute' });
  await waitFor(() => errors.some((e) => /mute:status.*neither a dial nor a conference/.test(e)), 'jambonz:error for mute:status');
  assert.ok(call.isActive, 'the call goes on');
  call.hangup();
  await call.waitForEnd();
});
