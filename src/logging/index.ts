// Logs people can read: pretty or JSON CLI logs, per-call summary lines, SIP traces, HEP export.
export { createCliLogger, defaultLogFormat, LOG_FORMATS, type LogFormat, type CliLoggerOptions } from './format.js';
export { sipTraceLogger, combineTraceHooks, sipCallId, traceLine, type SipTraceLine } from './sip-trace.js';
export { HepExporter, parseHepTarget, type HepExporterOptions, type HepExporterStats } from './hep-exporter.js';
export { encodeHep3, decodeHep3, HEP_CHUNK, type HepMessage, type HepDecodeResult } from './hep.js';
export { callEndLine, logCallOffered, logCallAnswered, logCallEnded, type CallEndLine } from './call-log.js';
export type { SipTraceHook, SipTraceRecord } from '../sip/transport/udp.js';
