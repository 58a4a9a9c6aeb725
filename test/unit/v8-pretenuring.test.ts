// createEngine turns V8's allocation-site pretenuring off for the process (src/v8-pretenuring.ts).
// V8 traces each digest of allocation-site feedback (the step where it decides to pretenure a
// site) with --trace-pretenuring-statistics: the bare process is the control (the workload does
// produce feedback on this V8), and with an engine created there must be no digest at all.
// The effect on the audio benches is measured in docs/architecture.md ("Pretenuring").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const workload = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'pretenure-workload.ts');

function digests(mode: 'bare' | 'engine' | 'engine-keep'): number {
  const out = execFileSync(process.execPath, ['--trace-pretenuring-statistics', '--import', 'tsx', workload, mode], {
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const from = out.indexOf('--- workload');
  assert.ok(from >= 0 && out.includes('--- done'), `workload did not run:\n${out.slice(-2000)}`);
  return out.slice(from).split('\n').filter((l) => l.includes('pretenuring:')).length;
}

test('after createEngine, V8 makes no pretenuring decisions (the bare process does)', () => {
  assert.ok(digests('bare') > 0, 'control: the bare process should digest allocation-site feedback');
  assert.equal(digests('engine'), 0);
});

test('an engine made with v8Pretenuring: true leaves V8 as it was', () => {
  assert.ok(digests('engine-keep') > 0);
});
