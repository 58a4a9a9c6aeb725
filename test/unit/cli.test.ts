import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { parseServeArgs, parseSipUsers, parseSipRegister, packageVersion, serve, strictRtpOptions, UsageError, HELP } from '../../src/cli.js';

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

test('--inspect with an optional filter: the viewer on 127.0.0.1:8080', () => {
  assert.deepEqual(parseServeArgs(['--inspect'], {}).inspect, { port: 8080, host: '127.0.0.1' });
  assert.deepEqual(parseServeArgs(['--inspect', 'call', '--inspect-port', '9000'], {}).inspect, { port: 9000, host: '127.0.0.1', filter: 'call' });
  assert.deepEqual(parseServeArgs([], { CALLCHART_INSPECT: 'room' }).inspect, { port: 8080, host: '127.0.0.1', filter: 'room' });
  assert.deepEqual(parseServeArgs([], { CALLCHART_INSPECT: '1', CALLCHART_INSPECT_PORT: '9100' }).inspect, { port: 9100, host: '127.0.0.1' });
  // The other inspect flags alone do not turn it on.
  assert.equal(parseServeArgs(['--inspect-port', '9000', '--inspect-stately'], {}).inspect, false);
});

test('--inspect-host off loopback needs --inspect-token (or CALLCHART_INSPECT_TOKEN) of 16+ characters; --inspect-stately', () => {
  const token = 'abcdefghijklmnopqrstuvwx';
  assert.throws(() => parseServeArgs(['--inspect', '--inspect-host', '0.0.0.0'], {}), (e: unknown) => e instanceof UsageError && /needs a token/.test(e.message));
  assert.throws(() => parseServeArgs(['--inspect', '--inspect-token', 'short'], {}), /at least 16 characters/);
  assert.deepEqual(parseServeArgs(['--inspect', '--inspect-host', '0.0.0.0', '--inspect-token', token], {}).inspect, { port: 8080, host: '0.0.0.0', token });
  assert.deepEqual(parseServeArgs(['--inspect'], { CALLCHART_INSPECT_HOST: '10.0.0.5', CALLCHART_INSPECT_TOKEN: token }).inspect, { port: 8080, host: '10.0.0.5', token });
  assert.deepEqual(parseServeArgs(['--inspect', '--inspect-stately'], {}).inspect, { port: 8080, host: '127.0.0.1', stately: true });
  assert.deepEqual(parseServeArgs(['--inspect'], { CALLCHART_INSPECT_STATELY: '1' }).inspect, { port: 8080, host: '127.0.0.1', stately: true });
});

test('--sip-workers takes a count or "auto" (one per core)', () => {
  assert.equal(parseServeArgs(['--sip-workers', '2'], {}).sipWorkers, 2);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_WORKERS: '3' }).sipWorkers, 3);
  assert.equal(parseServeArgs(['--sip-workers', 'auto'], {}).sipWorkers, os.availableParallelism());
  assert.throws(() => parseServeArgs(['--sip-workers', 'many'], {}), /--sip-workers must be 0-64 or "auto"/);
  assert.throws(() => parseServeArgs(['--sip-workers=-1'], {}), /--sip-workers must be/);
});

test('--sip-allow (or CALLCHART_SIP_ALLOW) takes addresses and CIDR blocks, IPv4 and IPv6', () => {
  assert.deepEqual(parseServeArgs(['--sip-allow', '10.0.0.0/8, 192.0.2.7,2001:db8::/32'], {}).sipAllow, ['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
  assert.deepEqual(parseServeArgs([], { CALLCHART_SIP_ALLOW: '127.0.0.1' }).sipAllow, ['127.0.0.1']);
  assert.equal(parseServeArgs([], {}).sipAllow, undefined);
  assert.throws(() => parseServeArgs(['--sip-allow', '10.0.0.0/40'], {}), (e: unknown) => e instanceof UsageError && /--sip-allow: .*10\.0\.0\.0\/40/.test(e.message));
  assert.throws(() => parseServeArgs(['--sip-allow', 'example.com'], {}), UsageError);
  assert.throws(() => parseServeArgs(['--sip-allow', ','], {}), /at least one/);
});

test('--sip-invite-rate (or CALLCHART_SIP_INVITE_RATE) takes a positive number or "off"', () => {
  assert.equal(parseServeArgs(['--sip-invite-rate', '250'], {}).sipInviteRate, 250);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_INVITE_RATE: 'off' }).sipInviteRate, false);
  assert.equal(parseServeArgs([], {}).sipInviteRate, undefined);
  assert.throws(() => parseServeArgs(['--sip-invite-rate', '0'], {}), /--sip-invite-rate must be a positive number or "off"/);
  assert.throws(() => parseServeArgs(['--sip-invite-rate', 'lots'], {}), UsageError);
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
  assert.equal(parseServeArgs(['--strict-rtp', 'strict', '--sip-workers', '2'], {}).strictRtp, 'strict', 'worker threads take it too');
});

test('--srtp (or CALLCHART_SRTP) picks the SRTP mode; unknown modes are usage errors', () => {
  assert.equal(parseServeArgs([], {}).srtp, undefined, 'absent: off');
  assert.equal(parseServeArgs(['--srtp', 'required'], {}).srtp, 'required');
  assert.equal(parseServeArgs([], { CALLCHART_SRTP: 'optional' }).srtp, 'optional');
  assert.equal(parseServeArgs(['--srtp=off'], { CALLCHART_SRTP: 'required' }).srtp, 'off');
  assert.throws(() => parseServeArgs(['--srtp', 'yes'], {}), /--srtp must be one of off, optional, required/);
});

test('--strict-rtp-nat (or CALLCHART_STRICT_RTP_NAT) picks the hosts a NAT media source may use; it reaches the engine with the mode', () => {
  assert.equal(parseServeArgs([], {}).strictRtpNat, undefined, 'absent: the engine default (signalling)');
  assert.equal(strictRtpOptions(parseServeArgs([], {})), undefined);
  assert.equal(parseServeArgs(['--strict-rtp-nat', 'any'], {}).strictRtpNat, 'any');
  assert.equal(parseServeArgs([], { CALLCHART_STRICT_RTP_NAT: 'any' }).strictRtpNat, 'any');
  assert.equal(parseServeArgs(['--strict-rtp-nat=signalling'], { CALLCHART_STRICT_RTP_NAT: 'any' }).strictRtpNat, 'signalling');
  assert.throws(() => parseServeArgs(['--strict-rtp-nat', 'anywhere'], {}), /--strict-rtp-nat must be one of signalling, any/);
  assert.deepEqual(strictRtpOptions(parseServeArgs(['--strict-rtp-nat', 'any'], {})), { natSources: 'any' });
  assert.deepEqual(strictRtpOptions(parseServeArgs(['--strict-rtp', 'probation'], { CALLCHART_STRICT_RTP_NAT: 'any' })), { mode: 'probation', natSources: 'any' });
  assert.deepEqual(strictRtpOptions(parseServeArgs(['--strict-rtp', 'strict'], {})), { mode: 'strict' });
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
  for (const flag of ['--host', '--ws-port', '--sip-port', '--sip-workers', '--rtp-ports', '--strict-rtp', '--strict-rtp-nat', 'CALLCHART_STRICT_RTP_NAT', '--log-level', '--inspect', '--inspect-host', '--inspect-token', '--inspect-stately', 'CALLCHART_INSPECT_TOKEN', 'CALLCHART_WS_PORT', '--version', '--log-format', '--sip-trace', '--hep', 'CALLCHART_HEP']) assert.ok(h.out.includes(flag), flag);
  const bad = await run(['serve', '--ws-port', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /--ws-port must be a port/);
});

test('callchart --version prints package.json\'s version; unknown flags are named, point to --help and exit 2', async () => {
  const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  assert.equal(packageVersion(), version);
  const v = await run(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.out, `${version}\n`);
  const unknown = await run(['serve', '--sip-prot', '5060']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.err, 'callchart: unknown option --sip-prot for "serve"\n(see callchart --help)\n');
  const top = await run(['--verbose']);
  assert.equal(top.code, 2);
  assert.equal(top.err, 'callchart: unknown option --verbose\n(see callchart --help)\n');
  assert.throws(() => parseServeArgs(['--ws-port'], {}), (e: unknown) => e instanceof UsageError && e.message === '--ws-port needs a value');
  assert.throws(() => parseServeArgs(['--inspect=yes'], {}), (e: unknown) => e instanceof UsageError && e.message === '--inspect takes no value');
});

test('--log-format, --sip-trace, --hep and --hep-id (and their env vars)', () => {
  assert.equal(parseServeArgs([], {}).logFormat, undefined, 'absent: pretty on a terminal, JSON otherwise, decided at start');
  assert.equal(parseServeArgs(['--log-format', 'pretty'], {}).logFormat, 'pretty');
  assert.equal(parseServeArgs([], { CALLCHART_LOG_FORMAT: 'json' }).logFormat, 'json');
  assert.throws(() => parseServeArgs(['--log-format', 'xml'], {}), (e: unknown) => e instanceof UsageError && /--log-format must be one of json, pretty/.test(e.message));
  assert.equal(parseServeArgs(['--sip-trace'], {}).sipTrace, true);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_TRACE: '1' }).sipTrace, true);
  assert.equal(parseServeArgs([], {}).sipTrace, undefined);
  assert.deepEqual(parseServeArgs(['--hep', '10.0.0.9:9060'], {}).hep, { host: '10.0.0.9', port: 9060 });
  assert.deepEqual(parseServeArgs(['--hep-id', '7'], { CALLCHART_HEP: '[::1]:9060' }).hep, { host: '::1', port: 9060, captureId: 7 });
  assert.throws(() => parseServeArgs(['--hep', 'homer'], {}), (e: unknown) => e instanceof UsageError && /--hep: expected host:port/.test(e.message));
  assert.throws(() => parseServeArgs(['--hep', '10.0.0.9:9060', '--hep-id=-1'], {}), /--hep-id must be an integer/);
  assert.throws(() => parseServeArgs(['--hep', '10.0.0.9:9060', '--hep-id', '-1'], {}), (e: unknown) => e instanceof UsageError && e.message.startsWith('--hep-id needs a value'));
  assert.throws(() => parseServeArgs(['--hep-id', '1'], {}), /--hep-id needs --hep/);
});

for (const workers of [[], ['--sip-workers', '1']]) test(`serve --sip-trace --hep ${workers.join(' ')}: a SIP message shows in the (pretty) log and reaches the HEP collector`, async () => {
  const collector = dgram.createSocket('udp4');
  const hep: Buffer[] = [];
  collector.on('message', (m) => hep.push(m));
  await new Promise<void>((r) => collector.bind(0, '127.0.0.1', () => r()));
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const spare = dgram.createSocket('udp4');
  const sipPort = await new Promise<number>((r) => spare.bind(0, '127.0.0.1', () => r(spare.address().port)));
  await new Promise<void>((r) => spare.close(() => r()));
  const args = ['serve', '--ws-port', '0', '--host', '127.0.0.1', '--sip-port', String(sipPort), '--sip-trace', '--hep', `127.0.0.1:${collector.address().port}`, '--log-format', 'pretty', ...workers];
  const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  const until = async (pred: () => boolean, what: string) => {
    const deadline = Date.now() + 15000;
    while (!pred()) {
      if (Date.now() > deadline || p.exitCode !== null) throw new Error(`${what}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  try {
    await until(() => out.includes('callchart ready'), 'no readiness line');
    const options = `OPTIONS sip:callchart@127.0.0.1:${sipPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${probe.address().port};branch=z9hG4bK-cli1\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:callchart@127.0.0.1>\r\nCall-ID: cli-trace-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n`;
    probe.send(options, sipPort, '127.0.0.1');
    await until(() => /INFO: sent -> 127\.0\.0\.1:\d+ SIP\/2\.0 200 OK/.test(out) && hep.length >= 2, 'no trace of the OPTIONS and its 200');
    assert.match(out, /INFO: recv <- 127\.0\.0\.1:\d+ OPTIONS sip:callchart@/);
    assert.match(out, /callId: "cli-trace-1"/);
    assert.doesNotMatch(out, /^\{"level"/m, 'pretty, not JSON');
    assert.equal(hep[0]!.toString('ascii', 0, 4), 'HEP3');
  } finally {
    p.kill('SIGTERM');
    await new Promise((r) => p.once('exit', r));
    probe.close();
    collector.close();
  }
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

test('WebSocket security flags and env vars: caps, deadline, origins, auth secret and basic users', () => {
  const c = parseServeArgs(
    ['--ws-max-connections', '200', '--ws-max-connections-per-ip=20', '--ws-handshake-timeout', '3000', '--ws-allowed-origins', 'https://a.example.com, http://b.example.com:8080', '--auth-secret', 'sixteen-chars-ok!', '--auth-user', 'jambonz:pw1', '--auth-user', 'ops:p:w'],
    {},
  );
  assert.deepEqual(c.security, {
    maxConnections: 200,
    maxConnectionsPerIp: 20,
    handshakeTimeoutMs: 3000,
    allowedOrigins: ['https://a.example.com', 'http://b.example.com:8080'],
    auth: { secret: 'sixteen-chars-ok!', users: { jambonz: 'pw1', ops: 'p:w' } },
  });
  const e = parseServeArgs([], { CALLCHART_AUTH_SECRET: 'from-the-environment', CALLCHART_AUTH_USERS: 'a:1,b:2', CALLCHART_WS_MAX_CONNECTIONS_PER_IP: '0' });
  assert.deepEqual(e.security, { maxConnectionsPerIp: 0, auth: { secret: 'from-the-environment', users: { a: '1', b: '2' } } });
  assert.equal(parseServeArgs(['--auth-secret', 'flag-wins-over-env'], { CALLCHART_AUTH_SECRET: 'from-the-environment' }).security?.auth?.secret, 'flag-wins-over-env');
  assert.throws(() => parseServeArgs(['--auth-secret', 'short'], {}), /--auth-secret must be at least 16 characters/);
  assert.throws(() => parseServeArgs(['--auth-user', 'a:b'], {}), /--auth-user needs --auth-secret/);
  assert.throws(() => parseServeArgs(['--auth-secret', 'sixteen-chars-ok!', '--auth-user', 'nopassword'], {}), /--auth-user takes user:password/);
  assert.throws(() => parseServeArgs(['--ws-allowed-origins', 'app.example.com'], {}), /--ws-allowed-origins takes origins/);
  assert.throws(() => parseServeArgs(['--ws-max-connections=-1'], {}), /--ws-max-connections must be an integer >= 0/);
  assert.throws(() => parseServeArgs(['--ws-handshake-timeout', '0'], {}), /--ws-handshake-timeout must be an integer >= 1/);
});

test('callchart sign-url / token mint credentials the server accepts', async () => {
  const { Authenticator } = await import('../../src/http/auth.js');
  const secret = 'cli-secret-0123456789';
  const auth = new Authenticator({ secret });
  const req = (url: string, authorization?: string) => {
    const u = new URL(url, 'http://localhost');
    return auth.authenticate({ headers: authorization ? { authorization } : {} } as never, u);
  };
  const signed = await run(['sign-url', 'ws://127.0.0.1:4143/rooms/kitchen', '--sub', 'alice', '--ttl', '60'], { CALLCHART_AUTH_SECRET: secret });
  assert.equal(signed.code, 0, signed.err);
  assert.match(signed.out, /^ws:\/\/127\.0\.0\.1:4143\/rooms\/kitchen\?cc_sub=alice&cc_exp=\d+&cc_sig=[\w-]+\n$/);
  assert.deepEqual(req(signed.out.trim()), { ok: true, credential: { principal: 'alice', method: 'signed-url', scope: '/rooms/kitchen' } });
  const token = await run(['token', '--sub', 'jambonz', '--scope', '/hook', '--auth-secret', secret]);
  assert.equal(token.code, 0, token.err);
  assert.deepEqual(req('/hook', `Bearer ${token.out.trim()}`), { ok: true, credential: { principal: 'jambonz', method: 'bearer', scope: '/hook' } });
  const noSecret = await run(['token', '--sub', 'x'], { CALLCHART_AUTH_SECRET: '' });
  assert.equal(noSecret.code, 2);
  assert.match(noSecret.err, /needs the server's secret/);
  const h = await run(['--help']);
  for (const flag of ['--auth-secret', 'CALLCHART_AUTH_SECRET', '--auth-user', '--ws-max-connections', '--ws-max-connections-per-ip', '--ws-handshake-timeout', '--ws-allowed-origins', 'sign-url']) assert.ok(h.out.includes(flag), flag);
});

test('serve --auth-secret: routes need credentials, /status stays open, the demo IVR hands jambonz a signed listen URL', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const http = await import('node:http');
  const { JambonzSim, newCallSid } = await import('../helpers/jambonz-sim.js');
  const { TestClient } = await import('../helpers/ws-client.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callchart-cli-auth-'));
  const cfg = parseServeArgs(['--host', '127.0.0.1', '--ws-port', '0', '--sip-port', '0', '--log-level', 'silent', '--data-dir', dir, '--auth-secret', 'serve-secret-0123456789', '--auth-user', 'jambonz:app-pw'], {});
  const engine = await serve(cfg);
  const get = (p: string) => new Promise<number>((resolve, reject) => http.get({ host: '127.0.0.1', port: engine.wsPort, path: p }, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on('error', reject));
  try {
    assert.equal(await get('/status'), 200);
    assert.equal(await get('/rooms'), 401);
    const sim = await JambonzSim.connect(`ws://127.0.0.1:${engine.wsPort}/hook`, 'ws.jambonz.org', { auth: 'jambonz:app-pw' } as never);
    const callSid = newCallSid();
    await sim.ack(sim.sessionNew(callSid));
    const reply = await sim.ack(sim.gatherDigits(callSid, '/hook/menu', '1'));
    const listen = reply.data?.find((v) => v.verb === 'listen') as { url?: string } | undefined;
    assert.match(String(listen?.url), /\/recording\?cc_sub=demo-recorder&cc_exp=\d+&cc_sig=/);
    const audio = new TestClient(listen!.url!, 'audio.jambonz.org');
    await audio.opened();
    audio.close();
    const bare = new TestClient(`ws://127.0.0.1:${engine.wsPort}/recording`, 'audio.jambonz.org');
    await bare.waitClose();
    assert.equal(bare.refused, 401);
    sim.callStatus(callSid, 'completed');
    sim.close();
  } finally {
    await engine.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--sip-users (or CALLCHART_SIP_USERS) turns on digest auth for inbound SIP, realm from --sip-realm or the host', () => {
  assert.equal(parseServeArgs([], {}).sipAuth, undefined, 'off by default');
  assert.deepEqual(parseServeArgs(['--sip-users', 'alice:secret,bob:pa:ss', '--host', '10.1.2.3'], {}).sipAuth, {
    realm: '10.1.2.3',
    users: { alice: 'secret', bob: 'pa:ss' },
  });
  assert.deepEqual(parseServeArgs([], { CALLCHART_SIP_USERS: 'carol:x', CALLCHART_SIP_REALM: 'pbx.example.com' }).sipAuth, {
    realm: 'pbx.example.com',
    users: { carol: 'x' },
  });
  assert.equal(parseServeArgs(['--sip-users', 'a:b'], {}).sipAuth?.realm, os.hostname(), 'bound to any address: the hostname');
  assert.equal(parseServeArgs(['--sip-users', 'a:b', '--sip-realm', 'r1'], { CALLCHART_SIP_REALM: 'r2' }).sipAuth?.realm, 'r1');
  for (const s of ['--sip-users', 'CALLCHART_SIP_USERS', '--sip-realm', 'CALLCHART_SIP_REALM', '--sip-max-pending', 'CALLCHART_SIP_MAX_PENDING']) assert.ok(HELP.includes(s), s);
});

test('parseSipUsers: user:password pairs, clear errors for the rest', () => {
  assert.deepEqual(parseSipUsers('alice:s3cret'), { alice: 's3cret' });
  const proto = parseSipUsers('__proto__:x');
  assert.equal(Object.hasOwn(proto, '__proto__'), true, 'an own entry, not a prototype');
  assert.throws(() => parseSipUsers('alice'), /user:password/);
  assert.throws(() => parseSipUsers('alice:'), /user:password/);
  assert.throws(() => parseSipUsers(':pw'), /user:password/);
  assert.throws(() => parseSipUsers('alice:a,,bob:b'), /user:password/);
  assert.throws(() => parseSipUsers('al ice:pw'), /may not hold spaces/);
  assert.throws(() => parseSipUsers('"alice":pw'), /quotes/);
  assert.throws(() => parseSipUsers('alice:a,alice:b'), /given twice/);
  assert.throws(() => parseServeArgs(['--sip-users', 'bob'], {}), UsageError);
  assert.throws(() => parseServeArgs(['--sip-users', 'a:b', '--sip-realm', 'say "hi"'], {}), /--sip-realm may not/);
});

test('--sip-max-pending (or CALLCHART_SIP_MAX_PENDING) caps pending inbound INVITEs', () => {
  assert.equal(parseServeArgs([], {}).sipMaxPendingInvites, undefined, 'the engine default');
  assert.equal(parseServeArgs(['--sip-max-pending', '50'], {}).sipMaxPendingInvites, 50);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_MAX_PENDING: '7' }).sipMaxPendingInvites, 7);
  assert.throws(() => parseServeArgs(['--sip-max-pending', '0'], {}), /--sip-max-pending must be a positive integer/);
});

test('--sip-100rel (or CALLCHART_SIP_100REL) sets reliable provisionals', () => {
  assert.equal(parseServeArgs([], {}).sip100rel, undefined, "the engine's default");
  assert.equal(parseServeArgs(['--sip-100rel', 'required'], {}).sip100rel, 'required');
  assert.equal(parseServeArgs([], { CALLCHART_SIP_100REL: 'off' }).sip100rel, 'off');
  assert.throws(() => parseServeArgs(['--sip-100rel', 'yes'], {}), /--sip-100rel must be off, supported or required/);
  assert.ok(HELP.includes('--sip-100rel') && HELP.includes('CALLCHART_SIP_100REL'));
});

test('--no-sip-unreliable-early-media (or CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA=off) turns off early media without 100rel', async () => {
  assert.equal(parseServeArgs([], {}).sipUnreliableEarlyMedia, undefined, "the engine's default (on)");
  assert.equal(parseServeArgs(['--no-sip-unreliable-early-media'], {}).sipUnreliableEarlyMedia, false);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA: 'off' }).sipUnreliableEarlyMedia, false);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA: 'on' }).sipUnreliableEarlyMedia, undefined);
  assert.equal(parseServeArgs(['--no-sip-unreliable-early-media'], { CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA: 'on' }).sipUnreliableEarlyMedia, false, 'the flag wins');
  assert.throws(() => parseServeArgs([], { CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA: 'no' }), /CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA must be on or off/);
  assert.ok(HELP.includes('--no-sip-unreliable-early-media') && HELP.includes('CALLCHART_SIP_UNRELIABLE_EARLY_MEDIA'));
  // It reaches the SIP user agent (src/sip/ua/legs.ts reads it when a 183 goes to a caller without 100rel).
  const fs = await import('node:fs');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callchart-cli-early-'));
  const base = ['--host', '127.0.0.1', '--ws-port', '0', '--sip-port', '0', '--log-level', 'silent', '--metrics', 'off', '--data-dir', dir];
  try {
    for (const [args, want] of [[['--no-sip-unreliable-early-media'], false], [[], undefined]] as const) {
      const engine = await serve(parseServeArgs([...base, ...args], {}));
      try {
        assert.equal(engine.sip?.opts.unreliableEarlyMedia, want, args.join(' ') || 'default');
      } finally {
        await engine.close();
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--sip-session-expires (or CALLCHART_SIP_SESSION_EXPIRES) asks for RFC 4028 session timers', () => {
  assert.equal(parseServeArgs([], {}).sipSessionExpires, undefined, 'none asked by default');
  assert.equal(parseServeArgs(['--sip-session-expires', '1800'], {}).sipSessionExpires, 1800);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_SESSION_EXPIRES: '600' }).sipSessionExpires, 600);
  assert.throws(() => parseServeArgs(['--sip-session-expires', '60'], {}), /--sip-session-expires must be a whole number of seconds ≥ 90/);
  assert.ok(HELP.includes('--sip-session-expires') && HELP.includes('CALLCHART_SIP_SESSION_EXPIRES'));
});

test('--sip-tcp-port, --sip-tls-port with --tls-cert/--tls-key (or their CALLCHART_* variables)', () => {
  const none = parseServeArgs([], {});
  assert.equal(none.sipTcpPort, undefined, 'no TCP by default');
  assert.equal(none.sipTlsPort, undefined, 'no TLS by default');
  assert.equal(parseServeArgs(['--sip-tcp-port', '5060'], {}).sipTcpPort, 5060);
  assert.equal(parseServeArgs([], { CALLCHART_SIP_TCP_PORT: '0' }).sipTcpPort, 0);
  const tls = parseServeArgs(['--sip-tls-port', '5061', '--tls-cert', 'c.pem'], { CALLCHART_TLS_KEY: 'k.pem' });
  assert.deepEqual([tls.sipTlsPort, tls.tlsCert, tls.tlsKey], [5061, 'c.pem', 'k.pem']);
  assert.throws(() => parseServeArgs(['--sip-tls-port', '5061'], {}), /needs --tls-cert and --tls-key/);
  assert.throws(() => parseServeArgs(['--sip-tcp-port', 'x'], {}), /--sip-tcp-port must be a port/);
  // With worker threads too: the router owns the connections (src/sip/workers/stream-relay.ts).
  const workers = parseServeArgs(['--sip-tcp-port', '5060', '--sip-tls-port', '5061', '--tls-cert', 'c.pem', '--tls-key', 'k.pem', '--sip-workers', '2'], {});
  assert.deepEqual([workers.sipWorkers, workers.sipTcpPort, workers.sipTlsPort], [2, 5060, 5061]);
  for (const s of ['--sip-tcp-port', 'CALLCHART_SIP_TCP_PORT', '--sip-tls-port', 'CALLCHART_SIP_TLS_PORT', '--tls-cert', 'CALLCHART_TLS_CERT', '--tls-key', 'CALLCHART_TLS_KEY']) assert.ok(HELP.includes(s), s);
});

test('--sip-register: sip:user:password@host[:port] → registrar, AOR and credentials', () => {
  assert.deepEqual(parseSipRegister('sip:alice:s3cret@pbx.example.com:5070'), {
    registrar: 'sip:pbx.example.com:5070',
    aor: 'sip:alice@pbx.example.com',
    username: 'alice',
    password: 's3cret',
  });
  assert.throws(() => parseSipRegister('sip:alice@pbx.example.com'), /sip:user:password@host/);
  const cfg = parseServeArgs(['serve', '--sip-register', 'sip:a:b@127.0.0.1', '--sip-register', 'sip:c:d@127.0.0.2:5080'], {});
  assert.deepEqual(cfg.sipRegister?.map((r) => r.registrar), ['sip:127.0.0.1', 'sip:127.0.0.2:5080']);
  assert.equal(parseServeArgs(['serve'], { CALLCHART_SIP_REGISTER: 'sip:a:b@h1,sip:c:d@h2' }).sipRegister?.length, 2);
});

test('--jambonz-app (or CALLCHART_JAMBONZ_APP) takes a ws(s):// URL; not with --sip-workers', () => {
  assert.equal(parseServeArgs([], {}).jambonzApp, undefined);
  assert.equal(parseServeArgs(['--jambonz-app', 'ws://127.0.0.1:3000/app'], {}).jambonzApp, 'ws://127.0.0.1:3000/app');
  assert.equal(parseServeArgs([], { CALLCHART_JAMBONZ_APP: 'wss://apps.example/ivr' }).jambonzApp, 'wss://apps.example/ivr');
  assert.throws(() => parseServeArgs(['--jambonz-app', 'http://x/app'], {}), (e: unknown) => e instanceof UsageError && /ws:\/\/ or wss:\/\//.test(e.message));
  assert.throws(() => parseServeArgs(['--jambonz-app', 'ws://x/app', '--sip-workers', '2'], {}), /--sip-workers/);
});

test('--jambonz-tts (or CALLCHART_JAMBONZ_TTS) is a command that writes {file}', () => {
  assert.deepEqual(parseServeArgs(['--jambonz-tts', 'espeak-ng -w {file} {text}'], {}).jambonzTts, ['espeak-ng', '-w', '{file}', '{text}']);
  assert.deepEqual(parseServeArgs([], { CALLCHART_JAMBONZ_TTS: 'x {file}' }).jambonzTts, ['x', '{file}']);
  assert.throws(() => parseServeArgs(['--jambonz-tts', 'espeak-ng {text}'], {}), /\{file\}/);
});

test('--jambonz-phone-trunk (or CALLCHART_JAMBONZ_PHONE_TRUNK) is host[:port]', () => {
  assert.equal(parseServeArgs(['--jambonz-phone-trunk', 'pbx.example.com:5080'], {}).jambonzPhoneTrunk, 'pbx.example.com:5080');
  assert.equal(parseServeArgs([], { CALLCHART_JAMBONZ_PHONE_TRUNK: '192.0.2.7' }).jambonzPhoneTrunk, '192.0.2.7');
  assert.throws(() => parseServeArgs(['--jambonz-phone-trunk', 'sip:pbx;transport=tcp'], {}), /host\[:port\]/);
});

test('--sip-tag-secret-file (or CALLCHART_SIP_TAG_SECRET_FILE): the file signs the From tags, so a second engine with it verifies the first one\'s; under 16 bytes is a usage error', async () => {
  const fs = await import('node:fs');
  const path = await import('node:path');
  assert.ok(HELP.includes('--sip-tag-secret-file') && HELP.includes('CALLCHART_SIP_TAG_SECRET_FILE'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'callchart-cli-tagsecret-'));
  const file = path.join(dir, 'tag-secret');
  const short = path.join(dir, 'short');
  fs.writeFileSync(file, 'a-secret-of-32-characters-000000\n');
  fs.writeFileSync(short, '15-bytes-secret\n');
  const base = ['--host', '127.0.0.1', '--ws-port', '0', '--sip-port', '0', '--log-level', 'silent', '--metrics', 'off', '--data-dir', dir];
  try {
    assert.equal(parseServeArgs(['--sip-tag-secret-file', file], {}).sipTagSecretFile, file);
    assert.equal(parseServeArgs([], { CALLCHART_SIP_TAG_SECRET_FILE: file }).sipTagSecretFile, file);
    assert.equal(parseServeArgs([], {}).sipTagSecretFile, undefined);
    await assert.rejects(serve(parseServeArgs([...base, '--sip-tag-secret-file', short], {})), (e: unknown) => e instanceof UsageError && /15 bytes; at least 16/.test(e.message));
    const a = await serve(parseServeArgs([...base, '--sip-tag-secret-file', file], {}));
    const b = await serve(parseServeArgs(base, { CALLCHART_SIP_TAG_SECRET_FILE: file }));
    const c = await serve(parseServeArgs(base, {}));
    try {
      const tag = a.sip!.tags.sign('call-1@example.com');
      assert.equal(b.sip!.tags.verify(tag, 'call-1@example.com'), true, 'the same file: the same secret (its trailing newline left out)');
      assert.equal(b.sip!.tags.verify(tag, 'call-2@example.com'), false);
      assert.equal(c.sip!.tags.verify(tag, 'call-1@example.com'), false, 'no file: a random secret');
    } finally {
      await Promise.all([a.close(), b.close(), c.close()]);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
