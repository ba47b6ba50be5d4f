import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { cliEnv, findAwsClis, runAwsCli } from '../../support/aws-cli';
import {
  inlineFunction,
  lambdaIntegration,
  route,
  startGatewayHarness,
  type GatewayHarness,
} from './fixtures/apigateway-harness';

/*
 * ExportApi of the embedded cloud's apigatewayv2 control plane, through the real AWS CLI
 * (`aws apigatewayv2 export-api … --specification OAS30 out.json`): an HTTP API comes back as OpenAPI 3.0 with its
 * routes, security schemes and integrations; a route this product has a contract for (shared/api/routes.ts) with its
 * bodies and responses, as docs/openapi.json describes it.
 */

const ISSUER = 'https://issuer.test.local/pool-1';
const OK = `exports.handler = async () => ({ statusCode: 200, body: '{}' });`;

function template() {
  const api = 'Api';
  return {
    Resources: {
      Api: { Type: 'AWS::ApiGatewayV2::Api', Properties: { Name: 'export-http', ProtocolType: 'HTTP' } },
      Default: {
        Type: 'AWS::ApiGatewayV2::Stage',
        Properties: { ApiId: { Ref: api }, StageName: '$default', AutoDeploy: true },
      },
      Fn: inlineFunction(OK),
      Int: lambdaIntegration(api, 'Fn', { PayloadFormatVersion: '2.0', TimeoutInMillis: 5000 }),
      Jwt: {
        Type: 'AWS::ApiGatewayV2::Authorizer',
        Properties: {
          ApiId: { Ref: api },
          Name: 'UserPoolIdToken',
          AuthorizerType: 'JWT',
          IdentitySource: ['$request.header.Authorization'],
          JwtConfiguration: { Issuer: ISSUER, Audience: ['client-1'] },
        },
      },
      PlaceOrder: route(api, 'POST /orders', 'Int', { AuthorizationType: 'JWT', AuthorizerId: { Ref: 'Jwt' } }),
      Health: route(api, 'GET /health', 'Int', { AuthorizationType: 'AWS_IAM' }),
      Other: route(api, 'GET /other', 'Int'),
    },
    Outputs: { ApiId: { Value: { Ref: api } } },
  };
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- a parsed document
const cli = findAwsClis()[0];
let h: GatewayHarness;
let apiId: string;
let dir: string;

beforeAll(async () => {
  h = await startGatewayHarness();
  apiId = (await h.deploy('GatewayExportStack', template())).ApiId!;
  dir = mkdtempSync(join(tmpdir(), 'export-api-'));
}, 60_000);
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await h?.stop();
});

async function exportApi(outputType: 'JSON' | 'YAML', extra: string[] = []): Promise<string> {
  const out = join(dir, `out-${outputType}-${extra.length}`);
  const args = ['apigatewayv2', 'export-api', '--api-id', apiId, '--output-type', outputType];
  await runAwsCli(cli!, h.edge.endpoint, [...args, '--specification', 'OAS30', ...extra, out], cliEnv());
  return readFileSync(out, 'utf8');
}

(cli ? describe : describe.skip)('apigatewayv2 export-api (real AWS CLI)', () => {
  it('exports the HTTP API as OpenAPI 3.0: routes, security schemes, integrations, and the contracts', async () => {
    const doc = JSON.parse(await exportApi('JSON')) as Json;
    expect(doc.openapi).toBe('3.0.3');
    expect(doc.info.title).toBe('export-http');
    expect(doc['x-amazon-apigateway-importexport-version']).toBe('1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(['/health', '/orders', '/other']);

    const place = doc.paths['/orders'].post;
    expect(place.security).toEqual([{ UserPoolIdToken: [] }]);
    expect(doc.components.securitySchemes.UserPoolIdToken['x-amazon-apigateway-authorizer']).toEqual({
      type: 'jwt',
      identitySource: '$request.header.Authorization',
      jwtConfiguration: { issuer: ISSUER, audience: ['client-1'] },
    });
    expect(place.requestBody.content['application/json'].schema.required).toEqual(
      expect.arrayContaining(['clientOrderId', 'symbol', 'side', 'type', 'quantity']),
    );
    expect(Object.keys(place.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '409', '429']));
    expect(place['x-amazon-apigateway-integration']).toMatchObject({
      type: 'aws_proxy',
      payloadFormatVersion: '2.0',
      timeoutInMillis: 5000,
    });

    expect(doc.paths['/health'].get.security).toEqual([{ sigv4: [] }]);
    expect(doc.components.securitySchemes.sigv4['x-amazon-apigateway-authtype']).toBe('awsSigv4');
    // A route without a contract is described as AWS describes every HTTP API route: a default response.
    expect(doc.paths['/other'].get.responses).toEqual({ default: { description: 'Default response for GET /other' } });
  });

  it('exports YAML, and leaves the x-amazon-apigateway extensions out when asked', async () => {
    const doc = parse(await exportApi('YAML', ['--no-include-extensions'])) as Json;
    expect(doc.openapi).toBe('3.0.3');
    expect(doc['x-amazon-apigateway-importexport-version']).toBeUndefined();
    expect(doc.paths['/orders'].post['x-amazon-apigateway-integration']).toBeUndefined();
  });

  it('refuses a specification other than OAS30 and an unknown API, as AWS does', async () => {
    const refused = (args: string[]) =>
      runAwsCli(cli!, h.edge.endpoint, ['apigatewayv2', 'export-api', ...args, join(dir, 'x')], cliEnv()).then(
        () => '',
        (error: Error) => error.message,
      );
    expect(await refused(['--api-id', apiId, '--output-type', 'JSON', '--specification', 'RAML'])).toMatch(
      /BadRequestException.*only OAS30/s,
    );
    expect(await refused(['--api-id', 'nope', '--output-type', 'JSON', '--specification', 'OAS30'])).toMatch(
      /NotFoundException/,
    );
  });
});
