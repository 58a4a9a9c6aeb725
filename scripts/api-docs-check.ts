// Fails when docs/api/ is not what `npm run docs:api` generates from today's types, so the API
// reference cannot drift from the code. Run by .ci/run after the build.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

const committed = 'docs/api';
const fresh = mkdtempSync(join(tmpdir(), 'callchart-api-'));

function files(root: string, dir = root, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files(root, path, out);
    else out.push(relative(root, path));
  }
  return out;
}

try {
  execFileSync('npx', ['typedoc', '--out', fresh, '--logLevel', 'Warn'], { stdio: 'inherit' });
  const want = new Set(files(fresh));
  const have = new Set(files(committed));
  const stale: string[] = [];
  for (const f of want) {
    if (!have.has(f)) stale.push(`missing: ${f}`);
    else if (!readFileSync(join(fresh, f)).equals(readFileSync(join(committed, f)))) stale.push(`differs: ${f}`);
  }
  for (const f of have) if (!want.has(f)) stale.push(`extra: ${f}`);
  if (stale.length > 0) {
    process.stderr.write(`docs/api is stale (${stale.length} files); run \`npm run docs:api\` and commit:\n  ${stale.slice(0, 20).join('\n  ')}\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write(`docs/api is up to date (${want.size} files)\n`);
  }
} finally {
  rmSync(fresh, { recursive: true, force: true });
}
