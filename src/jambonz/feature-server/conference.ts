// The `conference` verb on a SIP call (jambonz-feature-server lib/tasks/conference.js). Who is in
// which conference, who waits for a start, and when a conference ends live in one conference actor
// per name (machines/jambonzConference.machine.ts, run by conferences.ts); this file is the call's
// side: it waits (hearing its waitHook's play/say/pause verbs) until let in, puts the call into the
// conference's engine room (muted with joinMuted), reports statusHook events (start, end, join,
// leave, start-talking, stop-talking), and when the conference ends without this call hanging up
// sends the actionHook, whose verbs go on with the call as jambonz's do.
import type { ExecVerb } from '../../../machines/jambonzVerbExecutor.machine.js';
import type { Room, RoomLeaveReason, RoomMemberInfo } from '../../rooms/index.js';
import type { VerbHost, VerbResult } from './verbs.js';
import { hookUrl, abortableSleep } from './verb-util.js';

/** conference.js: the statusEvents a statusHook may ask for. */
const STATUS_EVENTS = ['start', 'end', 'join', 'leave', 'start-talking', 'stop-talking'] as const;
type StatusEvent = (typeof STATUS_EVENTS)[number];
/** conference.js `_playHook`: only these verbs may run while waiting. */
const WAIT_VERBS: ReadonlySet<string> = new Set(['play', 'say', 'pause']);
const MAX_WAIT_HOOKS = 10_000;
/** conference.js plays `silence_stream://750` before each waitHook request. */
const WAIT_GAP_MS = 750;
/** Fields of the verb this feature-server does not apply (logged, not refused). */
const NOT_APPLIED = ['memberTag', 'speakOnlyTo', 'endConferenceDuration', 'enterHook', 'record', 'listen', 'distributeDtmf'] as const;

function conferenceName(verb: ExecVerb): string {
  const name = typeof verb.name === 'string' ? verb.name.trim() : '';
  if (!name || name.length > 128) throw new Error('conference: name must be a non-empty string of at most 128 characters');
  return name;
}

type Outcome = 'ended' | 'kicked' | 'gone';

export async function conferenceVerb(host: VerbHost, verb: ExecVerb, signal: AbortSignal): Promise<VerbResult> {
  const name = conferenceName(verb);
  const ignored = NOT_APPLIED.filter((k) => verb[k] !== undefined);
  if (ignored.length) host.logger.info({ conference: name, ignored }, 'conference: these fields are not applied here');
  const confs = host.conference;
  if (!confs.available) throw new Error('conference: needs the engine\'s rooms (createEngine({ rooms: {} }); `callchart serve` has them)');
  await host.ensureAnswered();
  if (signal.aborted) return {};
  const call = host.call;
  const statusUrl = hookUrl(verb.statusHook);
  const wanted = new Set<StatusEvent>(statusUrl && Array.isArray(verb.statusEvents) ? STATUS_EVENTS.filter((e) => (verb.statusEvents as unknown[]).includes(e)) : []);
  let room: Room | undefined;
  const status = (event: StatusEvent, members: number): void => {
    if (!statusUrl || !wanted.has(event)) return;
    const since = confs.startedAt(name) ?? Date.now();
    const data = host.hookData();
    host.notifyHook(statusUrl, {
      event,
      duration: (Date.now() - since) / 1000,
      time: new Date().toISOString(),
      members,
      conferenceSid: `conf:${String(data.account_sid ?? '')}:${name}`,
      friendlyName: name,
      ...data,
    });
  };
  const waitAbort = new AbortController();
  const outcome = await new Promise<Outcome>((resolve, reject) => {
    let member: RoomMemberInfo | undefined;
    let settled = false;
    const cleanups: Array<() => void> = [];
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      waitAbort.abort();
      call.off('ended', onGone);
      signal.removeEventListener('abort', onGone);
      for (const off of cleanups) off();
      fn();
    };
    /** This call leaves: out of the actor, out of the room (the call itself stays as it is). */
    const leave = (): void => {
      const { ended } = confs.leave(name, host.callSid);
      if (!member || !room) return;
      if (!room.ended && room.member(member.id)) room.kick(member.id, 'left the conference');
      const left = room.ended ? 0 : room.members().filter((m) => m.kind === 'call-leg').length;
      status('leave', left);
      // conference.js `_doFinalMemberCheck`: the end goes out from whoever leaves it empty or ends it.
      if (ended || left === 0) status('end', left);
    };
    const onGone = (): void => settle(() => (leave(), resolve('gone')));
    call.once('ended', onGone);
    signal.addEventListener('abort', onGone, { once: true });

    confs.join(
      name,
      host.callSid,
      {
        starts: verb.startConferenceOnEnter !== false,
        endsOnExit: verb.endConferenceOnExit === true,
        ...(typeof verb.maxParticipants === 'number' ? { maxParticipants: verb.maxParticipants } : {}),
      },
      {
        call,
        admitted: (starts) => {
          if (settled) return;
          waitAbort.abort();
          try {
            room = confs.room(name);
          } catch (err) {
            return settle(() => (confs.leave(name, host.callSid), reject(new Error(`conference ${name}: ${err instanceof Error ? err.message : String(err)}`))));
          }
          const r = room;
          r.join(call, { muted: verb.joinMuted === true }).then(
            (m) => {
              if (settled) {
                if (!r.ended && r.member(m.id)) r.kick(m.id, 'left the conference');
                return;
              }
              member = m;
              const count = (): number => r.members().filter((x) => x.kind === 'call-leg').length;
              host.logger.info({ conference: name, room: r.id, member: m.id, starts }, 'conference: joined');
              if (starts) status('start', count());
              status('join', count());
              const onTalking = (x: RoomMemberInfo, talking: boolean): void => {
                if (x.id === m.id) status(talking ? 'start-talking' : 'stop-talking', count());
              };
              // Removed from the room by the app (engine.room(id).kick / close): the verb is over.
              const onLeft = (x: RoomMemberInfo, reason: RoomLeaveReason): void => {
                if (x.id === m.id && reason === 'kicked' && !call.isEnded) settle(() => (leave(), resolve('kicked')));
              };
              const onRoomEnded = (): void => {
                if (!call.isEnded) settle(() => (leave(), resolve('kicked')));
              };
              r.on('talking', onTalking);
              r.on('left', onLeft);
              r.on('ended', onRoomEnded);
              // conference.js `mute`: the app's mute:status mutes this member of the room.
              host.setConferenceMute((muted) => void (muted ? r.mute(m.id) : r.unmute(m.id)));
              cleanups.push(() => {
                r.off('talking', onTalking);
                r.off('left', onLeft);
                r.off('ended', onRoomEnded);
                host.setConferenceMute(undefined);
              });
            },
            (err: unknown) => settle(() => (confs.leave(name, host.callSid), reject(new Error(`conference ${name}: cannot join the room: ${err instanceof Error ? err.message : String(err)}`)))),
          );
        },
        refused: (reason) => settle(() => reject(new Error(`conference ${name}: ${reason === 'full' ? 'the conference is full (maxParticipants)' : reason}`))),
        ended: () => settle(() => (leave(), resolve('ended'))),
      },
    );

    // Waiting for a start: the waitHook's verbs over and over (conference.js `_doWait`).
    const waitUrl = hookUrl(verb.waitHook);
    if (!waitUrl || verb.startConferenceOnEnter !== false) return;
    void (async () => {
      for (let i = 0; i < MAX_WAIT_HOOKS && !waitAbort.signal.aborted; i++) {
        await abortableSleep(WAIT_GAP_MS, waitAbort.signal);
        if (waitAbort.signal.aborted) return;
        const verbs = await host.requestHook(waitUrl, { ...host.hookData(), conferenceSid: name, friendlyName: name });
        if (waitAbort.signal.aborted || verbs.length === 0) return;
        if (verbs.some((v) => !WAIT_VERBS.has(v.verb))) {
          host.reportError(`conference waitHook: only play, say and pause may run while waiting (got ${verbs.map((v) => v.verb).join(', ')})`);
          return;
        }
        for (const v of verbs) {
          if (waitAbort.signal.aborted) return;
          try {
            await host.runNested(v, waitAbort.signal);
          } catch (err) {
            host.reportError(err instanceof Error ? err.message : String(err));
          }
        }
      }
    })();
  });
  host.logger.info({ conference: name, outcome }, 'conference: left');
  const url = hookUrl(verb.actionHook);
  if (!url || outcome === 'gone' || signal.aborted || call.isEnded) return {};
  return { hook: { type: 'verb:hook', url, data: host.hookData() } };
}
