// The `enqueue`, `dequeue` and `leave` verbs on SIP calls (jambonz-feature-server
// lib/tasks/enqueue.js, dequeue.js, leave.js). Who is queued, in which order, and who waits for a
// member live in one queue actor per name (machines/jambonzQueue.machine.ts, run by
// feature-server.ts); this file is the calls' side: the enqueued call hears its waitHook's
// play/say/pause verbs, over and over, until a dequeue connects it (the dequeuing call bridges the
// two) or it leaves; each side's actionHook reports how it ended (`queue_result`,
// `dequeue_result`).
import type { Call } from '../../call/call.js';
import type { ExecVerb } from '../../../machines/jambonzVerbExecutor.machine.js';
import type { VerbHost, VerbResult } from './verbs.js';
import { hookUrl } from './verb-util.js';

/** A call taking part in a queue: told when the queue connects it to its counterpart. */
export interface QueueParty {
  readonly call: Call;
  connected(peer: Call, peerSid: string): void;
  /** A dequeue of a call_sid that is not queued. */
  notFound?(): void;
}

/** The feature-server's queues, as a verb sees them. */
export interface QueueHost {
  join(name: string, callSid: string, priority: number, party: QueueParty): void;
  leave(name: string, callSid: string): void;
  dequeue(name: string, by: string, target: string | undefined, party: QueueParty): void;
  cancel(name: string, by: string): void;
  /** 1-based place and queue length (0, size when not queued). */
  position(name: string, callSid: string): { position: number; size: number };
}

/** enqueue.js: only these verbs may run while a call waits in a queue. */
const WAIT_VERBS: ReadonlySet<string> = new Set(['play', 'say', 'pause', 'leave']);
const MAX_WAIT_HOOKS = 10_000;

function queueName(verb: ExecVerb): string {
  const name = typeof verb.name === 'string' ? verb.name.trim() : '';
  if (!name || name.length > 128) throw new Error(`${verb.verb}: name must be a non-empty string of at most 128 characters`);
  return name;
}

/** Resolves when either call ends (the bridge then stops by itself). */
function eitherEnds(a: Call, b: Call): Promise<void> {
  return new Promise((resolve) => {
    if (a.isEnded || b.isEnded) return resolve();
    const done = (): void => {
      a.off('ended', done);
      b.off('ended', done);
      resolve();
    };
    a.once('ended', done);
    b.once('ended', done);
  });
}

export async function enqueueVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<VerbResult> {
  const name = queueName(verb);
  const priority = typeof verb.priority === 'number' && Number.isFinite(verb.priority) ? verb.priority : 999;
  await host.ensureAnswered();
  if (signal.aborted) return {};
  const call = host.call;
  const since = Date.now();
  const waitUrl = hookUrl(verb.waitHook);
  const waitAbort = new AbortController();
  const outcome = await new Promise<'bridged' | 'leave' | 'gone'>((resolve) => {
    const finish = (r: 'bridged' | 'leave' | 'gone'): void => {
      waitAbort.abort();
      call.off('ended', onEnded);
      signal.removeEventListener('abort', onKill);
      resolve(r);
    };
    const leave = (r: 'leave' | 'gone'): void => {
      host.queue.leave(name, host.callSid);
      finish(r);
    };
    const onEnded = (): void => leave('gone');
    const onKill = (): void => leave('gone');
    call.once('ended', onEnded);
    signal.addEventListener('abort', onKill, { once: true });
    host.queue.join(name, host.callSid, priority, {
      call,
      connected: (peer) => {
        waitAbort.abort();
        host.logger.info({ queue: name }, 'enqueue: dequeued, bridged');
        void eitherEnds(call, peer).then(() => finish('bridged'));
      },
    });
    if (!waitUrl) return;
    // enqueue.js `_playHook`: ask the waitHook, run what it returns, ask again; an empty reply ends the loop.
    void (async () => {
      for (let i = 0; i < MAX_WAIT_HOOKS && !waitAbort.signal.aborted; i++) {
        const { position, size } = host.queue.position(name, host.callSid);
        const verbs = await host.requestHook(waitUrl, {
          ...host.hookData(),
          queue_sid: name,
          queue_time: Math.round((Date.now() - since) / 1000),
          queue_position: position,
          queue_size: size,
        });
        if (waitAbort.signal.aborted || verbs.length === 0) return;
        for (const v of verbs) {
          if (waitAbort.signal.aborted) return;
          if (!WAIT_VERBS.has(v.verb)) {
            host.reportError(`enqueue waitHook: ${v.verb} is not allowed while queued (only play, say, pause, leave)`);
            continue;
          }
          if (v.verb === 'leave') return leave('leave');
          try {
            await host.runNested(v, waitAbort.signal);
          } catch (err) {
            host.reportError(err instanceof Error ? err.message : String(err));
          }
        }
      }
    })();
  });
  host.queue.leave(name, host.callSid);
  const url = hookUrl(verb.actionHook);
  if (!url || outcome === 'gone' || signal.aborted) return {};
  return { hook: { type: 'verb:hook', url, data: { ...host.hookData(), queue_sid: name, queue_result: outcome, queue_time: Math.round((Date.now() - since) / 1000) } } };
}

export async function dequeueVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<VerbResult> {
  const name = queueName(verb);
  const target = typeof verb.callSid === 'string' ? verb.callSid : undefined;
  if (verb.beep === true) host.logger.info('dequeue: beep is not played here');
  await host.ensureAnswered();
  if (signal.aborted) return {};
  const call = host.call;
  const timeoutMs = typeof verb.timeout === 'number' && verb.timeout > 0 ? Math.min(verb.timeout * 1000, 2 ** 31 - 1) : undefined;
  const out = await new Promise<{ result: 'complete' | 'timeout' | 'gone'; member?: string }>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = (r: { result: 'complete' | 'timeout' | 'gone'; member?: string }): void => {
      clearTimeout(timer);
      call.off('ended', onGone);
      signal.removeEventListener('abort', onGone);
      resolve(r);
    };
    const onGone = (): void => {
      host.queue.cancel(name, host.callSid);
      finish({ result: 'gone' });
    };
    call.once('ended', onGone);
    signal.addEventListener('abort', onGone, { once: true });
    if (timeoutMs !== undefined) {
      timer = setTimeout(() => {
        host.queue.cancel(name, host.callSid);
        finish({ result: 'timeout' });
      }, timeoutMs);
    }
    host.queue.dequeue(name, host.callSid, target, {
      call,
      connected: (peer, peerSid) => {
        clearTimeout(timer);
        call.off('ended', onGone);
        signal.removeEventListener('abort', onGone);
        try {
          host.bridge(call, peer);
        } catch (err) {
          host.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'dequeue: cannot bridge: hanging up the queued call');
          peer.hangup('cannot bridge');
        }
        // A redirect killing the verb ends the bridge: the queued call is hung up (not when the
        // kill is this call's own end: the member's enqueue then goes on with its stack).
        const kill = (): void => {
          if (!call.isEnded) peer.hangup('dequeue over');
        };
        signal.addEventListener('abort', kill, { once: true });
        void eitherEnds(call, peer).then(() => {
          signal.removeEventListener('abort', kill);
          resolve({ result: call.isEnded || signal.aborted ? 'gone' : 'complete', member: peerSid });
        });
      },
      notFound: () => finish({ result: 'timeout' }),
    });
  });
  const url = hookUrl(verb.actionHook);
  if (!url || out.result === 'gone') return {};
  return { hook: { type: 'verb:hook', url, data: { ...host.hookData(), queue_sid: name, dequeue_result: out.result, ...(out.member ? { dequeued_call_sid: out.member } : {}) } } };
}
