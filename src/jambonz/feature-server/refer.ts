// The `sip:refer` verb on a SIP call (jambonz-feature-server lib/tasks/sip_refer.js): a REFER in
// the caller's dialog (call.transfer, with Refer-To, Referred-By and the verb's headers); the
// refer machine (machines/jambonzRefer.machine.ts) follows the NOTIFY sipfrags and holds the
// outcome the actionHook reports. After a 2xx sipfrag the SIP UA hangs up this leg (the caller is
// with the target now), as a blind transfer does.
import type { Actor } from 'xstate';
import type { ExecVerb } from '../../../machines/jambonzVerbExecutor.machine.js';
import type { JambonzReferMachine, ReferOutput } from '../../../machines/jambonzRefer.machine.js';
import type { VerbHost, VerbResult } from './verbs.js';
import { hookUrl } from './verb-util.js';

export interface ReferWire {
  sendRefer(): void;
  notifyEvent(code: number): void;
}

/** sip_refer.js `_normalizeReferHeaders`: a bare user or number becomes sip:<it>@<the caller's host>. */
function referUri(v: string, host: string | undefined, what: string): string {
  const s = v.trim().replace(/^<(.*)>$/, '$1');
  if (/^sips?:[^\s<>]+$/i.test(s) || /^tel:[^\s<>]+$/i.test(s)) return s;
  if (!/^[A-Za-z0-9+*#._~!$&'()=,;?/-]+$/.test(s)) throw new Error(`sip:refer: ${what} ${JSON.stringify(v)} is neither a URI nor a user part`);
  if (!host) throw new Error(`sip:refer: ${what} ${JSON.stringify(v)} has no host and the caller's URI gives none`);
  return `sip:${s}@${host}`;
}

export async function referVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<VerbResult> {
  const call = host.call;
  if (!call.isActive) throw new Error('sip:refer: the call is not answered (jambonz: a stable call is needed)');
  const callerHost = /@([^;>\s]+)/.exec(call.from ?? '')?.[1];
  const target = referUri(String(verb.referTo), callerHost, 'referTo');
  const referredBy = typeof verb.referredBy === 'string' ? referUri(verb.referredBy, callerHost, 'referredBy') : undefined;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries((verb.headers ?? {}) as Record<string, unknown>)) headers[k] = typeof v === 'number' ? String(v) : (v as string);
  if (typeof verb.referredByDisplayName === 'string') host.logger.info('sip:refer: referredByDisplayName is not sent (Referred-By carries the URI only)');
  const eventUrl = hookUrl(verb.eventHook);
  const out = await new Promise<ReferOutput>((resolve, reject) => {
    let actor!: Actor<JambonzReferMachine>;
    const onTransfer = (code: number, from: 'refer' | 'notify'): void => actor.send(from === 'refer' ? { type: 'REFER.REFUSED', code } : { type: 'NOTIFY', code });
    const onEnded = (): void => actor.send({ type: 'CALL.ENDED' });
    const kill = (): void => actor.send({ type: 'KILL' });
    actor = host.spawnRefer({
      sendRefer: () => {
        // Runs inside the actor's start: a bad header is thrown back to the verb, not lost.
        try {
          call.transfer(target, { ...(referredBy ? { referredBy } : {}), headers });
        } catch (err) {
          queueMicrotask(() => {
            reject(err instanceof Error ? new Error(`sip:refer: ${err.message}`) : new Error(String(err)));
            actor.send({ type: 'KILL' });
          });
        }
      },
      notifyEvent: (code) => {
        // sip_refer.js names the sipfrag status `call_status` (in a requestor call whose arguments
        // are shifted); here call_status stays the call's own status and the sipfrag's is
        // `transfer_status`, so the hook still validates as a verb:hook.
        if (eventUrl) host.notifyHook(eventUrl, { ...host.hookData(), event: 'transfer-status', transfer_status: code });
      },
    });
    call.on('transfer', onTransfer);
    call.once('ended', onEnded);
    signal.addEventListener('abort', kill, { once: true });
    actor.subscribe({
      complete: () => {
        call.off('transfer', onTransfer);
        call.off('ended', onEnded);
        signal.removeEventListener('abort', kill);
        resolve(actor.getSnapshot().output ?? { reason: 'killed', referStatus: undefined, finalStatus: undefined });
      },
    });
  });
  host.logger.info({ referTo: target, ...out }, 'sip:refer over');
  const url = hookUrl(verb.actionHook);
  if (!url) return {};
  // sip_refer.js: the REFER's own status when it was refused; 202 and the final sipfrag status line otherwise.
  if (out.reason === 'refused') return { hook: { type: 'verb:hook', url, data: { ...host.hookData(), refer_status: out.referStatus } } };
  if (out.reason === 'final') return { hook: { type: 'verb:hook', url, data: { ...host.hookData(), refer_status: 202, final_referred_call_status: String(out.finalStatus) } } };
  return {};
}
