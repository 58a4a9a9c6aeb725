// Stately inspector wiring. Only the LOCAL relay from @statelyai/inspect is used: inspection events
// go from this process to a WebSocket server on this box and from there to the browser tab that a
// developer opens; nothing is sent to the hosted Sky service, so call data stays on the machine.
import type { InspectionEvent, Observer } from 'xstate';
import type { Logger } from 'pino';

export interface InspectOptions {
  /** Port of the local relay (default 8080). Open http://localhost:PORT in a browser. */
  port?: number;
  /**
   * Which actors to watch. A string matches an actor id prefix (e.g. one call id) or a kind
   * (`call`, `room`, ...); a function decides per actor. Default: every actor.
   */
  filter?: string | ((kind: string, id: string) => boolean);
}

export interface InspectorHandle {
  inspect: Observer<InspectionEvent>;
  filter: (kind: string, id: string) => boolean;
  url: string;
  stop(): void;
}

export function toInspectFilter(filter: InspectOptions['filter']): (kind: string, id: string) => boolean {
  if (filter === undefined || filter === '') return () => true;
  if (typeof filter === 'function') return filter;
  return (kind, id) => kind === filter || id.startsWith(filter);
}

export async function startInspector(o: InspectOptions, logger: Logger): Promise<InspectorHandle> {
  const port = o.port ?? 8080;
  // Loaded lazily: the inspector's dependencies cost nothing unless --inspect is used.
  const [{ createInspectorServer }, { createWebSocketInspector }] = await Promise.all([
    import('@statelyai/inspect/server'),
    import('@statelyai/inspect'),
  ]);
  const server = createInspectorServer({ port, autoOpen: false });
  const inspector = createWebSocketInspector({ url: `ws://127.0.0.1:${port}` });
  const url = `http://localhost:${port}`;
  logger.info({ url }, 'Stately inspector relay running: open this URL in a browser');
  return {
    inspect: inspector.inspect,
    filter: toInspectFilter(o.filter),
    url,
    stop() {
      inspector.stop();
      server.stop();
    },
  };
}
