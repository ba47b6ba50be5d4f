/**
 * CloudWatch Logs filter patterns: parser and matcher. Pure, no I/O.
 *
 * Hand-written because no npm package implements CloudWatch's pattern syntax (the AWS SDK only
 * sends the string; AWS evaluates it server side). Supported, as documented by AWS:
 * - empty pattern: every event;
 * - text terms `ERROR`, quoted phrases `"Failed to process"` (backslash escapes `\"` and `\\`),
 *   exclusions `-term` / `-"phrase"`, alternatives `?term` / `?"phrase"`; matching is case-sensitive
 *   substring matching. Plain terms must all appear, at least one `?` term must appear when there are
 *   any, and no `-` term may appear;
 * - JSON patterns `{ $.a.b[0] = value }` with `=`, `!=`, `<`, `>`, `<=`, `>=`, `&&`, `||`, parentheses,
 *   `*` wildcards in string values, `IS NULL`, `IS TRUE`, `IS FALSE`, `EXISTS`, `NOT EXISTS`.
 *   A comparison on a missing field is false (also for `!=`), as on AWS.
 * Not supported (rejected with a clear error): space-delimited patterns `[a, b, ...]` and `%regex%`.
 */

export class FilterPatternError extends Error {
  override readonly name = 'FilterPatternError';
}

export type PathSegment = string | number;
export type CompareOp = '=' | '!=' | '<' | '>' | '<=' | '>=';
export type IsTest = 'NULL' | 'TRUE' | 'FALSE' | 'EXISTS' | 'NOT EXISTS';

export type JsonValue = { type: 'number'; value: number } | { type: 'string'; value: string };

export type JsonExpr =
  | { kind: 'and'; left: JsonExpr; right: JsonExpr }
  | { kind: 'or'; left: JsonExpr; right: JsonExpr }
  | { kind: 'compare'; path: PathSegment[]; op: CompareOp; value: JsonValue }
  | { kind: 'is'; path: PathSegment[]; test: IsTest };

export type FilterPattern =
  | { kind: 'all' }
  | { kind: 'text'; required: string[]; optional: string[]; excluded: string[] }
  | { kind: 'json'; expr: JsonExpr };

export function parseFilterPattern(source: string): FilterPattern {
  const trimmed = source.trim();
  if (trimmed === '') return { kind: 'all' };
  if (trimmed.startsWith('{')) return { kind: 'json', expr: new JsonParser(trimmed).parseDocument() };
  if (trimmed.startsWith('[')) {
    throw new FilterPatternError('space-delimited filter patterns ([field, ...]) are not supported by this emulator');
  }
  if (trimmed.startsWith('%')) {
    throw new FilterPatternError('regular-expression filter patterns (%regex%) are not supported by this emulator');
  }
  return parseTextPattern(trimmed);
}

function parseTextPattern(source: string): FilterPattern {
  const required: string[] = [];
  const optional: string[] = [];
  const excluded: string[] = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i] as string;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    let bucket = required;
    if (ch === '-' || ch === '?') {
      bucket = ch === '-' ? excluded : optional;
      i++;
      if (i >= source.length || /\s/.test(source[i] as string)) {
        throw new FilterPatternError(`'${ch}' at position ${i - 1} must be followed by a term`);
      }
    }
    if (source[i] === '"') {
      const { text, end } = readQuoted(source, i);
      if (text === '') throw new FilterPatternError(`empty quoted phrase at position ${i}`);
      bucket.push(text);
      i = end;
      if (i < source.length && !/\s/.test(source[i] as string)) {
        throw new FilterPatternError(`expected a space after the quoted phrase ending at position ${i - 1}`);
      }
    } else {
      let end = i;
      while (end < source.length && !/\s/.test(source[end] as string)) {
        if (source[end] === '"') throw new FilterPatternError(`unexpected '"' inside term at position ${end}`);
        end++;
      }
      bucket.push(source.slice(i, end));
      i = end;
    }
  }
  return { kind: 'text', required, optional, excluded };
}

/** Reads a double-quoted string starting at `start` (which holds the quote); returns its text and the index after it. */
function readQuoted(source: string, start: number): { text: string; end: number } {
  let text = '';
  let i = start + 1;
  while (i < source.length) {
    const ch = source[i] as string;
    if (ch === '\\' && i + 1 < source.length) {
      text += source[i + 1];
      i += 2;
    } else if (ch === '"') {
      return { text, end: i + 1 };
    } else {
      text += ch;
      i++;
    }
  }
  throw new FilterPatternError(`unterminated quoted string starting at position ${start}`);
}

const VALUE_TERMINATORS = new Set([' ', '\t', '\n', '\r', ')', '}', '&', '|']);
const IDENT = /[A-Za-z0-9_\-@:$]/;

class JsonParser {
  private pos = 0;
  constructor(private readonly src: string) {}

  parseDocument(): JsonExpr {
    this.expect('{');
    const expr = this.parseOr();
    this.expect('}');
    this.skipSpace();
    if (this.pos < this.src.length) this.fail(`unexpected '${this.src.slice(this.pos)}' after the closing '}'`);
    return expr;
  }

  private parseOr(): JsonExpr {
    let left = this.parseAnd();
    while (this.accept('||')) left = { kind: 'or', left, right: this.parseAnd() };
    return left;
  }

  private parseAnd(): JsonExpr {
    let left = this.parseUnary();
    while (this.accept('&&')) left = { kind: 'and', left, right: this.parseUnary() };
    return left;
  }

  private parseUnary(): JsonExpr {
    if (this.accept('(')) {
      const inner = this.parseOr();
      this.expect(')');
      return inner;
    }
    return this.parseCondition();
  }

  private parseCondition(): JsonExpr {
    const path = this.parseSelector();
    this.skipSpace();
    if (this.acceptWord('IS')) {
      if (this.acceptWord('NULL')) return { kind: 'is', path, test: 'NULL' };
      if (this.acceptWord('TRUE')) return { kind: 'is', path, test: 'TRUE' };
      if (this.acceptWord('FALSE')) return { kind: 'is', path, test: 'FALSE' };
      this.fail('expected NULL, TRUE or FALSE after IS');
    }
    if (this.acceptWord('NOT')) {
      if (this.acceptWord('EXISTS')) return { kind: 'is', path, test: 'NOT EXISTS' };
      this.fail('expected EXISTS after NOT');
    }
    if (this.acceptWord('EXISTS')) return { kind: 'is', path, test: 'EXISTS' };
    const op = this.parseOp();
    const value = this.parseValue();
    if (value.type === 'string' && op !== '=' && op !== '!=') {
      this.fail(`operator ${op} needs a numeric value; string values allow only = and !=`);
    }
    return { kind: 'compare', path, op, value };
  }

  private parseSelector(): PathSegment[] {
    this.skipSpace();
    if (this.src[this.pos] !== '$') this.fail("expected a selector starting with '$'");
    this.pos++;
    const path: PathSegment[] = [];
    for (;;) {
      const ch = this.src[this.pos];
      if (ch === '.') {
        this.pos++;
        const start = this.pos;
        while (this.pos < this.src.length && IDENT.test(this.src[this.pos] as string)) this.pos++;
        if (start === this.pos) this.fail("expected a field name after '.'");
        path.push(this.src.slice(start, this.pos));
      } else if (ch === '[') {
        this.pos++;
        const start = this.pos;
        while (this.pos < this.src.length && /[0-9]/.test(this.src[this.pos] as string)) this.pos++;
        if (start === this.pos || this.src[this.pos] !== ']') this.fail('expected an array index like [0]');
        path.push(Number(this.src.slice(start, this.pos)));
        this.pos++;
      } else {
        break;
      }
    }
    if (path.length === 0) this.fail("expected a field after '$' (for example $.level)");
    return path;
  }

  private parseOp(): CompareOp {
    this.skipSpace();
    for (const op of ['!=', '<=', '>=', '=', '<', '>'] as const) {
      if (this.src.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op;
      }
    }
    return this.fail('expected an operator (=, !=, <, >, <=, >=, IS, EXISTS, NOT EXISTS)');
  }

  private parseValue(): JsonValue {
    this.skipSpace();
    if (this.src[this.pos] === '"') {
      const { text, end } = readQuoted(this.src, this.pos);
      this.pos = end;
      return { type: 'string', value: text };
    }
    const start = this.pos;
    while (this.pos < this.src.length && !VALUE_TERMINATORS.has(this.src[this.pos] as string)) this.pos++;
    const raw = this.src.slice(start, this.pos);
    if (raw === '') this.fail('expected a value');
    if (raw.includes('"')) this.fail(`unexpected '"' in unquoted value '${raw}'`);
    const num = Number(raw);
    if (/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(raw) && Number.isFinite(num)) return { type: 'number', value: num };
    return { type: 'string', value: raw };
  }

  private skipSpace(): void {
    while (this.pos < this.src.length && /\s/.test(this.src[this.pos] as string)) this.pos++;
  }

  private accept(token: string): boolean {
    this.skipSpace();
    if (!this.src.startsWith(token, this.pos)) return false;
    this.pos += token.length;
    return true;
  }

  private acceptWord(word: string): boolean {
    this.skipSpace();
    if (!this.src.startsWith(word, this.pos)) return false;
    const after = this.src[this.pos + word.length];
    if (after !== undefined && /[A-Za-z0-9_]/.test(after)) return false;
    this.pos += word.length;
    return true;
  }

  private expect(token: string): void {
    if (!this.accept(token)) this.fail(`expected '${token}'`);
  }

  private fail(message: string): never {
    throw new FilterPatternError(`${message} at position ${this.pos} in ${JSON.stringify(this.src)}`);
  }
}

/** Compiles a pattern once into a predicate over raw event messages. */
export function compileFilterPattern(source: string): (message: string) => boolean {
  const pattern = parseFilterPattern(source);
  return (message) => matchesPattern(pattern, message);
}

export function matchesPattern(pattern: FilterPattern, message: string): boolean {
  switch (pattern.kind) {
    case 'all':
      return true;
    case 'text':
      return (
        pattern.required.every((t) => message.includes(t)) &&
        (pattern.optional.length === 0 || pattern.optional.some((t) => message.includes(t))) &&
        !pattern.excluded.some((t) => message.includes(t))
      );
    case 'json': {
      const doc = parseJsonObject(message);
      return doc !== undefined && evaluateJsonExpr(pattern.expr, doc);
    }
  }
}

function parseJsonObject(message: string): unknown {
  const text = message.trim();
  if (!text.startsWith('{') && !text.startsWith('[')) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const MISSING = Symbol('missing');

function select(doc: unknown, path: PathSegment[]): unknown {
  let current: unknown = doc;
  for (const segment of path) {
    if (typeof segment === 'number') {
      if (!Array.isArray(current) || segment >= current.length) return MISSING;
      current = current[segment];
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return MISSING;
      if (!Object.prototype.hasOwnProperty.call(current, segment)) return MISSING;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}

export function evaluateJsonExpr(expr: JsonExpr, doc: unknown): boolean {
  switch (expr.kind) {
    case 'and':
      return evaluateJsonExpr(expr.left, doc) && evaluateJsonExpr(expr.right, doc);
    case 'or':
      return evaluateJsonExpr(expr.left, doc) || evaluateJsonExpr(expr.right, doc);
    case 'is': {
      const field = select(doc, expr.path);
      switch (expr.test) {
        case 'NULL':
          return field === null;
        case 'TRUE':
          return field === true;
        case 'FALSE':
          return field === false;
        case 'EXISTS':
          return field !== MISSING;
        case 'NOT EXISTS':
          return field === MISSING;
      }
      return false;
    }
    case 'compare': {
      const field = select(doc, expr.path);
      if (expr.value.type === 'number') {
        if (typeof field !== 'number') return false;
        return compareNumbers(field, expr.op, expr.value.value);
      }
      if (typeof field !== 'string' && typeof field !== 'number' && typeof field !== 'boolean') return false;
      const matched = wildcardMatch(expr.value.value, String(field));
      return expr.op === '=' ? matched : !matched;
    }
  }
}

function compareNumbers(a: number, op: CompareOp, b: number): boolean {
  switch (op) {
    case '=':
      return a === b;
    case '!=':
      return a !== b;
    case '<':
      return a < b;
    case '>':
      return a > b;
    case '<=':
      return a <= b;
    case '>=':
      return a >= b;
  }
}

/** `*` matches any run of characters (including none); everything else is literal. */
export function wildcardMatch(pattern: string, text: string): boolean {
  const parts = pattern.split('*');
  if (parts.length === 1) return pattern === text;
  const first = parts[0] as string;
  const last = parts[parts.length - 1] as string;
  if (text.length < first.length + last.length) return false;
  if (!text.startsWith(first) || !text.endsWith(last)) return false;
  let pos = first.length;
  const limit = text.length - last.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i] as string;
    const found = text.indexOf(part, pos);
    if (found < 0 || found + part.length > limit) return false;
    pos = found + part.length;
  }
  return true;
}

/** Prints a pattern back in CloudWatch syntax; `parseFilterPattern(printFilterPattern(p))` equals `p`. */
export function printFilterPattern(pattern: FilterPattern): string {
  switch (pattern.kind) {
    case 'all':
      return '';
    case 'text':
      return [
        ...pattern.required.map(quote),
        ...pattern.optional.map((t) => `?${quote(t)}`),
        ...pattern.excluded.map((t) => `-${quote(t)}`),
      ].join(' ');
    case 'json':
      return `{ ${printJsonExpr(pattern.expr)} }`;
  }
}

function quote(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function printJsonExpr(expr: JsonExpr): string {
  switch (expr.kind) {
    case 'and':
      return `(${printJsonExpr(expr.left)} && ${printJsonExpr(expr.right)})`;
    case 'or':
      return `(${printJsonExpr(expr.left)} || ${printJsonExpr(expr.right)})`;
    case 'is':
      return `${printPath(expr.path)} ${expr.test === 'EXISTS' || expr.test === 'NOT EXISTS' ? expr.test : `IS ${expr.test}`}`;
    case 'compare':
      return `${printPath(expr.path)} ${expr.op} ${expr.value.type === 'number' ? String(expr.value.value) : quote(expr.value.value)}`;
  }
}

function printPath(path: PathSegment[]): string {
  return `$${path.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('')}`;
}
