// The INVITE flood of issue 13 (finding 5, a "Must hold"): one source (SIPp on 127.0.0.1) floods
// INVITEs at 3000 calls/s for 20 s against `callchart serve` running in its own process (so its RSS
// is the server's alone), while a second source (SIPp bound to 127.0.0.2) places ordinary calls.
// Must hold: the server's RSS stays under 300 MB, and every call of the second source succeeds.
//
// What keeps it so is the per-source admission of src/sip/admission.ts with its defaults (200 new
// INVITEs/s per source; over that, 503 + Retry-After while the 503 budget lasts, then silence).
// On fe89b32 the same flood took the server from ~90 MB to over 1 GB.
//
// Env: FLOOD_CPS (default 3000), FLOOD_S (default 20), FLOOD_SERVE_ARGS (extra `serve` flags, e.g.
// "--sip-workers 2").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runSipp, describeSipp, scenarioPath, requireSipp, type SippResult } from './helpers/sipp.js';
import { Tail, exited, freeUdpPort, sleep, terminate, track, udpPortBound, waitUntil } from './helpers/procs.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CPS = Number(process.env.FLOOD_CPS ?? 3000);
const SECONDS = Number(process.env.FLOOD_S ?? 20);
const RSS_LIMIT_MB = 300;

before(() => {
  requireSipp();
});

let server: ChildProcess | undefined;
after(async () => {
  if (server) await terminate(server, 'SIGKILL');
});

function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

test(`one source floods ${CPS} INVITE/s for ${SECONDS} s: RSS < ${RSS_LIMIT_MB} MB, a second source's calls all succeed`, { timeout: (SECONDS + 120) * 1000 }, async (t) => {
  const port = await freeUdpPort();
  const out = new Tail(16 * 1024);
  const extra = (process.env.FLOOD_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const args = ['--import', 'tsx', 'src/cli.ts', 'serve', '--host', '127.0.0.1', '--sip-port', String(port), '--ws-port', '0', '--log-level', 'warn', '--rtp-ports', '40000-49999', ...extra];
  server = track(spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] }));
  const srv = server;
  srv.stdout!.on('data', (d) => out.push(d));
  srv.stderr!.on('data', (d) => out.push(d));
  await waitUntil(() => udpPortBound(port) || exited(srv), 30_000, `callchart serve to bind udp/${port}`);
  assert.ok(!exited(srv), `callchart serve exited at start-up: ${out.toString()}`);
  await sleep(1000);
  const pid = srv.pid!;
  const rssBefore = rssMb(pid) ?? NaN;

  let rssMax = rssBefore;
  const sampler = setInterval(() => {
    const r = rssMb(pid);
    if (r !== undefined && r > rssMax) rssMax = r;
  }, 250);

  const remote = `127.0.0.1:${port}`;
  const flood = runSipp({
    scenario: scenarioPath('uac-bench'),
    remote,
    localIp: '127.0.0.1',
    calls: CPS * SECONDS,
    rate: CPS,
    // An unanswered INVITE is retransmitted (0.5, 1.5 s) and then given up: the flood keeps its
    // rate without SIPp holding tens of thousands of dead calls.
    recvTimeoutMs: 2000,
    limit: CPS * 10,
    timeoutMs: (SECONDS + 30) * 1000,
    extraArgs: ['-max_recv_loops', '10000', '-max_sched_loops', '10000'],
  });
  // The legitimate caller starts once the flood is on and ends before it does.
  await sleep(2000);
  const legitCalls = 10 * (SECONDS - 6);
  const legit: SippResult = await runSipp({
    scenario: scenarioPath('uac-bench'),
    remote,
    localIp: '127.0.0.2',
    calls: legitCalls,
    rate: 10,
    recvTimeoutMs: 10_000,
    timeoutMs: (SECONDS + 20) * 1000,
    traceMessages: true,
  });
  const flooded = await flood;
  await sleep(2000);
  clearInterval(sampler);
  const rssAfter = rssMb(pid) ?? NaN;
  const alive = !exited(srv);
  await terminate(srv, 'SIGTERM', 10_000);
  server = undefined;

  const fs = flooded.stats;
  t.diagnostic(`server RSS: ${rssBefore.toFixed(0)} MB before, ${rssMax.toFixed(0)} MB max, ${rssAfter.toFixed(0)} MB after`);
  t.diagnostic(`flood: ${describeSipp(flooded).split('\n')[0]}`);
  t.diagnostic(`legit: ${describeSipp(legit).split('\n')[0]}`);

  assert.ok(alive, `the server survived the flood\n${out.toString()}`);
  assert.ok(rssMax < RSS_LIMIT_MB, `server RSS peaked at ${rssMax.toFixed(0)} MB (limit ${RSS_LIMIT_MB})`);
  // The flood was a flood: SIPp created (nearly) every call it was asked for, at the rate asked.
  assert.ok(fs && fs.totalCallsCreated >= 0.9 * CPS * SECONDS, `SIPp kept up the flood: ${describeSipp(flooded)}`);
  assert.ok(fs.failedCalls > 0, 'admission refused part of the flood');
  // The second source: every call set up and torn down.
  const why = describeSipp(legit);
  assert.equal(legit.exitCode, 0, why);
  assert.equal(legit.stats?.successfulCalls, legitCalls, why);
  assert.equal(legit.stats?.failedCalls, 0, why);
  // ... and the server saw it as a source of its own (its Via stamped received=127.0.0.2).
  assert.match(legit.messages, /received=127\.0\.0\.2/, 'the server saw the second source as 127.0.0.2');
});
