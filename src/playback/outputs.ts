// What a call and a room are to a playback player (players.ts): somewhere a playback stream can
// be opened, and something that goes away. A call plays through `call.play()` (so an app prompt
// and the player take turns, one stream at a time); a room gets one extra member leg in its mix,
// fed by the engine's playback runtime.
import type { Call } from '../call/call.js';
import type { Room } from '../rooms/room.js';
import type { MediaServices } from '../media/call-media.js';
import { memoryLegPair } from '../media/leg.js';
import type { PlaybackPlayerOutput } from './players.js';

export function callPlayerOutput(call: Call): PlaybackPlayerOutput {
  if (call.isEnded) throw new Error(`call ${call.id} has ended: it cannot be a player`);
  if (!call.media) throw new Error(`call ${call.id} (${call.transport}) has no media leg: it cannot be a player`);
  return {
    kind: 'call',
    id: call.id,
    open: () => call.play([], { keepOpen: true }),
    onGone(cb) {
      call.once('ended', cb);
      return () => void call.off('ended', cb);
    },
  };
}

export function roomPlayerOutput(room: Room, media: MediaServices): PlaybackPlayerOutput {
  const [inMix, feed] = memoryLegPair(`player:room:${room.id}`, `player-feed:room:${room.id}`);
  room.joinLeg(inMix, { callId: `player:${room.id}` });
  let seq = 0;
  return {
    kind: 'room',
    id: room.id,
    open: () => media.playback.start(feed, { id: `play-room-${room.id}-player-${++seq}`, group: `room:${room.id}`, bindings: { roomId: room.id } }),
    onGone(cb) {
      const off = inMix.onClose(cb);
      room.once('ended', cb);
      return () => {
        off();
        room.off('ended', cb);
      };
    },
    release: () => void inMix.close(),
  };
}
