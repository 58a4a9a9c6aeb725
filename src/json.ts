// The first check every JSON wire protocol makes on a text frame: is it JSON, and an object?
// One wording for every protocol, so clients and logs see the same reasons.
export type JsonObjectResult = { ok: true; value: Record<string, unknown> } | { ok: false; reason: string };

/** Parse `text` as a JSON object; `what` names it in the reason (`metadata is not valid JSON`). */
export function parseJsonObject(text: string, what = 'message'): JsonObjectResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, reason: `${what} is not valid JSON` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: `${what} must be a JSON object` };
  return { ok: true, value: raw as Record<string, unknown> };
}
