// How a state value reads in logs, spans, the call handle and the viewer.

/**
 * A state value as a path: `ringing`, `active.held`; parallel regions in parentheses,
 * `active.(phase.trying,retransmit.pending)`. The one formatter for logs, spans and handles.
 */
export function stateToString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return 'unknown';
  // join, not `+`: a flat string (~32 B) instead of a rope of three (~90 B), for a path a live call keeps.
  const parts = Object.entries(value).map(([k, v]) => (v === undefined || (typeof v === 'object' && v && !Object.keys(v).length) ? k : [k, stateToString(v)].join('.')));
  return parts.length === 1 ? parts[0]! : `(${parts.join(',')})`;
}
