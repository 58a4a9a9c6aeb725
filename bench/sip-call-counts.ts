// What one SIP call costs in XState terms: per actor kind, how many actors a call creates, how many
// events they receive, how many macrosteps/microsteps/transitions run and how many actions (and
// assigns) execute; plus the transaction machines' pure steps (no actor: macrosteps asked, microsteps
// the machine computed rather than a memo answered). Counted through XState's
// inspection API on a server driven by SIPp's uac-bench (INVITE/200/ACK/BYE), the calls of
// `bench/sip-cpu.ts`, divided by the calls made. Prints one table; costs nothing when not run.
//
//   npx tsx bench/sip-call-counts.ts            (BENCH_SIP_COUNTS_CALLS, default 200)
import type { AnyActorLogic, InspectionEvent } from 'xstate';
import { parseServeArgs } from '../src/cli-args.js';
import { serve } from '../src/cli.js';
import { runSipp, scenarioPath } from '../test/interop/helpers/sipp.js';
import { freeUdpPort, sleep, whichBinary } from '../test/interop/helpers/procs.js';
import { printTable, type Cell } from './table.js';

const CALLS = Math.max(10, Number(process.env.BENCH_SIP_COUNTS_CALLS ?? 200));

interface Count {
  actors: number;
  events: number;
  macrosteps: number;
  microsteps: number;
  transitions: number;
  actions: number;
  assigns: number;
}
const zero = (): Count => ({ actors: 0, events: 0, macrosteps: 0, microsteps: 0, transitions: 0, actions: 0, assigns: 0 });
const counts = new Map<string, Count>();
const eventTypes = new Map<string, number>();
const of = (kind: string) => counts.get(kind) ?? (counts.set(kind, zero()), counts.get(kind)!);

function actionCount(transitions: Array<{ actions?: unknown[] }>): { actions: number; assigns: number } {
  let actions = 0;
  let assigns = 0;
  for (const t of transitions) {
    for (const a of t.actions ?? []) {
      actions++;
      const type = typeof a === 'string' ? a : ((a as { type?: string }).type ?? '');
      if (type === 'xstate.assign' || /^(arm|step|start|queue|take|clear|drop|set|record|remember|note)[A-Z]/.test(type)) assigns++;
    }
  }
  return { actions, assigns };
}

async function main(): Promise<void> {
  if (!whichBinary('sipp')) {
    process.stdout.write('(skipped: sipp is not installed)\n');
    return;
  }
  const port = await freeUdpPort();
  const cfg = parseServeArgs(['--host', '127.0.0.1', '--sip-port', String(port), '--ws-port', '0', '--log-level', 'warn', '--rtp-ports', '30000-39999', '--sip-invite-rate', '100000']);
  const engine = await serve(cfg);
  const sup = engine.supervisor as unknown as { opts: { inspector?: { watch(kind: string, id: string, logic: AnyActorLogic): unknown } } };
  let counting = false;
  sup.opts.inspector = {
    watch(kind) {
      if (!counting) return undefined;
      const c = of(kind);
      return {
        inspect(e: InspectionEvent) {
          if (e.type === '@xstate.actor') c.actors++;
          else if (e.type === '@xstate.event') {
            c.events++;
            const key = `${kind} ${e.event.type}`;
            eventTypes.set(key, (eventTypes.get(key) ?? 0) + 1);
          } else if (e.type === '@xstate.snapshot') c.macrosteps++;
          else if (e.type === '@xstate.microstep') {
            c.microsteps++;
            const ts = (e as unknown as { _transitions: Array<{ actions?: unknown[] }> })._transitions;
            c.transitions += ts.length;
            const a = actionCount(ts);
            c.actions += a.actions;
            c.assigns += a.assigns;
          }
        },
        exit() {},
      };
    },
  };
  // The transaction layer's pure steps (machine.transition without an actor).
  const layer = engine.sip!.transactions as unknown as Record<string, { step: (...a: unknown[]) => unknown }>;
  // macrosteps: steps asked of the stepper; microsteps: those the machine computed (the rest are memos).
  let pure: Count | undefined;
  for (const name of ['ist', 'nist'] as const) {
    const stepper = layer[`${name}Pure`]!;
    const step = stepper.step.bind(stepper);
    stepper.step = (...a: unknown[]) => {
      pure = counting ? of(`transaction (pure ${name} steps)`) : undefined;
      if (pure) pure.macrosteps++;
      try {
        return step(...a);
      } finally {
        pure = undefined;
      }
    };
    const logic = layer[name] as unknown as { transition: (...a: unknown[]) => unknown };
    const transition = logic.transition.bind(logic);
    logic.transition = (...a: unknown[]) => {
      if (pure) pure.microsteps++;
      return transition(...a);
    };
  }
  try {
    const sipp = (calls: number) =>
      runSipp({ scenario: scenarioPath('uac-bench'), remote: `127.0.0.1:${port}`, calls, rate: 200, recvTimeoutMs: 5000, timeoutMs: (calls / 200 + 30) * 1000 });
    // Warm-up, not counted: fills the RTP pool (a released pair rests 1 s before reuse), so the
    // counted calls take the path of a loaded server (pair from the pool, answered in the INVITE's step).
    await sipp(400);
    await sleep(1500);
    counting = true;
    const r = await sipp(CALLS);
    await sleep(1000); // the calls' last steps (linger checks on the next turn)
    counting = false;
    const ok = r.stats?.successfulCalls ?? 0;
    const per = (n: number) => (n / CALLS).toFixed(2);
    const rows: Cell[][] = [...counts].map(([kind, c]) => [kind, per(c.actors), per(c.events), per(c.macrosteps), per(c.microsteps), per(c.transitions), per(c.actions), per(c.assigns)]);
    const total = [...counts.values()].reduce((t, c) => {
      for (const k of Object.keys(t) as Array<keyof Count>) t[k] += c[k];
      return t;
    }, zero());
    rows.push(['all', per(total.actors), per(total.events), per(total.macrosteps), per(total.microsteps), per(total.transitions), per(total.actions), per(total.assigns)]);
    printTable(`XState work per SIP call (SIPp uac-bench, ${ok}/${CALLS} calls ok)`, ['actor kind', 'actors', 'events', 'macrosteps', 'microsteps', 'transitions', 'actions', 'assigns'], rows);
    const evRows: Cell[][] = [...eventTypes].sort((a, b) => a[0].localeCompare(b[0])).map(([k, n]) => [k, per(n)]);
    printTable('Events received per call, by actor kind and type', ['kind event', 'per call'], evRows);
  } finally {
    await engine.close();
  }
}

main().catch((e) => {
  process.stderr.write(`bench sip-call-counts failed: ${e instanceof Error ? e.stack : String(e)}\n`);
  process.exitCode = 1;
});
