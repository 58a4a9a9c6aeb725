export { createRoomsRoutes, ROOM_ID_PATTERN, type RoomsRoutes, type RoomsRoutesOptions } from './routes.js';
export { counterService } from './counter.js';
export { RoomRuntime } from './runtime.js';
export type * from './types.js';
export { Room, type RoomJoinLegOptions } from './room.js';
export { CONTROL_PREFIX, type RoomControlErrorCode } from './control.js';
