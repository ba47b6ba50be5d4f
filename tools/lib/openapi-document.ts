import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { createTradingStacks, FEATURE_FLAGS } from '../../infra/stacks';
import { buildOpenApiDocument, type ApiRouteInfo, type AuthorizationType } from '../../shared/api/openapi';
import { HTTP_ROUTES } from '../../shared/api/routes';

/*
 * docs/openapi.json from the synthesized PipelineStack: its HTTP API's routes (AWS::ApiGatewayV2::Route) and
 * authorizers as the template has them, each route described by its contract (shared/api/routes.ts). `npm run
 * openapi` writes it; test/unit/api/openapi.test.ts fails when the committed file differs from a fresh one.
 */

export const OPENAPI_PATH = resolve(__dirname, '../../docs/openapi.json');
const ROOT = resolve(__dirname, '../..');

type Resource = { Type: string; Properties: Record<string, unknown> };
export interface CfnTemplate {
  Resources: Record<string, Resource>;
  Outputs?: Record<string, { Value: unknown }>;
}

/**
 * A template value as the document shows it: a literal as is, a Ref as `{<the output that exports it>}` (what a
 * reader finds in the stack's outputs), a user pool's ProviderURL as the issuer it resolves to.
 */
function describeValue(template: CfnTemplate, value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === 'string') {
    const output = Object.entries(template.Outputs ?? {}).find(([, o]) => (o.Value as { Ref?: string })?.Ref === v.Ref);
    return `{${output?.[0] ?? v.Ref}}`;
  }
  const getAtt = v['Fn::GetAtt'] as [string, string] | undefined;
  if (getAtt && getAtt[1] === 'ProviderURL' && template.Resources[getAtt[0]]?.Type === 'AWS::Cognito::UserPool') {
    return 'https://cognito-idp.{region}.amazonaws.com/{UserPoolId}';
  }
  throw new Error(`cannot describe the template value ${JSON.stringify(value)} in the API document`);
}

/** The routes of the template's HTTP API, with their authorization as API Gateway will enforce it. */
export function httpRoutesOfTemplate(template: CfnTemplate): ApiRouteInfo[] {
  const resources = Object.entries(template.Resources);
  const apis = resources.filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Api' && r.Properties.ProtocolType === 'HTTP');
  if (apis.length !== 1) throw new Error(`expected one HTTP API in the template, found ${apis.length}`);
  const apiId = apis[0]![0];
  return resources
    .filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Route' && (r.Properties.ApiId as { Ref?: string }).Ref === apiId)
    .map(([, { Properties: p }]) => {
      const authorizerRef = (p.AuthorizerId as { Ref?: string } | undefined)?.Ref;
      const authorizer = authorizerRef ? template.Resources[authorizerRef]?.Properties : undefined;
      const jwt = authorizer?.JwtConfiguration as { Issuer: unknown; Audience: unknown[] } | undefined;
      return {
        routeKey: p.RouteKey as string,
        authorizationType: (p.AuthorizationType as AuthorizationType | undefined) ?? 'NONE',
        ...(authorizer && jwt
          ? {
              authorizer: {
                name: authorizer.Name as string,
                issuer: describeValue(template, jwt.Issuer),
                audience: jwt.Audience.map((a) => describeValue(template, a)),
                identitySource: authorizer.IdentitySource as string[],
              },
            }
          : {}),
        ...(p.AuthorizationScopes ? { scopes: p.AuthorizationScopes as string[] } : {}),
      };
    });
}

/** PipelineStack's template, synthesized without bundling the functions (the document needs no code). */
export function synthPipelineTemplate(): CfnTemplate {
  const outdir = mkdtempSync(join(tmpdir(), 'openapi-synth-'));
  try {
    // `aws:cdk:bundling-stacks: []` is the CDK's own switch for "bundle no stack" (what `cdk synth --exclusively`
    // uses): NodejsFunction then skips esbuild, so the synth is pure and starts no process.
    // Without CDK's CloudFormation validation either (~5 s of CPU): the document only reads routes, and
    // test/integration/infra/synth.test.ts validates the templates.
    const app = new App({
      outdir,
      builtinCloudFormationValidation: false,
      context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] },
    });
    return Template.fromStack(createTradingStacks(app).pipeline).toJSON() as CfnTemplate;
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/**
 * The document of the template's HTTP API, as docs/openapi.json holds it: JSON.stringify with 2 spaces (the file is
 * in .prettierignore — prettier's JSON style would need prettier at test time, which loads through dynamic imports
 * jest cannot run without --experimental-vm-modules).
 */
export function renderOpenApiDocument(template: CfnTemplate = synthPipelineTemplate()): string {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const document = buildOpenApiDocument(httpRoutesOfTemplate(template), {
    title: 'Trading pipeline HTTP API',
    version: pkg.version,
    description:
      'The HTTP API of PipelineStack (infra/constructs/trading-api.ts), generated by `npm run openapi` from the synthesized template and the contracts in shared/api — do not edit by hand. The reference in words: docs/api.md. User routes take the Cognito user pool’s ID token (JWT authorizer); operator and service routes take SigV4 (IAM). Every error body is JSON with a `message`.',
    servers: [
      {
        url: 'https://{apiId}.execute-api.{region}.amazonaws.com',
        description: 'AWS: the stack output HttpApiUrl',
        variables: { apiId: { default: 'apiId' }, region: { default: 'us-east-1' } },
      },
      {
        url: 'http://127.0.0.1:4566/_aws/execute-api/{apiId}',
        description: 'the embedded cloud (npm start prints it)',
        variables: { apiId: { default: 'apiId' } },
      },
    ],
    contracts: HTTP_ROUTES,
    requireContracts: true,
  });
  return `${JSON.stringify(document, null, 2)}\n`;
}
