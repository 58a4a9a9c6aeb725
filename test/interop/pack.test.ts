// The package as a user gets it: `npm pack`, install the tarball into a fresh app, and compile
// that app with `strict` and WITHOUT skipLibCheck, so every shipped .d.ts (and every type package
// they import) must resolve and check. Then run the app and the installed `callchart` bin.
// Needs the npm registry or a warm npm cache (typescript, @types/node and the dependencies). ~1 min.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(path.join(tmpdir(), 'callchart-pack-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd: string, args: string[], cwd: string, timeoutMs = 240_000): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

// The versions this repository develops with, so the install is served from the npm cache.
const req = createRequire(path.join(root, 'package.json'));
const tsVersion = (req('typescript/package.json') as { version: string }).version;
const nodeTypesVersion = (req('@types/node/package.json') as { version: string }).version;
const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;

const APP = `import { createEngine, createLogger, Call, type EngineOptions, type IncomingCallHook } from 'callchart';
import { callMachine } from 'callchart/machines';

const onIncomingCall: IncomingCallHook = (call: Call) => {
  call.answer();
};
const opts: EngineOptions = { host: '127.0.0.1', wsPort: 0, sipPort: false, logger: createLogger('silent'), onIncomingCall };
const engine = createEngine(opts);
await engine.listen();
const port: number = engine.wsPort;
const machineId: string = callMachine.id;
await engine.close();
console.log(JSON.stringify({ port, machineId }));
`;

test('npm pack → install into a fresh app → tsc --strict without skipLibCheck → run', { timeout: 600_000 }, async () => {
  const packed = await run(npm, ['pack', '--pack-destination', dir, '--silent'], root);
  assert.equal(packed.code, 0, packed.out);
  const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
  assert.ok(tgz, `no tarball in ${dir}: ${packed.out}`);

  const listing = await run('tar', ['tzf', path.join(dir, tgz)], dir);
  const files = listing.out.split('\n').filter(Boolean);
  assert.ok(files.includes('package/LICENSE'), 'LICENSE is shipped');
  assert.ok(files.includes('package/dist/src/index.d.ts'), 'types are shipped');
  // Maps would point at src/, which is not in the package.
  assert.deepEqual(files.filter((f) => f.endsWith('.map')), [], 'no source maps pointing at unshipped sources');
  assert.deepEqual(files.filter((f) => f.startsWith('package/dist/test/')), [], 'no tests in dist');

  const app = path.join(dir, 'app');
  mkdirSync(app);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, type: 'module' }));
  writeFileSync(
    path.join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        types: ['node'],
      },
      include: ['app.ts'],
    }),
  );
  writeFileSync(path.join(app, 'app.ts'), APP);
  const installed = await run(
    npm,
    ['install', path.join(dir, tgz), `typescript@${tsVersion}`, `@types/node@${nodeTypesVersion}`, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'],
    app,
  );
  assert.equal(installed.code, 0, installed.out);

  const tsc = await run(process.execPath, [path.join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], app);
  assert.equal(tsc.code, 0, `tsc in a fresh strict app failed:\n${tsc.out}`);

  // The same source runs against the built package (emitted to .js by the same tsc).
  const js = await run(process.execPath, [path.join(app, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--noEmit', 'false', '--outDir', 'out'], app);
  assert.equal(js.code, 0, js.out);
  const ran = await run(process.execPath, [path.join(app, 'out/app.js')], app, 30_000);
  assert.equal(ran.code, 0, ran.out);
  const result = JSON.parse(ran.out.trim().split('\n').pop() ?? '{}') as { port?: number; machineId?: string };
  assert.ok(typeof result.port === 'number' && result.port > 0, ran.out);
  assert.equal(result.machineId, 'call');

  const bin = await run(path.join(app, 'node_modules/.bin/callchart'), ['--version'], app, 30_000);
  assert.equal(bin.code, 0, bin.out);
  assert.equal(bin.out.trim(), version);
});
