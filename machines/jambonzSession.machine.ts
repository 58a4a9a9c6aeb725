// One jambonz call-control session (`ws.jambonz.org`): the conversation between the feature-server
// and the application about one call_sid. It decides, for every reply the app gives, whether it
// is the `ack` of the message jambonz is waiting on or an unsolicited `command redirect`; when the
// app is too slow it has the fallback ack sent (jambonz hangs up a call whose session:new is not
// acked within 5 s); and it keeps the session through a dropped socket until jambonz reconnects,
// Hooks (verb:hook, session:redirect) may be outstanding several at once, as in jambonz: each waits
// for its own reply in `replies` (by msgid, oldest first) under its own ack deadline.
// holding the app's reply and queueing its other commands to send once jambonz is back.
// Pure statechart: every wire effect is a named action the hook route provides, every timer a
// named delay (`ackTimeout`, `reconnectGrace`). Verb arrays are opaque here: validated upstream.
import { assign, enqueueActions, raise, setup } from 'xstate';

/** What an un-acked message was: the session start (session:new/adulting/reconnect), a verb hook, a redirect. */
export type JambonzPendingKind = 'session' | 'hook' | 'redirect';

export interface JambonzPending {
  msgid: string;
  kind: JambonzPendingKind;
  hook?: string;
}

/** A verb array as this machine sees it: already validated, passed through untouched. */
export type JambonzVerbList = readonly object[];

export type JambonzSessionEndReason =
  /** call:status reported a final status (completed, failed, busy, no-answer). */
  | 'call-ended'
  /** jambonz closed the socket normally (1000): the call is over on its side. */
  | 'socket-closed'
  /** The socket dropped and jambonz did not reconnect within `reconnectGrace`. */
  | 'reconnect-timeout'
  /** The application or the engine ended the session (shutdown). */
  | 'local-close';

export interface JambonzSessionEnd {
  reason: JambonzSessionEndReason;
  callStatus?: string;
  code?: number;
}

export interface JambonzSessionInput {
  callSid: string;
  /** Commands kept while the socket is down (default 100); beyond, the oldest is dropped. */
  maxQueued?: number;
}

export interface JambonzSessionContext {
  callSid: string;
  maxQueued: number;
  /** The session start (session:new/adulting/reconnect) while it waits for its ack. */
  pending: JambonzPending | null;
  /** Hooks and redirects jambonz waits on, oldest first; each is answered by msgid (or, unnamed, oldest first). */
  replies: JambonzPending[];
  /** The session start has been acked (by the app or by the fallback). */
  sessionAcked: boolean;
  /** A reply the app gave while the socket was down, sent once jambonz is back. */
  held: JambonzVerbList | null;
  /** Commands the app gave while the socket was down, sent in order once jambonz is back. */
  queued: JambonzCommandParams[];
  callStatus: string | null;
  hooks: number;
  reconnects: number;
  /** The app failed once already: its error verbs went out, and further failures change nothing. */
  appFailed: boolean;
  end: JambonzSessionEnd | null;
}

export type JambonzSessionEvent =
  | { type: 'SESSION.NEW'; msgid: string }
  | { type: 'SESSION.REDIRECT'; msgid: string; hook: string }
  | { type: 'SESSION.RECONNECT'; msgid: string }
  | { type: 'HOOK.RECEIVED'; msgid: string; hook: string }
  /**
   * The app's reply. With `msgid`: the ack of that hook, dropped (noted) when it no longer waits
   * (answered by the fallback, or lost to a drop). Without: the ack of the session start or of the
   * oldest waiting hook, or a `command redirect` when nothing waits.
   */
  | { type: 'APP.ACK'; verbs: JambonzVerbList; msgid?: string }
  /** A hook's own ack deadline passed (raised by the machine, delay `ackTimeout`, one per msgid). */
  | { type: 'REPLY.TIMEOUT'; msgid: string }
  /** The app's code threw: the first failure answers as APP.ACK with the error verbs; later ones are only logged. */
  | { type: 'APP.FAILED'; verbs: JambonzVerbList }
  /** Any other app command (`redirect` with data = verbs, `call:status`, `mute:status`, …). */
  | { type: 'APP.COMMAND'; command: string; data?: unknown; queue?: boolean; callSid?: string; toolCallId?: string }
  /** The call is being hung up here: the hangup verb answers an unacked session start, else `call:status completed`. */
  | { type: 'APP.HANGUP' }
  /**
   * The route could not write a command (the socket was already closing, its close not yet seen):
   * it waits with the others for a reconnect.
   */
  | { type: 'COMMAND.UNSENT'; command: JambonzCommandParams }
  /** The call actor ended: a session waiting for a reconnect has nobody left to wait for. */
  | { type: 'CALL.ENDED' }
  | { type: 'CALL.STATUS'; status: string }
  | { type: 'SOCKET.CLOSED'; code: number }
  | { type: 'SESSION.CLOSE' };

export interface JambonzSessionDelays {
  /** How long the app may take to answer a message before the fallback ack goes out (< jambonz's 5 s). */
  ackTimeout: number;
  /** How long a session whose socket dropped waits for jambonz's session:reconnect. */
  reconnectGrace: number;
}

export const defaultJambonzSessionDelays: JambonzSessionDelays = { ackTimeout: 4000, reconnectGrace: 30_000 };

const TERMINAL = ['completed', 'failed', 'busy', 'no-answer'];
const DEFAULT_MAX_QUEUED = 100;
const HANGUP_VERBS: JambonzVerbList = [{ verb: 'hangup' }];
const HANGUP_COMMAND: JambonzCommandParams = { command: 'call:status', data: { call_status: 'completed' }, queue: false };

/** What `sendCommand` puts on the wire: the command, its data, and optional target leg / tool call. */
export interface JambonzCommandParams {
  command: string;
  data: unknown;
  queue: boolean;
  callSid?: string;
  toolCallId?: string;
}

const commandParams = ({ event }: { event: JambonzSessionEvent }): JambonzCommandParams => {
  const e = event as Extract<JambonzSessionEvent, { type: 'APP.COMMAND' }>;
  return {
    command: e.command,
    data: e.data,
    queue: e.queue ?? false,
    ...(e.callSid !== undefined ? { callSid: e.callSid } : {}),
    ...(e.toolCallId !== undefined ? { toolCallId: e.toolCallId } : {}),
  };
};

export const jambonzSessionMachine = setup({
  types: {
    context: {} as JambonzSessionContext,
    events: {} as JambonzSessionEvent,
    input: {} as JambonzSessionInput,
    output: {} as JambonzSessionEnd,
  },
  actions: {
    // Provided by the hook route.
    startApp: () => {},
    deliverHook: (_: unknown, _p: { msgid: string; hook: string }) => {},
    deliverRedirect: (_: unknown, _p: { msgid: string; hook: string }) => {},
    sendAck: (_: unknown, _p: { msgid: string; verbs: JambonzVerbList }) => {},
    sendFallbackAck: (_: unknown, _p: { msgid: string; kind: JambonzPendingKind }) => {},
    sendRedirect: (_: unknown, _p: { verbs: JambonzVerbList; queue: boolean }) => {},
    sendCommand: (_: unknown, _p: JambonzCommandParams) => {},
    /** The commands queued while the socket was down, in order, on the new socket. */
    sendQueued: (_: unknown, _p: { commands: readonly JambonzCommandParams[] }) => {},
    /** The queue was full: its oldest command was dropped. */
    noteQueueFull: (_: unknown, _p: { dropped: string }) => {},
    notifyAckTimeout: (_: unknown, _p: { msgid: string; kind: JambonzPendingKind }) => {},
    /** A reply named a hook that no longer waits: dropped, never sent as a redirect. */
    noteLateReply: (_: unknown, _p: { msgid: string }) => {},
    noteDisconnected: (_: unknown, _p: { code: number }) => {},
    noteReconnected: () => {},
    // What the waiting states (awaitingApp for the session start, awaitingReply for hooks) do, named once here.
    /** The app did not answer the session start in time: jambonz gets the fallback, the app is told. */
    fallbackAckPending: enqueueActions(({ context, enqueue }) => {
      const p = { msgid: context.pending!.msgid, kind: context.pending!.kind };
      enqueue({ type: 'sendFallbackAck', params: p });
      enqueue({ type: 'notifyAckTimeout', params: p });
      enqueue.assign({ pending: null });
    }),
    /** verb:hook / session:redirect: it joins the waiting hooks, under its own deadline, and goes to the app. */
    takeReply: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'HOOK.RECEIVED' && event.type !== 'SESSION.REDIRECT') return;
      const kind = event.type === 'HOOK.RECEIVED' ? ('hook' as const) : ('redirect' as const);
      enqueue.assign({
        replies: [...context.replies, { msgid: event.msgid, kind, hook: event.hook }],
        ...(kind === 'hook' ? { hooks: context.hooks + 1 } : {}),
      });
      enqueue.raise({ type: 'REPLY.TIMEOUT', msgid: event.msgid }, { delay: 'ackTimeout', id: `reply:${event.msgid}` });
      enqueue({ type: kind === 'hook' ? 'deliverHook' : 'deliverRedirect', params: { msgid: event.msgid, hook: event.hook } });
    }),
    /** The app's reply answers the hook it names (or the oldest); a reply for a hook gone is only noted. */
    answerReply: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'APP.ACK') return;
      const target = event.msgid === undefined ? context.replies[0] : context.replies.find((r) => r.msgid === event.msgid);
      if (!target) {
        if (event.msgid !== undefined) enqueue({ type: 'noteLateReply', params: { msgid: event.msgid } });
        else enqueue({ type: 'sendRedirect', params: { verbs: event.verbs, queue: false } });
        return;
      }
      enqueue.cancel(`reply:${target.msgid}`);
      enqueue({ type: 'sendAck', params: { msgid: target.msgid, verbs: event.verbs } });
      enqueue.assign({ replies: context.replies.filter((r) => r !== target) });
    }),
    /** A hook's deadline: jambonz gets the fallback for it, the app is told. */
    fallbackReply: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'REPLY.TIMEOUT') return;
      const target = context.replies.find((r) => r.msgid === event.msgid);
      if (!target) return;
      enqueue({ type: 'sendFallbackAck', params: { msgid: target.msgid, kind: target.kind } });
      enqueue({ type: 'notifyAckTimeout', params: { msgid: target.msgid, kind: target.kind } });
      enqueue.assign({ replies: context.replies.filter((r) => r !== target) });
    }),
    /** The socket dropped: jambonz abandons the hooks in flight (their acks have nowhere to go). */
    dropReplies: enqueueActions(({ context, enqueue }) => {
      for (const r of context.replies) enqueue.cancel(`reply:${r.msgid}`);
      enqueue.assign({ replies: [] });
    }),
    /** No socket to send on: keep the command (bounded; the oldest goes first). */
    queueCommand: enqueueActions(({ context, event, enqueue }) => {
      const cmd =
        event.type === 'APP.HANGUP' ? HANGUP_COMMAND : event.type === 'APP.COMMAND' ? commandParams({ event }) : event.type === 'COMMAND.UNSENT' ? event.command : null;
      if (!cmd) return;
      const queued = [...context.queued, cmd];
      if (queued.length > context.maxQueued) enqueue({ type: 'noteQueueFull', params: { dropped: queued.shift()!.command } });
      enqueue.assign({ queued });
    }),
    /** jambonz is back: what waited goes out now, then the app hears of the reconnect. */
    resumeAfterReconnect: enqueueActions(({ context, enqueue }) => {
      if (context.queued.length) enqueue({ type: 'sendQueued', params: { commands: context.queued } });
      enqueue.assign({ queued: [], reconnects: context.reconnects + 1 });
      enqueue('noteReconnected');
    }),
    /** The app's verbs answer the waiting message. */
    ackPending: enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'APP.ACK') return;
      enqueue({ type: 'sendAck', params: { msgid: context.pending!.msgid, verbs: event.verbs } });
      enqueue.assign({ pending: null });
    }),
  },
  guards: {
    isTerminalStatus: ({ event }) => event.type === 'CALL.STATUS' && TERMINAL.includes(event.status),
    isNormalClose: ({ event }) => event.type === 'SOCKET.CLOSED' && event.code === 1000,
    isRedirectCommand: ({ event }) => event.type === 'APP.COMMAND' && event.command === 'redirect',
    sessionUnacked: ({ context }) => !context.sessionAcked,
    sessionUnackedWithHeld: ({ context }) => !context.sessionAcked && context.held !== null,
    hasHeld: ({ context }) => context.held !== null,
    /** After this event no hook waits any more (it answered or timed out the last one). */
    settlesLastReply: ({ context, event }) => {
      if (event.type !== 'APP.ACK' && event.type !== 'REPLY.TIMEOUT') return false;
      const id = event.type === 'REPLY.TIMEOUT' || event.msgid !== undefined ? event.msgid : context.replies[0]?.msgid;
      return context.replies.length === 1 && context.replies[0]!.msgid === id;
    },
    isNewReply: ({ context, event }) =>
      (event.type === 'HOOK.RECEIVED' || event.type === 'SESSION.REDIRECT') && !context.replies.some((r) => r.msgid === event.msgid),
  },
  delays: {
    ackTimeout: defaultJambonzSessionDelays.ackTimeout,
    reconnectGrace: defaultJambonzSessionDelays.reconnectGrace,
  },
}).createMachine({
  id: 'jambonzSession',
  context: ({ input }) => ({
    callSid: input.callSid,
    maxQueued: input.maxQueued ?? DEFAULT_MAX_QUEUED,
    pending: null,
    replies: [],
    sessionAcked: false,
    held: null,
    queued: [],
    callStatus: null,
    hooks: 0,
    reconnects: 0,
    appFailed: false,
    end: null,
  }),
  initial: 'new',
  output: ({ context }) => context.end ?? { reason: 'local-close' },
  on: {
    // Once per session: a second failure (a listener throwing on the error of the first) must not
    // redirect jambonz again.
    'APP.FAILED': {
      guard: ({ context }) => !context.appFailed,
      actions: [assign({ appFailed: true }), raise(({ event }) => ({ type: 'APP.ACK' as const, verbs: event.verbs }))],
    },
  },
  states: {
    new: {
      on: {
        'SESSION.NEW': {
          target: 'live.awaitingApp',
          actions: [assign({ pending: ({ event }) => ({ msgid: event.msgid, kind: 'session' as const }) }), 'startApp'],
        },
        'SOCKET.CLOSED': { target: 'closed', actions: assign({ end: ({ event }) => ({ reason: 'socket-closed' as const, code: event.code }) }) },
        'SESSION.CLOSE': { target: 'closed', actions: assign({ end: { reason: 'local-close' } }) },
      },
    },
    // Everything while a socket carries the session.
    live: {
      initial: 'awaitingApp',
      on: {
        'CALL.STATUS': [
          {
            guard: 'isTerminalStatus',
            target: 'closed',
            actions: assign({
              callStatus: ({ event }) => event.status,
              end: ({ event }) => ({ reason: 'call-ended' as const, callStatus: event.status }),
            }),
          },
          { actions: assign({ callStatus: ({ event }) => event.status }) },
        ],
        'SOCKET.CLOSED': [
          { guard: 'isNormalClose', target: 'closed', actions: assign({ end: ({ event }) => ({ reason: 'socket-closed' as const, code: event.code }) }) },
          {
            target: 'disconnected',
            actions: [
              // jambonz abandons the messages in flight when its socket drops — except the
              // session start, whose ack it then expects on the session:reconnect instead.
              'dropReplies',
              { type: 'noteDisconnected', params: ({ event }) => ({ code: event.code }) },
            ],
          },
        ],
        'SESSION.CLOSE': { target: 'closed', actions: assign({ end: { reason: 'local-close' } }) },
        'APP.COMMAND': { actions: { type: 'sendCommand', params: commandParams } },
        'APP.HANGUP': { actions: { type: 'sendCommand', params: HANGUP_COMMAND } },
        'COMMAND.UNSENT': { actions: 'queueCommand' },
      },
      states: {
        awaitingApp: {
          after: {
            ackTimeout: {
              target: 'executing',
              actions: ['fallbackAckPending', assign({ sessionAcked: true })],
            },
          },
          on: {
            'APP.ACK': {
              target: 'executing',
              actions: ['ackPending', assign({ sessionAcked: true })],
            },
            // Before the session start is acked, a redirect IS the answer to it (as in node-client-ws).
            'APP.COMMAND': {
              guard: 'isRedirectCommand',
              target: 'executing',
              actions: [
                { type: 'sendAck', params: ({ context, event }) => ({ msgid: context.pending!.msgid, verbs: event.data as JambonzVerbList }) },
                assign({ pending: null, sessionAcked: true }),
              ],
            },
            // Before anything was acked, the hangup verb is the answer to the session start.
            'APP.HANGUP': {
              target: 'executing',
              actions: [
                { type: 'sendAck', params: ({ context }) => ({ msgid: context.pending!.msgid, verbs: HANGUP_VERBS }) },
                assign({ pending: null, sessionAcked: true }),
              ],
            },
            // jambonz runs no verb before the session start is acked, so these cannot be
            // legitimate; they are acked empty so it does not wait on them.
            'HOOK.RECEIVED': { actions: { type: 'sendAck', params: ({ event }) => ({ msgid: event.msgid, verbs: [] }) } },
            'SESSION.REDIRECT': { actions: { type: 'sendAck', params: ({ event }) => ({ msgid: event.msgid, verbs: [] }) } },
          },
        },
        executing: {
          on: {
            'HOOK.RECEIVED': { target: 'awaitingReply', actions: 'takeReply' },
            'SESSION.REDIRECT': { target: 'awaitingReply', actions: 'takeReply' },
            // Nothing waits: an unnamed reply is a redirect, a named one is late.
            'APP.ACK': { actions: 'answerReply' },
          },
        },
        // One or more hooks (verb:hook, session:redirect) wait for the app, each with its deadline.
        awaitingReply: {
          on: {
            'HOOK.RECEIVED': { guard: 'isNewReply', actions: 'takeReply' },
            'SESSION.REDIRECT': { guard: 'isNewReply', actions: 'takeReply' },
            'APP.ACK': [{ guard: 'settlesLastReply', target: 'executing', actions: 'answerReply' }, { actions: 'answerReply' }],
            'REPLY.TIMEOUT': [{ guard: 'settlesLastReply', target: 'executing', actions: 'fallbackReply' }, { actions: 'fallbackReply' }],
          },
        },
      },
    },
    // The socket dropped (not a normal close): jambonz reconnects with backoff and sends
    // session:reconnect for this call_sid on the new socket.
    disconnected: {
      after: {
        reconnectGrace: { target: 'closed', actions: assign({ end: { reason: 'reconnect-timeout' } }) },
      },
      on: {
        'SESSION.RECONNECT': [
          {
            // The app answered the session start while the socket was down: that answer is the
            // ack of the reconnect (jambonz moved the session:new wait onto it).
            guard: 'sessionUnackedWithHeld',
            target: 'live.executing',
            actions: [
              { type: 'sendAck', params: ({ context, event }) => ({ msgid: event.msgid, verbs: context.held! }) },
              assign({ pending: null, held: null, sessionAcked: true }),
              'resumeAfterReconnect',
            ],
          },
          {
            guard: 'sessionUnacked',
            target: 'live.awaitingApp',
            actions: [
              assign({ pending: ({ event }) => ({ msgid: event.msgid, kind: 'session' as const }) }),
              'resumeAfterReconnect',
            ],
          },
          {
            guard: 'hasHeld',
            target: 'live.executing',
            actions: [
              { type: 'sendAck', params: ({ event }) => ({ msgid: event.msgid, verbs: [] }) },
              { type: 'sendRedirect', params: ({ context }) => ({ verbs: context.held!, queue: false }) },
              assign({ held: null }),
              'resumeAfterReconnect',
            ],
          },
          {
            target: 'live.executing',
            actions: [
              { type: 'sendAck', params: ({ event }) => ({ msgid: event.msgid, verbs: [] }) },
              'resumeAfterReconnect',
            ],
          },
        ],
        // No socket to answer on: keep the latest reply for the reconnect.
        'APP.ACK': { actions: assign({ held: ({ event }) => event.verbs }) },
        'APP.COMMAND': [
          { guard: 'isRedirectCommand', actions: assign({ held: ({ event }) => event.data as JambonzVerbList }) },
          // Other commands wait here, in order, until the socket is back (dropped if it never is).
          { actions: 'queueCommand' },
        ],
        'APP.HANGUP': { actions: 'queueCommand' },
        'COMMAND.UNSENT': { actions: 'queueCommand' },
        // Nobody left to reconnect for.
        'CALL.ENDED': { target: 'closed', actions: assign({ end: { reason: 'local-close' } }) },
        'CALL.STATUS': {
          guard: 'isTerminalStatus',
          target: 'closed',
          actions: assign({ end: ({ event }) => ({ reason: 'call-ended' as const, callStatus: event.status }) }),
        },
        'SESSION.CLOSE': { target: 'closed', actions: assign({ end: { reason: 'local-close' } }) },
      },
    },
    closed: { type: 'final' },
  },
});

export type JambonzSessionMachine = typeof jambonzSessionMachine;
