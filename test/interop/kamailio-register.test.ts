// callchart registers to Kamailio (registrar + usrloc in memory, digest auth by the auth module
// against a fixed password: no database) with `engine.register()`, and receives a call that Kamailio
// routes to its registration; stop() unregisters and Kamailio then answers 404.
// Needs Debian `kamailio`. Run: npm run test:interop.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createEngine, type Call, type Engine } from '../../src/index.js';
import { eventually } from './helpers/engine.js';
import { freeUdpPort } from './helpers/procs.js';

const dir = mkdtempSync(path.join(tmpdir(), 'callchart-kamailio-'));
const engines: Engine[] = [];
let kam: ChildProcess | undefined;
after(async () => {
  for (const e of engines) await e.close();
  // Kamailio forks its workers: the whole process group goes (they hold our pipes open).
  if (kam?.pid !== undefined) {
    try {
      process.kill(-kam.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

const config = (port: number) => `#!KAMAILIO
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:${port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "auth.so"
modparam("usrloc", "db_mode", 0)

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (is_method("REGISTER")) {
    if (!pv_www_authenticate("$fd", "kam-secret", "0")) { www_challenge("$fd", "0"); exit; }
    if (!save("location")) sl_reply_error();
    exit;
  }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) t_relay(); exit; }
    t_relay();
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) t_relay(); exit; }
  if (is_method("INVITE")) record_route();
  if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
  t_relay();
}
`;

test('callchart registers to Kamailio with digest auth and receives a call Kamailio routes to it', { timeout: 60_000 }, async () => {
  try {
    execFileSync('kamailio', ['-v'], { stdio: 'ignore' });
  } catch {
    assert.fail('kamailio is not installed (apt-get install kamailio)');
  }
  const port = await freeUdpPort();
  const cfg = path.join(dir, 'kamailio.cfg');
  writeFileSync(cfg, config(port));
  let log = '';
  kam = spawn('kamailio', ['-DD', '-E', '-f', cfg, '-Y', dir, '-w', dir], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  kam.stdout!.on('data', (d) => (log += d));
  kam.stderr!.on('data', (d) => (log += d));
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(kam.exitCode, null, `kamailio exited: ${log.slice(-1500)}`);

  const calls: Call[] = [];
  const alice = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '30400-30449', onIncomingCall: (c) => (calls.push(c), { action: 'accept' }) });
  const caller = createEngine({ host: '127.0.0.1', sipPort: 0, rtpPorts: '30450-30499' });
  engines.push(alice, caller);
  await alice.listen();
  await caller.listen();
  try {
    const reg = await alice.register({ registrar: `sip:127.0.0.1:${port}`, aor: 'sip:alice@127.0.0.1', password: 'kam-secret', expires: 120 });
    await Promise.race([
      reg.waitFor('registered'),
      new Promise((_, rej) => setTimeout(() => rej(new Error(`not registered: ${reg.state}`)), 10_000)),
    ]);
    const out = await caller.call(`sip:alice@127.0.0.1:${port}`, { from: 'sip:carol@127.0.0.1' });
    await eventually(() => out.isActive, 10_000, `the routed call was answered (state ${out.state})`);
    assert.equal(calls.length, 1, 'callchart got the call through Kamailio');
    assert.equal(calls[0]!.from, 'sip:carol@127.0.0.1');
    out.hangup();
    await eventually(() => calls[0]!.isEnded, 5000, 'the BYE came through Kamailio');

    await reg.stop();
    assert.equal(reg.state, 'stopped');
    const again = await caller.call(`sip:alice@127.0.0.1:${port}`, { from: 'sip:carol@127.0.0.1' });
    const end = await again.waitForEnd();
    assert.equal(end.code, 404, `unregistered: Kamailio finds no contact (${JSON.stringify(end)})`);
  } catch (err) {
    if (err instanceof Error) err.message += `\n--- kamailio log (tail) ---\n${log.slice(-2000)}`;
    throw err;
  }
});
