// The jambonz application protocol: hook routes (`ws.jambonz.org`, call control) and audio routes
// (`audio.jambonz.org`, listen/stream audio). jambonz's feature-server dials out to the application;
// callchart is that application's server. `engine.jambonz.hook(path, handler)` and
// `engine.jambonz.audio(path, handler)` register routes on the engine's WebSocket port.
//
// This module only re-exports; the modules of this folder import from each other, never from here.
//   protocol.ts / verbs.ts     hook messages, command schemas and checkCommand; typed verbs
//   hook-types.ts              the hook route's public types (options, JambonzSession, events)
//   call-status.ts             call:status → the call machine's event
//   hook-wire.ts               a hook socket: JSON in and out, rate gate, liveness probe
//   hook-session.ts            one session: the app API over the jambonzSession actor, the CallWire
//   hook-route.ts              createHookRoute: the session registry, session:new / reconnect
//   audio-protocol.ts          audio metadata, frames and commands
//   audio-types.ts             the audio route's public types (options, JambonzAudioStream)
//   audio-stream.ts            one stream: frames, WAV recording, app commands over its actor
//   audio-route.ts             createAudioRoute: the socket's life up to the metadata, the registry
//   service.ts                 JambonzService (`engine.jambonz`)
export * from './protocol.js';
export * from './verbs.js';
export type { JambonzContext, JambonzRoute } from './context.js';
export { JambonzService, type JambonzServiceOptions } from './service.js';
export type { JambonzHookHandler, JambonzHookOptions, JambonzSession } from './hook-types.js';
export type { JambonzAudioHandler, JambonzAudioOptions, JambonzAudioStream } from './audio-types.js';
