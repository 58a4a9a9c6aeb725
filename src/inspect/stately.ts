// The optional bridge to Stately's hosted inspector. @statelyai/inspect's `createInspector` turns
// xstate inspection events into the format the Stately app reads; they are kept (the last 200,
// as Stately's own relay does) and streamed over Server-Sent Events to the bridge page at
// /inspect/stately, served by the viewer's server with its bind address, token and Host checks.
// The page frames the Stately app from stately.ai and posts each event to that frame, addressed
// to the frame's origin only (Stately's own relay page posts to '*').
//
// Where the data goes: process → this server → the browser tab → the stately.ai frame in it. The
// page needs internet, and the browser loads the app from stately.ai.
import type { ServerResponse } from 'node:http';
import type { InspectionEvent } from 'xstate';
import { createInspector } from '@statelyai/inspect';
import { toJsonSafe, CONTEXT_LIMITS } from './summary.js';

const REPLAY = 200;
/** A browser that falls this far behind is dropped rather than buffered without bound. */
const MAX_BUFFERED = 8 * 1024 * 1024;

export class StatelyBridge {
  private readonly replay: string[] = [];
  private readonly clients = new Set<ServerResponse>();
  private readonly inspector = createInspector({
    send: (ev) => this.push(ev),
  });

  constructor(readonly appUrl: string) {}

  get clientCount(): number {
    return this.clients.size;
  }

  get origin(): string {
    return new URL(this.appUrl).origin;
  }

  inspect(ev: InspectionEvent): void {
    this.inspector.inspect.next?.(ev);
  }

  /** A browser's event stream: the replay first, then live events. */
  attach(res: ServerResponse): void {
    this.clients.add(res);
    res.on('close', () => this.clients.delete(res));
    for (const line of this.replay) res.write(line);
  }

  close(): void {
    for (const res of this.clients) res.end();
    this.clients.clear();
    this.inspector.stop();
  }

  private push(ev: unknown): void {
    // Snapshots of `@xstate.actor` events and event payloads arrive unserialised (Buffers,
    // actor refs): the same bounded copy as the viewer's makes them JSON.
    const line = `data: ${JSON.stringify(toJsonSafe(ev, CONTEXT_LIMITS))}\n\n`;
    this.replay.push(line);
    if (this.replay.length > REPLAY) this.replay.shift();
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED) res.destroy();
      else res.write(line);
    }
  }
}

export function statelyPage(appUrl: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  const origin = new URL(appUrl).origin;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>callchart · Stately inspector</title>
<link rel="stylesheet" href="/inspect/viewer.css">
</head>
<body class="stately">
<header><a href="/inspect">← callchart viewer</a> · This page loads the Stately inspector from <b>${esc(origin)}</b>: it needs internet, your browser talks to that site, and the watched actors' events and contexts (caller numbers included) are handed to that frame.</header>
<iframe id="stately" src="${esc(appUrl)}" data-origin="${esc(origin)}" title="Stately inspector"></iframe>
<script src="/inspect/stately.js"></script>
</body>
</html>
`;
}
