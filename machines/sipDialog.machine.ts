// A SIP dialog, RFC 3261 §12, from either side (UAC or UAS).
//
// The machine owns the dialog state the RFC defines (id, CSeq spaces, route set, remote
// target, secure flag) and decides what that state implies; building and sending messages is
// the runtime's job through the named actions. It never sees a SIP message: events carry the
// few header values the runtime extracted (tags, Contact, Record-Route, CSeq, method). A UAC whose
// INVITE was forked keeps the early dialogs of the branches it does not follow at the moment in
// `branches`, each with its own local CSeq, and falls back to one when the followed one ends. A
// request from one of those (the callee's UPDATE in its early dialog, §12.2.2) is checked against
// and recorded in that branch's own remote CSeq and target, never the followed dialog's; one from
// a To tag no early dialog has gets 481. The UAC may end one early dialog with a BYE (§15,
// `EARLY.BYE`: a branch whose answer it refused): that branch is dropped, and when it was the only
// one the machine is back in `init` until another branch's 1xx, a 2xx or the INVITE's final response.
import { and, assign, not, or, setup, stateIn } from 'xstate';

export type SipDialogRole = 'uac' | 'uas';

export interface SipDialogInput {
  role: SipDialogRole;
  callId: string;
  localTag: string;
  /** From URI (UAC) or To URI (UAS) of the dialog-creating request. */
  localUri: string;
  remoteUri: string;
  /**
   * Last CSeq number used locally. UAC: the INVITE's. UAS: leave out for the RFC's "empty"
   * sequence (the first request then uses 1) or pass a random base, since the machine is pure.
   */
  localCSeq?: number;
  /** UAS: CSeq number of the dialog-creating request. UAC: leave out (empty). */
  remoteCSeq?: number;
  /** UAS: the From tag of the request. UAC learns it from the response (DIALOG.EARLY/CONFIRMED). */
  remoteTag?: string;
  /** §12.1.1: the request went over TLS with a SIPS Request-URI. */
  secure: boolean;
}

/** Header values of the message that creates (or confirms) the dialog. */
export interface SipDialogEstablishment {
  /** UAC: To tag of the response. UAS: From tag of the request (may come from input instead). */
  remoteTag?: string;
  /** Contact of the response (UAC) or request (UAS). */
  remoteTarget?: string;
  /** Record-Route values in message order; the machine reverses them for the UAC. */
  recordRoute?: string[];
}

export type SipDialogEndReason =
  | 'rejected' // early dialog ended by a non-2xx final response
  | 'local-bye'
  | 'remote-bye'
  | 'call-does-not-exist' // 481 to an in-dialog request
  | 'request-timeout' // 408 (or a transaction timeout) to an in-dialog request
  | (string & {}); // DIALOG.TERMINATE's own reason

export interface SipDialogOutput {
  reason: SipDialogEndReason;
  status?: number;
}

export type SipDialogEvent =
  | ({ type: 'DIALOG.EARLY'; remoteTag: string } & SipDialogEstablishment)
  | ({ type: 'DIALOG.CONFIRMED' } & SipDialogEstablishment)
  /** A non-2xx final response to the dialog-creating INVITE (sent or received). */
  | { type: 'DIALOG.REJECTED'; status: number }
  /**
   * `cseq` only for ACK/CANCEL, which reuse the number of the request they belong to. The body,
   * its type and extra headers (Refer-To) travel with the event to the sendRequest action.
   */
  | ({ type: 'REQUEST.SEND'; method: string; cseq?: number } & SipRequestContent)
  /** `remoteTag`: the request's From tag (UAC, forked INVITE: which branch's early dialog it is in). */
  | { type: 'REQUEST.RECEIVED'; method: string; cseq: number; contact?: string; remoteTag?: string }
  /**
   * The response to an in-dialog request this side sent. `remoteTag`: the To tag that request
   * carried (UAC, forked INVITE: a PRACK goes to the early dialog of its own branch).
   */
  | { type: 'RESPONSE.RECEIVED'; method: string; status: number; contact?: string; remoteTag?: string }
  /** `remoteTag`: the BYE's From tag (UAC: a BYE from a tag not the followed dialog's is no BYE of ours). */
  | { type: 'BYE.RECEIVED'; cseq?: number; remoteTag?: string }
  | { type: 'DIALOG.TERMINATE'; reason: string }
  /**
   * UAC, before the INVITE's final response: end the early dialog of branch `remoteTag` with a BYE
   * (§15: the caller may; the callee then answers the INVITE for that branch with 487). The
   * sipInviteForks machine sends it when that branch's answer to our offer is refused.
   */
  | { type: 'EARLY.BYE'; remoteTag: string };

/**
 * UAC, forked INVITE: the early dialog of a branch the call's dialog does not follow at the moment
 * (§12.1.2: each To tag of a 1xx is a dialog of its own, with its own local and remote CSeq sequences).
 */
export interface SipEarlyBranch {
  remoteTag: string;
  localCSeq?: number;
  /** The last CSeq of a request that branch sent us (§12.2.2), if any. */
  remoteCSeq?: number;
  remoteTarget?: string;
  routeSet: string[];
}

export interface SipDialogContext {
  role: SipDialogRole;
  callId: string;
  localTag: string;
  remoteTag?: string;
  localUri: string;
  remoteUri: string;
  localCSeq?: number;
  remoteCSeq?: number;
  /** Ordered as the Route header of requests this side sends. */
  routeSet: string[];
  remoteTarget?: string;
  secure: boolean;
  end?: SipDialogOutput;
  /** UAC: the CSeq of the INVITE that made the dialog early: every branch's early dialog counts on from it. */
  inviteCSeq?: number;
  /** UAC, forked INVITE: the other branches' early dialogs, in the order the call's dialog left them. */
  branches: SipEarlyBranch[];
}

/** What a request carries beyond the dialog's state: passed through untouched. */
export interface SipRequestContent {
  body?: string;
  contentType?: string;
  headers?: ReadonlyArray<readonly [string, string]>;
}

/** Everything the runtime needs to build an in-dialog request (§12.2.1.1). */
export interface SipDialogRequestParams extends SipRequestContent {
  method: string;
  cseq: number;
  callId: string;
  localTag: string;
  remoteTag?: string;
  localUri: string;
  remoteUri: string;
  remoteTarget?: string;
  routeSet: string[];
  secure: boolean;
}

// Requests whose Contact replaces the remote target: INVITE/UPDATE (RFC 3261, 3311) and
// SUBSCRIBE/NOTIFY (RFC 6665).
const TARGET_REFRESH = new Set(['INVITE', 'UPDATE', 'SUBSCRIBE', 'NOTIFY']);
// ACK and CANCEL reuse the CSeq of the request they belong to, so they neither consume a
// local number nor count as out of order remotely.
const SHARES_CSEQ = new Set(['ACK', 'CANCEL']);

const requestParams = (context: SipDialogContext, method: string, cseq: number, content?: SipRequestContent): SipDialogRequestParams => ({
  ...(content?.body !== undefined ? { body: content.body, contentType: content.contentType } : {}),
  ...(content?.headers ? { headers: content.headers } : {}),
  method,
  cseq,
  callId: context.callId,
  localTag: context.localTag,
  remoteTag: context.remoteTag,
  localUri: context.localUri,
  remoteUri: context.remoteUri,
  remoteTarget: context.remoteTarget,
  routeSet: context.routeSet,
  secure: context.secure,
});

/** The BYE of a branch set aside (EARLY.BYE): its own tag, next CSeq, target and route set. */
const branchByeParams = (context: SipDialogContext, remoteTag: string): SipDialogRequestParams => {
  const b = context.branches.find((x) => x.remoteTag === remoteTag)!;
  const cseq = (b.localCSeq ?? context.inviteCSeq ?? context.localCSeq ?? 0) + 1;
  return { ...requestParams(context, 'BYE', cseq), remoteTag, remoteTarget: b.remoteTarget, routeSet: b.routeSet };
};

/** UAC: an event from another branch of the INVITE than the one the dialog has (a different To tag). */
const otherBranch = (context: SipDialogContext, e: { remoteTag?: string }): boolean =>
  context.role === 'uac' && e.remoteTag !== undefined && context.remoteTag !== undefined && e.remoteTag !== context.remoteTag;

// The empty local sequence (§12.2.1.1) starts at 1: any value below 2**31 is allowed, and a
// runtime wanting a random start passes it as input.localCSeq.
const nextLocalCSeq = (context: SipDialogContext): number => (context.localCSeq ?? 0) + 1;

export const sipDialogMachine = setup({
  types: {
    input: {} as SipDialogInput,
    context: {} as SipDialogContext,
    events: {} as SipDialogEvent,
    output: {} as SipDialogOutput,
  },
  actions: {
    sendRequest: (_, _params: SipDialogRequestParams) => {},
    /** The request is in order: hand it to the TU (and, for BYE, answer 200). */
    acceptRequest: (_, _params: { method: string; cseq: number }) => {},
    /** §12.2.2: an out-of-order CSeq gets 500 without touching the dialog. */
    rejectRequest: (_, _params: { status: number; reason: string; method: string; cseq: number }) => {},
    notifyEnded: (_, _params: SipDialogOutput) => {},
    /**
     * The BYE of one early dialog (EARLY.BYE), built from that dialog's own state: it ends that
     * branch only, never the call's dialog (which goes on in another branch, or awaits the INVITE's outcome).
     */
    sendEarlyBye: (_, _params: SipDialogRequestParams) => {},
    establish: assign(({ context }, params: SipDialogEstablishment) => ({
      // A UAS learnt the remote tag from the request's From; it is part of the dialog id and
      // cannot be changed by a later event.
      remoteTag: context.role === 'uas' ? (context.remoteTag ?? params.remoteTag) : (params.remoteTag ?? context.remoteTag),
      // Another To tag (UAC) is another branch's dialog: nothing of the previous one carries over.
      remoteTarget: params.remoteTarget ?? (otherBranch(context, params) ? undefined : context.remoteTarget),
      // §12.1.2: the UAC's route set is the response's Record-Route reversed, recomputed from
      // the 2xx even if the 1xx had one (no Record-Route then means no route). The UAS's comes
      // from the request, in order (§12.1.1), and a later event need not repeat it.
      routeSet:
        context.role === 'uac'
          ? [...(params.recordRoute ?? [])].reverse()
          : params.recordRoute
            ? [...params.recordRoute]
            : context.routeSet,
    })),
    consumeLocalCSeq: assign(({ context }) => ({ localCSeq: nextLocalCSeq(context) })),
    noteInvite: assign(({ context }) => (context.role === 'uac' ? { inviteCSeq: context.localCSeq } : {})),
    // Another branch's 1xx: the early dialog followed so far is set aside with its own CSeq, and the
    // new one's sequence resumes (or, the first time, starts from the INVITE's). `establish` then
    // takes the 1xx's tag, target and route set.
    switchBranch: assign(({ context }, params: { remoteTag: string }) => {
      const back = context.branches.find((b) => b.remoteTag === params.remoteTag);
      const left: SipEarlyBranch = {
        remoteTag: context.remoteTag!,
        localCSeq: context.localCSeq,
        remoteCSeq: context.remoteCSeq,
        remoteTarget: context.remoteTarget,
        routeSet: context.routeSet,
      };
      return {
        branches: [...context.branches.filter((b) => b !== back), left],
        localCSeq: back ? back.localCSeq : (context.inviteCSeq ?? context.localCSeq),
        // (Each early dialog's remote sequence is its own too, empty until it sends a request.)
        remoteCSeq: back?.remoteCSeq,
      };
    }),
    // A 481/408 from a branch set aside: that early dialog is no more (§12.2.1.2).
    dropBranch: assign(({ context, event }) =>
      event.type === 'RESPONSE.RECEIVED' && (event.status === 481 || event.status === 408)
        ? { branches: context.branches.filter((b) => b.remoteTag !== event.remoteTag) }
        : {},
    ),
    // The branch followed is gone but another rang: the call's dialog follows the one it left last.
    fallBack: assign(({ context }) => {
      const last = context.branches.at(-1)!;
      return {
        branches: context.branches.slice(0, -1),
        remoteTag: last.remoteTag,
        localCSeq: last.localCSeq,
        remoteCSeq: last.remoteCSeq,
        remoteTarget: last.remoteTarget,
        routeSet: last.routeSet,
      };
    }),
    // The winning 2xx: its branch's sequence goes on in the confirmed dialog (the INVITE's, for a
    // branch that sent no 1xx); the other early dialogs are over.
    confirmBranch: assign(({ context }, params: { remoteTag?: string }) => {
      if (!otherBranch(context, params)) return { branches: [] };
      const won = context.branches.find((b) => b.remoteTag === params.remoteTag);
      return { branches: [], localCSeq: won ? won.localCSeq : (context.inviteCSeq ?? context.localCSeq), remoteCSeq: won?.remoteCSeq };
    }),
    recordRemoteCSeq: assign(({ context }, params: { method: string; cseq: number }) => ({
      remoteCSeq: SHARES_CSEQ.has(params.method) ? context.remoteCSeq : params.cseq,
    })),
    refreshTarget: assign(({ context }, params: { method: string; contact?: string }) => ({
      remoteTarget: TARGET_REFRESH.has(params.method) && params.contact ? params.contact : context.remoteTarget,
    })),
    // A request in the early dialog of a branch set aside: its own remote CSeq and target.
    branchRequest: assign(({ context, event }) => {
      if (event.type !== 'REQUEST.RECEIVED') return {};
      return {
        branches: context.branches.map((b) =>
          b.remoteTag !== event.remoteTag
            ? b
            : {
                ...b,
                remoteCSeq: SHARES_CSEQ.has(event.method) ? b.remoteCSeq : event.cseq,
                remoteTarget: TARGET_REFRESH.has(event.method) && event.contact ? event.contact : b.remoteTarget,
              },
        ),
      };
    }),
    // EARLY.BYE of the followed branch, the only one: no early dialog is left, as before the first
    // 1xx; the next branch's (or a 2xx without one) starts from the INVITE's CSeq again.
    forgetEarly: assign(({ context }) => ({
      remoteTag: undefined,
      remoteTarget: undefined,
      routeSet: [],
      remoteCSeq: undefined,
      localCSeq: context.inviteCSeq ?? context.localCSeq,
    })),
    // EARLY.BYE of a branch set aside: gone from the branches (its BYE went with its own next CSeq).
    forgetBranch: assign(({ context }, params: { remoteTag: string }) => ({ branches: context.branches.filter((b) => b.remoteTag !== params.remoteTag) })),
    setEnd: assign((_, params: SipDialogOutput) => ({ end: params })),
  },
  guards: {
    isUac: ({ context }) => context.role === 'uac',
    isBye: ({ event }) => event.type === 'REQUEST.SEND' && event.method === 'BYE',
    sharesCSeq: ({ event }) => event.type === 'REQUEST.SEND' && SHARES_CSEQ.has(event.method),
    isConfirmed: stateIn('#sipDialog.live.confirmed'),
    knowsSharedCSeq: ({ context, event }) => event.type === 'REQUEST.SEND' && (event.cseq !== undefined || context.localCSeq !== undefined),
    // A 1xx from another branch of a forked INVITE (another To tag).
    otherEarlyBranch: ({ context, event }) => event.type === 'DIALOG.EARLY' && otherBranch(context, event),
    // The answer to a request sent in another branch's early dialog (a PRACK to a 1xx the dialog
    // no longer follows): a 481 or 408 there ends that branch only, never the call's dialog.
    responseOfOtherBranch: ({ context, event }) => event.type === 'RESPONSE.RECEIVED' && otherBranch(context, event),
    // UAC: a request whose From tag is not the followed branch's; whether that tag is an early
    // dialog set aside; and whether its CSeq is below that dialog's own remote sequence.
    requestOfOtherBranch: ({ context, event }) => event.type === 'REQUEST.RECEIVED' && otherBranch(context, event),
    // UAC: a BYE from another tag (a branch that answered late, whose dialog we ended; an early
    // dialog's callee, which §15 forbids) ends nothing of the call's dialog.
    byeOfOtherDialog: ({ context, event }) => event.type === 'BYE.RECEIVED' && otherBranch(context, event),
    knownBranch: ({ context, event }) => event.type === 'REQUEST.RECEIVED' && context.branches.some((b) => b.remoteTag === event.remoteTag),
    branchOutOfOrder: ({ context, event }) => {
      if (event.type !== 'REQUEST.RECEIVED' || SHARES_CSEQ.has(event.method)) return false;
      const last = context.branches.find((b) => b.remoteTag === event.remoteTag)?.remoteCSeq;
      return last !== undefined && event.cseq <= last;
    },
    outOfOrder: ({ context, event }) => {
      if (event.type === 'BYE.RECEIVED') return event.cseq !== undefined && context.remoteCSeq !== undefined && event.cseq <= context.remoteCSeq;
      if (event.type !== 'REQUEST.RECEIVED' || SHARES_CSEQ.has(event.method)) return false;
      return context.remoteCSeq !== undefined && event.cseq <= context.remoteCSeq;
    },
    isByeRequest: ({ event }) => event.type === 'REQUEST.RECEIVED' && event.method === 'BYE',
    successfulRefresh: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status >= 200 && event.status < 300 && TARGET_REFRESH.has(event.method),
    noSuchDialog: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status === 481,
    timedOut: ({ event }) => event.type === 'RESPONSE.RECEIVED' && event.status === 408,
    otherBranchRang: ({ context }) => context.branches.length > 0,
    byeFollowed: ({ context, event }) => event.type === 'EARLY.BYE' && context.role === 'uac' && event.remoteTag === context.remoteTag,
    byeSetAside: ({ context, event }) => event.type === 'EARLY.BYE' && context.role === 'uac' && context.branches.some((b) => b.remoteTag === event.remoteTag),
  },
}).createMachine({
  id: 'sipDialog',
  context: ({ input }) => ({
    role: input.role,
    callId: input.callId,
    localTag: input.localTag,
    remoteTag: input.remoteTag,
    localUri: input.localUri,
    remoteUri: input.remoteUri,
    localCSeq: input.localCSeq,
    remoteCSeq: input.remoteCSeq,
    routeSet: [],
    secure: input.secure,
    branches: [],
  }),
  initial: 'init',
  output: ({ context }) => context.end ?? { reason: 'terminated' },
  on: {
    'DIALOG.TERMINATE': { target: '.terminated', actions: { type: 'setEnd', params: ({ event }) => ({ reason: event.reason }) } },
  },
  states: {
    // No dialog yet: it comes into being with a 1xx carrying a To tag (early) or a 2xx.
    init: {
      on: {
        // The INVITE retried with credentials (§22.2) takes a new CSeq before any dialog exists;
        // requests in the dialog it creates must count on from it (nothing is sent here).
        'REQUEST.SEND': {
          guard: ({ event }) => event.method === 'INVITE' && event.cseq !== undefined,
          actions: assign({ localCSeq: ({ context, event }) => Math.max(context.localCSeq ?? 0, event.cseq ?? 0) }),
        },
        'DIALOG.EARLY': {
          target: 'live.early',
          actions: [
            'noteInvite',
            {
              type: 'establish',
              params: ({ event }) => ({ remoteTag: event.remoteTag, remoteTarget: event.remoteTarget, recordRoute: event.recordRoute }),
            },
          ],
        },
        'DIALOG.CONFIRMED': {
          target: 'live.confirmed',
          actions: {
            type: 'establish',
            params: ({ event }) => ({ remoteTag: event.remoteTag, remoteTarget: event.remoteTarget, recordRoute: event.recordRoute }),
          },
        },
        'DIALOG.REJECTED': {
          target: 'terminated',
          actions: { type: 'setEnd', params: ({ event }) => ({ reason: 'rejected', status: event.status }) },
        },
      },
    },
    live: {
      initial: 'early',
      on: {
        'REQUEST.SEND': [
          {
            guard: and(['isBye', or(['isUac', 'isConfirmed'])]),
            target: 'terminated',
            actions: [
              'consumeLocalCSeq',
              { type: 'sendRequest', params: ({ context }) => requestParams(context, 'BYE', context.localCSeq!) },
              { type: 'setEnd', params: { reason: 'local-bye' } },
            ],
          },
          // §15: the callee must not send BYE on an early dialog; it answers the INVITE instead.
          { guard: 'isBye' },
          {
            guard: and(['sharesCSeq', 'knowsSharedCSeq']),
            actions: { type: 'sendRequest', params: ({ context, event }) => requestParams(context, event.method, event.cseq ?? context.localCSeq!, event) },
          },
          // ACK/CANCEL of nothing: this side never sent a request in the dialog.
          { guard: 'sharesCSeq' },
          {
            actions: ['consumeLocalCSeq', { type: 'sendRequest', params: ({ context, event }) => requestParams(context, event.method, context.localCSeq!, event) }],
          },
        ],
        'REQUEST.RECEIVED': [
          // §12.2.2: no dialog of ours has that remote tag.
          {
            guard: and(['requestOfOtherBranch', not('knownBranch')]),
            actions: {
              type: 'rejectRequest',
              params: ({ event }) => ({ status: 481, reason: 'Call/Transaction Does Not Exist', method: event.method, cseq: event.cseq }),
            },
          },
          {
            guard: and(['requestOfOtherBranch', 'branchOutOfOrder']),
            actions: {
              type: 'rejectRequest',
              params: ({ event }) => ({ status: 500, reason: 'CSeq out of order', method: event.method, cseq: event.cseq }),
            },
          },
          {
            guard: 'requestOfOtherBranch',
            actions: ['branchRequest', { type: 'acceptRequest', params: ({ event }) => ({ method: event.method, cseq: event.cseq }) }],
          },
          {
            guard: 'outOfOrder',
            actions: {
              type: 'rejectRequest',
              params: ({ event }) => ({ status: 500, reason: 'CSeq out of order', method: event.method, cseq: event.cseq }),
            },
          },
          {
            guard: 'isByeRequest',
            target: 'terminated',
            actions: [
              { type: 'recordRemoteCSeq', params: ({ event }) => ({ method: event.method, cseq: event.cseq }) },
              { type: 'acceptRequest', params: ({ event }) => ({ method: event.method, cseq: event.cseq }) },
              { type: 'setEnd', params: { reason: 'remote-bye' } },
            ],
          },
          {
            actions: [
              { type: 'recordRemoteCSeq', params: ({ event }) => ({ method: event.method, cseq: event.cseq }) },
              { type: 'refreshTarget', params: ({ event }) => ({ method: event.method, contact: event.contact }) },
              { type: 'acceptRequest', params: ({ event }) => ({ method: event.method, cseq: event.cseq }) },
            ],
          },
        ],
        'BYE.RECEIVED': [
          {
            guard: 'byeOfOtherDialog',
            actions: {
              type: 'rejectRequest',
              params: ({ event, context }) => ({ status: 481, reason: 'Call/Transaction Does Not Exist', method: 'BYE', cseq: event.cseq ?? context.remoteCSeq ?? 0 }),
            },
          },
          {
            guard: 'outOfOrder',
            actions: {
              type: 'rejectRequest',
              params: ({ event, context }) => ({ status: 500, reason: 'CSeq out of order', method: 'BYE', cseq: event.cseq ?? context.remoteCSeq ?? 0 }),
            },
          },
          {
            target: 'terminated',
            actions: [
              {
                type: 'recordRemoteCSeq',
                params: ({ event, context }) => ({ method: 'BYE', cseq: event.cseq ?? context.remoteCSeq ?? 0 }),
              },
              { type: 'acceptRequest', params: ({ event, context }) => ({ method: 'BYE', cseq: event.cseq ?? context.remoteCSeq ?? 0 }) },
              { type: 'setEnd', params: { reason: 'remote-bye' } },
            ],
          },
        ],
        'RESPONSE.RECEIVED': [
          { guard: 'responseOfOtherBranch', actions: 'dropBranch' },
          // §12.2.1.2: either status means the peer no longer has this dialog.
          { guard: 'noSuchDialog', target: 'terminated', actions: { type: 'setEnd', params: { reason: 'call-does-not-exist', status: 481 } } },
          { guard: 'timedOut', target: 'terminated', actions: { type: 'setEnd', params: { reason: 'request-timeout', status: 408 } } },
          {
            guard: 'successfulRefresh',
            actions: { type: 'refreshTarget', params: ({ event }) => ({ method: event.method, contact: event.contact }) },
          },
        ],
      },
      states: {
        early: {
          on: {
            // UAC, forked INVITE: the call's dialog is the early dialog of the latest 1xx (requests in
            // the early dialog, a PRACK, go to that branch); which early dialogs exist is the
            // sipInviteForks machine's. The same tag again changes nothing (§12.1.2: the 1xx that
            // created the early dialog fixed its route set).
            'DIALOG.EARLY': {
              guard: 'otherEarlyBranch',
              actions: [
                { type: 'switchBranch', params: ({ event }) => ({ remoteTag: event.remoteTag }) },
                {
                  type: 'establish',
                  params: ({ event }) => ({ remoteTag: event.remoteTag, remoteTarget: event.remoteTarget, recordRoute: event.recordRoute }),
                },
              ],
            },
            // The 2xx that won confirms the call's dialog, whichever branch it came from (§13.2.2.4:
            // the sipInviteForks machine sends only the winner here; a later 2xx of another branch gets
            // its own dialog, ACK and BYE).
            'DIALOG.CONFIRMED': {
              target: 'confirmed',
              // §13.2.2.4: the 2xx, not the earlier 1xx, fixes the UAC's route set and target.
              actions: [
                { type: 'confirmBranch', params: ({ event }) => ({ remoteTag: event.remoteTag }) },
                {
                  type: 'establish',
                  params: ({ event }) => ({ remoteTag: event.remoteTag, remoteTarget: event.remoteTarget, recordRoute: event.recordRoute }),
                },
              ],
            },
            'DIALOG.REJECTED': {
              target: '#sipDialog.terminated',
              actions: { type: 'setEnd', params: ({ event }) => ({ reason: 'rejected', status: event.status }) },
            },
            // §15: a BYE ends the early dialog it is sent in, and that one only. The followed one's:
            // the call's dialog falls back to the branch it left last, or (none) to no dialog yet.
            'EARLY.BYE': [
              {
                guard: and(['byeFollowed', 'otherBranchRang']),
                actions: ['consumeLocalCSeq', { type: 'sendEarlyBye', params: ({ context }) => requestParams(context, 'BYE', context.localCSeq!) }, 'fallBack'],
              },
              {
                guard: 'byeFollowed',
                target: '#sipDialog.init',
                actions: ['consumeLocalCSeq', { type: 'sendEarlyBye', params: ({ context }) => requestParams(context, 'BYE', context.localCSeq!) }, 'forgetEarly'],
              },
              {
                guard: 'byeSetAside',
                actions: [
                  { type: 'sendEarlyBye', params: ({ context, event }) => branchByeParams(context, event.remoteTag) },
                  { type: 'forgetBranch', params: ({ event }) => ({ remoteTag: event.remoteTag }) },
                ],
              },
            ],
            // UAC, forked INVITE: a 481/408 ends only the early dialog of the branch followed now
            // (a PRACK refused); while another branch's early dialog exists the call goes on in it.
            'RESPONSE.RECEIVED': {
              guard: and([or(['noSuchDialog', 'timedOut']), not('responseOfOtherBranch'), 'otherBranchRang']),
              actions: 'fallBack',
            },
          },
        },
        confirmed: {},
      },
    },
    terminated: {
      type: 'final',
      entry: { type: 'notifyEnded', params: ({ context }) => context.end ?? { reason: 'terminated' } },
    },
  },
});

export type SipDialogMachine = typeof sipDialogMachine;
