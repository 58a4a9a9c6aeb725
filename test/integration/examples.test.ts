// The examples are part of the product: each one is started as a user would and used for real.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { TestClient } from '../helpers/ws-client.js';

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
