import { randomUUID } from 'node:crypto';
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyEventV2WithJWTAuthorizer,
  APIGatewayRequestAuthorizerEvent,
  Context,
} from 'aws-lambda';
import type { Role } from '../../shared/auth/principal';

interface IamAuthorizerResult {
  iam: { accessKey: string; accountId: string; callerId: string; userArn: string; userId: string };
}

/** A JWT authorizer's result for a Cognito user, claims as API Gateway hands them over (groups flattened). */
export function userClaims(account: string, roles: Role[], subject = `user-${account}`) {
  return {
    jwt: {
      claims: { sub: subject, 'custom:account': account, 'cognito:groups': `[${roles.join(' ')}]`, token_use: 'id' },
      scopes: [],
    },
    principalId: '',
    integrationLatency: 0,
  };
}

/** An IAM authorizer's result for a SigV4-signed caller. */
export function iamCaller(userArn = 'arn:aws:iam::123456789012:user/operator'): IamAuthorizerResult {
  return {
    iam: {
      accessKey: 'AKIDEXAMPLE',
      accountId: '123456789012',
      callerId: 'AIDAEXAMPLE',
      userArn,
      userId: 'AIDAEXAMPLE',
    },
  };
}

/** A Lambda context as the runtime passes it; `remainingMs` is what getRemainingTimeInMillis reports. */
export function fakeContext(functionName: string, remainingMs = 30_000): Context {
  const deadline = Date.now() + remainingMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:123456789012:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: `2026/01/01/[$LATEST]${randomUUID().replace(/-/g, '')}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** An API Gateway HTTP API (payload 2.0) request as Lambda receives it. */
export function httpEvent(
  method: string,
  path: string,
  options: {
    body?: string;
    base64?: boolean;
    pathParameters?: Record<string, string>;
    query?: Record<string, string>;
    /** What the route's authorizer put in the event (see userClaims / iamCaller). */
    authorizer?: APIGatewayProxyEventV2WithJWTAuthorizer['requestContext']['authorizer'] | IamAuthorizerResult;
  } = {},
): APIGatewayProxyEventV2 {
  const now = Date.now();
  const body =
    options.body === undefined
      ? undefined
      : options.base64
        ? Buffer.from(options.body).toString('base64')
        : options.body;
  const queryString = new URLSearchParams(options.query ?? {}).toString();
  return {
    version: '2.0',
    routeKey: `${method} ${path}`,
    rawPath: path,
    rawQueryString: queryString,
    headers: { 'content-type': 'application/json', host: 'api.example.com' },
    ...(options.query ? { queryStringParameters: options.query } : {}),
    ...(options.pathParameters ? { pathParameters: options.pathParameters } : {}),
    requestContext: {
      accountId: '123456789012',
      apiId: 'api123',
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'jest' },
      requestId: randomUUID(),
      routeKey: `${method} ${path}`,
      stage: '$default',
      time: new Date(now).toISOString(),
      timeEpoch: now,
      ...(options.authorizer ? { authorizer: options.authorizer } : {}),
    },
    isBase64Encoded: options.base64 ?? false,
    ...(body === undefined ? {} : { body }),
  };
}

/** A WebSocket API event as the connection function receives it ($connect, $disconnect or a message route). */
export function wsEvent(
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
  connectionId: string,
  options: {
    body?: string;
    routeKey?: string;
    headers?: Record<string, string>;
    authorizer?: Record<string, string>;
  } = {},
) {
  const now = Date.now();
  const routeKey =
    options.routeKey ?? { CONNECT: '$connect', DISCONNECT: '$disconnect', MESSAGE: '$default' }[eventType];
  return {
    ...(eventType === 'CONNECT' ? { headers: options.headers ?? {}, isBase64Encoded: false } : {}),
    ...(options.body === undefined ? {} : { body: options.body, isBase64Encoded: false }),
    requestContext: {
      routeKey,
      eventType,
      connectionId,
      messageId: eventType === 'MESSAGE' ? randomUUID() : undefined,
      extendedRequestId: randomUUID(),
      requestTime: new Date(now).toUTCString(),
      messageDirection: 'IN',
      stage: 'live',
      connectedAt: now,
      requestTimeEpoch: now,
      identity: { sourceIp: '203.0.113.9' },
      requestId: randomUUID(),
      domainName: 'ws.example.com',
      apiId: 'ws123',
      ...(options.authorizer ? { authorizer: { principalId: options.authorizer.sub, ...options.authorizer } } : {}),
    },
  };
}

/** The REQUEST event API Gateway passes a WebSocket API's $connect Lambda authorizer. */
export function wsAuthorizerEvent(options: { query?: Record<string, string>; headers?: Record<string, string> }) {
  return {
    type: 'REQUEST' as const,
    methodArn: 'arn:aws:execute-api:us-east-1:123456789012:ws123/live/$connect',
    resource: '',
    path: '',
    httpMethod: 'GET',
    headers: options.headers ?? {},
    multiValueHeaders: null,
    pathParameters: null,
    queryStringParameters: options.query ?? null,
    multiValueQueryStringParameters: null,
    stageVariables: null,
    requestContext: {
      routeKey: '$connect',
      eventType: 'CONNECT',
      connectionId: randomUUID(),
    } as unknown as APIGatewayRequestAuthorizerEvent['requestContext'],
  } satisfies APIGatewayRequestAuthorizerEvent;
}
