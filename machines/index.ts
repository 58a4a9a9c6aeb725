// Every statechart of the engine, pure and provider-free: import them to inspect, test or reuse.
export * from './call.machine.js';
export * from './sipTimers.js';
export * from './sipInviteClientTransaction.machine.js';
export * from './sipInviteServerTransaction.machine.js';
export * from './sipNonInviteClientTransaction.machine.js';
export * from './sipNonInviteServerTransaction.machine.js';
export * from './sipDialog.machine.js';
export * from './sipInviteSession.machine.js';
export * from './room.machine.js';
export * from './playbackSession.machine.js';
export * from './playback.machine.js';
export * from './recording.machine.js';
export * from './jambonzSession.machine.js';
export * from './audioStream.machine.js';
export * from './drain.machine.js';
export * from './clusterMember.machine.js';
