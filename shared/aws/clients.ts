import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/*
 * SDK v3 clients. Endpoints are never configured here: the SDK reads AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>
 * itself, so the same code talks to AWS, LocalStack or the embedded emulators. Handlers create them once per
 * container (at module load) and reuse them across invocations.
 */

/** Kinesis over HTTP/1.1: the SDK's HTTP/2 default is not spoken by the emulators; AWS accepts both. */
export function createKinesisClient(): KinesisClient {
  return new KinesisClient({ requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000 }) });
}

export function createDynamoDbClient(): DynamoDBClient {
  return new DynamoDBClient({});
}

export function createDocumentClient(client: DynamoDBClient = createDynamoDbClient()): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/**
 * Requests go to the configured endpoint, not to the host inside each queue URL: the queue URL is then only an
 * identifier, which keeps emulator URLs (hosts like sqs.us-east-1.127.0.0.1) and real ones working alike.
 */
export function createSqsClient(): SQSClient {
  return new SQSClient({ useQueueUrlAsEndpoint: false });
}

export function createSecretsManagerClient(): SecretsManagerClient {
  return new SecretsManagerClient({});
}
