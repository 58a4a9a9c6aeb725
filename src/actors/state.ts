// How a state value reads in logs, spans, the call handle and the viewer.

/**
 * A state value as a path: `ringing`, `active.held`; parallel regions in parentheses,
 * `active.(phase.trying,retransmit.pending)`. The one formatter for logs, spans and handles.
 */
export function stateToString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (!value || typeof value !== 'object') return 'unknown';
  return intern(pathOf(value));
}

// A path a live actor keeps (a call's last announced state) comes from this table: one string per
// path for the process instead of one per actor (~32 B each). Bounded; past it, paths are not shared.
const interned = new Map<string, string>();
const MAX_INTERNED = 1024;

function intern(path: string): string {
  const known = interned.get(path);
  if (known !== undefined) return known;
  if (interned.size < MAX_INTERNED) interned.set(path, path);
  return path;
}

function pathOf(value: object): string {
  // join, not `+`: a flat string (~32 B) instead of a rope of three (~90 B), for a path a live call keeps.
  const parts = Object.entries(value).map(([k, v]) => (v === undefined || (typeof v === 'object' && v && !Object.keys(v).length) ? k : [k, stateToString(v)].join('.')));
  return parts.length === 1 ? parts[0]! : `(${parts.join(',')})`;
}
