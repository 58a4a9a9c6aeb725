// The package's public API is what README.md lists under "## API": this test holds src/index.ts
// (its type-level exports, i.e. what the shipped index.d.ts declares, and its runtime exports) and
// that list equal, so neither can drift from the other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));
const INDEX = `${root}src/index.ts`;
const GENERATED = `${root}src/jambonz/verb-types.generated.ts`;

/** Names exported by a module as the type checker sees them (values and types). */
function exportsOf(files: string[]): Map<string, Set<string>> {
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const out = new Map<string, Set<string>>();
  for (const file of files) {
    const sf = program.getSourceFile(file);
    assert.ok(sf, `source file ${file}`);
    const sym = checker.getSymbolAtLocation(sf);
    assert.ok(sym, `module symbol of ${file}`);
    out.set(file, new Set(checker.getExportsOfModule(sym).map((s) => s.name)));
  }
  return out;
}

/** The README's API list: backticked identifiers on the bullet lines of its "## API" section. */
function readmeApi(generated: Set<string>): Set<string> {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const start = readme.indexOf('\n## API\n');
  assert.ok(start >= 0, 'README.md has an "## API" section');
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const bullets = section.split('\n- ').slice(1).join('\n');
  const names = new Set<string>();
  for (const m of bullets.matchAll(/`([^`]+)`/g)) {
    if (/^[A-Za-z_$][\w$]*$/.test(m[1]!)) names.add(m[1]!);
  }
  // The generated verb types are listed by pattern: every Jambonz<Name>Verb / Jambonz<Name>Props.
  if (bullets.includes('`Jambonz<Name>Verb`')) {
    for (const n of generated) if (/^Jambonz\w+(Verb|Props)$/.test(n)) names.add(n);
  }
  return names;
}

const exported = exportsOf([INDEX, GENERATED]);
const indexNames = exported.get(INDEX)!;
const documented = readmeApi(exported.get(GENERATED)!);

test('src/index.ts exports exactly what README.md lists under API', () => {
  const undocumented = [...indexNames].filter((n) => !documented.has(n)).sort();
  const missing = [...documented].filter((n) => !indexNames.has(n)).sort();
  assert.deepEqual({ undocumented, missing }, { undocumented: [], missing: [] });
});

test('every runtime export is in the list, and the list is not trivially empty', async () => {
  const mod = (await import('../../src/index.js')) as Record<string, unknown>;
  const runtime = Object.keys(mod);
  assert.ok(runtime.includes('createEngine'));
  assert.deepEqual(runtime.filter((n) => !documented.has(n)), []);
  assert.ok(documented.size > 100, `parsed ${documented.size} names`);
});

test('engine internals stay private', () => {
  for (const n of ['CallManager', 'CallDriver', 'CallWire', 'HttpServer', 'SipUserAgent', 'RoomRuntime', 'ActorRegistry',
    'Authenticator', 'seqNext', 'clip16', 'writeRtpHeader', 'RtpSession', 'PortAllocator', 'callMachine']) {
    assert.ok(!indexNames.has(n), `${n} is exported`);
  }
});

test('callchart/machines re-exports every statechart in machines/', () => {
  const files = readdirSync(`${root}machines`).filter((f) => f.endsWith('.machine.ts'));
  const index = readFileSync(`${root}machines/index.ts`, 'utf8');
  const missing = files.filter((f) => !index.includes(`'./${f.replace(/\.ts$/, '.js')}'`));
  assert.deepEqual(missing, [], 'machines/index.ts must export every machine file');
  const names = exportsOf([`${root}machines/index.ts`]).get(`${root}machines/index.ts`)!;
  for (const f of files) {
    const base = f.replace(/\.machine\.ts$/, '');
    assert.ok(names.has(`${base}Machine`), `callchart/machines exports ${base}Machine`);
  }
});

test('callchart/media holds the media plane and none of the engine internals', () => {
  const file = `${root}src/media/index.ts`;
  const names = exportsOf([file]).get(file)!;
  for (const n of ['RtpSession', 'PortAllocator', 'parseRtp', 'writeRtp', 'PlaybackRuntime', 'RecordingRuntime']) {
    assert.ok(names.has(n), `callchart/media exports ${n}`);
  }
  for (const n of ['CallManager', 'CallDriver', 'CallWire', 'HttpServer', 'SipUserAgent', 'createEngine', 'ActorRegistry']) {
    assert.ok(!names.has(n), `callchart/media must not export ${n}`);
  }
  // The package's exports map points each subpath at the build of these modules.
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { exports: Record<string, string | { types: string; import: string }> };
  assert.deepEqual(Object.keys(pkg.exports).sort(), ['.', './machines', './media', './package.json']);
  assert.deepEqual(pkg.exports['./media'], { types: './dist/src/media/index.d.ts', import: './dist/src/media/index.js' });
  assert.deepEqual(pkg.exports['./machines'], { types: './dist/machines/index.d.ts', import: './dist/machines/index.js' });
});

