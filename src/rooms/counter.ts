// The demo room service: a counter shared by everyone in the room. It saves its value with each
// change, so in a cluster the room comes back with it after its node dies.
import type { RoomContext, RoomService, RoomServiceFactory } from './types.js';

export const counterService: RoomServiceFactory = () => {
  let value = 0;
  let room: RoomContext | undefined;
  const service: RoomService = {
    created(_roomId, ctx, saved) {
      room = ctx;
      const n = saved === undefined ? NaN : Number(saved);
      if (Number.isSafeInteger(n)) value = n;
    },
    message(_client, text) {
      const cmd = text.trim();
      if (cmd === 'increment') value += 1;
      else if (cmd === 'decrement') value -= 1;
      else return;
      room?.save(String(value));
      room?.broadcast(`new value: ${value}`);
    },
  };
  return service;
};
