import type { IncomingHttpHeaders } from 'node:http';

/** The services the edge fronts, named as in their SigV4 signing scope. */
export const EDGE_SERVICES = [
  'kinesis',
  'dynamodb',
  'sqs',
  'sns',
  'logs',
  'sts',
  'ssm',
  's3',
  'cloudformation',
  'secretsmanager',
  'apigateway',
  'cognito-idp',
] as const;
export type EdgeService = (typeof EDGE_SERVICES)[number];

/** X-Amz-Target prefixes of the JSON-protocol services (DynamoDB Streams is served by DynamoDB Local). */
const TARGET_PREFIXES: Record<string, EdgeService> = {
  Kinesis_20131202: 'kinesis',
  DynamoDB_20120810: 'dynamodb',
  DynamoDBStreams_20120810: 'dynamodb',
  AmazonSQS: 'sqs',
  Logs_20140328: 'logs',
  AmazonSSM: 'ssm',
  secretsmanager: 'secretsmanager',
  // InitiateAuth is unsigned: the target prefix is all that names the service.
  AWSCognitoIdentityProviderService: 'cognito-idp',
};

export type RouteDecision =
  | { kind: 'service'; service: EdgeService; region?: string }
  | { kind: 'unsupported'; service: string; source: string }
  | { kind: 'unsigned' };

const CREDENTIAL_SCOPE = /Credential=[^/\s,]+\/\d{8}\/([^/\s,]+)\/([^/\s,]+)\/aws4_request/;
const QUERY_CREDENTIAL = /^[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request$/;

function isEdgeService(name: string): name is EdgeService {
  return (EDGE_SERVICES as readonly string[]).includes(name);
}

/**
 * Which service a request is for: the SigV4 credential scope of the Authorization header
 * (`.../<region>/<service>/aws4_request`), else the X-Amz-Target prefix, else a presigned URL's
 * X-Amz-Credential. DynamoDB Streams signs as `dynamodb` too, so one backend serves both.
 */
export function routeRequest(headers: IncomingHttpHeaders, url: string): RouteDecision {
  const auth = headers.authorization;
  const scope = typeof auth === 'string' ? CREDENTIAL_SCOPE.exec(auth) : null;
  const target = typeof headers['x-amz-target'] === 'string' ? headers['x-amz-target'] : undefined;
  const targetService = target ? TARGET_PREFIXES[target.split('.')[0] as string] : undefined;
  if (scope) {
    const [, region, service] = scope as unknown as [string, string, string];
    if (isEdgeService(service)) return { kind: 'service', service, region };
    if (service === 'streams.dynamodb') return { kind: 'service', service: 'dynamodb', region };
    return { kind: 'unsupported', service, source: 'the SigV4 credential scope of the Authorization header' };
  }
  if (targetService) return { kind: 'service', service: targetService };
  if (target) {
    return { kind: 'unsupported', service: target.split('.')[0] as string, source: 'the X-Amz-Target header' };
  }
  const query = url.indexOf('?');
  if (query >= 0) {
    const credential = new URLSearchParams(url.slice(query + 1)).get('X-Amz-Credential');
    const m = credential ? QUERY_CREDENTIAL.exec(credential) : null;
    if (m) {
      const [, region, service] = m as unknown as [string, string, string];
      if (isEdgeService(service)) return { kind: 'service', service, region };
      return { kind: 'unsupported', service, source: 'the X-Amz-Credential query parameter' };
    }
  }
  return { kind: 'unsigned' };
}
