// The clustered side of the jambonz hook route (src/jambonz/hook-route.ts) without Redis: two hook
// routes on two HTTP servers ("nodes") share a fake lease table standing in for the cluster's
// (src/cluster/home.ts; the Redis one is covered by test/interop/cluster-homes.test.ts). Checked:
// the node taking session:new claims the call_sid and releases it when the session ends; a
// session:reconnect on the other node is proxied (proxySocket) to the owner, with the frames sent
// while the lease was being looked up; a reconnect for a call_sid nobody holds is acked empty and
// the frames held meanwhile are still handled.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import type { RawData, WebSocket } from 'ws';
import { Supervisor } from '../../src/actors/supervisor.js';
import { CallManager } from '../../src/call/manager.js';
import { HttpServer } from '../../src/http/server.js';
import { JambonzService } from '../../src/jambonz/service.js';
import { proxySocket, type KeyedHome, type Location } from '../../src/cluster/home.js';
import { silentLogger } from '../../src/logger.js';
import type { JambonzSession } from '../../src/jambonz/index.js';
import { JambonzSim, newCallSid } from '../helpers/jambonz-sim.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The lease table two nodes share: call_sid → node id. */
type Leases = Map<string, string>;

function fakeHome(nodeId: string, leases: Leases, ports: Map<string, number>, events: string[]): KeyedHome {
  const log = silentLogger();
  return {
    kind: 'jambonz',
    nodeId,
    leaseKey: (id) => `jambonz:${id}`,
    place: () => Promise.reject(new Error('hook routes never place')),
    async claim(id) {
      if (!leases.has(id)) leases.set(id, nodeId);
      events.push(`${nodeId} claim ${id}`);
      return { node: leases.get(id)!, token: 1 };
    },
    async locate(id: string, _req: IncomingMessage): Promise<Location> {
      // A Redis round trip: frames arrive meanwhile and must be held.
      await sleep(30);
      const holder = leases.get(id);
      if (!holder) return { kind: 'none' };
      if (holder === nodeId) return { kind: 'here', token: 1 };
      return { kind: 'remote', node: holder, ws: `127.0.0.1:${ports.get(holder)}` };
    },
    proxy(client: WebSocket, req: IncomingMessage, target: string, pending: Array<[RawData, boolean]>) {
      events.push(`${nodeId} proxy to ${target}`);
      proxySocket({ client, req, target, pending, via: nodeId, kind: 'jambonz', log });
    },
    released(id) {
      if (leases.get(id) === nodeId) leases.delete(id);
      events.push(`${nodeId} release ${id}`);
    },
  };
}

async function cluster() {
  const leases: Leases = new Map();
  const ports = new Map<string, number>();
  const events: string[] = [];
  const sessions: JambonzSession[] = [];
  const nodes = await Promise.all(
    ['A', 'B'].map(async (id) => {
      const logger = silentLogger();
      const supervisor = new Supervisor({ logger });
      const calls = new CallManager({ supervisor, logger, ringTimeoutMs: 60_000, maxDurationMs: 3_600_000 });
      const http = new HttpServer({ host: '127.0.0.1', port: 0, logger });
      const jambonz = new JambonzService({ supervisor, calls, logger, http, recordingsDir: '/tmp', home: () => fakeHome(id, leases, ports, events) });
      jambonz.hook('/hook', (s) => {
        sessions.push(s);
        s.on('/next', (d) => s.reply([{ verb: 'say', text: `${id} heard ${d.digits ?? ''}` }]));
        s.reply([{ verb: 'gather', actionHook: '/next', input: ['digits'] }]);
      });
      await http.listen();
      ports.set(id, http.port);
      return {
        id,
        url: `ws://127.0.0.1:${http.port}/hook`,
        async close() {
          await jambonz.close();
          await http.close();
          supervisor.stopAll();
        },
      };
    }),
  );
  return { leases, events, sessions, a: nodes[0]!, b: nodes[1]!, close: () => Promise.all(nodes.map((n) => n.close())) };
}

test('a session:reconnect on the node that does not own the session is proxied to the owner, held frames included', async () => {
  const c = await cluster();
  try {
    const callSid = newCallSid();
    const first = await JambonzSim.connect(c.a.url);
    await first.ack(first.sessionNew(callSid));
    first.callStatus(callSid, 'in-progress');
    await sleep(20);
    assert.equal(c.leases.get(callSid), 'A', 'the node that took session:new holds the call_sid');
    first.drop();
    await first.waitClose();
    await sleep(50);

    const again = await JambonzSim.connect(c.b.url);
    const reconnect = again.reconnect(callSid);
    // Sent before B knows where the session lives: held, then passed on behind the reconnect.
    const digits = again.gatherDigits(callSid, '/next', '7');
    await again.ack(reconnect);
    assert.deepEqual((await again.ack(digits)).data, [{ verb: 'say', text: 'A heard 7' }]);
    assert.ok(c.events.includes(`B proxy to 127.0.0.1:${new URL(c.a.url).port}`), c.events.join('; '));
    assert.equal(c.sessions.length, 1, 'no second session was started on B');

    again.callStatus(callSid, 'completed');
    await c.sessions[0]!.waitForClose();
    await sleep(20);
    assert.equal(c.leases.has(callSid), false, 'the owner released the call_sid when the session ended');
    again.close();
  } finally {
    await c.close();
  }
});

test('a session:reconnect for a call_sid no node holds is acked empty; the frames held meanwhile are still answered', async () => {
  const c = await cluster();
  try {
    const callSid = newCallSid();
    const sim = await JambonzSim.connect(c.b.url);
    const reconnect = sim.reconnect(callSid);
    const hook = sim.gatherDigits(callSid, '/next', '1');
    assert.equal((await sim.ack(reconnect)).data, undefined);
    // Replayed after the lookup: no session on this socket, so it too is acked without verbs.
    assert.equal((await sim.ack(hook)).data, undefined);
    assert.equal(c.events.some((e) => e.includes('proxy')), false);
    assert.equal(sim.client.closed, undefined, 'the socket stays open');
    sim.close();
  } finally {
    await c.close();
  }
});
