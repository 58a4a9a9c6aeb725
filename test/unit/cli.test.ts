import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { parseServeArgs, UsageError, HELP } from '../../src/cli.js';

test('defaults match the documented ports', () => {
  const c = parseServeArgs([], {});
  assert.deepEqual(c, { host: '0.0.0.0', wsPort: 4143, sipPort: 5060, sipWorkers: 0, rtpPorts: '20000-29999', logLevel: 'info', maxCalls: 10000, inspect: false, dataDir: 'data' });
});

test('env vars apply and flags override them', () => {
  const env = { CALLCHART_HOST: '127.0.0.1', CALLCHART_WS_PORT: '5000', CALLCHART_SIP_PORT: '5070', CALLCHART_RTP_PORTS: '30000-30100', CALLCHART_LOG_LEVEL: 'debug' };
  const c = parseServeArgs([], env);
  assert.equal(c.host, '127.0.0.1');
  assert.equal(c.wsPort, 5000);
  assert.equal(c.sipPort, 5070);
  assert.equal(c.rtpPorts, '30000-30100');
  assert.equal(c.logLevel, 'debug');
  const f = parseServeArgs(['--ws-port', '6000', '--log-level', 'warn', '--sip-port=5080'], env);
  assert.equal(f.wsPort, 6000);
  assert.equal(f.logLevel, 'warn');
  assert.equal(f.sipPort, 5080);
});

test('--inspect with an optional filter', () => {
  assert.deepEqual(parseServeArgs(['--inspect'], {}).inspect, { port: 8080 });
  assert.deepEqual(parseServeArgs(['--inspect', 'call', '--inspect-port', '9000'], {}).inspect, { port: 9000, filter: 'call' });
  assert.deepEqual(parseServeArgs([], { CALLCHART_INSPECT: 'room' }).inspect, { port: 8080, filter: 'room' });
});

test('--sip-workers takes a count or "auto" (one per core)', () => {
  assert.equal(parseServeArgs(['--sip-workers', '2'], {}).sipWorkers, 2);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_WORKERS: '3' }).sipWorkers, 3);
  assert.equal(parseServeArgs(['--sip-workers', 'auto'], {}).sipWorkers, os.availableParallelism());
  assert.throws(() => parseServeArgs(['--sip-workers', 'many'], {}), /--sip-workers must be 0-64 or "auto"/);
  assert.throws(() => parseServeArgs(['--sip-workers=-1'], {}), /--sip-workers must be/);
});

test('bad values are usage errors with a clear message', () => {
  assert.throws(() => parseServeArgs(['--ws-port', 'abc'], {}), (e: unknown) => e instanceof UsageError && /--ws-port must be a port/.test(e.message));
  assert.throws(() => parseServeArgs(['--rtp-ports', '300-200'], {}), /--rtp-ports must look like/);
  assert.throws(() => parseServeArgs(['--log-level', 'loud'], {}), /--log-level must be one of/);
  assert.throws(() => parseServeArgs(['--bogus'], {}), UsageError);
  assert.throws(() => parseServeArgs(['--public-ws-url', 'example.com:4143'], {}), /--public-ws-url must be a ws:\/\/ or wss:\/\/ URL/);
});

test('--public-ws-url (or CALLCHART_PUBLIC_WS_URL) sets where jambonz reaches the demo', () => {
  assert.equal(parseServeArgs(['--public-ws-url', 'wss://app.example.com'], {}).publicWsUrl, 'wss://app.example.com');
  assert.equal(parseServeArgs([], { CALLCHART_PUBLIC_WS_URL: 'ws://10.0.0.5:4143' }).publicWsUrl, 'ws://10.0.0.5:4143');
});

test('--strict-rtp (or CALLCHART_STRICT_RTP) picks the strict RTP mode; unknown modes are usage errors', () => {
  assert.equal(parseServeArgs([], {}).strictRtp, undefined, 'absent: the engine default (probation)');
  assert.equal(parseServeArgs(['--strict-rtp', 'strict'], {}).strictRtp, 'strict');
  assert.equal(parseServeArgs([], { CALLCHART_STRICT_RTP: 'first' }).strictRtp, 'first');
  assert.equal(parseServeArgs(['--strict-rtp=probation'], { CALLCHART_STRICT_RTP: 'first' }).strictRtp, 'probation');
  assert.throws(() => parseServeArgs(['--strict-rtp', 'yes'], {}), /--strict-rtp must be one of strict, probation, first/);
  assert.throws(() => parseServeArgs(['--strict-rtp', 'strict', '--sip-workers', '2'], {}), /cannot be combined with --sip-workers/);
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, ...env } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => resolve({ code, out, err }));
  });
}

test('callchart --help explains the options; bad flags exit 2', async () => {
  const h = await run(['--help']);
  assert.equal(h.code, 0);
  assert.equal(h.out, HELP);
  for (const flag of ['--host', '--ws-port', '--sip-port', '--sip-workers', '--rtp-ports', '--strict-rtp', '--log-level', '--inspect', 'CALLCHART_WS_PORT']) assert.ok(h.out.includes(flag), flag);
  const bad = await run(['serve', '--ws-port', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--ws-port must be a port/);
});

test('callchart serve starts, logs readiness and exits 0 on SIGTERM', async () => {
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve', '--ws-port', '0', '--host', '127.0.0.1', '--sip-port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no readiness line: ${out}`)), 15000);
    p.stdout.on('data', (d) => {
      out += d;
      if (out.includes('callchart ready')) {
        clearTimeout(t);
        resolve();
      }
    });
  });
  p.kill('SIGTERM');
  const code = await new Promise((r) => p.on('exit', r));
  assert.equal(code, 0);
});
