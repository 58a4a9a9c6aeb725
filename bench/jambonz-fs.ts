// callchart as the jambonz feature-server under SIP load: SIPp places calls at increasing rates to
// an engine whose inbound SIP calls run a jambonz app (an in-process hook handler, dialled over
// ws.jambonz.org on loopback): say (a 200 ms tone from a trivial TTS provider) → gather (DTMF,
// 0.3 s timeout, no digit comes) → actionHook → hangup (the server's BYE). Beside it, in the same
// run, the plain SIP echo demo (`demoApp`: answer and echo; SIPp hangs up at once) at the same rates.
// Each server runs in its own child process. A step passes when SIPp exits 0 with no failed call;
// each ladder stops at its first failing step. Reported: per step the achieved calls per second
// and INVITE→200 p50/p99; per target the highest passing rate, and the feature-server's share of
// the echo demo's (target ≥ 50 %).
//
// Env: BENCH_JFS_RATES (comma list, default 50,100,200,300,400), BENCH_JFS_STEP_S (seconds per step,
// default 10). Roles: orchestrator (default) | --role=server --kind=echo|jambonz.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createEngine } from '../src/index.js';
import { demoApp } from '../src/demo.js';
import { encodeWav } from '../src/media/codecs/wav.js';
import { generateTone } from '../src/media/codecs/tones.js';
import { runSipp, scenarioPath, requireSipp, type SippResult } from '../test/interop/helpers/sipp.js';
import { printTable, percentile, progress, type Cell } from './table.js';
import { serveRpc, forkRpc } from './lib/rpc.js';

type Kind = 'echo' | 'jambonz';
const thisFile = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(thisFile), '..');
const RATES = (process.env.BENCH_JFS_RATES ?? '50,100,200,300,400')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isFinite(n) && n > 0);
const STEP_S = Math.max(1, Number(process.env.BENCH_JFS_STEP_S ?? 10));
const arg = (name: string) => process.argv.find((x) => x.startsWith(`--${name}=`))?.slice(name.length + 3);

// ---- server role ------------------------------------------------------------------------------

async function serverRole(kind: Kind): Promise<void> {
  const rtpPorts = kind === 'echo' ? '44000-47999' : '48000-51999';
  let engine;
  if (kind === 'echo') {
    engine = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts, inboundCall: false, metrics: false, onIncomingCall: demoApp() });
  } else {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'callchart-bench-jfs-'));
    const prompt = path.join(dir, 'prompt.wav');
    writeFileSync(prompt, encodeWav(generateTone([440], 200), { sampleRate: 8000 }));
    engine = createEngine({
      host: '127.0.0.1',
      sipPort: 0,
      wsPort: 0,
      rtpPorts,
      inboundCall: false,
      metrics: false,
      jambonzApp: {
        // A TTS provider that always "speaks" the same short tone: the bench measures the call path.
        tts: { synthesize: () => Promise.resolve(prompt) },
        handler: (s) => {
          s.say({ text: 'Welcome. Press 1.' }).gather({ actionHook: '/menu', input: ['digits'], numDigits: 1, timeout: 0.3 }).reply();
          s.on('/menu', () => s.reply([{ verb: 'hangup' }]));
        },
      },
    });
  }
  await engine.listen();
  serveRpc({
    sessions: () => engine.featureServer?.size ?? 0,
    close: async () => {
      await engine.close();
      return true;
    },
  });
  process.send?.({ ready: { sipPort: engine.sipPort } });
}

// ---- orchestrator -----------------------------------------------------------------------------

interface Step {
  rate: number;
  r: SippResult;
  pass: boolean;
  cps: number;
}

async function ladder(kind: Kind): Promise<Step[]> {
  const child = forkRpc(thisFile, ['--role=server', `--kind=${kind}`], { cwd: root });
  const { sipPort } = (await child.ready) as { sipPort: number };
  const steps: Step[] = [];
  try {
    for (const rate of RATES) {
      progress(`${kind}: ${rate} calls/s for ${STEP_S} s`);
      const calls = rate * STEP_S;
      const r = await runSipp({
        scenario: kind === 'echo' ? scenarioPath('uac-bench') : scenarioPath('uac-bye-from-server'),
        remote: `127.0.0.1:${sipPort}`,
        calls,
        rate,
        traceRtt: true,
        timeoutMs: (STEP_S + 30) * 1000,
        recvTimeoutMs: 10_000,
      });
      const ok = r.exitCode === 0 && (r.stats?.failedCalls ?? 1) === 0 && r.stats?.successfulCalls === calls;
      const cps = (r.stats?.successfulCalls ?? 0) / (r.durationMs / 1000);
      steps.push({ rate, r, pass: ok, cps });
      if (!ok) break;
    }
  } finally {
    await child.call('close', undefined, 30_000).catch(() => undefined);
    await child.stop();
  }
  return steps;
}

async function main(): Promise<void> {
  requireSipp();
  const results: Record<Kind, Step[]> = { echo: await ladder('echo'), jambonz: await ladder('jambonz') };
  const rows: Cell[][] = [];
  for (const kind of ['echo', 'jambonz'] as const) {
    for (const s of results[kind]) {
      const rtt = s.r.rttMs;
      rows.push([
        kind === 'echo' ? 'SIP echo demo' : 'jambonz fs (say→gather→hangup)',
        s.rate,
        s.r.stats?.successfulCalls ?? 0,
        s.r.stats?.failedCalls ?? 0,
        s.cps.toFixed(0),
        rtt.length ? percentile(rtt, 50) : '-',
        rtt.length ? percentile(rtt, 99) : '-',
        s.pass ? 'pass' : `FAIL (exit ${s.r.exitCode})`,
      ]);
    }
  }
  printTable(`jambonz feature-server vs SIP echo demo (SIPp, ${STEP_S} s per step)`, ['target', 'rate', 'ok calls', 'failed', 'calls/s', 'INVITE→200 p50 ms', 'p99 ms', 'step'], rows);
  const best = (k: Kind) => Math.max(0, ...results[k].filter((s) => s.pass).map((s) => s.rate));
  const e = best('echo');
  const j = best('jambonz');
  const share = e > 0 ? (100 * j) / e : 0;
  const ceiling = e === RATES[RATES.length - 1] ? ' (the echo demo passed every rate: raise BENCH_JFS_RATES for its ceiling)' : '';
  printTable('highest passing rate', ['target', 'calls/s'], [
    ['SIP echo demo', e],
    ['jambonz fs', j],
    ['jambonz fs / echo', `${share.toFixed(0)} % (target ≥ 50 %)${ceiling}`],
  ]);
}

if (arg('role') === 'server') {
  const kind = arg('kind');
  if (kind !== 'echo' && kind !== 'jambonz') throw new Error(`--kind must be echo or jambonz, not ${String(kind)}`);
  void serverRole(kind);
} else {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
