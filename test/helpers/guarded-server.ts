// A server child for test/integration/process-guard.test.ts: an engine whose routes fail later,
// outside any try/catch, the way a bug in a socket or timer callback does. GUARD=0 runs it without
// the process guard (Node's default: the first such error ends the process); GUARD_MAX sets the
// guard's crash budget.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createEngine, createLogger, installProcessGuard, type HttpRoute, type ProcessGuard, type WsRoute } from '../../src/index.js';

const later = (name: string, path: string, fail: () => void): HttpRoute => ({
  name,
  match: (method, url) => method === 'GET' && url.pathname === path,
  handle(_req: IncomingMessage, res: ServerResponse) {
    setTimeout(fail, 0);
    res.writeHead(202, { 'content-type': 'text/plain' }).end('scheduled\n');
  },
});

let guard: ProcessGuard | undefined;

// A route handler that throws asynchronously, from a timer.
const throwLater = later('throw-later', '/throw-later', () => {
  throw new Error('boom from a timer');
});
// A promise nobody awaits.
const rejectLater = later('reject-later', '/reject-later', () => {
  void Promise.reject(new Error('rejected and never handled'));
});
// What an allocation failure looks like when it reaches JavaScript.
const allocLater = later('alloc-later', '/alloc-later', () => {
  throw new RangeError('Array buffer allocation failed');
});
const metrics: HttpRoute = {
  name: 'guard-metrics',
  match: (method, url) => method === 'GET' && url.pathname === '/guard',
  handle(_req, res) {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(guard?.metrics ?? null));
  },
};
// A WebSocket whose message handler throws: the exception leaves through the socket's data callback.
const explode: WsRoute = {
  name: 'explode',
  match: (url) => (url.pathname === '/explode' ? {} : null),
  onConnection(ws) {
    ws.on('message', (data) => {
      throw new Error(`socket callback failed on ${data.toString().slice(0, 20)}`);
    });
  },
};

const engine = createEngine({
  host: '127.0.0.1',
  wsPort: 0,
  sipPort: false,
  logger: createLogger('info'),
  inboundCall: false,
  routes: { http: [throwLater, rejectLater, allocLater, metrics], ws: [explode] },
});
await engine.listen();
if (process.env.GUARD !== '0') {
  guard = installProcessGuard(engine, { maxExceptions: Number(process.env.GUARD_MAX ?? 10) });
}
const stop = () => void engine.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
