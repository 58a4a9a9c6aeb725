// How a request carries its route set (RFC 3261 §12.2.1.1; the same for a preloaded one, §8.1.2):
// with loose routing (`lr` on the first hop) the Request-URI stays the target and Route is the set;
// a strict router (RFC 2543) takes the Request-URI itself, and the target goes last in Route.
import { parseNameAddr } from '../codec/headers.js';
import { formatUri, type Uri } from '../codec/uri.js';

/**
 * The Request-URI and Route values of a request for `target` through `routeSet`, whose first
 * value's URI is `firstHop` (parsed from it unless the caller has it already). A strict
 * router's URI loses what a Request-URI may not hold (§19.1.1: the `method` parameter and headers).
 */
export function routedRequest(
  target: Uri,
  routeSet: readonly string[],
  firstHop: Uri | undefined = routeSet.length ? parseNameAddr(routeSet[0]!)?.uri : undefined,
): { requestUri: Uri; routes: readonly string[] } {
  if (firstHop?.kind !== 'sip' || firstHop.params.has('lr')) return { requestUri: target, routes: routeSet };
  const params = new Map([...firstHop.params].filter(([k]) => k !== 'method'));
  return { requestUri: { ...firstHop, params, headers: new Map() }, routes: [...routeSet.slice(1), `<${formatUri(target)}>`] };
}
