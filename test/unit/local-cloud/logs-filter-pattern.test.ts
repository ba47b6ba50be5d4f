import fc from 'fast-check';
import {
  compileFilterPattern,
  evaluateJsonExpr,
  FilterPatternError,
  parseFilterPattern,
  printFilterPattern,
  wildcardMatch,
  type FilterPattern,
  type JsonExpr,
} from '../../../local-cloud/logs-emulator/filter-pattern';

const matches = (pattern: string, message: string) => compileFilterPattern(pattern)(message);

describe('text filter patterns', () => {
  it.each([
    ['', 'anything', true],
    ['ERROR', '[ERROR] disk full', true],
    ['ERROR', 'error: lower case', false],
    ['ERROR disk', 'ERROR: disk full', true],
    ['ERROR disk', 'ERROR: memory', false],
    ['"disk full"', 'ERROR: disk full', true],
    ['"disk full"', 'ERROR: full disk', false],
    ['ERROR -Exiting', 'ERROR something', true],
    ['ERROR -Exiting', 'ERROR Exiting now', false],
    ['?ERROR ?WARN', 'WARN low disk', true],
    ['?ERROR ?WARN', 'INFO all good', false],
    ['?ERROR ?WARN -disk', 'WARN low disk', false],
    ['order ?ACCEPTED ?REJECTED', 'order o-1 REJECTED', true],
    ['order ?ACCEPTED ?REJECTED', 'order o-1 PENDING', false],
    ['-"no such"', 'all fine', true],
    ['"say \\"hi\\""', 'they say "hi" loudly', true],
  ])('%j on %j → %s', (pattern, message, expected) => {
    expect(matches(pattern, message)).toBe(expected);
  });

  it.each([
    ['"unterminated', /unterminated quoted string/],
    ['ERROR -', /must be followed by a term/],
    ['a"b', /unexpected '"'/],
    ['[ip, user]', /space-delimited/],
    ['%ERR.*%', /regular-expression/],
  ])('rejects %j with a clear error', (pattern, message) => {
    expect(() => parseFilterPattern(pattern)).toThrow(FilterPatternError);
    expect(() => parseFilterPattern(pattern)).toThrow(message);
  });
});

describe('JSON filter patterns', () => {
  const event = JSON.stringify({
    level: 'ERROR',
    eventType: 'UpdateTrail',
    sourceIPAddress: '123.123.45.6',
    latency: 120,
    quantity: 0,
    ok: false,
    done: true,
    missingValue: null,
    user: { id: 7, email: 'a@example.com', tags: ['x', 'y'] },
    orders: [
      { id: 'o-1', qty: 5 },
      { id: 'o-2', qty: 50 },
    ],
  });

  it.each([
    ['{ $.level = "ERROR" }', true],
    ['{ $.level = ERROR }', true],
    ['{ $.level != "ERROR" }', false],
    ['{ $.level = "ERR*" }', true],
    ['{ $.eventType = *Trail }', true],
    ['{ $.sourceIPAddress = 123.123.* }', true],
    ['{ $.sourceIPAddress != 123.124.* }', true],
    ['{ $.latency > 100 }', true],
    ['{ $.latency >= 120 }', true],
    ['{ $.latency < 120 }', false],
    ['{ $.latency <= 120.0 }', true],
    ['{ $.latency = 120 }', true],
    ['{ $.latency != 120 }', false],
    ['{ $.quantity = 0 }', true],
    ['{ $.latency = "120" }', true],
    ['{ $.user.id = 7 }', true],
    ['{ $.user.email = "*@example.com" }', true],
    ['{ $.user.tags[1] = "y" }', true],
    ['{ $.user.tags[5] = "y" }', false],
    ['{ $.orders[1].qty > 10 }', true],
    ['{ $.orders[0].qty > 10 }', false],
    ['{ ($.level = "ERROR") && ($.latency > 100) }', true],
    ['{ $.level = "INFO" || $.latency > 100 }', true],
    ['{ $.level = "INFO" || $.latency > 500 }', false],
    ['{ ($.level = "INFO" || $.level = "ERROR") && $.user.id = 7 }', true],
    ['{ $.level = "ERROR" && ($.latency > 500 || $.user.id = 8) }', false],
    ['{ $.nothere = "x" }', false],
    ['{ $.nothere != "x" }', false],
    ['{ $.missingValue IS NULL }', true],
    ['{ $.level IS NULL }', false],
    ['{ $.done IS TRUE }', true],
    ['{ $.ok IS FALSE }', true],
    ['{ $.ok IS TRUE }', false],
    ['{ $.nothere NOT EXISTS }', true],
    ['{ $.level NOT EXISTS }', false],
    ['{ $.missingValue EXISTS }', true],
    ['{ $.user > 3 }', false],
  ])('%s → %s', (pattern, expected) => {
    expect(matches(pattern, event)).toBe(expected);
  });

  it('never matches a message that is not JSON', () => {
    expect(matches('{ $.level = "ERROR" }', 'level=ERROR')).toBe(false);
    expect(matches('{ $.level = "ERROR" }', '{ broken json')).toBe(false);
  });

  it.each([
    ['{ $.level = }', /expected a value/],
    ['{ level = 1 }', /selector starting with '\$'/],
    ['{ $.level > "x" }', /string values allow only = and !=/],
    ['{ $.a = 1 ', /expected '}'/],
    ['{ ($.a = 1 }', /expected '\)'/],
    ['{ $.a = 1 } trailing', /after the closing/],
    ['{ $ = 1 }', /expected a field after/],
    ['{ $.a[x] = 1 }', /array index/],
    ['{ $.a IS MAYBE }', /NULL, TRUE or FALSE/],
    ['{ $.a ~ 1 }', /expected an operator/],
  ])('rejects %s with a clear error', (pattern, message) => {
    expect(() => parseFilterPattern(pattern)).toThrow(message);
  });
});

describe('filter patterns: properties', () => {
  const word = fc.stringMatching(/^[A-Za-z0-9_]{1,8}$/);
  const text = fc
    .array(fc.oneof(word, fc.constantFrom(' ', ':', '[', ']', '"', '-')), { maxLength: 12 })
    .map((a) => a.join(''));

  it('a single term matches exactly the messages containing it; -term is its negation', () => {
    fc.assert(
      fc.property(word, text, (term, message) => {
        expect(matches(term, message)).toBe(message.includes(term));
        expect(matches(`-${term}`, message)).toBe(!message.includes(term));
      }),
    );
  });

  it('?a ?b is a disjunction, a b a conjunction', () => {
    fc.assert(
      fc.property(word, word, text, (a, b, message) => {
        expect(matches(`?${a} ?${b}`, message)).toBe(message.includes(a) || message.includes(b));
        expect(matches(`${a} ${b}`, message)).toBe(message.includes(a) && message.includes(b));
      }),
    );
  });

  it('* wildcards agree with an equivalent regular expression', () => {
    const piece = fc.stringMatching(/^[ab.*]{0,6}$/);
    fc.assert(
      fc.property(piece, fc.stringMatching(/^[ab.]{0,8}$/), (pattern, value) => {
        const regex = new RegExp(`^${pattern.replace(/[.]/g, '\\.').replace(/\*/g, '.*')}$`);
        expect(wildcardMatch(pattern, value)).toBe(regex.test(value));
      }),
    );
  });

  const field = fc.constantFrom('a', 'b', 'c');
  const jsonExpr: fc.Arbitrary<JsonExpr> = fc.letrec<{ expr: JsonExpr }>((tie) => ({
    expr: fc.oneof(
      { depthSize: 'small', withCrossShrink: true },
      fc.record({
        kind: fc.constant('compare' as const),
        path: fc.tuple(field).map((p): (string | number)[] => p),
        op: fc.constantFrom('=' as const, '!=' as const, '<' as const, '>' as const, '<=' as const, '>=' as const),
        value: fc.integer({ min: -5, max: 5 }).map((n) => ({ type: 'number' as const, value: n })),
      }),
      fc.record({
        kind: fc.constant('compare' as const),
        path: fc.tuple(field).map((p): (string | number)[] => p),
        op: fc.constantFrom('=' as const, '!=' as const),
        value: fc.stringMatching(/^[xy*]{1,3}$/).map((s) => ({ type: 'string' as const, value: s })),
      }),
      fc.record({
        kind: fc.constant('is' as const),
        path: fc.tuple(field).map((p): (string | number)[] => p),
        test: fc.constantFrom(
          'NULL' as const,
          'TRUE' as const,
          'FALSE' as const,
          'EXISTS' as const,
          'NOT EXISTS' as const,
        ),
      }),
      fc.record({ kind: fc.constant('and' as const), left: tie('expr'), right: tie('expr') }),
      fc.record({ kind: fc.constant('or' as const), left: tie('expr'), right: tie('expr') }),
    ),
  })).expr;
  const scalar = fc.oneof(
    fc.integer({ min: -5, max: 5 }),
    fc.stringMatching(/^[xy]{0,3}$/),
    fc.boolean(),
    fc.constant(null),
  );
  const doc = fc.record({ a: scalar, b: scalar, c: scalar }, { requiredKeys: [] });

  it('print → parse is the identity on the syntax tree', () => {
    fc.assert(
      fc.property(jsonExpr, (expr) => {
        const pattern: FilterPattern = { kind: 'json', expr };
        expect(parseFilterPattern(printFilterPattern(pattern))).toEqual(pattern);
      }),
    );
    const textPattern = fc.record({
      kind: fc.constant('text' as const),
      required: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 3 }),
      optional: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 3 }),
      excluded: fc.array(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 3 }),
    });
    fc.assert(
      fc.property(textPattern, (pattern) => {
        fc.pre(pattern.required.length + pattern.optional.length + pattern.excluded.length > 0);
        expect(parseFilterPattern(printFilterPattern(pattern))).toEqual(pattern);
      }),
    );
  });

  it('a printed JSON pattern matches a serialized event exactly when the tree evaluates true on it', () => {
    fc.assert(
      fc.property(jsonExpr, doc, (expr, d) => {
        expect(matches(printFilterPattern({ kind: 'json', expr }), JSON.stringify(d))).toBe(evaluateJsonExpr(expr, d));
      }),
    );
  });

  it('&& and || follow boolean algebra (De Morgan-free checks: commutativity, idempotence)', () => {
    fc.assert(
      fc.property(jsonExpr, jsonExpr, doc, (l, r, d) => {
        const and = evaluateJsonExpr({ kind: 'and', left: l, right: r }, d);
        const or = evaluateJsonExpr({ kind: 'or', left: l, right: r }, d);
        expect(and).toBe(evaluateJsonExpr({ kind: 'and', left: r, right: l }, d));
        expect(or).toBe(evaluateJsonExpr({ kind: 'or', left: r, right: l }, d));
        expect(and).toBe(evaluateJsonExpr(l, d) && evaluateJsonExpr(r, d));
        expect(or).toBe(evaluateJsonExpr(l, d) || evaluateJsonExpr(r, d));
      }),
    );
  });

  it('numeric comparisons agree with JavaScript on the field value', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer(), (n, k) => {
        const msg = JSON.stringify({ n });
        expect(matches(`{ $.n > ${k} }`, msg)).toBe(n > k);
        expect(matches(`{ $.n <= ${k} }`, msg)).toBe(n <= k);
        expect(matches(`{ $.n = ${k} }`, msg)).toBe(n === k);
        expect(matches(`{ $.n != ${k} }`, msg)).toBe(n !== k);
      }),
    );
  });

  it('the parser either returns a pattern or throws FilterPatternError, on any input', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.string().map((s) => `{ ${s} }`),
        ),
        (source) => {
          try {
            parseFilterPattern(source);
          } catch (err) {
            expect(err).toBeInstanceOf(FilterPatternError);
          }
        },
      ),
    );
  });
});
