import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { HttpServer } from '../../src/http/server.js';
import { Supervisor } from '../../src/actors/supervisor.js';
import { silentLogger } from '../../src/logger.js';
import { createRoomsRoutes, counterService, type RoomsRoutesOptions, type RoomService, type RoomContext } from '../../src/rooms/index.js';

interface Client {
  ws: WebSocket;
  messages: string[];
  closed: Promise<{ code: number; reason: string }>;
  next(): Promise<string>;
}

function connect(port: number, path: string): Promise<Client> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const messages: string[] = [];
    const waiters: Array<(m: string) => void> = [];
    let cursor = 0;
    ws.on('message', (data) => {
      messages.push(data.toString());
      const w = waiters.shift();
      if (w) w(messages[cursor++]!);
    });
    const closed = new Promise<{ code: number; reason: string }>((res) =>
      ws.on('close', (code, reason) => res({ code, reason: reason.toString() })),
    );
    ws.on('error', () => {});
    ws.once('open', () =>
      resolve({
        ws,
        messages,
        closed,
        next: () =>
          new Promise<string>((res) => {
            if (cursor < messages.length) res(messages[cursor++]!);
            else waiters.push(res);
          }),
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.once('close', (code, reason) => reject(new Error(`closed before open: ${code} ${reason}`)));
  });
}

async function waitFor(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`condition never met: ${what}`);
}

async function startServer(extra: Partial<RoomsRoutesOptions> = {}) {
  const logger = silentLogger();
  const supervisor = new Supervisor({ logger });
  const routes = createRoomsRoutes({ supervisor, logger, service: counterService, ...extra });
  const http = new HttpServer({ host: '127.0.0.1', port: 0, logger });
  http.addWsRoute(routes.wsRoute);
  for (const r of routes.httpRoutes) http.addHttpRoute(r);
  await http.listen();
  return {
    http,
    routes,
    supervisor,
    port: http.port,
    async stop() {
      await routes.close();
      await http.close();
      supervisor.stopAll();
    },
  };
}

describe('rooms over WebSocket (counter service)', () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    srv = await startServer({ shutdown: { policy: 'after', seconds: 5 } });
  });
  after(async () => srv.stop());

  test('broadcast reaches every client of the room, sender included, and no other room', async () => {
    const a = await connect(srv.port, '/rooms/alpha');
    const b = await connect(srv.port, '/rooms/alpha');
    const c = await connect(srv.port, '/rooms/alpha');
    const other = await connect(srv.port, '/rooms/beta');
    a.ws.send('increment');
    assert.equal(await a.next(), 'new value: 1');
    assert.equal(await b.next(), 'new value: 1');
    assert.equal(await c.next(), 'new value: 1');
    b.ws.send('increment');
    c.ws.send('decrement');
    c.ws.send('hello'); // ignored
    a.ws.send('increment');
    for (const cl of [a, b, c]) {
      assert.equal(await cl.next(), 'new value: 2');
      assert.equal(await cl.next(), 'new value: 1');
      assert.equal(await cl.next(), 'new value: 2');
    }
    other.ws.send('decrement');
    assert.equal(await other.next(), 'new value: -1');
    assert.equal(a.messages.length, 4);
    for (const cl of [a, b, c, other]) cl.ws.close();
    await Promise.all([a.closed, b.closed, c.closed, other.closed]);
  });

  test('GET /status and GET /rooms', async () => {
    const a = await connect(srv.port, '/rooms/listed');
    const b = await connect(srv.port, '/rooms/listed');
    await waitFor(() => srv.routes.rooms().some((r) => r.roomId === 'listed' && r.clients === 2), 'two clients listed');
    const status = await fetch(`http://127.0.0.1:${srv.port}/status`);
    assert.equal(status.status, 200);
    assert.match(status.headers.get('content-type') ?? '', /^text\/plain/);
    assert.equal(await status.text(), 'ok');
    const list = (await (await fetch(`http://127.0.0.1:${srv.port}/rooms`)).json()) as Array<{ roomId: string; clients: number }>;
    assert.deepEqual(
      list.find((r) => r.roomId === 'listed'),
      { roomId: 'listed', clients: 2 },
    );
    a.ws.close();
    b.ws.close();
    await Promise.all([a.closed, b.closed]);
  });

  test('reconnecting within the grace period keeps the room and its counter', async () => {
    const a = await connect(srv.port, '/rooms/keep');
    a.ws.send('increment');
    a.ws.send('increment');
    assert.equal(await a.next(), 'new value: 1');
    assert.equal(await a.next(), 'new value: 2');
    a.ws.close();
    await a.closed;
    await waitFor(() => srv.routes.rooms().some((r) => r.roomId === 'keep' && r.clients === 0), 'room empty but kept');
    const b = await connect(srv.port, '/rooms/keep');
    b.ws.send('increment');
    assert.equal(await b.next(), 'new value: 3');
    b.ws.close();
    await b.closed;
  });

  test('bad room id is refused with 1008 and a reason', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/rooms/${'x'.repeat(65)}`);
    const { code, reason } = await new Promise<{ code: number; reason: string }>((res) =>
      ws.on('close', (c, r) => res({ code: c, reason: r.toString() })),
    );
    assert.equal(code, 1008);
    assert.match(reason, /invalid room id/);
    const ws2 = new WebSocket(`ws://127.0.0.1:${srv.port}/rooms/bad%20id`);
    const r2 = await new Promise<number>((res) => ws2.on('close', (c) => res(c)));
    assert.equal(r2, 1008);
    assert.ok(!srv.routes.rooms().some((r) => r.roomId.includes(' ')));
  });
});

describe('rooms shutdown policies', () => {
  test('a room closes after its grace period once empty', async () => {
    const srv = await startServer({ shutdown: { policy: 'after', seconds: 0.05 } });
    try {
      const a = await connect(srv.port, '/rooms/brief');
      a.ws.send('increment');
      assert.equal(await a.next(), 'new value: 1');
      a.ws.close();
      await a.closed;
      await waitFor(() => srv.routes.rooms().length === 0, 'room gone after grace');
      assert.equal(srv.supervisor.count('room'), 0);
      assert.equal(srv.supervisor.metrics.completed.room, 1);
      // A new room with the same id starts from scratch.
      const b = await connect(srv.port, '/rooms/brief');
      b.ws.send('increment');
      assert.equal(await b.next(), 'new value: 1');
      b.ws.close();
      await b.closed;
    } finally {
      await srv.stop();
    }
  });

  test('policy immediately closes the room with its last client; never keeps it', async () => {
    const imm = await startServer({ shutdown: { policy: 'immediately' } });
    const nev = await startServer({ shutdown: { policy: 'never' } });
    try {
      const a = await connect(imm.port, '/rooms/x');
      const b = await connect(nev.port, '/rooms/x');
      a.ws.close();
      b.ws.close();
      await Promise.all([a.closed, b.closed]);
      await waitFor(() => imm.routes.rooms().length === 0, 'immediate room gone');
      await waitFor(() => nev.routes.rooms()[0]?.clients === 0, 'never room empty');
      assert.deepEqual(nev.routes.rooms(), [{ roomId: 'x', clients: 0 }]);
    } finally {
      await imm.stop();
      await nev.stop();
    }
  });

  test('client ids are sequential from 1 per room and maxClientsPerRoom refuses with 1013', async () => {
    const seen: number[] = [];
    const srv = await startServer({
      maxClientsPerRoom: 2,
      service: () => ({ connect: (c) => void seen.push(c.id) }),
    });
    try {
      const a = await connect(srv.port, '/rooms/full');
      const b = await connect(srv.port, '/rooms/full');
      const c = await connect(srv.port, '/rooms/full');
      assert.deepEqual(await c.closed, { code: 1013, reason: 'room full' });
      const d = await connect(srv.port, '/rooms/other');
      await waitFor(() => seen.length === 3, 'three connects');
      assert.deepEqual(seen, [1, 2, 1]);
      for (const cl of [a, b, d]) cl.ws.close();
      await Promise.all([a.closed, b.closed, d.closed]);
    } finally {
      await srv.stop();
    }
  });
});

describe('rooms bad input', () => {
  test('oversized frame closes with 1009', async () => {
    const srv = await startServer({ maxPayload: 1024 });
    try {
      const a = await connect(srv.port, '/rooms/big');
      a.ws.send('x'.repeat(4096));
      assert.equal((await a.closed).code, 1009);
    } finally {
      await srv.stop();
    }
  });

  test('a flooding client is closed with 1008 "rate limit exceeded"; its room neighbour is not', async () => {
    const srv = await startServer({ rateLimit: { messagesPerSecond: 5, burst: 10 } });
    try {
      const flood = await connect(srv.port, '/rooms/flood');
      const calm = await connect(srv.port, '/rooms/flood');
      for (let i = 0; i < 200; i++) flood.ws.send('hello');
      assert.deepEqual(await flood.closed, { code: 1008, reason: 'rate limit exceeded' });
      calm.ws.send('increment');
      assert.equal(await calm.next(), 'new value: 1');
      calm.ws.close();
      await calm.closed;
    } finally {
      await srv.stop();
    }
  });

  test('a throwing service ends only its room with 1011; others keep working', async () => {
    const srv = await startServer({
      service: (roomId) => {
        const inner = counterService(roomId);
        return {
          ...inner,
          message(client, text) {
            if (text === 'boom') throw new Error('kaboom');
            inner.message!(client, text);
          },
        };
      },
    });
    try {
      const a1 = await connect(srv.port, '/rooms/doomed');
      const a2 = await connect(srv.port, '/rooms/doomed');
      const b = await connect(srv.port, '/rooms/healthy');
      a1.ws.send('boom');
      const [c1, c2] = await Promise.all([a1.closed, a2.closed]);
      assert.equal(c1.code, 1011);
      assert.equal(c2.code, 1011);
      assert.match(c1.reason, /kaboom/);
      assert.equal(srv.supervisor.metrics.crashed.room, 1);
      assert.deepEqual(srv.routes.rooms(), [{ roomId: 'healthy', clients: 1 }]);
      b.ws.send('increment');
      assert.equal(await b.next(), 'new value: 1');
      // The failed room can be created afresh.
      const a3 = await connect(srv.port, '/rooms/doomed');
      a3.ws.send('increment');
      assert.equal(await a3.next(), 'new value: 1');
      b.ws.close();
      a3.ws.close();
      await Promise.all([b.closed, a3.closed]);
    } finally {
      await srv.stop();
    }
  });

  test('a service throwing in connect() fails its room with 1011', async () => {
    const srv = await startServer({
      service: () => ({
        connect(c) {
          if (c.id === 2) throw new Error('no second guest');
        },
      }),
    });
    try {
      const a = await connect(srv.port, '/rooms/picky');
      const b = new WebSocket(`ws://127.0.0.1:${srv.port}/rooms/picky`);
      b.on('error', () => {});
      const [ca, cb] = await Promise.all([a.closed, new Promise<number>((res) => b.on('close', (c) => res(c)))]);
      assert.equal(ca.code, 1011);
      assert.match(ca.reason, /no second guest/);
      assert.equal(cb, 1011);
      assert.equal(srv.supervisor.metrics.crashed.room, 1);
    } finally {
      await srv.stop();
    }
  });
});

describe('room services: timer, send, binary', () => {
  test('setTimer fires timer(), is replaceable, and send/binary reach one client', async () => {
    let fired = 0;
    const srv = await startServer({
      service: () => {
        let ctx!: RoomContext;
        const svc: RoomService = {
          created(_id, c) {
            ctx = c;
          },
          message(client, text) {
            if (text === 'arm') {
              ctx.setTimer(60_000);
              ctx.setTimer(1); // replaces the long one
            } else if (text === 'who') {
              ctx.send(client.id, `you are ${client.id} of ${ctx.clients().map((c) => c.id).join(',')}`);
            }
          },
          binary(client, bytes) {
            ctx.broadcast(Uint8Array.from(bytes).reverse(), { except: client.id });
          },
          timer() {
            fired += 1;
            ctx.broadcast(`timer ${fired}`);
          },
        };
        return svc;
      },
    });
    try {
      const a = await connect(srv.port, '/rooms/t');
      const b = await connect(srv.port, '/rooms/t');
      a.ws.send('arm');
      assert.equal(await a.next(), 'timer 1');
      assert.equal(await b.next(), 'timer 1');
      b.ws.send('who');
      assert.equal(await b.next(), 'you are 2 of 1,2');
      const got = new Promise<Buffer>((res) => a.ws.once('message', (d, isBinary) => (assert.ok(isBinary), res(d as Buffer))));
      b.ws.send(Buffer.from([1, 2, 3]));
      assert.deepEqual([...(await got)], [3, 2, 1]);
      assert.equal(fired, 1);
      a.ws.close();
      b.ws.close();
      await Promise.all([a.closed, b.closed]);
    } finally {
      await srv.stop();
    }
  });
});

describe('rooms at scale', () => {
  test('1 000 rooms with one client each are created and torn down', async () => {
    const srv = await startServer({ shutdown: { policy: 'immediately' } });
    try {
      const clients: Client[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const made = await Promise.all(
          Array.from({ length: 100 }, (_, i) => connect(srv.port, `/rooms/r-${batch * 100 + i}`)),
        );
        clients.push(...made);
      }
      await waitFor(() => srv.routes.rooms().length === 1000, '1000 rooms');
      assert.equal(srv.supervisor.count('room'), 1000);
      assert.ok(srv.routes.rooms().every((r) => r.clients === 1));
      clients[500]!.ws.send('increment');
      assert.equal(await clients[500]!.next(), 'new value: 1');
      assert.equal(clients[501]!.messages.length, 0);
      for (const c of clients) c.ws.close();
      await Promise.all(clients.map((c) => c.closed));
      await waitFor(() => srv.routes.rooms().length === 0, 'all rooms torn down');
      assert.equal(srv.supervisor.count('room'), 0);
      assert.equal(srv.supervisor.metrics.completed.room, 1000);
    } finally {
      await srv.stop();
    }
  });
});
