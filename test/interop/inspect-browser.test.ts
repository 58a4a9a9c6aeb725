// The statechart viewer in a real browser: Debian's chromium, driven by playwright-core, opens
// /inspect, a raw SIP client places a call, and the page shows the call's states as they happen
// (ringing → active → ended) as highlighted states of the drawn chart, with the event log. Every
// request the page makes is checked to go to the viewer's own server (it works offline), and any
// console error (a CSP violation, a script error) fails the test.
//
// In the interop suite because, like SIPp and baresip, chromium is a system package (.ci/run
// installs it): missing, the test fails saying what to install, never skips.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createEngine, type Engine, type Call } from '../../src/index.js';
import { RawCall } from '../helpers/raw-call.js';
import { requireBinary } from './helpers/procs.js';

const cleanups: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function browser(): Promise<{ ctx: BrowserContext; page: Page }> {
  const executablePath = requireBinary('chromium', 'chromium');
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), 'callchart-chromium-'));
  cleanups.push(() => rmSync(userDataDir, { recursive: true, force: true }));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => ctx.close());
  const page = ctx.pages()[0] ?? (await ctx.newPage());
  return { ctx, page };
}

test('a SIP call\'s state changes appear on the viewer page, which loads nothing from elsewhere', { timeout: 60_000 }, async () => {
  const engine: Engine = createEngine({
    host: '127.0.0.1',
    wsPort: false,
    sipPort: 0,
    rtpPorts: '37000-37099',
    inboundCall: false,
    inspect: { port: 0 },
    onIncomingCall: () => ({ action: 'defer' }),
  });
  await engine.listen();
  cleanups.push(() => engine.close());
  const url = engine.inspectUrl!;
  const origin = new URL(url).origin;

  const { ctx, page } = await browser();
  const foreign: string[] = [];
  await ctx.route('**/*', (route) => {
    const u = route.request().url();
    if (u.startsWith(`${origin}/`)) return route.continue();
    foreign.push(u);
    return route.abort();
  });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));

  await page.goto(url);
  await page.waitForSelector('#conn[data-conn="live"]');

  const incoming = new Promise<Call>((r) => engine.once('call', r));
  const sip = await RawCall.invite(engine.sipPort!, '+15550002222');
  cleanups.push(() => sip.close());
  const call = await incoming;
  await sip.ringing();

  // The call shows up in the list under "call"; select it.
  const row = page.locator(`section.kind[data-kind="call"] li[data-actor-id="${call.id}"]`);
  await row.waitFor();
  await row.click();
  const stateNode = (id: string) => page.locator(`svg.chart g.state[data-state-id="${id}"]`);
  await page.waitForSelector('svg.chart g.state[data-state-id="call.ringing"][data-active="true"]');
  assert.equal(await page.locator('#actor-state').getAttribute('data-state'), 'ringing');
  assert.equal(await stateNode('call.active').getAttribute('data-active'), 'false');
  // The chart is drawn from the definition: every state of the call machine, and labelled edges.
  for (const id of ['call.created', 'call.ringing', 'call.active', 'call.active.talking', 'call.active.held', 'call.ended']) assert.equal(await stateNode(id).count(), 1, id);
  assert.ok((await page.locator('svg.chart g.edge').count()) > 5);
  assert.ok((await page.locator('svg.chart g.edge text', { hasText: 'CALL.ANSWER' }).count()) >= 1);
  // The caller number is in the context pane (this page is the one place it is shown).
  await page.locator('#context', { hasText: '+15550002222' }).waitFor();

  call.answer();
  await sip.answered();
  await page.waitForSelector('svg.chart g.state[data-state-id="call.active.talking"][data-active="true"]');
  assert.equal(await stateNode('call.active').getAttribute('data-active'), 'true');
  assert.equal(await stateNode('call.ringing').getAttribute('data-active'), 'false');
  assert.equal(await page.locator('#actor-state').textContent(), 'active.talking');
  await page.waitForSelector('#events tr[data-event-type="CALL.ANSWER"]');
  assert.equal(await page.locator('#events tr[data-event-type="CALL.ANSWER"] td.to').textContent(), 'active.talking');
  if (process.env.INSPECT_SCREENSHOT) await page.screenshot({ path: process.env.INSPECT_SCREENSHOT, fullPage: true });

  await sip.bye();
  await page.waitForSelector('svg.chart g.state[data-state-id="call.ended"][data-active="true"]');
  assert.equal(await stateNode('call.active').getAttribute('data-active'), 'false');
  await page.waitForSelector('#actor-status[data-status="done"]');
  await page.waitForSelector('#events tr[data-event-type="CALL.REMOTE_HANGUP"]');
  // The ended call stays in the list, marked done.
  await page.waitForSelector(`li[data-actor-id="${call.id}"][data-status="done"]`);

  assert.deepEqual(foreign, [], 'the page asked for something other than its own server');
  assert.deepEqual(problems, []);
});
