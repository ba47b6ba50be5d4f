import { parse, type Tags } from 'yaml';
import { QueryError } from '../edge/xml';
import type { CfnTemplate } from '../deploy/synth';

/** CloudFormation's YAML short forms (`!Ref X`, `!Sub …`, `!GetAtt A.B`) as their long forms. */
const SHORT_FORMS: Tags = [
  ...[
    'Base64',
    'Cidr',
    'FindInMap',
    'GetAZs',
    'ImportValue',
    'Join',
    'Select',
    'Split',
    'Sub',
    'Transform',
    'And',
    'Equals',
    'If',
    'Not',
    'Or',
    'Contains',
  ].flatMap((fn) =>
    (['scalar', 'seq', 'map'] as const).map((kind) => ({
      tag: `!${fn}`,
      ...(kind === 'scalar' ? {} : { collection: kind }),
      resolve: (value: unknown) => ({ [`Fn::${fn}`]: toJs(value) }),
    })),
  ),
  { tag: '!Ref', resolve: (value: unknown) => ({ Ref: value }) },
  { tag: '!Condition', resolve: (value: unknown) => ({ Condition: value }) },
  { tag: '!GetAtt', resolve: (value: unknown) => ({ 'Fn::GetAtt': String(value).split('.') }) },
  { tag: '!GetAtt', collection: 'seq', resolve: (value: unknown) => ({ 'Fn::GetAtt': toJs(value) }) },
] as Tags;

function toJs(value: unknown): unknown {
  return value && typeof value === 'object' && 'toJSON' in value ? (value as { toJSON(): unknown }).toJSON() : value;
}

/** Parses a template body (JSON, or YAML with or without short forms) and checks its top-level shape. */
export function parseTemplate(body: string): CfnTemplate {
  let template: unknown;
  try {
    template = parse(body, { customTags: SHORT_FORMS, maxAliasCount: 100 });
  } catch (err) {
    throw new QueryError('ValidationError', `Template format error: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!template || typeof template !== 'object' || Array.isArray(template)) {
    throw new QueryError('ValidationError', 'Template format error: the template is not a JSON or YAML object');
  }
  const t = template as CfnTemplate;
  if (!t.Resources || typeof t.Resources !== 'object' || Object.keys(t.Resources).length === 0) {
    throw new QueryError('ValidationError', 'Template format error: At least one Resources member must be defined.');
  }
  for (const [id, r] of Object.entries(t.Resources)) {
    if (!r || typeof r.Type !== 'string') {
      throw new QueryError(
        'ValidationError',
        `Template format error: [/Resources/${id}] Every Resources object must contain a Type member.`,
      );
    }
  }
  return t;
}

/** What a condition or rule may refer to: the parameters' values and the pseudo parameters. */
export interface StaticContext {
  refs: Record<string, unknown>;
  template: CfnTemplate;
}

/**
 * Evaluates the intrinsic functions allowed in Conditions and Rules (no resource attributes are known there):
 * Ref of parameters and pseudo parameters, Fn::Equals/Not/And/Or/Contains, Condition, Fn::Join/Sub/Select/
 * Split/FindInMap. Anything else is a template error, as CloudFormation reports it.
 */
export function evaluateStatic(value: unknown, ctx: StaticContext, conditions: Record<string, boolean>): unknown {
  if (Array.isArray(value)) return value.map((v) => evaluateStatic(v, ctx, conditions));
  if (value === null || typeof value !== 'object') return value;
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length !== 1) return Object.fromEntries(entries.map(([k, v]) => [k, evaluateStatic(v, ctx, conditions)]));
  const [fn, arg] = entries[0] as [string, unknown];
  const ev = (v: unknown) => evaluateStatic(v, ctx, conditions);
  switch (fn) {
    case 'Ref': {
      const name = String(arg);
      if (!(name in ctx.refs))
        throw new QueryError(
          'ValidationError',
          `Template format error: Unresolved resource dependencies [${name}] in the Conditions or Rules block of the template`,
        );
      return ctx.refs[name];
    }
    case 'Condition':
      return conditionValue(String(arg), ctx, conditions);
    case 'Fn::Equals': {
      const [a, b] = ev(arg) as [unknown, unknown];
      return String(a) === String(b);
    }
    case 'Fn::Not':
      return !(ev(arg) as [boolean])[0];
    case 'Fn::And':
      return (ev(arg) as boolean[]).every(Boolean);
    case 'Fn::Or':
      return (ev(arg) as boolean[]).some(Boolean);
    case 'Fn::Contains': {
      const [list, item] = ev(arg) as [unknown[], unknown];
      return list.map(String).includes(String(item));
    }
    case 'Fn::Join': {
      const [sep, parts] = ev(arg) as [string, unknown[]];
      return parts.map(String).join(sep);
    }
    case 'Fn::Select': {
      const [i, list] = ev(arg) as [number, unknown[]];
      return list[Number(i)];
    }
    case 'Fn::Split': {
      const [sep, text] = ev(arg) as [string, string];
      return String(text).split(sep);
    }
    case 'Fn::FindInMap': {
      const [map, top, second] = ev(arg) as [string, string, string];
      const found = ctx.template.Mappings?.[map]?.[top]?.[second];
      if (found === undefined)
        throw new QueryError('ValidationError', `Template error: Unable to get mapping for ${map}::${top}::${second}`);
      return found;
    }
    case 'Fn::Sub': {
      const [text, vars] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [String(arg), {}];
      const resolvedVars = ev(vars) as Record<string, unknown>;
      return text.replace(/\$\{([^}!]+)\}/g, (_, name: string) =>
        String(name in resolvedVars ? resolvedVars[name] : ev({ Ref: name })),
      );
    }
    default:
      if (fn.startsWith('Fn::'))
        throw new QueryError(
          'ValidationError',
          `Template error: ${fn} is not supported in Conditions or Rules locally`,
        );
      return { [fn]: ev(arg) };
  }
}

function conditionValue(name: string, ctx: StaticContext, conditions: Record<string, boolean>): boolean {
  if (name in conditions) return conditions[name] as boolean;
  const expr = ctx.template.Conditions?.[name];
  if (expr === undefined)
    throw new QueryError(
      'ValidationError',
      `Template format error: Unresolved dependencies [${name}]. Cannot reference resources in the Conditions block of the template`,
    );
  conditions[name] = Boolean(evaluateStatic(expr, ctx, conditions));
  return conditions[name];
}

/** Every condition of the template, evaluated once. */
export function evaluateConditions(ctx: StaticContext): Record<string, boolean> {
  const conditions: Record<string, boolean> = {};
  for (const name of Object.keys(ctx.template.Conditions ?? {})) conditionValue(name, ctx, conditions);
  return conditions;
}

/** Checks the template's Rules; a failed assertion is the ValidationError CloudFormation gives, with its description. */
export function checkRules(ctx: StaticContext, conditions: Record<string, boolean>): void {
  for (const [name, rule] of Object.entries(ctx.template.Rules ?? {})) {
    if (rule.RuleCondition !== undefined && !evaluateStatic(rule.RuleCondition, ctx, conditions)) continue;
    for (const a of rule.Assertions ?? []) {
      if (!evaluateStatic(a.Assert, ctx, conditions)) {
        throw new QueryError('ValidationError', a.AssertDescription ?? `Template error: rule ${name} failed`);
      }
    }
  }
}
