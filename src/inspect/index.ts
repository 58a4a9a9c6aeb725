// Inspection of live actors: callchart's own statechart viewer (a page at /inspect served by a
// small HTTP server of its own, 127.0.0.1:8080 by default) and, as an option, a bridge to
// Stately's hosted inspector. This module is light on purpose: the server is imported only when
// inspection is turned on, so an engine without it pays nothing.
import type { AnyActorLogic } from 'xstate';
import type { Logger } from 'pino';
import type { ActorWatch } from './registry.js';

export type { ActorWatch } from './registry.js';

export interface InspectOptions {
  /** Port of the viewer's HTTP server (default 8080; 0 = an ephemeral port, see `engine.inspectUrl`). */
  port?: number;
  /**
   * Address the viewer binds (default 127.0.0.1). Any address other than loopback needs a
   * `token`: the page shows call contexts, caller and callee numbers included.
   */
  host?: string;
  /**
   * Access token (16+ characters). When set, every request needs it: open
   * `/inspect?token=…` once (it becomes an HttpOnly cookie) or send `Authorization: Bearer …`.
   */
  token?: string;
  /**
   * Which actors to watch. A string matches an actor id prefix (e.g. one call id) or a kind
   * (`call`, `room`, ...); a function decides per actor. Default: every actor. Unwatched actors
   * get no inspection observer at all.
   */
  filter?: string | ((kind: string, id: string) => boolean);
  /**
   * Also serve Stately's inspector at `/inspect/stately`. Its page loads the hosted app from
   * stately.ai (internet needed; the browser talks to stately.ai), and the watched actors'
   * events and contexts go from this process to that page, which hands them to the stately.ai
   * frame.
   */
  stately?: boolean;
  /** The Stately inspector app the bridge page frames (default https://stately.ai/inspect). */
  statelyUrl?: string;
  /** Events kept per actor (default 200). */
  eventsPerActor?: number;
  /** How long a stopped actor stays listed (default 120 s). */
  keepStoppedMs?: number;
  /** Stopped actors kept at most (default 500). */
  maxStopped?: number;
}

export interface InspectorHandle {
  /** Asked once per spawned actor: a watch for it, or undefined to leave it alone. */
  watch(kind: string, id: string, logic: AnyActorLogic): ActorWatch | undefined;
  /** The viewer page, e.g. http://127.0.0.1:8080/inspect. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export const DEFAULT_INSPECT_HOST = '127.0.0.1';
export const DEFAULT_INSPECT_PORT = 8080;
export const MIN_TOKEN_LENGTH = 16;

export function toInspectFilter(filter: InspectOptions['filter']): (kind: string, id: string) => boolean {
  if (filter === undefined || filter === '') return () => true;
  if (typeof filter === 'function') return filter;
  return (kind, id) => kind === filter || id.startsWith(filter);
}

/** 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || h === '::ffff:127.0.0.1';
}

/** Why these access settings are refused, or undefined when they are fine. */
export function inspectAccessProblem(host: string, token: string | undefined): string | undefined {
  if (token !== undefined && token.length < MIN_TOKEN_LENGTH) {
    return `the inspector token must be at least ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 16)`;
  }
  if (token === undefined && !isLoopbackHost(host)) {
    return `the inspector shows call data (caller numbers included): binding it to ${host} needs a token (--inspect-token or CALLCHART_INSPECT_TOKEN)`;
  }
  return undefined;
}

export async function startInspector(o: InspectOptions, logger: Logger): Promise<InspectorHandle> {
  const problem = inspectAccessProblem(o.host ?? DEFAULT_INSPECT_HOST, o.token);
  if (problem) throw new Error(problem);
  // Loaded lazily: the viewer's server (and the Stately bridge) cost nothing unless inspection is on.
  const { InspectorServer } = await import('./server.js');
  const server = new InspectorServer(o, logger);
  await server.listen();
  return server;
}
