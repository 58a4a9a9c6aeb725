// What every jambonz route shares, and what a route gives back to the service that registered it.
// Its own module so that the routes and the service import it from a sibling, never from index.ts.
import type { Logger } from 'pino';
import type { Supervisor } from '../actors/supervisor.js';
import type { CallManager } from '../call/manager.js';
import type { KeyedHome } from '../cluster/home.js';

/** What every jambonz route shares: the engine's actors, calls, logger and the app's state. */
export interface JambonzContext {
  supervisor: Supervisor;
  calls: CallManager;
  logger: Logger;
  /** Application state shared by every handler on every route (`engine.jambonz.locals`). */
  locals: Record<string, unknown>;
  /** Base directory for per-call WAV files written by audio routes (default: `<tmp>/callchart-recordings`). */
  recordingsDir: string;
  /**
   * Clustered engines: hook sessions are homed by call_sid (`lease:jambonz:<call_sid>`), and a
   * session:reconnect reaching another node is proxied to the session's owner.
   */
  home?: KeyedHome;
}

/** A route the service registered; closing it ends its sessions (engine shutdown). */
export interface JambonzRoute {
  readonly path: string;
  /** call_sids of the hook sessions live on this route (none for audio routes). */
  liveSessions?(): string[];
  close(): Promise<void>;
}
