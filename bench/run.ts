// `npm run bench [-- name ...]`: runs each benchmark module in its own child process, one after the
// other, so one bench's heap, JIT state and leftover sockets cannot skew the next.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const MODULES = ['inbound', 'inbound-heap', 'footprint', 'gc', 'spawn', 'rooms', 'sip', 'media', 'conference', 'jambonz-hook', 'jambonz-audio', 'jambonz-fs', 'fuzz', 'hostile', 'cluster'] as const;

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');

function runModule(name: string): Promise<number> {
  return new Promise((resolve) => {
    // --expose-gc lets a bench settle the heap before measuring (benches check `global.gc`).
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', path.join(benchDir, `${name}.ts`)], {
      cwd: root,
      stdio: 'inherit',
    });
    const forward = (sig: NodeJS.Signals) => child.kill(sig);
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    child.on('exit', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const unknown = args.filter((a) => !(MODULES as readonly string[]).includes(a));
  if (unknown.length) {
    process.stderr.write(`unknown bench module(s): ${unknown.join(', ')} (known: ${MODULES.join(', ')})\n`);
    process.exit(2);
  }
  const wanted = args.length ? MODULES.filter((m) => args.includes(m)) : [...MODULES];

  const cpus = os.cpus();
  process.stdout.write(
    `# callchart benchmarks\n\n` +
      `- date: ${new Date().toISOString()}\n` +
      `- node: ${process.version} (${process.platform}/${process.arch})\n` +
      `- cpus: ${cpus.length} x ${cpus[0]?.model.trim() ?? 'unknown'}\n` +
      `- memory: ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB\n` +
      `- modules: ${wanted.join(', ')}\n`,
  );

  const results: Array<{ name: string; status: string; seconds: string }> = [];
  for (const name of wanted) {
    if (!existsSync(path.join(benchDir, `${name}.ts`))) {
      process.stdout.write(`\n## ${name}\n\n(skipped: bench/${name}.ts does not exist yet)\n`);
      results.push({ name, status: 'skipped', seconds: '-' });
      continue;
    }
    process.stdout.write(`\n## ${name}\n`);
    const t0 = performance.now();
    const code = await runModule(name);
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    results.push({ name, status: code === 0 ? 'ok' : `failed (exit ${code})`, seconds });
  }

  process.stdout.write('\n## summary\n\n');
  for (const r of results) process.stdout.write(`- ${r.name}: ${r.status}${r.seconds !== '-' ? ` in ${r.seconds} s` : ''}\n`);
  process.exitCode = results.some((r) => r.status.startsWith('failed')) ? 1 : 0;
}

void main();
