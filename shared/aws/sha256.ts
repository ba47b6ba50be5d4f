import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';

/** What the SigV4 signer (@smithy/signature-v4) hashes: text or bytes. */
type SourceData = string | ArrayBuffer | ArrayBufferView;

/**
 * SHA-256 (HMAC when given a secret) on node:crypto, as @smithy/signature-v4 takes it (`sha256: NodeSha256`):
 * @aws-crypto/sha256-js, the usual choice, is nested inside the SDK clients rather than a dependency of ours, and
 * the signer needs only this small interface. Used to sign (tools) and to check signatures (the local API Gateway).
 */
export class NodeSha256 {
  private hash: Hash | Hmac;
  constructor(private readonly secret?: SourceData) {
    this.hash = this.fresh();
  }
  private fresh(): Hash | Hmac {
    return this.secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(this.secret));
  }
  update(data: SourceData): void {
    this.hash.update(toBuffer(data));
  }
  digest(): Promise<Uint8Array> {
    return Promise.resolve(new Uint8Array(this.hash.digest()));
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}
