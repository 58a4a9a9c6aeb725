// The examples are part of the product: each one is started as a user would and used for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { TestClient } from '../helpers/ws-client.js';
import { RawSip, request } from '../helpers/raw-sip.js';

function startExample(file: string): Promise<{ proc: ChildProcess; port: number; output: () => string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', file], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${file} did not start: ${out}`)), 15000);
    const check = () => {
      const m = /"port":(\d+)/.exec(out) ?? /ws:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ proc, port: Number(m[1]), output: () => out });
      }
    };
    proc.stdout!.on('data', check);
  });
}

async function stop(proc: ChildProcess): Promise<number | null> {
  proc.kill('SIGTERM');
  return new Promise((r) => proc.on('exit', (code) => r(code)));
}

test('examples/embed-basic.ts answers at once, echoes, and hangs up on #', async () => {
  const { proc, port } = await startExample('examples/embed-basic.ts');
  try {
    const c = new TestClient(`ws://127.0.0.1:${port}/`);
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
    await stop(proc);
  }
});

test('examples/tracing-console.ts prints a call span with state events', async () => {
  const { proc, output } = await startExample('examples/tracing-console.ts');
  const port = Number(/127\.0\.0\.1:(\d+)/.exec(output())![1]);
  try {
    const c = new TestClient(`ws://127.0.0.1:${port}/`);
    await c.opened();
    await c.json('hangup', 8000);
    await c.waitClose();
    const deadline = Date.now() + 5000;
    while (!/name: 'call'/.test(output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.match(output(), /name: 'call'/);
    assert.match(output(), /'callchart\.state': 'ringing'/);
    assert.match(output(), /'callchart\.state': 'active\.talking'/);
  } finally {
    await stop(proc);
  }
});

test('examples/sip-workers.ts answers and refuses SIP calls from its worker threads', async () => {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'examples/sip-workers.ts'], { env: { ...process.env, SIP_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const c = await new RawSip().open();
  try {
    const deadline = Date.now() + 15000;
    let m: RegExpExecArray | null = null;
    while (!(m = /"sipPort":(\d+)/.exec(out)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(m, `example did not start: ${out}`);
    const port = Number(m[1]);
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
    assert.equal(await stop(proc), 0, out);
  }
  assert.match(out, /"worker":\d+,"callId":"ex-1@x"[^\n]*"msg":"example: call ended"/, 'the answered call ended at shutdown, logged by its worker');
});
