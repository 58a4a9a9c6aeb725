// Public surface of the media plane, so callers import one module instead of nine.
export * from './rtp.js';
export * from './rtcp.js';
export * from './stats.js';
export * from './g711.js';
export * from './dtmf.js';
export * from './tones.js';
export * from './wav.js';
export * from './ports.js';
export * from './pacer.js';
export * from './rtp-session.js';
export * from './rtp-latch.js';
