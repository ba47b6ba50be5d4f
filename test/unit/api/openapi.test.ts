import { readFileSync } from 'node:fs';
import Ajv from 'ajv';
import {
  httpRoutesOfTemplate,
  OPENAPI_PATH,
  renderOpenApiDocument,
  synthPipelineTemplate,
  type CfnTemplate,
} from '../../../tools/lib/openapi-document';

/*
 * docs/openapi.json is generated (npm run openapi); these tests keep it true of the code: the committed file is what a
 * fresh generation writes, every route of the synthesized template is in it with the template's authorization, a
 * route without a contract cannot be generated, and the document holds together (refs resolve, schemas compile).
 * No OpenAPI meta-schema validator is installed (none ships in node_modules, and adding one was not worth a
 * dependency), so the structural checks below stand in for one.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a parsed JSON document, walked by hand
type Json = Record<string, any>;
let template: CfnTemplate;
let committed: Json;
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options'];

beforeAll(() => {
  // The synth without bundling is pure (no esbuild process) but takes ~15 s on a shared 2-core machine.
  template = synthPipelineTemplate();
  committed = JSON.parse(readFileSync(OPENAPI_PATH, 'utf8')) as Json;
}, 120_000);

function operations(doc: Json): { method: string; path: string; op: Json }[] {
  return Object.entries(doc.paths as Json).flatMap(([path, item]) =>
    Object.entries(item as Json)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ method, path, op: op as Json })),
  );
}

/** An OpenAPI 3.0 schema as the JSON Schema draft 7 ajv compiles: exclusive bounds as numbers, `nullable` as a type. */
function asDraft7(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asDraft7);
  if (typeof value !== 'object' || value === null) return value;
  const out: Json = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asDraft7(v)]));
  for (const [flag, bound] of [
    ['exclusiveMinimum', 'minimum'],
    ['exclusiveMaximum', 'maximum'],
  ] as const) {
    if (out[flag] === true) {
      out[flag] = out[bound];
      delete out[bound];
    } else if (out[flag] === false) delete out[flag];
  }
  // `nullable` (OpenAPI 3.0) as draft 7 says it: null is one more type, or one more alternative.
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === 'string') return { ...out, type: [out.type, 'null'] };
    return { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

describe('docs/openapi.json', () => {
  it('is what npm run openapi generates now (run it after changing a route or a contract)', () => {
    expect(readFileSync(OPENAPI_PATH, 'utf8')).toBe(renderOpenApiDocument(template));
  });

  it("has every route of the template's HTTP API, with the template's authorization", () => {
    const routes = httpRoutesOfTemplate(template);
    expect(routes.length).toBeGreaterThanOrEqual(13);
    const documented = new Map(operations(committed).map((o) => [`${o.method.toUpperCase()} ${o.path}`, o.op]));
    expect([...documented.keys()].sort()).toEqual(routes.map((r) => r.routeKey).sort());
    for (const route of routes) {
      const op = documented.get(route.routeKey)!;
      const scheme = route.authorizationType === 'JWT' ? route.authorizer!.name : 'sigv4';
      expect([route.routeKey, route.authorizationType]).not.toEqual([route.routeKey, 'NONE']);
      expect({ route: route.routeKey, security: op.security }).toEqual({
        route: route.routeKey,
        security: [{ [scheme]: [] }],
      });
      // API Gateway's refusal of a caller without credentials is documented on each route.
      const refusal = route.authorizationType === 'JWT' ? '401' : '403';
      expect({ route: route.routeKey, refusal: Object.keys(op.responses).includes(refusal) }).toEqual({
        route: route.routeKey,
        refusal: true,
      });
    }
  });

  it('cannot be generated while a route of the template has no contract', () => {
    const api = Object.entries(template.Resources).find(([, r]) => r.Type === 'AWS::ApiGatewayV2::Route')![1];
    const extra: CfnTemplate = {
      ...template,
      Resources: {
        ...template.Resources,
        UndocumentedRoute: { ...api, Properties: { ...api.Properties, RouteKey: 'GET /undocumented' } },
      },
    };
    expect(() => renderOpenApiDocument(extra)).toThrow(
      'routes without a contract in shared/api/routes.ts: GET /undocumented',
    );
  });

  it('holds together: refs resolve, schemas compile, path parameters match the paths, each route has a 2xx', () => {
    expect(committed.openapi).toBe('3.0.3');
    const text = JSON.stringify(committed);
    const refs = [...text.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(0);
    for (const ref of new Set(refs)) {
      expect(ref).toMatch(/^#\/components\/schemas\/\w+$/);
      expect(committed.components.schemas[ref.split('/').pop()!]).toBeDefined();
    }
    // OpenAPI 3.0's schema dialect is JSON Schema draft 4/5 plus `nullable` (ajv knows it); ajv compiles each schema,
    // resolving refs through the components.
    const ajv = new Ajv({ strict: false, allErrors: true });
    ajv.addSchema({ components: asDraft7({ schemas: committed.components.schemas }) as Json }, 'doc');
    const compile = (schema: Json) =>
      ajv.compile(
        JSON.parse(JSON.stringify(asDraft7(schema)).replaceAll('"#/components/', '"doc#/components/')) as Json,
      );
    for (const id of Object.keys(committed.components.schemas as Json)) compile({ $ref: `#/components/schemas/${id}` });
    for (const { method, path, op } of operations(committed)) {
      const where = `${method.toUpperCase()} ${path}`;
      const braces = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const pathParams = (op.parameters as Json[]).filter((p) => p.in === 'path').map((p) => p.name);
      expect({ where, pathParams }).toEqual({ where, pathParams: braces });
      expect({ where, ok: Object.keys(op.responses).some((s) => /^2\d\d$/.test(s)) }).toEqual({ where, ok: true });
      for (const [status, response] of Object.entries(op.responses as Json)) {
        expect({ where, status, description: typeof response.description }).toEqual({
          where,
          status,
          description: 'string',
        });
        expect(() => compile(response.content['application/json'].schema as Json)).not.toThrow();
      }
      if (op.requestBody) {
        expect(() => compile(op.requestBody.content['application/json'].schema as Json)).not.toThrow();
      }
    }
  });
});
