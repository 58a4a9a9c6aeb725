// callchart as the jambonz feature-server (the other side of `ws.jambonz.org`): see docs/jambonz.md.
//   types.ts           public options (JambonzAppOptions, JambonzTtsProvider)
//   app-socket.ts      the client socket to the app: msgids, acks/commands in, reconnects
//   verbs.ts           how each verb runs on a call (answer, pause, play, say, gather, …)
//   session.ts         one call: the executor actor's wire, acks, commands, call:status
//   feature-server.ts  the registry of sessions; machines provided once
export type { JambonzAppOptions, JambonzTtsProvider, JambonzSttProvider, JambonzSttOptions, JambonzSttEvents, JambonzSttSession } from './types.js';
export { JambonzFeatureServer, JAMBONZ_ACK_TIMEOUT_MS } from './feature-server.js';
export { SUPPORTED_VERBS as JAMBONZ_FS_VERBS } from './verbs.js';
export { commandTts, type CommandTtsOptions } from './tts-command.js';
