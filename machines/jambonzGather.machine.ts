// One jambonz `gather` verb (jambonz-feature-server lib/tasks/gather.js): an optional prompt
// (nested say/play) that a digit interrupts when bargein is on, then digits until
// numDigits/maxDigits, the finishOnKey, or a timer; with speech input a recogniser listens from
// the start (gather.js listenDuringPrompt) and its final transcript ends the gather. A first digit
// stops the recogniser (DTMF outranks speech, as in gather.js). Pure statechart: the adapter sends
// DTMF, PROMPT.DONE and the recogniser's SPEECH.* events and provides `stopPrompt`, `stopSpeech`
// and `finish` (which sends the actionHook); the timers are the named delays `timeout` (no input
// yet) and `digitTimeout` (after a digit: interDigitTimeout once minDigits are in, else timeout —
// the timer restarts on every digit).
import { assign, setup } from 'xstate';

/** Why the gather ended, in jambonz's own words (gather.js `_resolve`). */
export type GatherEndReason = 'dtmf-terminator-key' | 'dtmf-num-digits' | 'dtmf-interdigit-timeout' | 'speech' | 'stt-error' | 'timeout' | 'killed';

/** A final transcript, in jambonz's normalised shape (what the actionHook's `speech` carries). */
export interface GatherSpeech {
  language_code: string;
  channel_tag: number;
  is_final: true;
  alternatives: Array<{ transcript: string; confidence: number }>;
}

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
  /** Digits are collected (input includes `digits`; default true). Without, DTMF is ignored. */
  acceptDigits?: boolean;
  /** A recogniser listens from the start (input includes `speech`). */
  speech?: boolean;
  /** Speech stops the prompt (jambonz `bargein`, default false). */
  speechBargein?: boolean;
}

export interface GatherContext extends Required<Omit<GatherInput, 'numDigits' | 'maxDigits' | 'finishOnKey'>> {
  /** The recogniser is running (speech input, no digit yet, not ended). */
  listening: boolean;
  speechResult: GatherSpeech | undefined;
  sttError: string | undefined;
  numDigits: number | undefined;
  maxDigits: number | undefined;
  finishOnKey: string | undefined;
  digits: string;
  /** The prompt is still playing. */
  prompting: boolean;
  endReason: GatherEndReason | undefined;
}

export type GatherEvent =
  | { type: 'DTMF'; digit: string }
  | { type: 'PROMPT.DONE' }
  | { type: 'KILL' }
  /** The recogniser heard the caller start speaking. */
  | { type: 'SPEECH.STARTED' }
  /** The recogniser's final transcript. */
  | { type: 'SPEECH'; speech: GatherSpeech }
  | { type: 'SPEECH.FAILED'; error: string };

export interface GatherOutput {
  reason: GatherEndReason;
  digits: string;
  speech?: GatherSpeech;
  error?: string;
}

/** The actionHook's `reason` for an end (gather.js `_resolve`: dtmf-* → dtmfDetected, stt-error → error). */
export function gatherHookReason(out: GatherOutput): 'dtmfDetected' | 'speechDetected' | 'timeout' | 'error' | undefined {
  switch (out.reason) {
    case 'killed':
      return undefined;
    case 'timeout':
      return 'timeout';
    case 'speech':
      return 'speechDetected';
    case 'stt-error':
      return 'error';
    default:
      return 'dtmfDetected';
  }
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
    /** Stop the recogniser; safe to call when it is not running. */
    stopSpeech: () => {},
    finish: (_, _params: GatherOutput) => {},
    addDigit: assign({ digits: ({ context, event }) => (event.type === 'DTMF' ? context.digits + event.digit : context.digits) }),
    promptOver: assign({ prompting: false }),
    /** The recogniser no longer counts (a digit came: DTMF outranks speech, gather.js _onDtmf). */
    notListening: assign({ listening: false }),
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
    /** DTMF counts only when digits are an input. */
    ignoresDigits: ({ context }) => !context.acceptDigits,
    /** The first digit while a recogniser listens stops it (DTMF outranks speech). */
    speechBargesIn: ({ context }) => context.prompting && context.speechBargein,
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
    acceptDigits: input.acceptDigits ?? true,
    speech: input.speech ?? false,
    speechBargein: input.speechBargein ?? false,
    listening: input.speech ?? false,
    speechResult: undefined,
    sttError: undefined,
    digits: '',
    prompting: input.hasPrompt,
    endReason: undefined,
  }),
  initial: 'start',
  output: ({ context }) => ({
    reason: context.endReason ?? 'killed',
    digits: context.digits,
    ...(context.speechResult ? { speech: context.speechResult } : {}),
    ...(context.sttError !== undefined ? { error: context.sttError } : {}),
  }),
  on: {
    KILL: { target: '.ended', actions: [assign({ endReason: 'killed' as const }), 'stopPrompt', 'stopSpeech'] },
    // Ignored once a digit stopped the recogniser (a late result loses to the digits).
    SPEECH: {
      guard: ({ context }) => context.listening,
      target: '.resolved',
      actions: ['stopPrompt', assign({ speechResult: ({ event }) => event.speech, endReason: 'speech' as const })],
    },
    'SPEECH.FAILED': {
      guard: ({ context }) => context.listening,
      target: '.resolved',
      actions: ['stopPrompt', assign({ sttError: ({ event }) => event.error, endReason: 'stt-error' as const, listening: false })],
    },
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
          { guard: 'ignoresDigits' },
          { guard: 'isFinishKey', target: 'resolved', actions: ['stopPrompt', assign({ endReason: 'dtmf-terminator-key' as const })] },
          { guard: 'completes', target: 'resolved', actions: ['addDigit', 'stopPrompt', assign({ endReason: 'dtmf-num-digits' as const })] },
          { guard: 'promptPlaysOn', actions: ['stopSpeech', 'notListening', 'addDigit'] },
          { target: 'collecting', actions: ['stopSpeech', 'notListening', 'addDigit', 'stopPrompt', 'promptOver'] },
        ],
        // The caller started speaking over the prompt (jambonz `bargein`).
        'SPEECH.STARTED': { guard: 'speechBargesIn', target: 'waiting', actions: ['stopPrompt', 'promptOver'] },
      },
    },
    // Prompt over, no digit yet: the first-digit timer runs.
    waiting: {
      after: { timeout: { target: 'resolved', actions: assign({ endReason: 'timeout' as const }) } },
      on: {
        DTMF: [
          { guard: 'ignoresDigits' },
          { guard: 'isFinishKey', target: 'resolved', actions: assign({ endReason: 'dtmf-terminator-key' as const }) },
          { guard: 'completes', target: 'resolved', actions: ['addDigit', assign({ endReason: 'dtmf-num-digits' as const })] },
          { target: 'collecting', actions: ['stopSpeech', 'notListening', 'addDigit'] },
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
          { guard: 'ignoresDigits' },
          { guard: 'isFinishKey', target: 'resolved', actions: assign({ endReason: 'dtmf-terminator-key' as const }) },
          { guard: 'completes', target: 'resolved', actions: ['addDigit', assign({ endReason: 'dtmf-num-digits' as const })] },
          { target: 'collecting', reenter: true, actions: 'addDigit' },
        ],
      },
    },
    // Ended with a result for the actionHook.
    resolved: {
      entry: [
        'stopSpeech',
        {
          type: 'finish',
          params: ({ context }) => ({
            reason: context.endReason ?? 'timeout',
            digits: context.digits,
            ...(context.speechResult ? { speech: context.speechResult } : {}),
            ...(context.sttError !== undefined ? { error: context.sttError } : {}),
          }),
        },
      ],
      type: 'final',
    },
    ended: { type: 'final' },
  },
});

export type JambonzGatherMachine = typeof jambonzGatherMachine;
