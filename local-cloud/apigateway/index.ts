import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { serveControlPlane } from './control-plane';
import { ApiGateway, type ApiGatewayOptions, type FunctionResolver } from './gateway';
import type { ApiSpec } from './template';
import { WebSocketGateway, type WebSocketLimits } from './websocket';

export { invokeUrls, EXECUTE_API_PREFIX } from './gateway';
export type { ApiGatewayOptions, FunctionResolver } from './gateway';
export type { ApiSpec } from './template';
export type { JwksResolver } from './auth';
export type { WebSocketLimits } from './websocket';

/**
 * The embedded cloud's API Gateway v2, as the edge uses it: execute-api requests (HTTP APIs and the @connections
 * API), WebSocket upgrades, and the apigatewayv2 control plane, over the APIs of every deployed stack.
 */
export class ApiGatewayEmulator {
  private readonly http: ApiGateway;
  private readonly websockets: WebSocketGateway;

  constructor(opts: ApiGatewayOptions & { websocket?: WebSocketLimits } = {}) {
    this.http = new ApiGateway(opts);
    this.websockets = new WebSocketGateway(this.http, opts.websocket);
  }

  setFunctions(resolver: FunctionResolver): void {
    this.http.setFunctions(resolver);
  }

  apply(stackName: string, apis: ApiSpec[] | undefined): void {
    this.http.apply(stackName, apis);
    this.websockets.refresh();
  }

  apis(): ApiSpec[] {
    return this.http.apis();
  }

  /** Serves the request if it is addressed to an execute-api endpoint; false when it is for another service. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void> | false {
    const target = this.http.target(req);
    if (!target) return false;
    if (this.websockets.isConnectionsRequest(target)) return this.websockets.handleConnections(req, res, target);
    return this.http.handleHttp(req, res, target);
  }

  /** Takes a WebSocket upgrade addressed to an execute-api endpoint; false for any other (the edge refuses it). */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> | false {
    const target = this.http.target(req);
    return target ? this.websockets.handleUpgrade(req, socket, head, target) : false;
  }

  control(req: IncomingMessage, res: ServerResponse): void {
    serveControlPlane(this.http.apis(), req, res);
  }

  close(): void {
    this.websockets.close();
  }
}
