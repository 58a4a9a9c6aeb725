// Digest authentication of inbound SIP calls, turned on from the CLI (issue 13, finding 7):
// `callchart serve` with CALLCHART_SIP_USERS runs in a child process (on the main thread and with
// SIP worker threads); a raw INVITE gets 401, a callchart UAC with the right credentials is
// answered, and a source that failed too often is refused even with the right password.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEngine, type Engine } from '../../src/index.js';
import { parseChallenge } from '../../src/sip/codec/digest.js';
import { RawSip, request } from '../helpers/raw-sip.js';
import { freeUdpPort } from '../interop/helpers/procs.js';

const dir = mkdtempSync(join(tmpdir(), 'callchart-sip-auth-'));
const children: ChildProcess[] = [];
let caller: Engine | undefined;
after(async () => {
  await caller?.close();
  for (const p of children) if (p.exitCode === null) p.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});


/** `callchart serve` on loopback with the given extra flags and env; resolves once it is ready. */
async function serve(args: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; sipPort: number; output: () => string }> {
  const sipPort = await freeUdpPort();
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli.ts', 'serve', '--host', '127.0.0.1', '--ws-port', '0', '--sip-port', String(sipPort), '--data-dir', dir, ...args],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(proc);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`callchart serve not ready: ${out}`)), 20_000);
    proc.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('callchart ready')) {
        clearTimeout(t);
        resolve();
      }
    });
    proc.once('exit', (code) => reject(new Error(`callchart serve exited ${code}: ${out}`)));
  });
  return { proc, sipPort, output: () => out };
}

async function stop(proc: ChildProcess): Promise<void> {
  const exited = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  await exited;
}

const env = { CALLCHART_SIP_USERS: 'alice:s3cret,bob:hunter2', CALLCHART_SIP_REALM: 'callchart.test', CALLCHART_LOG_LEVEL: 'info' };
const sdp = 'v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 40200 RTP/AVP 0\n';

async function uac(): Promise<Engine> {
  caller ??= await createEngine({ host: '127.0.0.1', wsPort: false, sipPort: 0, rtpPorts: '38800-38899', inboundCall: false }).listen();
  return caller;
}

for (const [name, args, rtpPorts] of [
  ['on the main thread', [], '38900-38949'],
  ['with SIP worker threads', ['--sip-workers', '2'], '38950-38999'],
] as const) {
  describe(`callchart serve --sip-users, ${name}`, () => {
    test('an INVITE without credentials gets 401 with a challenge for the realm; the right credentials are answered', async () => {
      const { proc, sipPort } = await serve([...args, '--rtp-ports', rtpPorts], env);
      const c = await new RawSip().open();
      try {
        c.send(request('INVITE', sipPort, c.port, { 'Content-Type': 'application/sdp' }, sdp), sipPort);
        const r401 = await c.response((r) => r.status >= 200);
        assert.equal(r401.status, 401);
        assert.equal(parseChallenge(r401.headers.get('WWW-Authenticate')!)?.realm, 'callchart.test');

        const e = await uac();
        const call = await e.call(`sip:echo@127.0.0.1:${sipPort}`, { auth: { username: 'bob', password: 'hunter2' } });
        const answered = await Promise.race([
          new Promise<boolean>((r) => call.once('answered', () => r(true))),
          call.waitForEnd().then(() => false),
        ]);
        assert.equal(answered, true, 'the authenticated call is answered by the demo app');
        call.hangup();
        assert.equal((await call.waitForEnd()).reason, 'local-hangup');
      } finally {
        c.close();
        await stop(proc);
      }
    });
  });
}

describe('callchart serve --sip-users: guessing passwords', () => {
  test('five failed attempts from a source, and even the right password from it gets 403; each failure is logged with its Call-ID', async () => {
    const { proc, sipPort, output } = await serve(['--rtp-ports', '38900-38949', '--log-format', 'json'], env);
    try {
      const e = await uac();
      const target = `sip:echo@127.0.0.1:${sipPort}`;
      for (let i = 0; i < 5; i++) {
        const end = await (await e.call(target, { auth: { username: 'alice', password: `guess-${i}` } })).waitForEnd();
        assert.deepEqual([end.reason, end.code], ['rejected', 403], `attempt ${i}`);
      }
      const locked = await (await e.call(target, { auth: { username: 'alice', password: 's3cret' } })).waitForEnd();
      assert.deepEqual([locked.reason, locked.code, locked.detail], ['rejected', 403, 'Forbidden (too many failed attempts)']);
      const failureLines = () =>
        output()
          .split('\n')
          .filter((l) => l.includes('digest authentication failed'))
          .map((l) => JSON.parse(l) as { callId?: unknown; username?: unknown });
      // The server's log reaches its stdout pipe a little after the 403s: wait for it (bounded).
      for (let t0 = Date.now(); failureLines().length < 5 && Date.now() - t0 < 3000; ) await new Promise((r) => setTimeout(r, 50));
      const failures = failureLines();
      assert.ok(failures.length >= 5, `${failures.length} failure lines`);
      for (const f of failures) assert.equal(f.username, 'alice');
      const ids = new Set(failures.map((f) => f.callId));
      assert.ok([...ids].every((id) => typeof id === 'string' && id.length > 0), 'every failure line names its Call-ID');
      assert.ok(ids.size >= 5, 'one Call-ID per attempt');
    } finally {
      await stop(proc);
    }
  });
});
