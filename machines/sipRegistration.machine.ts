// One binding of the registrar's location service (RFC 3261 §10.3): an address-of-record bound to
// one contact URI until it expires, is refreshed, or is removed (Expires: 0, or `Contact: *`).
// Pure statechart: the registrar adapter (src/sip/registrar/) sends REGISTER.* events with the
// request's Call-ID, CSeq and granted expiry; `expiry` is a named delay (the granted seconds) the
// adapter provides; `announce` reports each change so the adapter can keep its AOR index.
//
// The §10.3 step 7 ordering rule is a guard here: a request with the binding's own Call-ID must
// carry a higher CSeq, or it is out of order and changes nothing (the adapter asks `can()` for
// every contact first, so one stale contact fails the whole REGISTER, as the RFC asks).
import { and, assign, setup } from 'xstate';

export interface SipRegistrationInput {
  aor: string;
  contact: string;
  callId: string;
  cseq: number;
  /** Granted seconds (> 0). */
  expires: number;
  /** When the REGISTER was accepted (ms, the adapter's clock): expiresAt = at + expires s. */
  at: number;
  /** Contact q-value, when given. */
  q?: number;
  /**
   * The REGISTER's Path values in order (RFC 3327): the proxies calls to this contact go through,
   * as a preloaded Route set. Each REGISTER replaces it: a refresh without Path clears it.
   */
  path?: string[];
}

export interface SipRegistrationContext extends SipRegistrationInput {
  expiresAt: number;
}

export type SipRegistrationEndReason = 'expired' | 'unregistered' | 'evicted';

export type SipRegistrationEvent =
  /** A REGISTER naming this contact again: expires 0 removes, more refreshes. */
  | { type: 'REGISTER.REFRESH'; callId: string; cseq: number; expires: number; at: number; q?: number; path?: string[] }
  /** `Contact: *` with Expires: 0: every binding of the AOR goes (§10.3 step 6, same ordering rule). */
  | { type: 'REGISTER.REMOVE_ALL'; callId: string; cseq: number }
  /** The registrar drops the binding (shutdown, or the user was removed). */
  | { type: 'EVICT' };

export const sipRegistrationMachine = setup({
  types: {
    input: {} as SipRegistrationInput,
    context: {} as SipRegistrationContext,
    events: {} as SipRegistrationEvent,
  },
  actions: {
    announce: (_, _params: { state: 'bound' | SipRegistrationEndReason; expires: number }) => {},
  },
  guards: {
    // §10.3 step 7: another Call-ID always wins; the same Call-ID only with a higher CSeq.
    inOrder: ({ context, event }) => 'callId' in event && (event.callId !== context.callId || event.cseq > context.cseq),
    removes: ({ event }) => event.type === 'REGISTER.REFRESH' && event.expires === 0,
  },
  delays: {
    expiry: ({ context }) => context.expires * 1000,
  },
}).createMachine({
  id: 'sipRegistration',
  initial: 'bound',
  context: ({ input }) => ({ ...input, expiresAt: input.at + input.expires * 1000 }),
  states: {
    bound: {
      entry: { type: 'announce', params: ({ context }) => ({ state: 'bound' as const, expires: context.expires }) },
      after: { expiry: 'expired' },
      on: {
        'REGISTER.REFRESH': [
          // Expires 0: removed.
          { guard: and(['inOrder', 'removes']), target: 'unregistered' },
          // Refreshed: bound again, the expiry timer restarts.
          {
            guard: 'inOrder',
            target: 'bound',
            reenter: true,
            actions: assign(({ event }) => ({
              callId: event.callId,
              cseq: event.cseq,
              expires: event.expires,
              at: event.at,
              expiresAt: event.at + event.expires * 1000,
              ...(event.q !== undefined ? { q: event.q } : {}),
              // The Path of the latest REGISTER (RFC 3327 §5.3): the phone may now come through another edge proxy, or none.
              path: event.path,
            })),
          },
        ],
        'REGISTER.REMOVE_ALL': { guard: 'inOrder', target: 'unregistered' },
        EVICT: 'evicted',
      },
    },
    expired: {
      type: 'final',
      entry: { type: 'announce', params: { state: 'expired', expires: 0 } },
    },
    unregistered: {
      type: 'final',
      entry: { type: 'announce', params: { state: 'unregistered', expires: 0 } },
    },
    evicted: {
      type: 'final',
      entry: { type: 'announce', params: { state: 'evicted', expires: 0 } },
    },
  },
});

export type SipRegistrationMachine = typeof sipRegistrationMachine;
