// A conference line: every inbound SIP call is answered and put into room "conf", where each
// caller hears everyone else (never themselves). Join/leave beeps, talker events in the log, and
// the rooms WebSocket API on the same engine lists and mutes the callers:
//   npx tsx examples/conference.ts
//   baresip: /dial sip:conf@127.0.0.1:5060   (two or three of them)
//   npx wscat -c ws://127.0.0.1:4143/rooms/conf   then send {"type":"room.members"}
// Env: CALLCHART_HOST (default 127.0.0.1), CALLCHART_SIP_PORT (default 5060), CALLCHART_WS_PORT
// (default 4143; 0 = ephemeral), CALLCHART_RTP_PORTS (default 20000-29999), CALLCHART_CONF_RECORD
// (a WAV path: record the room mix while the room lives).
// Clustered (CALLCHART_CLUSTER=redis://host:port, CALLCHART_NODE_ID): run it on several nodes and
// every caller, whichever node took the call, meets the others in the one room "conf" on the node
// holding its lease (`engine.joinRoom`, docs/scaling.md).
import { createEngine, createLogger } from 'callchart';

const clusterUrl = process.env.CALLCHART_CLUSTER;
const engine = createEngine({
  host: process.env.CALLCHART_HOST ?? '127.0.0.1',
  sipPort: Number(process.env.CALLCHART_SIP_PORT ?? 5060),
  wsPort: Number(process.env.CALLCHART_WS_PORT ?? 4143),
  rtpPorts: process.env.CALLCHART_RTP_PORTS ?? '20000-29999',
  logger: createLogger('info'),
  inboundCall: false,
  // No room service: the room only carries calls and the control messages (room.members, room.mute…).
  rooms: { shutdown: { policy: 'never' } },
  ...(clusterUrl ? { cluster: { redis: clusterUrl, advertiseHost: '127.0.0.1', ...(process.env.CALLCHART_NODE_ID ? { nodeId: process.env.CALLCHART_NODE_ID } : {}) } } : {}),
  onIncomingCall: (call) => {
    call.answer();
    if (clusterUrl) {
      // The room lives on one node; a call elsewhere is relayed to it.
      engine
        .joinRoom('conf', call)
        .then((j) => {
          engine.logger.info({ callId: call.id, node: j.node }, 'example: joined');
          return j.left.then(() => engine.logger.info({ callId: call.id, node: j.node }, 'example: left'));
        })
        .catch((err: Error) => engine.logger.warn({ callId: call.id, err: err.message }, 'example: could not join'));
    } else {
      engine
        .room('conf')
        .join(call)
        .catch((err: Error) => engine.logger.warn({ callId: call.id, err: err.message }, 'example: could not join'));
    }
    return { action: 'defer' }; // answered above; join() waits for the answer to complete
  },
});

if (!clusterUrl) {
  const room = engine.room('conf');
  room.on('joined', (m) => engine.logger.info({ member: m.id, callId: m.callId, kind: m.kind }, 'example: joined'));
  room.on('left', (m, reason) => engine.logger.info({ member: m.id, callId: m.callId, reason }, 'example: left'));
  room.on('talking', (m, talking) => engine.logger.info({ member: m.id, talking }, 'example: talking'));
  if (process.env.CALLCHART_CONF_RECORD) room.record(process.env.CALLCHART_CONF_RECORD);
}

await engine.listen();
engine.logger.info({ sipPort: engine.sipPort, wsPort: engine.wsPort, node: engine.cluster?.nodeId }, 'example ready');
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void engine.close());
