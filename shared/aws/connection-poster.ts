import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';

/**
 * Sends messages to WebSocket connections through API Gateway's management API (@connections).
 */
export type PostOutcome = 'sent' | 'gone' | 'failed';

export interface ConnectionPoster {
  /** Posts one message; `gone` when API Gateway says the connection no longer exists (410). */
  post(connectionId: string, message: unknown): Promise<PostOutcome>;
}

const AWS_STAGE_URL = /^(?:wss|https):\/\/([a-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?\/([^/]+)\/?$/;

/**
 * Where @connections is for a stage. On AWS: the stage's URL `https://<apiId>.execute-api.<region>.amazonaws.com/
 * <stage>` (the SDK posts to `<that>/@connections/<id>`). Every other client of ours follows AWS_ENDPOINT_URL to
 * the embedded cloud or LocalStack, but this one is built with an explicit endpoint, so it follows it here:
 * `<AWS_ENDPOINT_URL>/_aws/execute-api/<apiId>/<stage>`, the local execute-api form LocalStack documents and the
 * embedded cloud serves.
 */
export function managementEndpoint(stageUrl: string, localEndpoint?: string): string {
  const aws = AWS_STAGE_URL.exec(stageUrl);
  if (localEndpoint && aws) return `${localEndpoint.replace(/\/$/, '')}/_aws/execute-api/${aws[1]}/${aws[2]}`;
  return stageUrl.replace(/^ws(s?):/, 'http$1:');
}

export function createConnectionPoster(
  endpoint: string,
  onError: (connectionId: string, error: Error) => void,
): ConnectionPoster {
  const client = new ApiGatewayManagementApiClient({ endpoint });
  return {
    async post(connectionId, message) {
      try {
        await client.send(
          new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(message)) }),
        );
        return 'sent';
      } catch (error) {
        if (error instanceof GoneException) return 'gone';
        onError(connectionId, error as Error);
        return 'failed';
      }
    },
  };
}

/**
 * Delivers to many connections: each connection's messages one after another (in the order given), the
 * connections in parallel with at most `concurrency` posts in flight. Returns the connections that are gone and
 * those a post failed for (the caller decides whether that fails the work).
 */
export async function postToEach(
  poster: ConnectionPoster,
  deliveries: Map<string, unknown[]>,
  concurrency: number,
): Promise<{ gone: string[]; failed: string[] }> {
  const gone: string[] = [];
  const failed: string[] = [];
  const queue = deliveries.entries();
  // Hand-written rather than p-limit (not a dependency here): `concurrency` workers over one shared iterator, each
  // taking the next connection and posting its messages in order — six lines, no per-task promise bookkeeping.
  const worker = async (): Promise<void> => {
    for (const [connectionId, messages] of queue) {
      for (const message of messages) {
        const outcome = await poster.post(connectionId, message);
        if (outcome === 'gone') gone.push(connectionId);
        if (outcome === 'failed') failed.push(connectionId);
        if (outcome !== 'sent') break;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, deliveries.size)) }, worker));
  return { gone, failed };
}
