// Outbound registration (RFC 3261 §10.2): callchart keeps one contact registered with a registrar
// (a SIP provider, a PBX) so calls to the AOR reach it. Pure statechart: `sendRegister` (the
// adapter builds the REGISTER, with credentials when it holds a challenge) and `announce` are
// named actions; `refresh` and `retry` are named delays. The adapter delivers only responses to
// the REGISTER it sent last, as RESPONSE (final statuses) or TIMEOUT (no answer, transport error).
//
// Refresh before expiry (half the granted time when short, 30 s before it otherwise); a challenge
// is answered twice per attempt at most (a stale nonce, then bad credentials fail); 423 raises the
// requested expiry to Min-Expires once it is higher; any other failure backs off exponentially,
// or by Retry-After when the registrar gives one. STOP unregisters (Expires: 0) and ends.
import { assign, setup } from 'xstate';

export interface SipRegistrationClientInput {
  /** Requested expiry, seconds (> 0). */
  expires: number;
  /** First back-off after a failure, ms (default 2 s); doubled per failure in a row. */
  retryBaseMs?: number;
  /** Longest back-off, ms (default 5 min). */
  retryMaxMs?: number;
}

export interface SipRegistrationClientContext {
  expires: number;
  /** What the registrar granted on the last 2xx, seconds. */
  granted: number;
  /** Challenges answered in this attempt. */
  authTries: number;
  /** Failures in a row (reset by a 2xx). */
  failures: number;
  retryDelayMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** Status (or 408 for a timeout) of the last failure. */
  lastStatus: number | undefined;
}

export type SipRegistrationClientState = 'registering' | 'registered' | 'retrying' | 'unregistering' | 'stopped';

export type SipRegistrationClientEvent =
  | { type: 'START' }
  | { type: 'STOP' }
  /**
   * A final response to the REGISTER last sent. `expires`: the expiry granted to our contact (2xx);
   * `challenged`: a 401/407 the adapter can answer (it has credentials and a usable challenge);
   * `minExpires` (423) and `retryAfter` (seconds, 503 and others) when the response carried them.
   */
  | { type: 'RESPONSE'; status: number; expires?: number; challenged?: boolean; minExpires?: number; retryAfter?: number }
  /** No final response (Timer F) or the transport failed. */
  | { type: 'TIMEOUT' };

const MAX_AUTH_TRIES = 2;

type Ctx = SipRegistrationClientContext;
type Resp = Extract<SipRegistrationClientEvent, { type: 'RESPONSE' }>;

/** Back-off after a failure: Retry-After when given, else base * 2^failures, capped. */
function backoff(context: Ctx, retryAfterS: number | undefined): number {
  if (retryAfterS !== undefined && retryAfterS > 0) return Math.min(retryAfterS * 1000, context.retryMaxMs);
  return Math.min(context.retryBaseMs * 2 ** context.failures, context.retryMaxMs);
}

export const sipRegistrationClientMachine = setup({
  types: {
    input: {} as SipRegistrationClientInput,
    context: {} as Ctx,
    events: {} as SipRegistrationClientEvent,
  },
  actions: {
    sendRegister: (_, _params: { expires: number }) => {},
    announce: (_, _params: { state: SipRegistrationClientState; expires?: number; status?: number }) => {},
  },
  guards: {
    success: ({ event }) => event.type === 'RESPONSE' && event.status >= 200 && event.status < 300,
    answerable: ({ context, event }) =>
      event.type === 'RESPONSE' && (event.status === 401 || event.status === 407) && event.challenged === true && context.authTries < MAX_AUTH_TRIES,
    tooBrief: ({ context, event }) => event.type === 'RESPONSE' && event.status === 423 && (event.minExpires ?? 0) > context.expires,
    final: ({ event }) => event.type === 'RESPONSE' && event.status >= 200,
  },
  delays: {
    // Half the granted time when short, else 30 s before it: the refresh lands before expiry.
    refresh: ({ context }) => (context.granted <= 60 ? context.granted * 500 : (context.granted - 30) * 1000),
    retry: ({ context }) => context.retryDelayMs,
  },
}).createMachine({
  id: 'sipRegistrationClient',
  initial: 'idle',
  context: ({ input }) => ({
    expires: input.expires,
    granted: 0,
    authTries: 0,
    failures: 0,
    retryDelayMs: 0,
    retryBaseMs: input.retryBaseMs ?? 2000,
    retryMaxMs: input.retryMaxMs ?? 300_000,
    lastStatus: undefined,
  }),
  states: {
    idle: {
      on: { START: 'registering', STOP: 'stopped' },
    },
    registering: {
      entry: [
        { type: 'sendRegister', params: ({ context }) => ({ expires: context.expires }) },
        { type: 'announce', params: { state: 'registering' } },
      ],
      on: {
        RESPONSE: [
          {
            guard: 'success',
            target: 'registered',
            actions: assign(({ context, event }) => ({
              granted: event.expires !== undefined && event.expires > 0 ? event.expires : context.expires,
              failures: 0,
              authTries: 0,
              lastStatus: event.status,
            })),
          },
          { guard: 'answerable', target: 'registering', reenter: true, actions: assign({ authTries: ({ context }) => context.authTries + 1 }) },
          { guard: 'tooBrief', target: 'registering', reenter: true, actions: assign({ expires: ({ context, event }) => (event as Resp).minExpires ?? context.expires }) },
          {
            guard: 'final',
            target: 'retrying',
            actions: assign(({ context, event }) => ({
              retryDelayMs: backoff(context, (event as Resp).retryAfter),
              failures: context.failures + 1,
              authTries: 0,
              lastStatus: (event as Resp).status,
            })),
          },
        ],
        TIMEOUT: {
          target: 'retrying',
          actions: assign(({ context }) => ({ retryDelayMs: backoff(context, undefined), failures: context.failures + 1, authTries: 0, lastStatus: 408 })),
        },
        STOP: { target: 'unregistering', actions: assign({ authTries: 0 }) },
      },
    },
    registered: {
      entry: { type: 'announce', params: ({ context }) => ({ state: 'registered' as const, expires: context.granted }) },
      after: { refresh: { target: 'registering', actions: assign({ authTries: 0 }) } },
      on: { STOP: { target: 'unregistering', actions: assign({ authTries: 0 }) } },
    },
    retrying: {
      entry: { type: 'announce', params: ({ context }) => ({ state: 'retrying' as const, status: context.lastStatus }) },
      after: { retry: 'registering' },
      on: { STOP: 'stopped' },
    },
    unregistering: {
      entry: [{ type: 'sendRegister', params: { expires: 0 } }, { type: 'announce', params: { state: 'unregistering' } }],
      on: {
        RESPONSE: [
          { guard: 'answerable', target: 'unregistering', reenter: true, actions: assign({ authTries: ({ context }) => context.authTries + 1 }) },
          { guard: 'final', target: 'stopped' },
        ],
        TIMEOUT: 'stopped',
      },
    },
    stopped: {
      type: 'final',
      entry: { type: 'announce', params: { state: 'stopped' } },
    },
  },
});

export type SipRegistrationClientMachine = typeof sipRegistrationClientMachine;
