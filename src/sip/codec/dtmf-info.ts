// The body of a DTMF INFO request: application/dtmf-relay (`Signal=5`) or application/dtmf.
import { DTMF_DIGIT } from '../../media/codecs/dtmf.js';

/** Parse `Signal=5` (application/dtmf-relay) or a bare digit (application/dtmf). */
export function parseDtmfInfo(contentType: string, body: string): { digit: string; durationMs?: number } | undefined {
  const ct = contentType.split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/dtmf-relay') {
    const signal = /^\s*signal\s*=\s*(\S+)\s*$/im.exec(body)?.[1];
    const duration = /^\s*duration\s*=\s*(\d+)\s*$/im.exec(body)?.[1];
    if (!signal) return undefined;
    const map: Record<string, string> = { '10': '*', '11': '#', '12': 'A', '13': 'B', '14': 'C', '15': 'D' };
    const digit = (map[signal] ?? signal).toUpperCase();
    if (!DTMF_DIGIT.test(digit)) return undefined;
    return { digit, durationMs: duration ? Number(duration) : undefined };
  }
  if (ct === 'application/dtmf') {
    const digit = body.trim().toUpperCase();
    return DTMF_DIGIT.test(digit) ? { digit } : undefined;
  }
  return undefined;
}

export const DTMF_RELAY = 'application/dtmf-relay';

/** The application/dtmf-relay body this UA sends for one digit. */
export function formatDtmfInfo(digit: string, durationMs = 160): string {
  return `Signal=${digit}\r\nDuration=${durationMs}\r\n`;
}
