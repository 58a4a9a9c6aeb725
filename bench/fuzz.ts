// The long fuzz run: the generators of test/fuzz/ (SIP datagrams, WebSocket frames on every route,
// HTTP requests) against `callchart serve` in a child process (from source, through tsx) for
// minutes instead of seconds, with the same checks after every round: the engine alive, GET /status
// and SIP OPTIONS answered, a real SIP call and a legitimate client on every WebSocket route
// working, no fatal or uncaught entry in its logs, no SIP response carrying CR/LF/NUL in a header
// or amplified past 1.5x + 2 KB, nothing sent to third-party addresses. A round that breaks the
// engine is reported with its seed and the engine is restarted, so one run finds more than one bug.
//
// Env: FUZZ_MINUTES (default 3), FUZZ_SEED (default: time-based, printed), FUZZ_START_ROUND (replay
// from a round: round r uses seed FUZZ_SEED + r), FUZZ_SIP_PER_ROUND (default 2000),
// FUZZ_WS_CONNECTIONS (per route per round, default 24).
import { EngineChild } from '../test/helpers/engine-child.js';
import { Rng } from '../test/helpers/prng.js';
import { SipFuzzer, ThirdParties } from '../test/helpers/fuzz-sip.js';
import { newWsStats, wsBatch, WS_ROUTE_NAMES } from '../test/helpers/fuzz-ws.js';
import { health, httpBatch, newHttpStats } from '../test/helpers/fuzz-http.js';
import { printTable, progress, type Cell } from './table.js';

const MINUTES = Math.max(0.1, Number(process.env.FUZZ_MINUTES ?? 3));
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 1_000_000;
const START = Number(process.env.FUZZ_START_ROUND ?? 0);
const SIP_PER_ROUND = Number(process.env.FUZZ_SIP_PER_ROUND ?? 2000);
const WS_CONNECTIONS = Number(process.env.FUZZ_WS_CONNECTIONS ?? 24);

interface Failure {
  round: number;
  area: string;
  problems: string[];
}

async function main(): Promise<void> {
  process.stdout.write(
    `\nFuzz for ${MINUTES} min against \`callchart serve\` (tsx, child process), seed ${SEED}` +
      `${START ? `, from round ${START}` : ''}: per round ${SIP_PER_ROUND} SIP datagrams, ${WS_CONNECTIONS} sockets x 25 frames on each WebSocket route, 200 HTTP requests.\n` +
      `Replay a round: FUZZ_SEED=${SEED} FUZZ_START_ROUND=<round> npm run bench -- fuzz\n`,
  );
  const deadline = Date.now() + MINUTES * 60_000;
  const failures: Failure[] = [];
  const totals = { sip: 0, sipBytes: 0, wsFrames: 0, wsSockets: 0, http: 0, restarts: 0, rounds: 0 };
  let child = await EngineChild.start({ rtpPorts: '54000-55999', logLevel: 'warn' });
  const third = await ThirdParties.open();
  let fuzzer = await SipFuzzer.open({ host: '127.0.0.1', port: child.sipPort }, { port: third.port, rtpPort: third.rtpPort });
  const restart = async () => {
    fuzzer.close();
    if (child.alive()) await child.stop();
    child = await EngineChild.start({ rtpPorts: '54000-55999', logLevel: 'warn' });
    fuzzer = await SipFuzzer.open({ host: '127.0.0.1', port: child.sipPort }, { port: third.port, rtpPort: third.rtpPort });
    totals.restarts++;
    seen.findings = 0;
  };
  const seen = { findings: 0, third: 0 };
  for (let round = START; Date.now() < deadline; round++) {
    const rng = new Rng(SEED + round);
    const areas: Array<[string, () => Promise<void>]> = [
      [
        'sip',
        async () => {
          const before = fuzzer.sentBytes;
          await fuzzer.batch(rng.fork(), SIP_PER_ROUND);
          totals.sip += SIP_PER_ROUND;
          totals.sipBytes += fuzzer.sentBytes - before;
        },
      ],
      ...WS_ROUTE_NAMES.map((route): [string, () => Promise<void>] => [
        `ws ${route}`,
        async () => {
          const st = newWsStats();
          await wsBatch(rng.fork(), child.wsPort, route, WS_CONNECTIONS, 25, st);
          totals.wsFrames += st.frames;
          totals.wsSockets += st.opened;
          if (st.badProtocols.length) throw new Error(`subprotocols not spoken were selected: ${st.badProtocols.slice(0, 3).join('; ')}`);
        },
      ]),
      [
        'http',
        async () => {
          const st = newHttpStats();
          await httpBatch(rng.fork(), child.wsPort, 200, st);
          totals.http += st.requests + st.raw;
          if (st.hung) throw new Error(`${st.hung} HTTP requests neither answered nor closed`);
        },
      ],
    ];
    for (const [area, run] of areas) {
      if (Date.now() > deadline) break;
      let problems: string[] = [];
      try {
        await run();
      } catch (err) {
        problems.push((err as Error).message);
      }
      problems.push(...(await health(child, { sipCall: area === 'sip' })));
      const f = fuzzer.findings.slice(seen.findings);
      seen.findings = fuzzer.findings.length;
      problems.push(...f.slice(0, 3).map((x) => `SIP response ${x.kind}: ${x.detail}`));
      if (third.total() > seen.third) {
        problems.push(`third parties received ${third.total() - seen.third} B (${third.describe()})`);
        seen.third = third.total();
      }
      if (problems.length) {
        failures.push({ round, area, problems });
        progress(`round ${round} ${area}: FAILED — ${problems[0]!.slice(0, 300)}`);
        // Alarms stay in a child's log: a fresh child lets the next failure be seen as new.
        if (!child.alive() || child.alarms.length || problems.some((p) => p.startsWith('SIP call') || p.includes('answered'))) await restart();
      }
    }
    totals.rounds++;
    progress(`round ${round} done: ${Math.round((deadline - Date.now()) / 1000)} s left, ${failures.length} failures, RSS ${child.rssKiB() ?? '?'} KiB`);
  }
  fuzzer.close();
  third.close();
  const stop = await child.stop();

  printTable('fuzz run', ['figure', 'value'], [
    ['seed', SEED],
    ['rounds', totals.rounds],
    ['SIP datagrams', `${totals.sip} (${(totals.sipBytes / 1e6).toFixed(1)} MB)`],
    ['WebSocket sockets / frames', `${totals.wsSockets} / ${totals.wsFrames}`],
    ['HTTP requests', totals.http],
    ['engine restarts after a failure', totals.restarts],
    ['final SIGTERM exit', `${stop.code ?? stop.signal}`],
    ['failures', failures.length],
  ]);
  if (failures.length) {
    // One row per kind of problem (numbers, ids and quoted text folded), with where it first showed.
    const kinds = new Map<string, { count: number; first: string; example: string }>();
    for (const f of failures) {
      for (const p of f.problems) {
        const key = p.replace(/"[^"]*"/g, '"…"').replace(/[0-9a-f]{8,}|\d+/g, 'N').slice(0, 70);
        const k = kinds.get(key);
        if (k) k.count++;
        else kinds.set(key, { count: 1, first: `round ${f.round}, ${f.area}`, example: p });
      }
    }
    const rows: Cell[][] = [...kinds.values()].map((k) => [k.count, k.first, k.example.replace(/\|/g, '/').replace(/\s+/g, ' ').slice(0, 260)]);
    printTable('problems by kind (replay: FUZZ_SEED and FUZZ_START_ROUND of the first round)', ['times', 'first seen', 'example'], rows);
  }
  process.exitCode = failures.length || stop.code !== 0 ? 1 : 0;
}

void main();
