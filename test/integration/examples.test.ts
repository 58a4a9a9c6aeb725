// The examples are part of the product: each one is started as a user would (`tsx examples/x.ts`,
// importing 'callchart' by name) and used for real on loopback. Three are exercised where their
// subject is tested in depth: examples/ivr-prompt-digits.ts in sip-media.test.ts,
// examples/jambonz-ivr.ts in jambonz-hook.test.ts, examples/jambonz-recording.ts in
// jambonz-audio.test.ts; the last test here checks that every example is run somewhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TestClient } from '../helpers/ws-client.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { ToneCaller, assertHears } from '../helpers/ws-tone-caller.js';
import { createEngine } from '../../src/index.js';
import { readWavFile } from '../../src/media/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Example {
  proc: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function launch(file: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Example {
  const proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
  return { proc, output: () => out, exited };
}

async function waitFor(ex: Example, re: RegExp, what: string, ms = 15_000): Promise<RegExpExecArray> {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = re.exec(ex.output());
    if (m) return m;
    if (Date.now() > deadline || ex.proc.exitCode !== null) assert.fail(`${what}: ${ex.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Start a server example on ephemeral ports and read its WebSocket port from its log. */
async function startWs(file: string, env: NodeJS.ProcessEnv = {}): Promise<Example & { port: number }> {
  const ex = launch(file, { CALLCHART_WS_PORT: '0', ...env });
  const m = await waitFor(ex, /ws:\/\/127\.0\.0\.1:(\d+)\//, `${file} did not start`);
  return { ...ex, port: Number(m[1]) };
}

/** Run an example that exits by itself; it must exit 0. */
async function runToEnd(file: string, env: NodeJS.ProcessEnv = {}, args: string[] = []): Promise<string> {
  const ex = launch(file, env, args);
  const timer = setTimeout(() => ex.proc.kill('SIGKILL'), 30_000);
  const code = await ex.exited;
  clearTimeout(timer);
  assert.equal(code, 0, `${file} exited ${code}: ${ex.output()}`);
  return ex.output();
}

async function stop(ex: Example): Promise<number | null> {
  ex.proc.kill('SIGTERM');
  return ex.exited;
}

test('examples/embed-basic.ts answers at once, echoes, and hangs up on #', async () => {
  const ex = await startWs('examples/embed-basic.ts');
  try {
    const c = new TestClient(`ws://127.0.0.1:${ex.port}/`);
    await c.opened();
    const { sessionId } = await c.json('incoming_call');
    await c.json('answer');
    c.send(Buffer.from('hello'));
    const echo = await c.next((f) => f.kind === 'binary');
    assert.equal(echo.kind === 'binary' && echo.data.toString(), 'hello');
    c.send({ event: 'dtmf', sessionId, digit: '#' });
    await c.json('hangup');
    assert.equal((await c.waitClose()).code, 1000);
  } finally {
    assert.equal(await stop(ex), 0);
  }
});

test('examples/decide-later.ts answers after its lookup, rejects blocked callers, hangs up on its own timer', async () => {
  const ex = await startWs('examples/decide-later.ts', { MAX_CALL_MS: '300', BLOCKED: '127.0.0.9' });
  try {
    const c = new TestClient(`ws://127.0.0.1:${ex.port}/`);
    await c.opened();
    await c.json('incoming_call');
    await c.json('answer');
    await c.json('hangup');
    await c.waitClose();
    await waitFor(ex, /time is up/, 'the app hung up on its timer');
    const blocked = new TestClient(`ws://127.0.0.1:${ex.port}/`, undefined, { localAddress: '127.0.0.9' });
    await blocked.opened();
    await blocked.json('incoming_call');
    assert.equal((await blocked.json('hangup')).code, 603);
  } finally {
    assert.equal(await stop(ex), 0);
  }
});

test('examples/tracing-console.ts prints a call span with state events', async () => {
  const ex = await startWs('examples/tracing-console.ts');
  try {
    const c = new TestClient(`ws://127.0.0.1:${ex.port}/`);
    await c.opened();
    await c.json('hangup', 8000);
    await c.waitClose();
    await waitFor(ex, /span call [\d.]+ ms/, 'a call span');
    assert.match(ex.output(), /"callchart\.state":"ringing"/);
    assert.match(ex.output(), /"callchart\.state":"active\.talking"/);
  } finally {
    assert.equal(await stop(ex), 0);
  }
});

test('examples/sip-outbound.ts calls examples/sip-inbound.ts: answer, hold, resume, DTMF, the far end hangs up on #', async () => {
  const inbound = launch('examples/sip-inbound.ts', { CALLCHART_SIP_PORT: '0', CALLCHART_RTP_PORTS: '46700-46749' });
  try {
    const port = Number((await waitFor(inbound, /"sipPort":(\d+)/, 'sip-inbound did not start'))[1]);
    const out = await runToEnd('examples/sip-outbound.ts', { CALLCHART_RTP_PORTS: '46750-46799' }, [`sip:service@127.0.0.1:${port}`]);
    assert.match(out, /"state":"active\.talking"/);
    assert.match(out, /"state":"active\.held"/);
    assert.match(out, /"msg":"example: finished"/);
    assert.match(out, /"end":\{"reason":"remote-hangup"/);
    await waitFor(inbound, /"digit":"#"/, 'the inbound example heard #');
    for (const d of ['1', '2', '3']) assert.match(inbound.output(), new RegExp(`"digit":"${d}"`));
    await waitFor(inbound, /"reason":"local-hangup"[^\n]*"msg":"example: call ended"/, 'the inbound example hung up');
  } finally {
    assert.equal(await stop(inbound), 0);
  }
});

test('examples/bridge-phone-ws.ts bridges a SIP call with the waiting WebSocket caller: each hears the other; alone, a SIP call gets 480', async () => {
  const ex = launch('examples/bridge-phone-ws.ts', { CALLCHART_WS_PORT: '0', CALLCHART_SIP_PORT: '0', CALLCHART_RTP_PORTS: '41100-41149' });
  const phone = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '41150-41199' });
  const dir = mkdtempSync(path.join(tmpdir(), 'callchart-ex-bridge-'));
  try {
    await phone.listen();
    const m = await waitFor(ex, /"wsPort":(\d+),"sipPort":(\d+)[^\n]*example ready/, 'example did not start');
    const [wsPort, sipPort] = [Number(m[1]), Number(m[2])];
    const alone = await phone.call(`sip:ws@127.0.0.1:${sipPort}`);
    assert.equal((await alone.waitForEnd()).code, 480, 'nobody waiting: refused');
    const ws = new ToneCaller(`ws://127.0.0.1:${wsPort}/`);
    await ws.answered();
    await waitFor(ex, /websocket caller waiting/, 'the WS caller waits');
    const call = await phone.call(`sip:ws@127.0.0.1:${sipPort}`);
    await new Promise<void>((r) => call.once('answered', () => r()));
    const rec = call.record(path.join(dir, 'phone.wav'));
    const tone = call.play({ kind: 'tone', frequencies: [600], durationMs: 1500, amplitude: 10_000 });
    await Promise.all([ws.sendTone(1800, 1500), tone.done]);
    await waitFor(ex, /"mode":"pcm"[^\n]*example: bridged/, 'the example bridged the calls');
    call.hangup();
    await rec.done;
    assert.equal((await ws.c.waitClose()).code, 1000, 'the WS caller is hung up with the phone');
    assertHears(ws.heardSamples(), 600, 1800, 'the WS caller');
    assertHears(readWavFile(path.join(dir, 'phone.wav')), 1800, 600, 'the phone');
    await waitFor(ex, /"aToB":\d{2,},"bToA":\d{2,}[^\n]*example: bridge over/, 'the bridge carried both ways');
  } finally {
    await phone.close();
    rmSync(dir, { recursive: true, force: true });
    assert.equal(await stop(ex), 0);
  }
});

test('examples/sip-workers.ts answers and refuses SIP calls from its worker threads', async () => {
  const ex = launch('examples/sip-workers.ts', { CALLCHART_SIP_PORT: '0', CALLCHART_SIP_WORKERS: '2', CALLCHART_RTP_PORTS: '46600-46699' });
  const c = await new RawSip().open();
  try {
    const port = Number((await waitFor(ex, /"sipPort":(\d+)/, 'example did not start'))[1]);
    const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40050 RTP/AVP 0\n';
    c.send(request('INVITE', port, c.port, { 'Content-Type': 'application/sdp', 'Call-ID': 'ex-1@x' }, sdp), port);
    const ok = await c.response((r) => r.headers.get('Call-ID') === 'ex-1@x' && r.status >= 200);
    assert.equal(ok.status, 200);
    const spam = { 'Content-Type': 'application/sdp', 'Call-ID': 'ex-2@x', From: `<sip:spam@127.0.0.1:${c.port}>;tag=s1` };
    c.send(request('INVITE', port, c.port, spam, sdp), port);
    const declined = await c.response((r) => r.headers.get('Call-ID') === 'ex-2@x' && r.status >= 200);
    assert.equal(declined.status, 603);
  } finally {
    c.close();
    assert.equal(await stop(ex), 0, ex.output());
  }
  assert.match(ex.output(), /"worker":\d+,"callId":"ex-1@x"[^\n]*"msg":"example: call ended"/, 'the answered call ended at shutdown, logged by its worker');
});

test('examples/media-bridge.ts: each bridged phone hears the other, each mixer member hears the other two', async () => {
  const out = await runToEnd('examples/media-bridge.ts', { CALLCHART_RTP_PORTS: '46500-46539' });
  const pct = (re: RegExp) => Number(re.exec(out)?.[1]);
  assert.ok(pct(/PCMU phone \(600 Hz\) hears: 600 Hz \d+ %, 1400 Hz (\d+) %/) > 80, out);
  assert.ok(pct(/PCMA phone \(1400 Hz\) hears: 600 Hz (\d+) %/) > 80, out);
  assert.ok(pct(/mixer: PCMU phone \(450 Hz\) hears: 450 Hz (\d+) %/) < 10, out);
  assert.ok(pct(/mixer: PCMU phone \(450 Hz\) hears: 450 Hz \d+ %, 950 Hz (\d+) %/) > 30, out);
});

test('examples/media-playback.ts plays every item, reports the missing file, pauses for real', async () => {
  const out = await runToEnd('examples/media-playback.ts', { CALLCHART_RTP_PORTS: '46540-46559' });
  assert.match(out, /items: prompt=ended, missing=failed, beep=ended, gap=ended/);
  const paused = Number(/paused 300 ms: (\d+) samples/.exec(out)?.[1]);
  assert.ok(paused < 800, out); // 300 ms of audio would be 2400 samples
});

test('examples/media-record.ts leaves a valid WAV when the call drops, and records stereo', async () => {
  const out = await runToEnd('examples/media-record.ts', { CALLCHART_RTP_PORTS: '46560-46579' });
  assert.match(out, /finished: reason=leg-closed [^\n]*file parses: 1 ch, 8000 Hz/);
  assert.ok(Number(/440 Hz share ([\d.]+)/.exec(out)?.[1]) > 0.9, out);
  assert.match(out, /stereo: \d+ ms, left 500 Hz share (0\.9\d|1\.00), right 1200 Hz share (0\.9\d|1\.00)/);
});

test('examples/playback-client.ts drives a playback session on an in-process server', async () => {
  const out = await runToEnd('examples/playback-client.ts');
  assert.match(out, /player <- \{"type":"SESSION_UPDATED"[^\n]*"playing":true/);
  assert.match(out, /player <- \{"type":"SET_SEEK"[^\n]*"seek":30/);
  assert.match(out, /controller <- \{"type":"ERROR"[^\n]*volume/);
});

test('examples/rooms-counter.ts --demo: rooms count apart, GET /rooms lists them', async () => {
  const out = await runToEnd('examples/rooms-counter.ts', {}, ['--demo']);
  assert.match(out, /bob \(kitchen\) <- new value: 2/);
  assert.match(out, /carol \(garage\) <- new value: -1/);
  assert.match(out, /GET \/rooms -> \[\{"roomId":"kitchen","clients":2\},\{"roomId":"garage","clients":1\}\]/);
});

test('every example imports callchart by name, reads no old variables first, and is run by a test', () => {
  const examples = readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.ts'));
  const tests = readdirSync(path.join(ROOT, 'test', 'integration'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => readFileSync(path.join(ROOT, 'test', 'integration', f), 'utf8'))
    .join('\n');
  for (const f of examples) {
    const src = readFileSync(path.join(ROOT, 'examples', f), 'utf8');
    assert.doesNotMatch(src, /from '\.\.\//, `${f} imports from outside the package's public API`);
    // The old names still work, but only as fallbacks after the CALLCHART_* ones.
    assert.doesNotMatch(src, /(?<!\?\? )process\.env\.(PORT|SIP_PORT|RTP_PORTS)\b/, `${f} reads an old variable before CALLCHART_*`);
    // sip-workers-app.ts is the module each worker thread of sip-workers.ts imports.
    if (f !== 'sip-workers-app.ts') assert.ok(tests.includes(`examples/${f}`), `${f} is run by no test`);
  }
});
