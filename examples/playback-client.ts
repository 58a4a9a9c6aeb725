// A MoosicBox-style playback client against callchart's /playback endpoint.
//   npx tsx examples/playback-client.ts                                 starts an in-process server, runs, exits
//   npx tsx examples/playback-client.ts ws://127.0.0.1:4143/playback    talks to a running server (npm start)
// The in-process server takes an ephemeral port (0) so that it never clashes with a running
// `npm start` on 4143; CALLCHART_HOST (default 127.0.0.1) is where it binds.
import { WebSocket } from 'ws';
import { createEngine, createLogger } from 'callchart';

let url = process.argv[2];
let stop: () => Promise<void> = async () => {};
if (!url) {
  const host = process.env.CALLCHART_HOST ?? '127.0.0.1';
  // `playback: {}` = sessions in memory; `createFileStore({ dir })` persists them as the CLI does.
  const engine = await createEngine({ host, wsPort: 0, playback: {}, logger: createLogger('warn') }).listen();
  url = `ws://${host}:${engine.wsPort}/playback`;
  stop = () => engine.close();
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
