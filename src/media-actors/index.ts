// Media actors: what plays into, records, bridges, mixes and echoes call legs (see docs/media.md).
export * from './leg.js';
export * from './echo.js';
export * from './bridge.js';
export * from './mixer.js';
export * from './playback.js';
export * from './recording.js';
