// Typed jambonz verbs: a chainable builder (`verbs().say({…}).gather({…}).hangup()`) whose result is
// an array, and `validateVerbs()`, the gate every verb array passes before it goes on the wire.
// Validation is @jambonz/verb-specifications — the schema jambonz itself applies — so an app
// learns of a bad verb from callchart, synchronously, instead of from a call that went silent.
import verbSpecifications from '@jambonz/verb-specifications';
import { JAMBONZ_VERB_NAMES, withHangupVerb, withVerbMethods, type JambonzVerb, type JambonzVerbName } from './verb-types.generated.js';

export * from './verb-types.generated.js';

/** A verb array the app gave callchart failed the jambonz schema; nothing was sent. */
export class JambonzVerbError extends Error {
  readonly code = 'JAMBONZ_INVALID_VERB';
  constructor(
    /** The schema's own message, e.g. `say: property text has invalid data type`. */
    readonly reason: string,
    /** Position of the offending verb in the array (-1 when the array itself is malformed). */
    readonly index: number,
    /** The offending verb's name, when it had one. */
    readonly verb?: string,
  ) {
    super(index >= 0 ? `invalid jambonz verb #${index}${verb ? ` (${verb})` : ''}: ${reason}` : `invalid jambonz verbs: ${reason}`);
    this.name = 'JambonzVerbError';
  }
}

const VERB_NAMES: ReadonlySet<string> = new Set(JAMBONZ_VERB_NAMES);
// The package logs through `info` before throwing on a malformed payload; the thrown message
// carries the same fact, so its log line is dropped rather than printed outside pino.
const quietLogger = { info: () => {} };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validate a verb array against the jambonz schema and return it in `{ verb: name, … }` form
 * (the `{ say: {…} }` form is accepted and rewritten). Throws JambonzVerbError naming the first
 * bad verb. Names that specs.json holds but are not verbs (`synthesizer`, `target`, …) are refused
 * too: the package would accept them, the feature-server would not.
 */
export function validateVerbs(verbs: unknown): JambonzVerb[] {
  if (!Array.isArray(verbs)) throw new JambonzVerbError('verbs must be an array', -1);
  const out: JambonzVerb[] = new Array(verbs.length);
  for (let i = 0; i < verbs.length; i++) {
    const v: unknown = verbs[i];
    if (!isPlainObject(v)) throw new JambonzVerbError('a verb must be an object', i);
    let name: string;
    let props: Record<string, unknown>;
    if (typeof v.verb === 'string') {
      name = v.verb;
      const { verb: _verb, ...rest } = v;
      props = rest;
    } else {
      const keys = Object.keys(v);
      const only = keys.length === 1 ? v[keys[0]!] : undefined;
      if (!isPlainObject(only)) throw new JambonzVerbError('missing verb property', i);
      name = keys[0]!;
      props = only;
    }
    if (!VERB_NAMES.has(name)) throw new JambonzVerbError(`invalid instruction: ${name}`, i, name);
    try {
      verbSpecifications.validate(quietLogger, [{ verb: name, ...props }]);
    } catch (err) {
      throw new JambonzVerbError(err instanceof Error ? err.message : String(err), i, name);
    }
    out[i] = { verb: name, ...props } as JambonzVerb;
  }
  return out;
}

/** True when `name` is a verb jambonz accepts (aliases such as `stream` included). */
export function isJambonzVerbName(name: string): name is JambonzVerbName {
  return VERB_NAMES.has(name);
}

/** The array under the builder: `add()` is what the generated verb methods call. */
class VerbArray extends Array<JambonzVerb> {
  /** Append any verb object (e.g. one built elsewhere). */
  add(verb: JambonzVerb): this {
    this.push(verb);
    return this;
  }
}

/**
 * A verb array with one chainable method per verb (generated: verb-types.generated.ts). It IS an
 * array (JSON.stringify, spread, length all work), so it can be handed to `session.reply()` or
 * `validateVerbs()` as it is.
 */
export class JambonzVerbs extends withHangupVerb(withVerbMethods(VerbArray)) {
  // map/filter/slice return plain arrays, not builders.
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }
  /** Validate now (throws JambonzVerbError) and return a plain array. */
  validate(): JambonzVerb[] {
    return validateVerbs(this);
  }
}

/** Start a verb array: `verbs().say({ text: 'hi' }).hangup()`. */
export function verbs(...initial: JambonzVerb[]): JambonzVerbs {
  const list = new JambonzVerbs();
  if (initial.length) list.push(...initial);
  return list;
}
