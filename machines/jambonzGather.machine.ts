// One jambonz `gather` verb collecting DTMF (jambonz-feature-server lib/tasks/gather.js): an
// optional prompt (nested say/play) that a digit interrupts when bargein is on, then digits until
// numDigits/maxDigits, the finishOnKey, or a timer. Pure statechart: the adapter sends DTMF and
// PROMPT.DONE and provides `stopPrompt` and `finish` (which sends the actionHook); the timers are
// the named delays `timeout` (no digit yet) and `digitTimeout` (after a digit: interDigitTimeout
// once minDigits are in, else timeout — the timer restarts on every digit).
import { assign, setup } from 'xstate';

/** Why the gather ended, in jambonz's own words (gather.js `_resolve`). */
export type GatherEndReason = 'dtmf-terminator-key' | 'dtmf-num-digits' | 'dtmf-interdigit-timeout' | 'timeout' | 'killed';

export interface GatherInput {
  numDigits?: number;
  /** Default 1. */
  minDigits?: number;
  maxDigits?: number;
  finishOnKey?: string;
  /** Milliseconds to wait for the first digit after the prompt (jambonz: `timeout` s, default 15). */
  timeoutMs: number;
  /** Milliseconds between digits once minDigits are in; 0 = use timeoutMs. */
  interDigitTimeoutMs: number;
  /** A nested say/play prompt plays first. */
  hasPrompt: boolean;
  /** A digit stops the prompt (jambonz `dtmfBargein`, default true). */
  bargein: boolean;
}

export interface GatherContext extends Required<Omit<GatherInput, 'numDigits' | 'maxDigits' | 'finishOnKey'>> {
  numDigits: number | undefined;
  maxDigits: number | undefined;
  finishOnKey: string | undefined;
  digits: string;
  /** The prompt is still playing. */
  prompting: boolean;
  endReason: GatherEndReason | undefined;
}

export type GatherEvent = { type: 'DTMF'; digit: string } | { type: 'PROMPT.DONE' } | { type: 'KILL' };

export interface GatherOutput {
  reason: GatherEndReason;
  digits: string;
}

/** The actionHook's `reason` for an end (gather.js: every dtmf-* end reports `dtmfDetected`). */
export function gatherHookReason(out: GatherOutput): 'dtmfDetected' | 'timeout' | undefined {
  if (out.reason === 'killed') return undefined;
  if (out.reason === 'timeout') return 'timeout';
  return 'dtmfDetected';
}

export const jambonzGatherMachine = setup({
  types: {
    context: {} as GatherContext,
    events: {} as GatherEvent,
    input: {} as GatherInput,
    output: {} as GatherOutput,
  },
  actions: {
    stopPrompt: () => {},
    finish: (_, _params: GatherOutput) => {},
    addDigit: assign({ digits: ({ context, event }) => (event.type === 'DTMF' ? context.digits + event.digit : context.digits) }),
    promptOver: assign({ prompting: false }),
  },
  delays: {
    timeout: ({ context }) => context.timeoutMs,
    digitTimeout: ({ context }) =>
      context.interDigitTimeoutMs > 0 && context.digits.length >= context.minDigits ? context.interDigitTimeoutMs : context.timeoutMs,
  },
  guards: {
    isFinishKey: ({ context, event }) => event.type === 'DTMF' && context.finishOnKey !== undefined && event.digit === context.finishOnKey,
    completes: ({ context, event }) => {
      if (event.type !== 'DTMF') return false;
      const n = context.digits.length + 1;
      return n === context.numDigits || n === context.maxDigits;
    },
    /** A digit with bargein on stops a playing prompt. */
    bargesIn: ({ context }) => context.prompting && context.bargein,
    /** With bargein off the prompt plays on under the digits. */
    promptPlaysOn: ({ context }) => context.prompting && !context.bargein,
    interDigit: ({ context }) => context.interDigitTimeoutMs > 0 && context.digits.length >= context.minDigits,
  },
}).createMachine({
  id: 'jambonzGather',
  context: ({ input }) => ({
    minDigits: input.minDigits ?? 1,
    numDigits: input.numDigits,
    maxDigits: input.maxDigits,
    finishOnKey: input.finishOnKey,
    timeoutMs: input.timeoutMs,
    interDigitTimeoutMs: input.interDigitTimeoutMs,
    hasPrompt: input.hasPrompt,
    bargein: input.bargein,
    digits: '',
    prompting: input.hasPrompt,
    endReason: undefined,
  }),
  initial: 'start',
  output: ({ context }) => ({ reason: context.endReason ?? 'killed', digits: context.digits }),
  on: {
    KILL: { target: '.ended', actions: [assign({ endReason: 'killed' as const }), 'stopPrompt'] },
  },
  states: {
    start: {
      always: [{ guard: ({ context }) => context.hasPrompt, target: 'prompting' }, { target: 'waiting' }],
    },
    // Prompt playing (with bargein off, digits may already be in).
    prompting: {
      on: {
        'PROMPT.DONE': [
          { guard: ({ context }) => context.digits.length > 0, target: 'collecting', actions: 'promptOver' },
          { target: 'waiting', actions: 'promptOver' },
        ],
        DTMF: [
          { guard: 'isFinishKey', target: 'resolved', actions: ['stopPrompt', assign({ endReason: 'dtmf-terminator-key' as const })] },
          { guard: 'completes', target: 'resolved', actions: ['addDigit', 'stopPrompt', assign({ endReason: 'dtmf-num-digits' as const })] },
          { guard: 'promptPlaysOn', actions: 'addDigit' },
          { target: 'collecting', actions: ['addDigit', 'stopPrompt', 'promptOver'] },
        ],
      },
    },
    // Prompt over, no digit yet: the first-digit timer runs.
    waiting: {
      after: { timeout: { target: 'resolved', actions: assign({ endReason: 'timeout' as const }) } },
      on: {
        DTMF: [
          { guard: 'isFinishKey', target: 'resolved', actions: assign({ endReason: 'dtmf-terminator-key' as const }) },
          { guard: 'completes', target: 'resolved', actions: ['addDigit', assign({ endReason: 'dtmf-num-digits' as const })] },
          { target: 'collecting', actions: 'addDigit' },
        ],
      },
    },
    // Digits in, more may come: the timer restarts on each digit.
    collecting: {
      after: {
        digitTimeout: [
          { guard: 'interDigit', target: 'resolved', actions: assign({ endReason: 'dtmf-interdigit-timeout' as const }) },
          { target: 'resolved', actions: assign({ endReason: 'timeout' as const }) },
        ],
      },
      on: {
        DTMF: [
          { guard: 'isFinishKey', target: 'resolved', actions: assign({ endReason: 'dtmf-terminator-key' as const }) },
          { guard: 'completes', target: 'resolved', actions: ['addDigit', assign({ endReason: 'dtmf-num-digits' as const })] },
          { target: 'collecting', reenter: true, actions: 'addDigit' },
        ],
      },
    },
    // Ended with a result for the actionHook.
    resolved: {
      entry: { type: 'finish', params: ({ context }) => ({ reason: context.endReason ?? 'timeout', digits: context.digits }) },
      type: 'final',
    },
    ended: { type: 'final' },
  },
});

export type JambonzGatherMachine = typeof jambonzGatherMachine;
