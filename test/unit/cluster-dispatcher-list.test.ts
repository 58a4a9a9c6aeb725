// The Kamailio dispatcher list written from the cluster's node records (no Redis needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dispatcherList } from '../../src/cluster/dispatcher-sync.js';
import type { ClusterNodeRecord } from '../../src/cluster/store.js';

const node = (id: string, sip: string | undefined, status: 'open' | 'draining' = 'open'): ClusterNodeRecord => ({
  id,
  ...(sip ? { sip } : {}),
  status,
  liveCalls: 0,
  updatedAt: 0,
  startedAt: 0,
});

test('dispatcherList: one line per node with SIP, sorted by id; draining nodes listed inactive', () => {
  const text = dispatcherList([node('b', '10.0.0.2:5060', 'draining'), node('a', '10.0.0.1:5060'), node('ws-only', undefined)]);
  const lines = text.trim().split('\n').filter((l) => !l.startsWith('#'));
  assert.deepEqual(lines, ['1 sip:10.0.0.1:5060 0 0 duid=a', '1 sip:10.0.0.2:5060 1 0 duid=b']);
  assert.ok(text.endsWith('\n'));
});

test('dispatcherList: the same nodes in any order give the same text (reload only on change); set id', () => {
  const a = node('a', '10.0.0.1:5060');
  const b = node('b', '10.0.0.2:5060');
  assert.equal(dispatcherList([a, b]), dispatcherList([b, a]));
  assert.match(dispatcherList([a], { setId: 7 }), /^7 sip:10\.0\.0\.1:5060 0 0 duid=a$/m);
});

test('dispatcherList: a record whose address could break the file is skipped', () => {
  const lines = dispatcherList([node('evil', '1.2.3.4:5060\n1 sip:6.6.6.6:5060'), node('ok', '[::1]:5060')]).trim().split('\n').filter((l) => !l.startsWith('#'));
  assert.deepEqual(lines, ['1 sip:[::1]:5060 0 0 duid=ok']);
});

test('serve --cluster flags and env; dispatcher-list arguments', async () => {
  const { parseServeArgs, UsageError } = await import('../../src/cli.js');
  const { parseDispatcherListArgs } = await import('../../src/cluster/cli.js');
  const c = parseServeArgs(['--cluster', 'redis://127.0.0.1:6379/2', '--node-id', 'n1', '--advertise-host', '10.0.0.5'], {});
  assert.deepEqual(c.cluster, { redis: 'redis://127.0.0.1:6379/2', nodeId: 'n1', advertiseHost: '10.0.0.5' });
  assert.deepEqual(parseServeArgs([], { CALLCHART_CLUSTER: 'redis://r:6379', CALLCHART_NODE_ID: 'e1' }).cluster, { redis: 'redis://r:6379', nodeId: 'e1' });
  assert.equal(parseServeArgs([], {}).cluster, undefined);
  assert.throws(() => parseServeArgs(['--node-id', 'n1'], {}), UsageError);
  assert.throws(() => parseServeArgs(['--cluster', 'http://x'], {}), /--cluster takes redis:/);
  assert.throws(() => parseServeArgs(['--cluster', 'redis://x:1', '--node-id', 'a b'], {}), /--node-id/);
  assert.deepEqual(parseDispatcherListArgs(['--cluster', 'redis://x:1', '--out', '/tmp/d.list', '--reload', 'kamcmd  dispatcher.reload', '--watch', '500'], {}), {
    redis: 'redis://x:1',
    setId: 1,
    out: '/tmp/d.list',
    reload: ['kamcmd', 'dispatcher.reload'],
    watchMs: 500,
  });
  assert.throws(() => parseDispatcherListArgs(['--cluster', 'redis://x:1', '--reload', 'kamcmd dispatcher.reload'], {}), /--reload needs --out/);
  assert.throws(() => parseDispatcherListArgs([], {}), /needs --cluster/);
});
