/**
 * HTTP requests to the PipelineStack's HTTP API, whose routes are IAM-authorized: each request is signed with
 * SigV4 (service execute-api) using the SDK's default credential chain.
 */
import { SQSClient } from '@aws-sdk/client-sqs';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { NodeSha256 } from '../../shared/aws/sha256';

/** The default credential chain's current credentials (borrowed from an SDK client's resolved config). */
async function defaultCredentials(): Promise<AwsCredentialIdentity> {
  const client = new SQSClient({});
  try {
    return await client.config.credentials();
  } finally {
    client.destroy();
  }
}

export interface SignedFetch {
  (method: 'GET' | 'POST', url: string, body?: string): Promise<{ status: number; body: string }>;
}

export async function createSignedFetch(region: string): Promise<SignedFetch> {
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: await defaultCredentials(),
    sha256: NodeSha256,
  });
  return async (method, url, body) => {
    const u = new URL(url);
    const headers: Record<string, string> = { host: u.host };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const signed = await signer.sign({
      method,
      protocol: u.protocol,
      hostname: u.hostname,
      ...(u.port ? { port: Number(u.port) } : {}),
      path: u.pathname,
      query: Object.fromEntries(u.searchParams),
      headers,
      ...(body !== undefined ? { body } : {}),
    });
    // fetch sets Host itself (from the URL, the same value that was signed).
    const { host: _host, ...sendHeaders } = signed.headers;
    const res = await fetch(url, {
      method,
      headers: sendHeaders,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(30_000),
    });
    return { status: res.status, body: await res.text() };
  };
}
