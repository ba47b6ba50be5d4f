import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';

/**
 * Sends messages to WebSocket connections through API Gateway's management API (@connections). The endpoint is
 * the stage's callback URL: `https://<apiId>.execute-api.<region>.amazonaws.com/<stage>` on AWS, the emulated
 * stage URL in the embedded cloud (with the ws:// scheme turned into http://).
 */
export type PostOutcome = 'sent' | 'gone' | 'failed';

export interface ConnectionPoster {
  /** Posts one message; `gone` when API Gateway says the connection no longer exists (410). */
  post(connectionId: string, message: unknown): Promise<PostOutcome>;
}

export function createConnectionPoster(
  endpoint: string,
  onError: (connectionId: string, error: Error) => void,
): ConnectionPoster {
  const client = new ApiGatewayManagementApiClient({ endpoint: endpoint.replace(/^ws(s?):/, 'http$1:') });
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
