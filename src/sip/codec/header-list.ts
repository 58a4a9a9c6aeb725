// SIP header names (compact forms, canonical spelling, list grammar) and the HeaderList store.
/** RFC 3261 §7.3.3 and later extensions' single-letter forms. */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type',
  f: 'From', s: 'Subject', k: 'Supported', t: 'To', v: 'Via', o: 'Event', r: 'Refer-To',
  u: 'Allow-Events', x: 'Session-Expires', y: 'Identity', b: 'Referred-By', a: 'Accept-Contact',
  j: 'Reject-Contact', d: 'Request-Disposition', n: 'Identity-Info',
};

const KNOWN = [
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Authentication-Info', 'Authorization', 'Call-ID', 'Call-Info', 'Contact', 'Content-Disposition',
  'Content-Encoding', 'Content-Language', 'Content-Length', 'Content-Type', 'CSeq', 'Date', 'Error-Info',
  'Event', 'Expires', 'From', 'Identity', 'Identity-Info', 'In-Reply-To', 'Max-Forwards', 'Min-Expires',
  'Min-SE', 'MIME-Version', 'Organization', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Path',
  'Priority', 'Privacy', 'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason',
  'Record-Route', 'Refer-To', 'Referred-By', 'Reject-Contact', 'Replaces', 'Reply-To',
  'Request-Disposition', 'Require', 'Retry-After', 'Route', 'RSeq', 'Server', 'Service-Route',
  'Session-Expires', 'Subject', 'Subscription-State', 'Supported', 'Timestamp', 'To', 'Unsupported',
  'User-Agent', 'Via', 'Warning', 'WWW-Authenticate',
];
const CANONICAL = new Map(KNOWN.map((n) => [n.toLowerCase(), n]));

/** Headers whose grammar is a comma-separated list, so one line may carry several values (§7.3.1). */
const LIST_HEADERS = new Set(
  [
    'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
    'Call-Info', 'Contact', 'Content-Encoding', 'Content-Language', 'Error-Info', 'In-Reply-To', 'Path',
    'P-Asserted-Identity', 'Privacy', 'Proxy-Require', 'Reason', 'Record-Route', 'Reject-Contact',
    'Request-Disposition', 'Require', 'Route', 'Service-Route', 'Supported', 'Unsupported', 'Via', 'Warning',
  ].map((n) => n.toLowerCase()),
);

export function canonicalHeaderName(name: string): string {
  const lower = name.toLowerCase();
  const expanded = lower.length === 1 ? COMPACT[lower] : undefined;
  if (expanded) return expanded;
  return CANONICAL.get(lower) ?? name;
}

/** canonicalHeaderName() for a name whose headerKey() the caller already has. */
export function canonicalHeaderNameOfKey(key: string, raw: string): string {
  return CANONICAL.get(key) ?? raw;
}

/** Compact form → lower-cased full name, so a lookup key costs one toLowerCase. */
const COMPACT_KEY: ReadonlyMap<string, string> = new Map(Object.entries(COMPACT).map(([c, n]) => [c, n.toLowerCase()]));

/** The case-insensitive key of a header name: its canonical name, lower-cased. */
export function headerKey(name: string): string {
  const lower = name.toLowerCase();
  return lower.length === 1 ? (COMPACT_KEY.get(lower) ?? lower) : lower;
}

export function isListHeader(name: string): boolean {
  return LIST_HEADERS.has(headerKey(name));
}

/** isListHeader() for a name already turned into its key by headerKey(). */
export function isListHeaderKey(key: string): boolean {
  return LIST_HEADERS.has(key);
}

export interface HeaderEntry {
  readonly name: string;
  readonly value: string;
}

/**
 * Ordered, multi-valued, case-insensitive header store; each list element is its own entry.
 * Every entry's lookup key (headerKey) is kept alongside it, so a get() compares strings instead
 * of lower-casing every name it passes.
 */
export class HeaderList implements Iterable<HeaderEntry> {
  #entries: HeaderEntry[] = [];
  #keys: string[] = [];
  /**
   * Values already parsed, by parser and raw text. The parser's validation, the transaction layer
   * and the UA all read the same From/To/Via/CSeq of a message; each is parsed once. Keyed by the
   * raw string, so a header that changes simply misses.
   */
  #parsed: Array<{ parse: (raw: string) => unknown; raw: string; value: unknown }> | undefined;
  /**
   * How serialize() writes the values: 'latin1' for a message whose header bytes were not UTF-8,
   * whose values are byte strings (one character per byte; see parse.ts), so that they go back out
   * as the same bytes. Responses take it from their request.
   */
  encoding: 'utf8' | 'latin1' = 'utf8';

  constructor(init?: Iterable<readonly [string, string]>) {
    if (init) for (const [n, v] of init) this.append(n, v);
  }

  static key(name: string): string {
    return headerKey(name);
  }

  get(name: string): string | undefined {
    const k = headerKey(name);
    const keys = this.#keys;
    for (let i = 0; i < keys.length; i++) if (keys[i] === k) return this.#entries[i]!.value;
    return undefined;
  }

  getAll(name: string): string[] {
    const k = headerKey(name);
    const keys = this.#keys;
    const out: string[] = [];
    for (let i = 0; i < keys.length; i++) if (keys[i] === k) out.push(this.#entries[i]!.value);
    return out;
  }

  /** How many values the header has (without building them). */
  count(name: string): number {
    const k = headerKey(name);
    let n = 0;
    for (const key of this.#keys) if (key === k) n++;
    return n;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /**
   * `parse(raw)` for one of this list's values, computed once per (parser, raw) pair. The result is
   * shared by every caller: treat it as read-only (parse afresh to get an object to change).
   */
  parseValue<T>(raw: string, parse: (raw: string) => T): T {
    const seen = this.#parsed;
    if (seen) {
      for (let i = 0; i < seen.length; i++) {
        const p = seen[i]!;
        if (p.parse === parse && p.raw === raw) return p.value as T;
      }
    }
    const value = parse(raw);
    this.remember(parse, raw, value);
    return value;
  }

  /** The first value of a header, parsed (once) with `parse`; undefined when the header is absent. */
  parsedFirst<T>(name: string, parse: (raw: string) => T): T | undefined {
    const raw = this.get(name);
    return raw === undefined ? undefined : this.parseValue(raw, parse);
  }

  /** Records what `parse(raw)` gives, when the caller already has it (e.g. a Via it just stamped). */
  remember<T>(parse: (raw: string) => T, raw: string, value: T): void {
    (this.#parsed ??= []).push({ parse, raw, value });
  }

  /** Replaces every existing value, keeping the position of the first one. */
  set(name: string, value: string | readonly string[]): this {
    const values = typeof value === 'string' ? [value] : value;
    const canonical = canonicalHeaderName(name);
    const k = canonical.toLowerCase();
    const entries: HeaderEntry[] = [];
    const keys: string[] = [];
    let placed = false;
    const place = (): void => {
      for (const v of values) {
        entries.push({ name: canonical, value: v });
        keys.push(k);
      }
      placed = true;
    };
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === k) {
        if (!placed) place();
        continue;
      }
      entries.push(this.#entries[i]!);
      keys.push(this.#keys[i]!);
    }
    if (!placed) place();
    this.#entries = entries;
    this.#keys = keys;
    return this;
  }

  append(name: string, value: string): this {
    const canonical = canonicalHeaderName(name);
    this.#entries.push({ name: canonical, value });
    this.#keys.push(canonical.toLowerCase());
    return this;
  }

  /** append() for a name the caller has already canonicalised, with its headerKey(). */
  appendKeyed(canonical: string, key: string, value: string): this {
    this.#entries.push({ name: canonical, value });
    this.#keys.push(key);
    return this;
  }

  prepend(name: string, value: string): this {
    const canonical = canonicalHeaderName(name);
    this.#entries.unshift({ name: canonical, value });
    this.#keys.unshift(canonical.toLowerCase());
    return this;
  }

  /** Replaces the n-th value of a header (e.g. the topmost Via) in place. */
  replaceAt(name: string, index: number, value: string): boolean {
    const k = headerKey(name);
    let seen = 0;
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === k) {
        if (seen === index) {
          this.#entries[i] = { name: this.#entries[i]!.name, value };
          return true;
        }
        seen++;
      }
    }
    return false;
  }

  remove(name: string): number {
    const k = headerKey(name);
    const before = this.#entries.length;
    const entries: HeaderEntry[] = [];
    const keys: string[] = [];
    for (let i = 0; i < this.#keys.length; i++) {
      if (this.#keys[i] === k) continue;
      entries.push(this.#entries[i]!);
      keys.push(this.#keys[i]!);
    }
    this.#entries = entries;
    this.#keys = keys;
    return before - entries.length;
  }

  clone(): HeaderList {
    const c = new HeaderList();
    c.encoding = this.encoding;
    c.#entries = this.#entries.slice();
    c.#keys = this.#keys.slice();
    return c;
  }

  get size(): number {
    return this.#entries.length;
  }

  [Symbol.iterator](): Iterator<HeaderEntry> {
    return this.#entries[Symbol.iterator]();
  }
}

