// A MoosicBox-style playback client against callchart's /playback endpoint.
//   npx tsx examples/playback-client.ts                        starts an in-process server, runs, exits
//   npx tsx examples/playback-client.ts ws://host:port/playback  talks to a running server
import { WebSocket } from 'ws';
import { HttpServer } from '../src/http/server.js';
import { Supervisor } from '../src/actors/supervisor.js';
import { createLogger } from '../src/logger.js';
import { createPlaybackRoutes } from '../src/playback/index.js';

let url = process.argv[2];
let stop: () => Promise<void> = async () => {};
if (!url) {
  const logger = createLogger('warn');
  const supervisor = new Supervisor({ logger });
  const playback = createPlaybackRoutes({ supervisor, logger });
  const server = new HttpServer({ host: '127.0.0.1', port: 0, logger });
  server.addWsRoute(playback.wsRoute);
  await server.listen();
  url = `ws://127.0.0.1:${server.port}/playback`;
  stop = async () => {
    await playback.close();
    await server.close();
    supervisor.stopAll();
  };
}

const open = (name: string) =>
  new Promise<WebSocket>((resolve) => {
    const ws = new WebSocket(url!);
    ws.on('message', (m) => process.stdout.write(`${name} <- ${m.toString()}\n`));
    ws.once('open', () => resolve(ws));
  });

const controller = await open('controller');
const player = await open('player');
const send = (ws: WebSocket, msg: unknown) => ws.send(JSON.stringify(msg));
const settle = () => new Promise((r) => setTimeout(r, 100));
const target = { type: 'AUDIO_ZONE', audioZoneId: 1 };

send(player, { type: 'GET_CONNECTION_ID' });
await settle();
send(controller, { type: 'CREATE_AUDIO_ZONE', payload: { name: 'Living room' } });
await settle();
send(controller, { type: 'CREATE_SESSION', payload: { name: 'Evening', audioZoneId: 1, playlist: { tracks: [101, 102] } } });
await settle();
send(controller, { type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: target, play: true, volume: 0.6 } });
await settle();
send(controller, { type: 'SET_SEEK', payload: { sessionId: 1, profile: 'master', playbackTarget: target, seek: 30 } });
await settle();
send(controller, { type: 'UPDATE_SESSION', payload: { sessionId: 1, profile: 'master', playbackTarget: target, volume: 4 } });
await settle();
controller.close();
player.close();
await settle();
await stop();
