// The feature-server's named conferences: one conference actor (machines/jambonzConference.machine.ts)
// per name, created on first use and stopped once idle again, and the calls taking part, by
// call_sid, so the actor's `admit` / `refuse` / `endFor` reach the right `conference` verb run.
// The audio lives in an engine room (`engine.room(id)`) named after the conference.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { createActor, type Actor } from 'xstate';
import { jambonzConferenceMachine, type JambonzConferenceMachine } from '../../../machines/jambonzConference.machine.js';
import type { Call } from '../../call/call.js';
import type { Room } from '../../rooms/index.js';

/** A call taking part in a conference (its `conference` verb run). */
export interface ConferenceParty {
  readonly call: Call;
  /** Let in (now, or when a waited-for conference starts); `starts`: it started the conference. */
  admitted(starts: boolean): void;
  /** Not let in (the conference is full). */
  refused(reason: string): void;
  /** The conference ended (endConferenceOnExit, or the room closed): the verb is over. */
  ended(): void;
}

export interface ConferenceJoin {
  /** startConferenceOnEnter is not false. */
  starts: boolean;
  endsOnExit: boolean;
  maxParticipants?: number;
}

/** The feature-server's conferences, as the `conference` verb sees them. */
export interface ConferenceHost {
  join(name: string, callSid: string, opts: ConferenceJoin, party: ConferenceParty): void;
  /** The member or waiter goes; `ended`: its leaving ended the conference. */
  leave(name: string, callSid: string): { ended: boolean };
  /** The engine room carrying the conference's audio. */
  room(name: string): Room;
  /** Conferences need the engine's rooms (`createEngine({ rooms: {} })`). */
  readonly available: boolean;
  /** When the conference started (ms epoch), for statusHook durations. */
  startedAt(name: string): number | undefined;
}

const ROOM_SAFE = /^[A-Za-z0-9_.-]{1,58}$/;

/** `jconf.<name>` when the name is a room id already, else `jconf.<hash>` (room ids are [A-Za-z0-9_.-]{1,64}). */
export function conferenceRoomId(name: string): string {
  return `jconf.${ROOM_SAFE.test(name) ? name : createHash('sha256').update(name).digest('hex').slice(0, 40)}`;
}

export class FsConferences implements ConferenceHost {
  private readonly confs = new Map<string, Actor<JambonzConferenceMachine>>();
  private readonly parties = new Map<string, ConferenceParty>();
  private readonly started = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly rooms: ((id: string) => Room) | undefined,
  ) {}

  get available(): boolean {
    return this.rooms !== undefined;
  }

  join(name: string, callSid: string, opts: ConferenceJoin, party: ConferenceParty): void {
    this.parties.set(callSid, party);
    this.of(name).send({ type: 'JOIN', callSid, starts: opts.starts, endsOnExit: opts.endsOnExit, ...(opts.maxParticipants !== undefined ? { maxParticipants: opts.maxParticipants } : {}) });
  }

  leave(name: string, callSid: string): { ended: boolean } {
    this.parties.delete(callSid);
    const c = this.confs.get(name);
    if (!c) return { ended: false };
    const wasStarted = c.getSnapshot().matches('started');
    c.send({ type: 'LEAVE', callSid });
    const ended = wasStarted && c.getSnapshot().matches('idle');
    this.tidy(name);
    return { ended };
  }

  room(name: string): Room {
    if (!this.rooms) throw new Error('rooms are off: give createEngine() a rooms option (rooms: {})');
    return this.rooms(conferenceRoomId(name));
  }

  startedAt(name: string): number | undefined {
    return this.started.get(name);
  }

  /** Live conferences (started or with callers waiting). */
  get size(): number {
    return this.confs.size;
  }

  close(): void {
    for (const c of this.confs.values()) c.stop();
    this.confs.clear();
    this.parties.clear();
    this.started.clear();
  }

  private of(name: string): Actor<JambonzConferenceMachine> {
    let c = this.confs.get(name);
    if (c) return c;
    // Parties are told on a microtask: what they do (room joins, LEAVE) must not run inside the
    // actor's own transition.
    const logic = jambonzConferenceMachine.provide({
      actions: {
        admit: (_, p) => {
          if (p.starts) this.started.set(name, Date.now());
          queueMicrotask(() => this.parties.get(p.callSid)?.admitted(p.starts));
        },
        refuse: (_, p) =>
          queueMicrotask(() => {
            const party = this.parties.get(p.callSid);
            this.parties.delete(p.callSid);
            party?.refused(p.reason);
          }),
        endFor: (_, p) => {
          this.log.info({ conference: name, by: p.by, removed: p.callSids.length }, 'conference ended');
          this.started.delete(name);
          const ended = p.callSids.map((sid) => this.parties.get(sid));
          for (const sid of p.callSids) this.parties.delete(sid);
          queueMicrotask(() => {
            for (const party of ended) party?.ended();
          });
        },
      },
    });
    c = createActor(logic, { id: `jambonz-conference:${name}` }).start();
    this.confs.set(name, c);
    return c;
  }

  private tidy(name: string): void {
    const c = this.confs.get(name);
    if (c && c.getSnapshot().matches('idle')) {
      c.stop();
      this.confs.delete(name);
      this.started.delete(name);
    }
  }
}
