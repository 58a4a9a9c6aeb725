// The media plane in one module: codecs (bytes in, bytes out), the RTP endpoint (sockets), the
// legs that carry a call's audio, what mixes them, and the playback/recording actor runtimes.
export * from './codecs/rtp.js';
export * from './codecs/rtcp.js';
export * from './codecs/g711.js';
export * from './codecs/dtmf.js';
export * from './codecs/tones.js';
export * from './codecs/wav.js';
export * from './rtp/stats.js';
export * from './rtp/ports.js';
export * from './rtp/session.js';
export * from './rtp/latch.js';
export * from './pacer.js';
export * from './leg.js';
export * from './ws-leg.js';
export * from './jitter/jitter-buffer.js';
export * from './jitter/plc.js';
export * from './jitter/playout.js';
export * from './mixing/echo.js';
export * from './mixing/bridge.js';
export * from './mixing/mixer.js';
export * from './runtimes/playback.js';
export * from './runtimes/recording.js';
