// The diagrams in docs/ and the README are generated from the machines; this fails when they drift.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { docsMarkdown, withReadmeSection, renderAll } from '../../scripts/charts.js';

test('every machine is rendered and docs/statecharts.md matches the machines', () => {
  const charts = renderAll();
  assert.ok(charts.some((c) => c.name === 'callMachine'));
  for (const c of charts) assert.match(c.chart, /^stateDiagram-v2\n/);
  assert.equal(readFileSync('docs/statecharts.md', 'utf8'), docsMarkdown(), 'docs/statecharts.md is stale: run npm run charts');
});

test("the README's charts section matches the machines", () => {
  const readme = readFileSync('README.md', 'utf8');
  assert.equal(withReadmeSection(readme), readme, 'README charts are stale: run npm run charts');
});

test('the call chart shows its real transitions', () => {
  const call = renderAll().find((c) => c.name === 'callMachine')!.chart;
  assert.match(call, /call_ringing --> call_active: CALL\.ANSWER \[isInbound\]/);
  assert.match(call, /call_active_held --> call_active_talking: CALL\.RESUME/);
  assert.match(call, /call_ringing --> call_ended: CALL\.RING_TIMEOUT \[isInbound\]/);
  // Delayed transitions are drawn as `after <delay>`.
  const session = renderAll().find((c) => c.name === 'jambonzSessionMachine')!.chart;
  assert.match(session, /jambonzSession_live_awaitingApp --> jambonzSession_live_executing: after ackTimeout/);
});
