// One playback session (a MoosicBox-style "session"): what is queued, where it is, where it plays.
// The wire adapter turns UPDATE_SESSION patches into SESSION.UPDATE events and reads everything it
// broadcasts back from this actor's snapshot, so the rules for play/pause/stop live here only.
import { assign, setup } from 'xstate';

/**
 * Where a session's audio goes. The first two are MoosicBox's own targets; a call leg or a room is
 * where the media plane will later bind playback into a call (kept as plain typed values here).
 */
export type PlaybackTarget =
  | { type: 'AUDIO_ZONE'; audioZoneId: number }
  | { type: 'CONNECTION_OUTPUT'; connectionId: string; outputId: string }
  | { type: 'CALL_LEG'; callId: string }
  | { type: 'ROOM'; roomId: string };

/** A track as clients describe it; kept opaque apart from the id the engine may look at. */
export type PlaylistTrack = { readonly trackId?: number | string } & Readonly<Record<string, unknown>>;

export interface SessionPlaylist {
  sessionPlaylistId: number;
  tracks: PlaylistTrack[];
}

export interface PlaybackQuality {
  format: string;
}

export interface PlaybackSessionInput {
  sessionId: number;
  name: string;
  target?: PlaybackTarget | null;
  playlist?: SessionPlaylist;
}

export interface PlaybackSessionContext {
  sessionId: number;
  name: string;
  active: boolean;
  /** Index into the playlist of the current track. */
  position: number | null;
  /** Seconds into the current track. */
  seek: number | null;
  /** 0..1 */
  volume: number | null;
  target: PlaybackTarget | null;
  profile: string | null;
  quality: PlaybackQuality | null;
  playlist: SessionPlaylist;
}

/** A partial update, already validated at the wire edge (MoosicBox's UpdateSession). */
export interface SessionPatch {
  profile?: string;
  target?: PlaybackTarget;
  play?: boolean;
  stop?: boolean;
  name?: string;
  active?: boolean;
  playing?: boolean;
  position?: number;
  seek?: number;
  volume?: number;
  playlist?: SessionPlaylist;
  quality?: PlaybackQuality;
}

export type PlaybackSessionEvent =
  | { type: 'SESSION.UPDATE'; patch: SessionPatch }
  | { type: 'SESSION.DELETE' }
  // After restoring a persisted snapshot: delayed transitions are not restored with it
  // (statelyai/xstate#5331), so timed states are re-entered to arm their timers again.
  | { type: 'SESSION.RESTORED' };

export interface PlaybackSessionDelays {
  /** How long a session may stay paused before it is stopped and rewound. */
  pauseTimeout: number;
}

export const defaultPlaybackSessionDelays: PlaybackSessionDelays = {
  pauseTimeout: 30 * 60 * 1000,
};

const clamp01 = (v: number) => Math.min(1, Math.max(0, v));

export const playbackSessionMachine = setup({
  types: {
    context: {} as PlaybackSessionContext,
    events: {} as PlaybackSessionEvent,
    input: {} as PlaybackSessionInput,
    output: {} as { sessionId: number },
  },
  actions: {
    /** The paused session timed out and was stopped (adapter tells clients). */
    notifyAutoStopped: () => {},
    applyPatch: assign(({ context, event }) => {
      if (event.type !== 'SESSION.UPDATE') return {};
      const p = event.patch;
      return {
        name: p.name ?? context.name,
        active: p.active ?? context.active,
        position: p.position ?? context.position,
        seek: p.seek !== undefined ? Math.max(0, p.seek) : context.seek,
        volume: p.volume !== undefined ? clamp01(p.volume) : context.volume,
        target: p.target ?? context.target,
        profile: p.profile ?? context.profile,
        quality: p.quality ?? context.quality,
        playlist: p.playlist ?? context.playlist,
      };
    }),
    rewind: assign({ seek: 0 }),
  },
  guards: {
    wantsStop: ({ event }) => event.type === 'SESSION.UPDATE' && event.patch.stop === true,
    wantsPlay: ({ event }) =>
      event.type === 'SESSION.UPDATE' && (event.patch.play === true || event.patch.playing === true),
    wantsPause: ({ event }) =>
      event.type === 'SESSION.UPDATE' && (event.patch.playing === false || event.patch.play === false),
  },
  delays: {
    pauseTimeout: defaultPlaybackSessionDelays.pauseTimeout,
  },
}).createMachine({
  id: 'playbackSession',
  context: ({ input }) => ({
    sessionId: input.sessionId,
    name: input.name,
    active: false,
    position: null,
    seek: null,
    volume: null,
    target: input.target ?? null,
    profile: null,
    quality: null,
    playlist: input.playlist ?? { sessionPlaylistId: input.sessionId, tracks: [] },
  }),
  initial: 'stopped',
  output: ({ context }) => ({ sessionId: context.sessionId }),
  on: {
    'SESSION.DELETE': '.deleted',
  },
  states: {
    stopped: {
      on: {
        'SESSION.UPDATE': [
          // stop wins over play in the same patch
          { guard: 'wantsStop', actions: ['applyPatch', 'rewind'] },
          { guard: 'wantsPlay', target: 'playing', actions: 'applyPatch' },
          { actions: 'applyPatch' },
        ],
      },
    },
    playing: {
      on: {
        'SESSION.UPDATE': [
          { guard: 'wantsStop', target: 'stopped', actions: ['applyPatch', 'rewind'] },
          { guard: 'wantsPause', target: 'paused', actions: 'applyPatch' },
          { actions: 'applyPatch' },
        ],
      },
    },
    paused: {
      after: {
        pauseTimeout: { target: 'stopped', actions: ['rewind', 'notifyAutoStopped'] },
      },
      on: {
        'SESSION.UPDATE': [
          { guard: 'wantsStop', target: 'stopped', actions: ['applyPatch', 'rewind'] },
          { guard: 'wantsPlay', target: 'playing', actions: 'applyPatch' },
          { actions: 'applyPatch' },
        ],
        'SESSION.RESTORED': { target: 'paused', reenter: true },
      },
    },
    deleted: { type: 'final' },
  },
});

export type PlaybackSessionMachine = typeof playbackSessionMachine;
