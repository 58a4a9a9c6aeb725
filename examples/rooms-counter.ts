// Shared counter rooms: every client of /rooms/<id> sends `increment` or `decrement` and all of
// that room's clients receive `new value: N`.
//   npx tsx examples/rooms-counter.ts           serve on ws://127.0.0.1:4143/rooms/<id>
//   npx tsx examples/rooms-counter.ts --demo    serve on an ephemeral port, run three clients in two rooms, exit
// Try it by hand:  npx wscat -c ws://127.0.0.1:4143/rooms/kitchen   then type `increment`.
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_WS_PORT (default 4143, 0 = ephemeral).
import { WebSocket } from 'ws';
import { createEngine, createLogger, counterService } from 'callchart';

const demo = process.argv.includes('--demo');
const host = process.env.CALLCHART_HOST ?? '127.0.0.1';
const logger = createLogger(demo ? 'warn' : 'info');
const engine = createEngine({
  host,
  // --demo talks to itself, so it takes an ephemeral port rather than clash with a running server.
  wsPort: demo ? 0 : Number(process.env.CALLCHART_WS_PORT ?? process.env.PORT ?? 4143),
  logger,
  // A room's actor stops 30 s after its last client leaves.
  rooms: { service: counterService, shutdown: { policy: 'after', seconds: 30 } },
});
await engine.listen();
const shutdown = () => engine.close();

if (!demo) {
  logger.info({ url: `ws://${host}:${engine.wsPort}/rooms/<roomId>`, list: `http://${host}:${engine.wsPort}/rooms` }, 'counter rooms ready');
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void shutdown());
} else {
  const join = (room: string, name: string) =>
    new Promise<WebSocket>((resolve) => {
      const ws = new WebSocket(`ws://${host}:${engine.wsPort}/rooms/${room}`);
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
  const list = await (await fetch(`http://${host}:${engine.wsPort}/rooms`)).text();
  process.stdout.write(`GET /rooms -> ${list}\n`);
  for (const ws of [alice, bob, carol]) ws.close();
  await shutdown();
}
