/**
 * `callchart/media`: the media plane's building blocks — G.711, RTP/RTCP, DTMF, tone and WAV codecs,
 * RTP sessions and the port allocator, the pacer, media legs, echo, bridge and mixer, and the
 * playback and recording runtimes. docs/media.md explains them.
 * @module callchart/media
 */
export * from '../../src/media/index.js';
