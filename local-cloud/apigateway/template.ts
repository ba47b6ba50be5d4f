import { createHash } from 'node:crypto';

/*
 * AWS::ApiGatewayV2::* resources of a deployed template, turned into plain specs the gateway serves. The deployer
 * resolves each resource's properties (Ref, GetAtt, Join…) and hands them here one at a time, in dependency order;
 * build() links them into one ApiSpec per Api once the whole template is deployed. Specs are plain data (JSON).
 */

export type Protocol = 'HTTP' | 'WEBSOCKET';
export type AuthorizationType = 'NONE' | 'AWS_IAM' | 'JWT' | 'CUSTOM';

export interface ThrottleSpec {
  /** Steady requests per second. */
  rateLimit: number;
  /** Bucket size: requests allowed at once. */
  burstLimit: number;
}

export interface StageSpec {
  name: string;
  autoDeploy: boolean;
  /** DefaultRouteSettings throttling; AWS's account default (10,000/s, burst 5,000) when the stage sets none. */
  throttle: ThrottleSpec;
  /** RouteSettings throttling by route key. */
  routeThrottles: Record<string, ThrottleSpec>;
  accessLog?: { destinationArn: string; logGroup: string; format: string };
  stageVariables: Record<string, string>;
}

export interface RouteSpec {
  id: string;
  routeKey: string;
  authorizationType: AuthorizationType;
  authorizerId?: string;
  scopes: string[];
  integrationId?: string;
  routeResponseSelectionExpression?: string;
  /** RouteResponse keys of this route (`$default` makes a WebSocket route two-way). */
  routeResponseKeys: string[];
}

export interface IntegrationSpec {
  id: string;
  type: string;
  uri: string;
  /** The local function the URI names (Lambda proxy integrations). */
  functionLogicalId?: string;
  payloadFormatVersion: '1.0' | '2.0';
  timeoutMs: number;
}

export interface AuthorizerSpec {
  id: string;
  name: string;
  type: 'JWT' | 'REQUEST';
  /** e.g. `$request.header.Authorization`, `route.request.querystring.token`. */
  identitySource: string[];
  jwt?: { issuer: string; audience: string[] };
  uri?: string;
  functionLogicalId?: string;
  payloadFormatVersion: '1.0' | '2.0';
  enableSimpleResponses: boolean;
}

export interface ApiSpec {
  stackName: string;
  logicalId: string;
  id: string;
  name: string;
  protocol: Protocol;
  routeSelectionExpression: string;
  apiEndpoint: string;
  createdDate: string;
  stages: StageSpec[];
  routes: RouteSpec[];
  integrations: IntegrationSpec[];
  authorizers: AuthorizerSpec[];
}

/** AWS's account-level default throttle for HTTP and WebSocket APIs. */
export const ACCOUNT_THROTTLE: ThrottleSpec = { rateLimit: 10_000, burstLimit: 5_000 };
/** HTTP APIs' maximum integration timeout (and the default), and WebSocket's. */
const DEFAULT_TIMEOUT_MS = { HTTP: 30_000, WEBSOCKET: 29_000 } as const;

export const isApiGatewayV2Type = (type: string): boolean => type.startsWith('AWS::ApiGatewayV2::');

/** A stable id of `length` lowercase letters and digits: the same stack and logical id keep their URL across deploys. */
export function stableId(seed: string, length: number): string {
  const digest = createHash('sha256').update(seed).digest();
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...digest.subarray(0, length)].map((b) => alphabet[b % alphabet.length]).join('');
}

/** The function ARN inside a Lambda integration or authorizer URI (`…/functions/<arn>/invocations`), or the ARN itself. */
export function functionArnOf(uri: string): string {
  return /\/functions\/(arn:[^/]+)\/invocations/.exec(uri)?.[1] ?? uri;
}

type Props = Record<string, unknown>;
interface Created {
  ref: string;
  attrs: Record<string, string>;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : typeof v === 'string' ? [v] : []);
const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));

function throttleOf(settings: unknown): ThrottleSpec | undefined {
  const s = (settings ?? {}) as { ThrottlingRateLimit?: unknown; ThrottlingBurstLimit?: unknown };
  const rate = num(s.ThrottlingRateLimit);
  const burst = num(s.ThrottlingBurstLimit);
  if (rate === undefined && burst === undefined) return undefined;
  return { rateLimit: rate ?? ACCOUNT_THROTTLE.rateLimit, burstLimit: burst ?? ACCOUNT_THROTTLE.burstLimit };
}

/** The log group an AccessLogSettings.DestinationArn names (`arn:aws:logs:<region>:<account>:log-group:<name>[:*]`). */
export function logGroupOfArn(arn: string): string {
  const m = /:log-group:(.+?)(?::\*)?$/.exec(arn);
  if (!m?.[1]) throw new Error(`AccessLogSettings.DestinationArn ${arn} is not a CloudWatch Logs log group ARN`);
  return m[1];
}

/** Collects one template's ApiGatewayV2 resources as the deployer creates them, then links them into ApiSpecs. */
export class ApiGatewayTemplate {
  private readonly apis = new Map<string, ApiSpec>();
  private readonly pending: { type: string; logicalId: string; props: Props; id: string }[] = [];

  constructor(
    private readonly stackName: string,
    private readonly region: string,
    /** The function logical id for a Lambda ARN of this stack; undefined when the ARN is not one. */
    private readonly functionOf: (arn: string) => string | undefined,
  ) {}

  /** Accepts one resource (properties resolved); returns its Ref and attributes. */
  add(logicalId: string, type: string, props: Props): Created {
    const kind = type.slice('AWS::ApiGatewayV2::'.length);
    if (kind === 'Api') return this.addApi(logicalId, props);
    const id = stableId(`${this.stackName}/${logicalId}`, 7);
    if (kind === 'Stage') {
      const name = str(props.StageName);
      if (!name) throw new Error(`${logicalId}: AWS::ApiGatewayV2::Stage needs a StageName`);
      this.pending.push({ type: kind, logicalId, props, id: name });
      return { ref: name, attrs: {} };
    }
    this.pending.push({ type: kind, logicalId, props, id });
    const attr: Record<string, string> = {
      Route: 'RouteId',
      Integration: 'IntegrationId',
      Authorizer: 'AuthorizerId',
      RouteResponse: 'RouteResponseId',
      Deployment: 'DeploymentId',
    };
    return { ref: id, attrs: attr[kind] ? { [attr[kind]]: id } : {} };
  }

  private addApi(logicalId: string, props: Props): Created {
    const protocol = str(props.ProtocolType);
    if (protocol !== 'HTTP' && protocol !== 'WEBSOCKET') {
      throw new Error(`${logicalId}: ProtocolType must be HTTP or WEBSOCKET (got ${String(props.ProtocolType)})`);
    }
    if (props.Body !== undefined || props.BodyS3Location !== undefined) {
      throw new Error(`${logicalId}: APIs imported from an OpenAPI Body are not emulated; define routes as resources`);
    }
    const id = stableId(`${this.stackName}/${logicalId}`, 10);
    const scheme = protocol === 'HTTP' ? 'https' : 'wss';
    const apiEndpoint = `${scheme}://${id}.execute-api.${this.region}.amazonaws.com`;
    this.apis.set(id, {
      stackName: this.stackName,
      logicalId,
      id,
      name: str(props.Name) ?? logicalId,
      protocol,
      routeSelectionExpression:
        str(props.RouteSelectionExpression) ?? (protocol === 'HTTP' ? '${request.method} ${request.path}' : ''),
      apiEndpoint,
      createdDate: new Date().toISOString(),
      stages: [],
      routes: [],
      integrations: [],
      authorizers: [],
    });
    return { ref: id, attrs: { ApiId: id, ApiEndpoint: apiEndpoint } };
  }

  /** Links stages, routes, integrations and authorizers to their APIs; fails naming the first dangling reference. */
  build(): ApiSpec[] {
    const routeResponses: { routeId: string; key: string }[] = [];
    for (const p of this.pending) {
      if (p.type === 'RouteResponse') {
        routeResponses.push({ routeId: String(p.props.RouteId), key: String(p.props.RouteResponseKey) });
        continue;
      }
      if (p.type === 'Deployment') continue; // Stages serve their API's current routes (AutoDeploy or not).
      const api = this.apis.get(String(p.props.ApiId));
      if (!api) throw new Error(`${p.logicalId}: ApiId ${String(p.props.ApiId)} is not an Api of this stack`);
      if (p.type === 'Stage') api.stages.push(this.stage(p.props));
      else if (p.type === 'Route') api.routes.push(this.route(p.id, p.logicalId, p.props));
      else if (p.type === 'Integration') api.integrations.push(this.integration(api, p.id, p.logicalId, p.props));
      else if (p.type === 'Authorizer') api.authorizers.push(this.authorizer(p.id, p.logicalId, p.props));
      else throw new Error(`${p.logicalId}: AWS::ApiGatewayV2::${p.type} is not emulated`);
    }
    for (const api of this.apis.values()) {
      for (const r of api.routes) {
        r.routeResponseKeys = routeResponses.filter((rr) => rr.routeId === r.id).map((rr) => rr.key);
        if (r.integrationId && !api.integrations.some((i) => i.id === r.integrationId))
          throw new Error(`route ${r.routeKey}: its target integrations/${r.integrationId} is not in API ${api.name}`);
        if (r.authorizerId && !api.authorizers.some((a) => a.id === r.authorizerId))
          throw new Error(`route ${r.routeKey}: its authorizer ${r.authorizerId} is not in API ${api.name}`);
      }
    }
    return [...this.apis.values()];
  }

  private stage(props: Props): StageSpec {
    const routeSettings = (props.RouteSettings ?? {}) as Record<string, unknown>;
    const routeThrottles: Record<string, ThrottleSpec> = {};
    for (const [key, settings] of Object.entries(routeSettings)) {
      const t = throttleOf(settings);
      if (t) routeThrottles[key] = t;
    }
    const log = props.AccessLogSettings as { DestinationArn?: unknown; Format?: unknown } | undefined;
    const vars = (props.StageVariables ?? {}) as Record<string, unknown>;
    return {
      name: String(props.StageName),
      autoDeploy: props.AutoDeploy === true || props.AutoDeploy === 'true',
      throttle: throttleOf(props.DefaultRouteSettings) ?? ACCOUNT_THROTTLE,
      routeThrottles,
      ...(log?.DestinationArn
        ? {
            accessLog: {
              destinationArn: String(log.DestinationArn),
              logGroup: logGroupOfArn(String(log.DestinationArn)),
              format: str(log.Format) ?? '$context.requestId',
            },
          }
        : {}),
      stageVariables: Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, String(v)])),
    };
  }

  private route(id: string, logicalId: string, props: Props): RouteSpec {
    const routeKey = str(props.RouteKey);
    if (!routeKey) throw new Error(`${logicalId}: AWS::ApiGatewayV2::Route needs a RouteKey`);
    const type = (str(props.AuthorizationType) ?? 'NONE') as AuthorizationType;
    if (!['NONE', 'AWS_IAM', 'JWT', 'CUSTOM'].includes(type))
      throw new Error(`${logicalId}: AuthorizationType ${type} is not one of NONE, AWS_IAM, JWT, CUSTOM`);
    if ((type === 'JWT' || type === 'CUSTOM') && !str(props.AuthorizerId))
      throw new Error(`${logicalId}: AuthorizationType ${type} needs an AuthorizerId`);
    const target = str(props.Target);
    const integrationId = target ? /^integrations\/(.+)$/.exec(target)?.[1] : undefined;
    if (target && !integrationId) throw new Error(`${logicalId}: Target ${target} is not integrations/<id>`);
    const selection = str(props.RouteResponseSelectionExpression);
    return {
      id,
      routeKey,
      authorizationType: type,
      ...(str(props.AuthorizerId) ? { authorizerId: str(props.AuthorizerId) } : {}),
      scopes: strs(props.AuthorizationScopes),
      ...(integrationId ? { integrationId } : {}),
      ...(selection ? { routeResponseSelectionExpression: selection } : {}),
      routeResponseKeys: [],
    };
  }

  private integration(api: ApiSpec, id: string, logicalId: string, props: Props): IntegrationSpec {
    const type = str(props.IntegrationType) ?? '';
    const uri = str(props.IntegrationUri) ?? '';
    if (type !== 'AWS_PROXY')
      throw new Error(`${logicalId}: IntegrationType ${type} is not emulated (only AWS_PROXY to Lambda)`);
    const functionLogicalId = this.functionOf(functionArnOf(uri));
    if (!functionLogicalId) throw new Error(`${logicalId}: IntegrationUri ${uri} is not a function of this stack`);
    const version = str(props.PayloadFormatVersion) ?? (api.protocol === 'HTTP' ? '2.0' : '1.0');
    if (version !== '1.0' && version !== '2.0')
      throw new Error(`${logicalId}: PayloadFormatVersion ${version} is not 1.0 or 2.0`);
    return {
      id,
      type,
      uri,
      functionLogicalId,
      payloadFormatVersion: version,
      timeoutMs: num(props.TimeoutInMillis) ?? DEFAULT_TIMEOUT_MS[api.protocol],
    };
  }

  private authorizer(id: string, logicalId: string, props: Props): AuthorizerSpec {
    const type = str(props.AuthorizerType);
    if (type !== 'JWT' && type !== 'REQUEST')
      throw new Error(`${logicalId}: AuthorizerType ${String(type)} is not emulated (JWT and REQUEST are)`);
    const base = {
      id,
      name: str(props.Name) ?? logicalId,
      type,
      identitySource: strs(props.IdentitySource),
      payloadFormatVersion: (str(props.AuthorizerPayloadFormatVersion) ?? '1.0') as '1.0' | '2.0',
      enableSimpleResponses: props.EnableSimpleResponses === true,
    } as const;
    if (type === 'JWT') {
      const jwt = (props.JwtConfiguration ?? {}) as { Issuer?: unknown; Audience?: unknown };
      const issuer = str(jwt.Issuer);
      if (!issuer) throw new Error(`${logicalId}: a JWT authorizer needs JwtConfiguration.Issuer`);
      return { ...base, jwt: { issuer, audience: strs(jwt.Audience) } };
    }
    const uri = str(props.AuthorizerUri) ?? '';
    const functionLogicalId = this.functionOf(functionArnOf(uri));
    if (!functionLogicalId) throw new Error(`${logicalId}: AuthorizerUri ${uri} is not a function of this stack`);
    return { ...base, uri, functionLogicalId };
  }
}
