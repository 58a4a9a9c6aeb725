// Shared counter rooms: every client of /rooms/<id> sends `increment` or `decrement` and all of
// that room's clients receive `new value: N`.
//   npx tsx examples/rooms-counter.ts           serve on ws://127.0.0.1:4150/rooms/<id>
//   npx tsx examples/rooms-counter.ts --demo    serve, run three clients in two rooms, exit
// Try it by hand:  npx wscat -c ws://127.0.0.1:4150/rooms/kitchen   then type `increment`.
import { WebSocket } from 'ws';
import { HttpServer } from '../src/http/server.js';
import { Supervisor } from '../src/actors/supervisor.js';
import { createLogger } from '../src/logger.js';
import { createRoomsRoutes, counterService } from '../src/rooms/index.js';

const demo = process.argv.includes('--demo');
const logger = createLogger(demo ? 'warn' : 'info');
const supervisor = new Supervisor({ logger });
const rooms = createRoomsRoutes({ supervisor, logger, service: counterService, shutdown: { policy: 'after', seconds: 30 } });
const server = new HttpServer({ host: '127.0.0.1', port: demo ? 0 : Number(process.env.PORT ?? 4150), logger });
server.addWsRoute(rooms.wsRoute);
for (const r of rooms.httpRoutes) server.addHttpRoute(r);
await server.listen();

async function shutdown(): Promise<void> {
  await rooms.close();
  await server.close();
  supervisor.stopAll();
}

if (!demo) {
  logger.info({ url: `ws://127.0.0.1:${server.port}/rooms/<roomId>`, list: `http://127.0.0.1:${server.port}/rooms` }, 'counter rooms ready');
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void shutdown());
} else {
  const join = (room: string, name: string) =>
    new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/rooms/${room}`);
      ws.on('message', (m) => process.stdout.write(`${name} (${room}) <- ${m.toString()}\n`));
      ws.once('open', () => resolve(ws));
    });
  const alice = await join('kitchen', 'alice');
  const bob = await join('kitchen', 'bob');
  const carol = await join('garage', 'carol');
  const settle = () => new Promise((r) => setTimeout(r, 100));
  alice.send('increment');
  await settle();
  bob.send('increment');
  await settle();
  carol.send('decrement');
  await settle();
  const list = await (await fetch(`http://127.0.0.1:${server.port}/rooms`)).text();
  process.stdout.write(`GET /rooms -> ${list}\n`);
  for (const ws of [alice, bob, carol]) ws.close();
  await shutdown();
}
