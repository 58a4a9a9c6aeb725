// The demo room service: a counter shared by everyone in the room.
import type { RoomContext, RoomService, RoomServiceFactory } from './types.js';

export const counterService: RoomServiceFactory = () => {
  let value = 0;
  let room: RoomContext | undefined;
  const service: RoomService = {
    created(_roomId, ctx) {
      room = ctx;
    },
    message(_client, text) {
      const cmd = text.trim();
      if (cmd === 'increment') value += 1;
      else if (cmd === 'decrement') value -= 1;
      else return;
      room?.broadcast(`new value: ${value}`);
    },
  };
  return service;
};
