// The CLI's operations flags: --metrics-port, --metrics, --admin-token (and their variables).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseServeArgs, HELP } from '../../src/cli.js';

test('--metrics-port, --metrics on|off and --admin-token, flags over CALLCHART_* variables', () => {
  const none = parseServeArgs([], {});
  assert.equal(none.metricsPort, undefined);
  assert.equal(none.metrics, undefined);
  assert.equal(none.adminToken, undefined);
  assert.equal(parseServeArgs(['--metrics-port', '9464'], {}).metricsPort, 9464);
  assert.equal(parseServeArgs([], { CALLCHART_METRICS_PORT: '0' }).metricsPort, 0);
  assert.throws(() => parseServeArgs(['--metrics-port', 'x'], {}), /--metrics-port must be a port/);
  assert.equal(parseServeArgs(['--metrics', 'off'], {}).metrics, false);
  assert.equal(parseServeArgs([], { CALLCHART_METRICS: 'off' }).metrics, false);
  assert.equal(parseServeArgs(['--metrics', 'on'], { CALLCHART_METRICS: 'off' }).metrics, undefined);
  assert.throws(() => parseServeArgs(['--metrics', 'maybe'], {}), /--metrics must be on or off/);
  assert.equal(parseServeArgs([], { CALLCHART_ADMIN_TOKEN: 'from-the-env-0123456789' }).adminToken, 'from-the-env-0123456789');
  assert.equal(parseServeArgs(['--admin-token', 'flag-token-0123456789'], { CALLCHART_ADMIN_TOKEN: 'from-the-env-0123456789' }).adminToken, 'flag-token-0123456789');
  assert.throws(() => parseServeArgs(['--admin-token', 'short'], {}), /--admin-token must be at least 16 characters/);
  for (const s of ['--metrics-port', '--metrics on|off', '--admin-token', 'CALLCHART_ADMIN_TOKEN', 'SIGUSR1', 'GET /health']) assert.ok(HELP.includes(s), s);
});
