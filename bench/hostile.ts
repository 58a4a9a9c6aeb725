// The hostile-network probe of issue 13: re-measures each finding's figure against `callchart
// serve` run from source through tsx (`node --import tsx src/cli.ts serve`, the same code as
// `node bin/callchart.js serve` without a build) in child processes on loopback, and prints one
// table (finding, figure, value). Third parties are listeners on 127.0.0.2-5; a stranger sends from
// 127.0.0.9, an intruder from 127.0.0.8, legitimate probes from 127.0.0.7.
//
// Engines: A runs the reflection, injection, RTP, CPU, half-open and cross-client steps (its
// reflection and no-ACK counters run in the background for HOSTILE_REFLECT_S so the BYE
// retransmissions are counted); B takes the INVITE flood alone (its RSS is the figure); C, C2 and
// D take the crashes.
//
// Env: HOSTILE_ROOT (the checkout to run, default this one: e.g. an export of fe89b32 for the
// "before" figures), HOSTILE_SERVE_ARGS (extra `serve` flags, e.g. to turn authentication on),
// HOSTILE_OWNER_HEADERS / HOSTILE_INTRUDER_HEADERS (see bench/lib/hostile-ws.ts),
// HOSTILE_FLOOD_S (default 20), HOSTILE_FLOOD_CPS (default 3000), HOSTILE_HALFOPEN_S (default 20),
// HOSTILE_REFLECT_S (default 70), HOSTILE_STEPS (comma list of a,b,c,d; default all).
import path from 'node:path';
import { EngineChild, REPO_ROOT } from '../test/helpers/engine-child.js';
import { printTable, progress, type Cell } from './table.js';
import { foldedFlood, injection, inviteFlood, parseCost, rtpHijack, startNoAck, startReflection, type Row } from './lib/hostile-sip.js';
import { crossClient, deepNesting20000, deepNesting6000, halfOpen, inboundDeepEvent } from './lib/hostile-ws.js';

const ROOT = path.resolve(process.env.HOSTILE_ROOT ?? REPO_ROOT);
const ARGS = (process.env.HOSTILE_SERVE_ARGS ?? '').split(/\s+/).filter(Boolean);
const FLOOD_S = Number(process.env.HOSTILE_FLOOD_S ?? 20);
const FLOOD_CPS = Number(process.env.HOSTILE_FLOOD_CPS ?? 3000);
const HALFOPEN_S = Number(process.env.HOSTILE_HALFOPEN_S ?? 20);
const REFLECT_S = Number(process.env.HOSTILE_REFLECT_S ?? 70);
const STEPS = new Set((process.env.HOSTILE_STEPS ?? 'a,b,c,d').split(','));
// RTP ranges outside the ones the test suite uses and outside Linux's ephemeral range where possible.
const RTP_A = '61000-62999';
const RTP_B = '55000-64999';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function engine(rtpPorts: string): Promise<EngineChild> {
  return EngineChild.start({ root: ROOT, rtpPorts, args: ARGS, logLevel: 'warn' });
}

async function step(rows: Row[], name: string, f: () => Promise<Row[]>): Promise<void> {
  progress(`hostile: ${name} …`);
  try {
    rows.push(...(await f()));
  } catch (err) {
    rows.push([name, 'step failed', (err as Error).message.slice(0, 200)]);
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `\nHostile-network probe (issue 13) against \`node --import tsx src/cli.ts serve\` in ${ROOT}` +
      `${ARGS.length ? ` with ${ARGS.join(' ')}` : ''}; loopback only; third parties 127.0.0.2-5.\n`,
  );
  const rows: Row[] = [];

  if (STEPS.has('a')) {
    const a = await engine(RTP_A);
    const rssStart = a.rssKiB();
    const reflection = await startReflection(a);
    const noAck = await startNoAck(a);
    await step(rows, '4 injection', () => injection(a));
    await step(rows, '3 RTP', () => rtpHijack(a));
    await step(rows, '6 half-open', () => halfOpen(a, 1000, HALFOPEN_S));
    await step(rows, '7 cross-client', () => crossClient(a));
    await step(rows, '5 parse', () => parseCost(ROOT));
    // Last on A: the engine may stay busy with the backlog for a while after it.
    await step(rows, '5 folded flood', () => foldedFlood(a, 10));
    const wait = reflection.startedAt + REFLECT_S * 1000 - Date.now();
    if (wait > 0) {
      progress(`hostile: waiting ${Math.round(wait / 1000)} s more for retransmissions and BYEs …`);
      await sleep(wait);
    }
    rows.push(...reflection.finish(), ...noAck.finish());
    rows.push(['-', 'engine A alive at the end / RSS start -> end', `${a.alive() ? 'yes' : `no (exit ${a.exit?.code})`} / ${Math.round((rssStart ?? 0) / 1024)} -> ${Math.round((a.rssKiB() ?? 0) / 1024)} MB`]);
    await a.stop();
  }
  if (STEPS.has('b')) {
    const b = await engine(RTP_B);
    await sleep(1000);
    await step(rows, '5 INVITE flood', () => inviteFlood(b, FLOOD_CPS, FLOOD_S));
    await b.stop();
  }
  if (STEPS.has('c')) {
    const c = await engine(RTP_A);
    await step(rows, '1 deep nesting (20 000)', () => deepNesting20000(c));
    if (c.alive()) await c.stop();
    const c2 = await engine(RTP_A);
    await step(rows, '1 deep nesting (6 000)', () => deepNesting6000(c2));
    if (c2.alive()) await c2.stop();
  }
  if (STEPS.has('d')) {
    const d = await engine(RTP_A);
    await step(rows, '1b inbound deep event', () => inboundDeepEvent(d));
    if (d.alive()) await d.stop();
  }

  const order = (f: string) => (f === '-' ? 99 : parseFloat(f));
  rows.sort((x, y) => order(x[0]) - order(y[0]));
  printTable('issue 13 findings, re-measured', ['finding', 'figure', 'value'], rows as Cell[][]);
}

void main();
