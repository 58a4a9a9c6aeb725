// Generates src/jambonz/verb-types.generated.ts from @jambonz/verb-specifications' specs.json: one
// props interface per spec entry, one verb interface per verb (`{ verb: 'say', …props }`), the
// `JambonzVerb` union, the builder's method table and the chainable methods as mixins. The types say exactly what the package's
// validator accepts (it compares `typeof`), so a value that type-checks also validates, and a
// spec the validator cannot accept at all is typed `never` rather than promised.
//
// `npx tsx scripts/gen-jambonz-verbs.ts` writes the file; `--check` (and test/unit/jambonz-verbs)
// fails when the committed file differs from what the installed package generates.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import verbSpecifications, { type PropertySpec } from '@jambonz/verb-specifications';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
export const GENERATED_FILE = path.join(root, 'src/jambonz/verb-types.generated.ts');

/**
 * The spec entries that are verbs (the rest are nested types such as `synthesizer`). specs.json
 * does not say which is which; this list is jambonz's verb set, and every name must exist in specs.
 */
export const VERBS = [
  'alert', 'answer', 'conference', 'config', 'dequeue', 'dial', 'dialogflow', 'dtmf', 'dub', 'enqueue',
  'gather', 'hangup', 'leave', 'lex', 'listen', 'llm', 'message', 'pause', 'pipeline', 'play', 'rasa',
  'record', 'redirect', 'rest:dial', 'say', 'sip:decline', 'sip:refer', 'sip:request', 'tag', 'transcribe',
] as const;

/**
 * Verb aliases the validator resolves before checking (its `verbTransforms`): `stream` is `listen`,
 * the `*_s2s` names are `llm` with the vendor filled in (so `vendor` becomes optional).
 */
export const ALIASES: ReadonlyArray<{ name: string; target: string; injects?: string }> = [
  { name: 'stream', target: 'listen' },
  { name: 's2s', target: 'llm' },
  { name: 'openai_s2s', target: 'llm', injects: 'vendor' },
  { name: 'microsoft_s2s', target: 'llm', injects: 'vendor' },
  { name: 'google_s2s', target: 'llm', injects: 'vendor' },
  { name: 'elevenlabs_s2s', target: 'llm', injects: 'vendor' },
  { name: 'deepgram_s2s', target: 'llm', injects: 'vendor' },
  { name: 'voiceagent_s2s', target: 'llm', injects: 'vendor' },
  { name: 'ultravox_s2s', target: 'llm', injects: 'vendor' },
];

const pascal = (name: string) =>
  name
    .split(/[:_-]/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
const camel = (name: string) => {
  const p = pascal(name);
  return p[0]!.toLowerCase() + p.slice(1);
};
export const propsName = (spec: string) => `Jambonz${pascal(spec)}Props`;
export const verbTypeName = (verb: string) => `Jambonz${pascal(verb)}Verb`;
const key = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k));

const SIMPLE: Record<string, string> = {
  string: 'string',
  number: 'number',
  boolean: 'boolean',
  object: 'Record<string, unknown>',
  array: 'unknown[]',
};

/** The TS type for one property spec, plus a note when the validator narrows or refuses it. */
function typeOf(spec: PropertySpec, specs: Record<string, unknown>): { type: string; note?: string } {
  if (Array.isArray(spec)) {
    const ref = spec[0];
    if (typeof ref === 'string' && ref.startsWith('#') && ref.slice(1) in specs) return { type: `Array<${propsName(ref.slice(1))}>` };
    return { type: 'never', note: `spec ${JSON.stringify(spec)} is not an array of references` };
  }
  if (typeof spec === 'string') {
    if (spec.includes('|')) {
      // The validator checks `typeof value` against the members, so a `#ref` member can never
      // match (an object's typeof is 'object'): only the plain members are accepted.
      const members = spec.split('|').map((t) => t.trim());
      const plain = members.filter((m) => m in SIMPLE);
      const dropped = members.filter((m) => !(m in SIMPLE));
      if (!plain.length) return { type: 'never', note: `the validator accepts none of ${spec}` };
      return {
        type: plain.map((m) => SIMPLE[m]).join(' | '),
        ...(dropped.length ? { note: `spec says ${spec}; the validator accepts only ${plain.join(' | ')}` } : {}),
      };
    }
    if (spec in SIMPLE) return { type: SIMPLE[spec]! };
    if (spec.startsWith('#') && spec.slice(1) in specs) return { type: propsName(spec.slice(1)) };
    return { type: 'never', note: `unknown spec ${JSON.stringify(spec)}` };
  }
  const t = spec.type;
  if (t === 'string' && Array.isArray(spec.enum)) return { type: spec.enum.map((v: unknown) => JSON.stringify(v)).join(' | ') };
  if (t === 'string' || t === 'number' || t === 'boolean') return { type: t };
  if (t === 'object') return { type: 'Record<string, unknown>' };
  // The validator asserts type ∈ {number,string,object,boolean}: any value for this property throws.
  return { type: 'never', note: `the validator rejects every value (spec ${JSON.stringify(spec)})` };
}

function readPackageVersion(): string {
  const require = createRequire(import.meta.url);
  const pkgPath = require.resolve('@jambonz/verb-specifications/package.json');
  return (JSON.parse(readFileSync(pkgPath, 'utf8')) as { version: string }).version;
}

export function generateVerbTypes(): string {
  const specs = verbSpecifications.specs;
  for (const v of VERBS) if (!(v in specs)) throw new Error(`verb ${v} is not in specs.json`);
  const out: string[] = [];
  out.push(
    `// GENERATED by scripts/gen-jambonz-verbs.ts from @jambonz/verb-specifications ${readPackageVersion()} (specs.json).`,
    '// Do not edit: run `npx tsx scripts/gen-jambonz-verbs.ts` after upgrading the package.',
    '/* eslint-disable */',
    '',
  );
  for (const [name, spec] of Object.entries(specs)) {
    const required = new Set(spec.required ?? []);
    out.push(`/** \`${name}\` in specs.json${(VERBS as readonly string[]).includes(name) ? ' (a verb)' : ''}. */`);
    out.push(`export interface ${propsName(name)} {`);
    for (const [prop, pspec] of Object.entries(spec.properties)) {
      const { type, note } = typeOf(pspec, specs);
      if (note) out.push(`  /** ${note} */`);
      out.push(`  ${key(prop)}${required.has(prop) ? '' : '?'}: ${type};`);
    }
    out.push('}', '');
  }
  const all: Array<{ verb: string; props: string; optionalArg: boolean }> = [];
  for (const v of VERBS) {
    out.push(`export interface ${verbTypeName(v)} extends ${propsName(v)} {`, `  verb: '${v}';`, '}', '');
    all.push({ verb: v, props: propsName(v), optionalArg: !(specs[v]!.required ?? []).length });
  }
  for (const a of ALIASES) {
    const base = propsName(a.target);
    const props = a.injects ? `Omit<${base}, '${a.injects}'> & { ${a.injects}?: string }` : base;
    out.push(`/** Alias of \`${a.target}\`${a.injects ? ` (the validator fills in \`${a.injects}\`)` : ''}. */`);
    out.push(`export type ${verbTypeName(a.name)} = { verb: '${a.name}' } & ${props};`, '');
    const req = (specs[a.target]!.required ?? []).filter((r) => r !== a.injects);
    all.push({ verb: a.name, props, optionalArg: !req.length });
  }
  out.push('/** Props of each verb by name (aliases included). */', 'export interface JambonzVerbPropsMap {');
  for (const e of all) out.push(`  ${key(e.verb)}: ${e.props};`);
  out.push('}', '');
  out.push('export type JambonzVerbName = keyof JambonzVerbPropsMap;', '');
  out.push('/** Any verb jambonz accepts in an application (`ack` data, `command redirect` data). */');
  out.push(`export type JambonzVerb =\n${all.map((e) => `  | ${verbTypeName(e.verb)}`).join('\n')};`, '');
  out.push('/** Every verb name, aliases included. */');
  out.push(`export const JAMBONZ_VERB_NAMES = [\n${all.map((e) => `  '${e.verb}',`).join('\n')}\n] as const;`, '');
  out.push('/** Builder method name → verb name (`sipDecline` → `sip:decline`). */');
  out.push(`export const JAMBONZ_VERB_METHODS = {\n${all.map((e) => `  ${camel(e.verb)}: '${e.verb}',`).join('\n')}\n} as const;`, '');
  out.push('/** One chainable method per verb; verbs without required props take an optional argument. */');
  out.push('export interface JambonzVerbMethods<R> {');
  for (const e of all) out.push(`  ${camel(e.verb)}(props${e.optionalArg ? '?' : ''}: ${e.props}): R;`);
  out.push('}', '');
  // The methods as class members (mixins), written out here rather than installed on a prototype
  // at run time: the verb builder takes them all, a hook session all but `hangup`.
  out.push('/** A class whose instances take one verb at a time: the verb builder, a hook session. */');
  out.push('// A mixin\'s base must be constructible with any arguments (TypeScript\'s rule for mixins).');
  out.push('// eslint-disable-next-line @typescript-eslint/no-explicit-any');
  out.push('export type JambonzVerbSinkClass = abstract new (...args: any[]) => { add(verb: JambonzVerb): unknown };', '');
  const method = (e: (typeof all)[number]) => [
    `    ${camel(e.verb)}(props${e.optionalArg ? '?' : ''}: ${e.props}): this {`,
    `      this.add({ verb: '${e.verb}', ...props } as JambonzVerb);`,
    '      return this;',
    '    }',
  ];
  out.push('/** `Base` with one chainable method per verb but `hangup` (on a session, `hangup()` hangs up now). */');
  out.push('export function withVerbMethods<TBase extends JambonzVerbSinkClass>(Base: TBase) {');
  out.push('  abstract class WithVerbMethods extends Base {');
  for (const e of all) if (e.verb !== 'hangup') out.push(...method(e));
  out.push('  }', '  return WithVerbMethods;', '}', '');
  out.push('/** `Base` with the chainable `hangup` verb method. */');
  out.push('export function withHangupVerb<TBase extends JambonzVerbSinkClass>(Base: TBase) {');
  out.push('  abstract class WithHangupVerb extends Base {');
  for (const e of all) if (e.verb === 'hangup') out.push(...method(e));
  out.push('  }', '  return WithHangupVerb;', '}', '');
  return out.join('\n');
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const text = generateVerbTypes();
  if (process.argv.includes('--check')) {
    const current = readFileSync(GENERATED_FILE, 'utf8');
    if (current !== text) {
      process.stderr.write(`${path.relative(root, GENERATED_FILE)} is stale: run npx tsx scripts/gen-jambonz-verbs.ts\n`);
      process.exit(1);
    }
  } else {
    writeFileSync(GENERATED_FILE, text);
    process.stdout.write(`wrote ${path.relative(root, GENERATED_FILE)}\n`);
  }
}
