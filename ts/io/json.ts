// A strict JSON parser for untrusted file headers. JSON.parse is not enough there: it keeps the
// last of two equal keys without a word (a header could then name a tensor twice and be read two
// ways), it rounds integers past 2^53 silently, and it accepts 1.0 or 1e2 where a count is meant.
// This one keeps objects as ordered key lists, rejects duplicate keys, keeps each number's text so
// callers can demand exact integers, and bounds nesting so a hostile header cannot exhaust the stack.
// Grammar: RFC 8259, nothing more (no comments, no trailing commas, no NaN).

export type Json = null | boolean | string | JsonNumber | Json[] | JsonObject;
export class JsonNumber {
  constructor(readonly text: string) {}
  /** The value when the text is a plain integer (no fraction, no exponent) that is exactly representable. */
  get safeInteger(): number | null {
    if (!/^-?(0|[1-9][0-9]*)$/.test(this.text)) return null;
    const v = Number(this.text);
    return Number.isSafeInteger(v) ? v : null;
  }
}
export class JsonObject {
  constructor(readonly entries: [string, Json][]) {}
  get(key: string): Json | undefined {
    for (const [k, v] of this.entries) if (k === key) return v;
    return undefined;
  }
}

/** Raised with a character position; the caller turns it into its own typed error. */
export class JsonSyntaxError extends Error {}

const MAX_DEPTH = 32;
const SIMPLE_ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True if s encodes to UTF-8 (no unpaired surrogate halves). */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** What a value is, for messages: 'a string', 'the number 1.5', 'an array'... */
export function describe(v: Json | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? v.slice(0, 40) + '...' : v)}`;
  if (v instanceof JsonNumber) return `the number ${v.text.length > 40 ? v.text.slice(0, 40) + '...' : v.text}`;
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return 'an object';
}

export function parseJson(text: string): Json {
  let pos = 0;
  const fail = (what: string): never => {
    const found = pos < text.length ? JSON.stringify(text[pos]) : 'the end of the text';
    throw new JsonSyntaxError(`${what} at character ${pos}, found ${found}`);
  };
  const skipSpace = () => {
    for (;;) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else return;
    }
  };
  const literal = (word: string, value: Json): Json => {
    if (text.startsWith(word, pos)) {
      pos += word.length;
      return value;
    }
    return fail('invalid literal');
  };
  const parseString = (): string => {
    pos++;  // opening quote
    let out = '';
    let runStart = pos;
    for (;;) {
      if (pos >= text.length) fail('unterminated string');
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        out += text.slice(runStart, pos);
        pos++;
        if (!isWellFormed(out)) throw new JsonSyntaxError(`string ending at character ${pos} holds an unpaired UTF-16 surrogate escape`);
        return out;
      }
      if (c < 0x20) fail('unescaped control character in string');
      if (c !== 0x5c) {
        pos++;
        continue;
      }
      out += text.slice(runStart, pos);
      const e = text[pos + 1];
      if (e !== undefined && Object.hasOwn(SIMPLE_ESCAPES, e)) {
        out += SIMPLE_ESCAPES[e];
        pos += 2;
      } else if (e === 'u') {
        const hex = text.slice(pos + 2, pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) {
          pos += 2;
          fail('invalid \\u escape');
        }
        out += String.fromCharCode(parseInt(hex, 16));
        pos += 6;
      } else {
        pos++;
        fail('invalid escape');
      }
      runStart = pos;
    }
  };
  const parseNumber = (): JsonNumber => {
    const m = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
    m.lastIndex = pos;
    const r = m.exec(text);
    if (!r || r[0].length === 0 || r[0] === '-') return fail('invalid number');
    pos += r[0].length;
    return new JsonNumber(r[0]);
  };
  const parseValue = (depth: number): Json => {
    if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH} levels`);
    skipSpace();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const entries: [string, Json][] = [];
      const seen = new Set<string>();
      skipSpace();
      if (text[pos] === '}') {
        pos++;
        return new JsonObject(entries);
      }
      for (;;) {
        skipSpace();
        if (text[pos] !== '"') fail('expected a string key');
        const keyAt = pos;
        const key = parseString();
        if (seen.has(key)) throw new JsonSyntaxError(`duplicate key ${JSON.stringify(key)} at character ${keyAt}`);
        seen.add(key);
        skipSpace();
        if (text[pos] !== ':') fail("expected ':'");
        pos++;
        entries.push([key, parseValue(depth + 1)]);
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] === '}') {
          pos++;
          return new JsonObject(entries);
        } else fail("expected ',' or '}'");
      }
    }
    if (c === '[') {
      pos++;
      const items: Json[] = [];
      skipSpace();
      if (text[pos] === ']') {
        pos++;
        return items;
      }
      for (;;) {
        items.push(parseValue(depth + 1));
        skipSpace();
        if (text[pos] === ',') pos++;
        else if (text[pos] === ']') {
          pos++;
          return items;
        } else fail("expected ',' or ']'");
      }
    }
    if (c === '"') return parseString();
    if (c === 't') return literal('true', true);
    if (c === 'f') return literal('false', false);
    if (c === 'n') return literal('null', null);
    if (c === '-' || (c >= '0' && c <= '9')) return parseNumber();
    return fail('expected a value');
  };
  const value = parseValue(0);
  skipSpace();
  if (pos !== text.length) fail('unexpected text after the JSON value');
  return value;
}
