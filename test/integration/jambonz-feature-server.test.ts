// callchart as the jambonz feature-server over real loopback sockets: a SIP caller (another engine's
// UAC) calls an engine with `jambonzApp`, which dials a callchart hook route (the application side,
// in a third engine) over ws.jambonz.org and runs its verbs on the call: a prompt, a gather that
// takes one RFC 4733 digit, the actionHook, a hangup. Then bad applications, each on its own call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeWav, readWavFile } from '../../src/media/codecs/wav.js';
import type { JambonzHookData, JambonzSession } from '../../src/jambonz/index.js';
import type { JambonzAudioSummary } from '../../src/jambonz/audio-types.js';
import type { Call } from '../../src/call/call.js';
import { loopbackEngines } from '../helpers/loopback-engines.js';
import { waitFor } from '../helpers/wait.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-'));
const prompt = path.join(dir, 'prompt.wav');
{
  const s = new Int16Array(8000 * 0.4);
  for (let i = 0; i < s.length; i++) s[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000));
  writeFileSync(prompt, encodeWav(s, { sampleRate: 8000 }));
}

const engines = loopbackEngines(37600, 60);

async function dial(fsSipPort: number): Promise<{ caller: Awaited<ReturnType<typeof engines.start>>; call: Call }> {
  const caller = await engines.start();
  const call = await caller.call(`sip:app@127.0.0.1:${fsSipPort}`);
  return { caller, call };
}

test('a SIP call runs a callchart hook app: play prompt, gather one RFC 4733 digit, actionHook gets it, hangup', async (t) => {
  t.after(() => engines.closeAll());
  const seen: { session?: JambonzSession; hook?: JambonzHookData; statuses: string[] } = { statuses: [] };
  const app = await engines.start({ sipPort: false });
  app.jambonz.hook('/app', (s) => {
    seen.session = s;
    s.on('call:status', (d) => void seen.statuses.push(d.call_status));
    s.play({ url: prompt })
      .gather({ actionHook: '/digits', input: ['digits'], numDigits: 1, timeout: 10, play: { url: prompt } })
      .reply();
    s.on('/digits', (data) => {
      seen.hook = data;
      s.reply([{ verb: 'hangup' }]);
    });
  });
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: `ws://127.0.0.1:${app.wsPort}/app` } });
  const { call } = await dial(fs.sipPort!);
  await waitFor(() => call.isActive, 'the feature-server answers for the play verb');
  await waitFor(() => seen.session !== undefined, 'session:new reached the app');
  const req = seen.session!.request;
  assert.equal(req.direction, 'inbound');
  assert.equal(req.call_id, call.id, 'call_id is the SIP Call-ID');
  assert.equal(req.to, 'app');
  assert.equal(req.call_status, 'trying');
  assert.equal(req.sip?.headers?.['call-id'], call.id);
  assert.ok(req.account_sid && req.application_sid && req.call_sid);
  // The prompt plays twice (play, then gather's prompt); a digit barges into the second one.
  await new Promise((r) => setTimeout(r, 600));
  call.sendDtmf('1');
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'remote-hangup');
  assert.equal(seen.hook?.digits, '1');
  assert.equal(seen.hook?.reason, 'dtmfDetected');
  assert.equal(seen.hook?.call_sid, req.call_sid);
  await waitFor(() => seen.statuses.includes('completed'), 'call:status completed reached the app');
  assert.ok(seen.statuses.includes('in-progress'));
  await waitFor(() => fs.featureServer!.size === 0, 'the session is gone');
});

/** A raw app: each session gets `reply(msg, ws)`; every message is recorded. */
async function rawApp(reply: (msg: { type: string; msgid: string; call_sid: string; data: Record<string, unknown>; hook?: string }, ws: WebSocket) => void) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', handleProtocols: (p) => (p.has('ws.jambonz.org') ? 'ws.jambonz.org' : false) });
  await new Promise((r) => wss.once('listening', r));
  const got: Array<{ type: string; call_sid: string; data: Record<string, unknown> }> = [];
  wss.on('connection', (ws) => {
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { type: string; msgid: string; call_sid: string; data: Record<string, unknown> };
      got.push(m);
      reply(m, ws);
    });
  });
  const port = (wss.address() as { port: number }).port;
  return { wss, got, url: `ws://127.0.0.1:${port}/raw`, close: () => new Promise((r) => wss.close(r)) };
}

test('bad applications: invalid and unsupported verbs are reported with jambonz:error and skipped', async (t) => {
  t.after(() => engines.closeAll());
  const app = await rawApp((m, ws) => {
    if (m.type === 'session:new')
      ws.send(JSON.stringify({ type: 'ack', msgid: m.msgid, data: [{ verb: 'say', text: 5 }, { verb: 'conference', name: 'x' }, { verb: 'say', text: 'hi' }, { verb: 'hangup' }] }));
  });
  t.after(() => app.close());
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url } });
  const { call } = await dial(fs.sipPort!);
  const end = await call.waitForEnd();
  assert.equal(end.code, 603, 'the hangup verb declines the still-ringing call');
  const errors = app.got.filter((m) => m.type === 'jambonz:error').map((m) => String(m.data.msg));
  assert.equal(errors.length, 3, errors.join(' | '));
  assert.match(errors[0]!, /say/);
  assert.match(errors[1]!, /conference: needs the engine's rooms/);
  assert.match(errors[2]!, /no TTS provider/);
});

test('bad applications: unreachable URL → the call is declined; a verb:hook never answered → jambonz:error and hangup; others untouched', async (t) => {
  t.after(() => engines.closeAll());
  const down = await engines.start({ wsPort: false, jambonzApp: { url: 'ws://127.0.0.1:9/nothing' } });
  const r1 = await dial(down.sipPort!);
  const end1 = await r1.call.waitForEnd();
  assert.equal(end1.code, 603);

  // One app: call 1 gets a gather whose hook is never acked; call 2 a long pause.
  let n = 0;
  const app = await rawApp((m, ws) => {
    if (m.type !== 'session:new') return;
    const verbs = ++n === 1 ? [{ verb: 'gather', actionHook: '/never', input: ['digits'], numDigits: 1, timeout: 1 }] : [{ verb: 'answer' }, { verb: 'pause', length: 30 }];
    ws.send(JSON.stringify({ type: 'ack', msgid: m.msgid, data: verbs }));
  });
  t.after(() => app.close());
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url, ackTimeoutMs: 500 } });
  const a = await dial(fs.sipPort!);
  await waitFor(() => n === 1, 'first session');
  const b = await dial(fs.sipPort!);
  const endA = await a.call.waitForEnd();
  assert.equal(endA.reason, 'remote-hangup');
  const hook = app.got.find((m) => m.type === 'verb:hook');
  assert.equal(hook?.data.reason, 'timeout');
  assert.ok(app.got.some((m) => m.type === 'jambonz:error' && /ack/.test(String(m.data.msg))), 'the missed ack is reported');
  await waitFor(() => b.call.isActive, 'the other call is answered');
  assert.equal(b.call.isEnded, false, 'the other call is untouched');
  b.call.hangup();
  await b.call.waitForEnd();
});

test('bad applications: the socket closed mid-verb and not back → jambonz:error (logged) and hangup', async (t) => {
  t.after(() => engines.closeAll());
  const app = await rawApp((m, ws) => {
    if (m.type === 'session:new') {
      ws.send(JSON.stringify({ type: 'ack', msgid: m.msgid, data: [{ verb: 'answer' }, { verb: 'pause', length: 30 }] }));
      setTimeout(() => {
        void app.close();
        ws.terminate();
      }, 300);
    }
  });
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url, maxReconnects: 2 } });
  const { call } = await dial(fs.sipPort!);
  await waitFor(() => call.isActive, 'answered');
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'remote-hangup');
});

test('jambonzApp { handler }: an in-process app on the engine’s own port; a dropped socket comes back with session:reconnect', async (t) => {
  t.after(() => engines.closeAll());
  let hooked: JambonzHookData | undefined;
  const fs = await engines.start({
    jambonzApp: {
      handler: (s) => {
        s.gather({ actionHook: '/d', input: ['digits'], maxDigits: 3, finishOnKey: '#', timeout: 10 }).reply();
        s.on('/d', (data) => {
          hooked = data;
          s.reply([{ verb: 'hangup' }]);
        });
      },
    },
  });
  const { call } = await dial(fs.sipPort!);
  await waitFor(() => call.isActive, 'answered by the gather');
  await new Promise((r) => setTimeout(r, 200));
  call.sendDtmf('42#');
  await call.waitForEnd();
  assert.equal(hooked?.digits, '42', 'the finish key ends the gather and is not a digit');
  assert.equal(hooked?.reason, 'dtmfDetected');

  // Reconnect: the raw app drops the first socket once; callchart comes back with session:reconnect.
  let sockets = 0;
  const app = await rawApp((m, ws) => {
    if (m.type === 'session:new') {
      ws.send(JSON.stringify({ type: 'ack', msgid: m.msgid, data: [{ verb: 'answer' }, { verb: 'pause', length: 30 }] }));
      setTimeout(() => ws.terminate(), 200);
    }
    if (m.type === 'session:reconnect') ws.send(JSON.stringify({ type: 'command', command: 'redirect', data: [{ verb: 'hangup' }] }));
  });
  app.wss.on('connection', () => void sockets++);
  t.after(() => app.close());
  const fs2 = await engines.start({ wsPort: false, jambonzApp: { url: app.url } });
  const r = await dial(fs2.sipPort!);
  const end = await r.call.waitForEnd();
  assert.equal(end.reason, 'remote-hangup');
  assert.equal(sockets, 2);
  const re = app.got.find((m) => m.type === 'session:reconnect');
  assert.ok(re, 'session:reconnect sent');
  assert.equal(re.data.call_id, r.call.id, 'with the session:new data');
});

test('listen: the caller’s audio goes to a callchart audio route (audio.jambonz.org) with jambonz’s metadata; the WAV holds it', async (t) => {
  t.after(() => engines.closeAll());
  const recordingsDir = mkdtempSync(path.join(os.tmpdir(), 'cc-jfs-rec-'));
  const app = await engines.start({ sipPort: false, jambonz: { recordingsDir } });
  let listenUrl = '';
  app.jambonz.hook('/app', (s) => s.reply([{ verb: 'answer' }, { verb: 'listen', url: listenUrl, mixType: 'mono', sampleRate: 16000, metadata: { tenant: 'acme' } }]));
  let resolveSummary!: (s: JambonzAudioSummary) => void;
  const summary = new Promise<JambonzAudioSummary>((r) => (resolveSummary = r));
  let meta: Record<string, unknown> = {};
  app.jambonz.audio('/recording', (stream) => {
    meta = stream.metadata as unknown as Record<string, unknown>;
    void stream.done.then(resolveSummary);
  });
  listenUrl = `ws://127.0.0.1:${app.wsPort}/recording`;
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: `ws://127.0.0.1:${app.wsPort}/app` } });
  const { call } = await dial(fs.sipPort!);
  await waitFor(() => call.isActive, 'answered');
  await call.play({ kind: 'tone', frequencies: [440], durationMs: 1000 }).done;
  call.hangup();
  const sum = await summary;
  assert.equal(meta.sampleRate, 16000);
  assert.equal(meta.mixType, 'mono');
  assert.equal(meta.tenant, 'acme', 'the verb’s metadata is merged in');
  assert.equal(meta.callId, call.id);
  assert.equal(meta.direction, 'inbound');
  assert.ok(sum.path, 'a WAV was written');
  const samples = readWavFile(sum.path, 16000);
  let energy = 0;
  for (const v of samples) energy += v * v;
  assert.ok(sum.durationMs > 500, `recorded ${sum.durationMs} ms`);
  assert.ok(Math.sqrt(energy / samples.length) > 300, 'the recording holds the caller’s tone, not silence');
});

test('commands: tag, dtmf, an unknown command (jambonz:error), call:status completed; config notifyEvents → verb:status', async (t) => {
  t.after(() => engines.closeAll());
  const app = await rawApp((m, ws) => {
    if (m.type !== 'session:new') return;
    ws.send(JSON.stringify({ type: 'ack', msgid: m.msgid, data: [{ verb: 'config', notifyEvents: true }, { verb: 'answer' }, { verb: 'pause', length: 30 }] }));
    setTimeout(() => {
      ws.send(JSON.stringify({ type: 'command', command: 'tag', data: { tag: { tenant: 'acme' } } }));
      ws.send(JSON.stringify({ type: 'command', command: 'dtmf', data: { dtmf: { digit: '5' } } }));
      ws.send(JSON.stringify({ type: 'command', command: 'no:such', data: {} }));
      ws.send('not json');
    }, 300);
    setTimeout(() => ws.send(JSON.stringify({ type: 'command', command: 'call:status', data: { call_status: 'completed' } })), 900);
  });
  t.after(() => app.close());
  const fs = await engines.start({ wsPort: false, jambonzApp: { url: app.url } });
  const { call } = await dial(fs.sipPort!);
  const digits: string[] = [];
  call.on('dtmf', (d) => void digits.push(d));
  const end = await call.waitForEnd();
  assert.equal(end.reason, 'remote-hangup');
  assert.deepEqual(digits, ['5']);
  const errors = app.got.filter((m) => m.type === 'jambonz:error').map((m) => String(m.data.msg));
  assert.ok(errors.some((e) => /no:such/.test(e)), errors.join(' | '));
  assert.ok(errors.includes('InvalidMessage'), errors.join(' | '));
  const statuses = app.got.filter((m) => m.type === 'verb:status').map((m) => `${String(m.data.name)}:${String(m.data.event)}`);
  assert.deepEqual(statuses.filter((s) => !s.startsWith('config')).slice(0, 3), ['answer:starting', 'answer:finished', 'pause:starting']);
  await waitFor(() => app.got.some((m) => m.type === 'call:status' && m.data.call_status === 'completed'), 'final call:status');
  const last = app.got.filter((m) => m.type === 'call:status').at(-1)!;
  assert.deepEqual(last.data.customerData, { tenant: 'acme' }, 'tag data rides on later messages');
});
