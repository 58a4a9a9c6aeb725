// The CLI's logger: JSON lines for machines (log shippers), or pino-pretty's one-line-per-event
// text for people. Pretty is the default on a terminal, JSON everywhere else (pipes, files,
// containers), so `callchart serve | jq` and a log shipper keep getting JSON.
import { pino, type Logger } from 'pino';
import { PinoPretty } from 'pino-pretty';
import type { LogLevel } from '../logger.js';

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];

export function defaultLogFormat(stdoutIsTty: boolean = process.stdout.isTTY === true): LogFormat {
  return stdoutIsTty ? 'pretty' : 'json';
}

export interface CliLoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go (default stdout). */
  destination?: NodeJS.WritableStream;
  /** Colours in pretty mode (default: when the destination is stdout and a terminal). */
  colorize?: boolean;
}

/** A SIP message (the `sip` field of --sip-trace lines) printed as it is on the wire, indented. */
function prettySip(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return `\n${text.replace(/\r?\n$/, '').split(/\r?\n/).map((l) => `      ${l}`).join('\n')}`;
}

export function createCliLogger(o: CliLoggerOptions): Logger {
  const options = { name: 'callchart', level: o.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (o.format === 'json') return pino(options, o.destination ?? pino.destination({ fd: 1, sync: false }));
  // In-process prettifying (not a transport thread): lines come out in order with the process's
  // own output, and nothing extra is loaded into workers.
  const pretty = PinoPretty({
    colorize: o.colorize ?? (o.destination === undefined && process.stdout.isTTY === true),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'name',
    singleLine: false,
    customPrettifiers: { sip: prettySip },
    ...(o.destination ? { destination: o.destination } : {}),
  });
  return pino(options, pretty);
}
