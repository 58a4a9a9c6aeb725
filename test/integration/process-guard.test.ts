// The process backstop (src/process-guard.ts) in a real child process: route handlers that fail
// later, outside any try/catch, must not take the server down; a crash burst and memory exhaustion
// still end it (status 1, after a graceful close). The same child without the guard dies on the
// first such error, which is what the first test would see without the guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { EngineChild } from '../helpers/engine-child.js';
import { waitUntil } from '../interop/helpers/procs.js';

const SCRIPT = 'test/helpers/guarded-server.ts';

async function get(child: EngineChild, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${child.wsPort}${path}`);
  return { status: res.status, body: await res.text() };
}

async function wsSend(child: EngineChild, text: string): Promise<void> {
  const ws = new WebSocket(`ws://127.0.0.1:${child.wsPort}/explode`);
  ws.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  ws.send(text);
  await new Promise((r) => setTimeout(r, 100));
  ws.terminate();
}

const settle = () => new Promise((r) => setTimeout(r, 150));

test('an async throw in a route handler, an unhandled rejection and a throwing socket callback are logged, counted and the server keeps answering', async () => {
  const child = await EngineChild.start({ script: [SCRIPT] });
  try {
    for (let i = 0; i < 3; i++) {
      assert.equal((await get(child, '/throw-later')).status, 202);
      assert.equal((await get(child, '/reject-later')).status, 202);
      await settle();
      assert.equal((await get(child, '/status')).status, 200, `still answering after round ${i + 1}`);
    }
    await wsSend(child, 'first');
    await wsSend(child, 'second');
    await settle();
    assert.ok(child.alive(), `the child died:\n${child.tail()}`);
    assert.equal((await get(child, '/status')).status, 200);
    const metrics = JSON.parse((await get(child, '/guard')).body) as { uncaughtExceptions: number; unhandledRejections: number };
    assert.deepEqual(metrics, { uncaughtExceptions: 5, unhandledRejections: 3 });
    const kept = child.find(/^uncaught exception: kept serving$/);
    assert.equal(kept.length, 5);
    assert.ok(kept.every((e) => e.level === 50));
    const messages = kept.map((e) => (e.err as { message?: string } | undefined)?.message);
    assert.equal(messages.filter((m) => m === 'boom from a timer').length, 3);
    assert.equal(messages.filter((m) => m?.startsWith('socket callback failed on')).length, 2);
    const rejected = child.find(/^unhandled rejection: kept serving$/);
    assert.equal(rejected.length, 3);
    assert.equal((rejected[0]!.err as { message?: string }).message, 'rejected and never handled');
    assert.deepEqual(await child.stop(), { code: 0, signal: null });
  } finally {
    if (child.alive()) await child.stop();
  }
});

test('without the guard the same async throw ends the process (what the test above would see)', async () => {
  const child = await EngineChild.start({ script: [SCRIPT], env: { GUARD: '0' } });
  try {
    await get(child, '/throw-later');
    await waitUntil(() => !child.alive(), 5000, 'the unguarded child to die');
    assert.equal(child.exit?.code, 1);
    assert.ok(child.stderrLines.some((l) => l.includes('boom from a timer')));
  } finally {
    if (child.alive()) await child.stop();
  }
});

test('a burst of uncaught exceptions beyond the budget exits 1 after a graceful close', async () => {
  const child = await EngineChild.start({ script: [SCRIPT], env: { GUARD_MAX: '3' } });
  try {
    for (let i = 0; i < 3; i++) await get(child, '/throw-later');
    await settle();
    assert.ok(child.alive(), 'three are within the budget');
    await get(child, '/throw-later');
    await waitUntil(() => !child.alive(), 10_000, 'the child to exit');
    assert.equal(child.exit?.code, 1);
    const fatal = child.logs().find((e) => e.level === 60);
    assert.equal(fatal?.reason, 'crash-burst', child.tail());
    assert.ok(child.find(/^shutting down$/).length === 1, 'engine.close() ran before the exit');
  } finally {
    if (child.alive()) await child.stop();
  }
});

test('an allocation failure exits 1 at once', async () => {
  const child = await EngineChild.start({ script: [SCRIPT] });
  try {
    await get(child, '/alloc-later');
    await waitUntil(() => !child.alive(), 10_000, 'the child to exit');
    assert.equal(child.exit?.code, 1);
    assert.equal(child.logs().find((e) => e.level === 60)?.reason, 'memory', child.tail());
  } finally {
    if (child.alive()) await child.stop();
  }
});
