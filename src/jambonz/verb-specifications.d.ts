// Types for @jambonz/verb-specifications (CommonJS, ships no declarations). The package is the
// schema jambonz itself validates verbs with, so callchart validates against the same code.
declare module '@jambonz/verb-specifications' {
  namespace verbSpecifications {
    /** The validator logs malformed payloads through `info` before throwing. */
    interface SpecLogger {
      info(obj: unknown, msg?: string): void;
    }
    /**
     * One property's spec: a type name (`string`, `number`, `boolean`, `object`, `array`, a union
     * `a|b`, or `#ref` to another spec), `['#ref']` for an array of refs, or `{ type, enum }`.
     */
    type PropertySpec = string | string[] | { type?: string; enum?: readonly unknown[] };
    interface VerbSpec {
      properties: Record<string, PropertySpec>;
      required?: string[];
    }
  }
  const verbSpecifications: {
    specs: Record<string, verbSpecifications.VerbSpec>;
    /** Throws an Error naming the first problem; returns nothing when every verb is valid. */
    validate(logger: verbSpecifications.SpecLogger, verbs: unknown): void;
    validateVerb(name: string, data: unknown, logger: verbSpecifications.SpecLogger): void;
    /** `[{verb:'say', …}]` or `[{say:{…}}]` → `[{say:{…}}]`, with verb aliases resolved. */
    normalizeJambones(logger: verbSpecifications.SpecLogger, verbs: unknown): Array<Record<string, Record<string, unknown>>>;
  };
  export = verbSpecifications;
}
