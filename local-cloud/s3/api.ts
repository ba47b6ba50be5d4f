import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseXML } from '@aws-sdk/xml-builder';
import { BodyTooLarge, readBody } from '../edge/body';
import { escapeXml } from '../edge/sqs-query';
import { xmlDocument, type XmlValue } from '../edge/xml';
import { S3Error, type S3Store } from './store';

const XMLNS = 'http://s3.amazonaws.com/doc/2006-03-01/';
/**
 * The largest body the edge buffers for S3. Lambda's zipped deployment package is at most 50 MB and a
 * CloudFormation TemplateURL template at most 1 MB; a cap keeps one client from filling the memory.
 */
export const MAX_S3_BODY_BYTES = 64 * 1024 * 1024;
/** Bucket sub-resources (`?policy`, `?versioning`…) that are answered; the others are refused by name. */
const SERVED_SUBRESOURCES = new Set(['location', 'encryption', 'delete', 'list-type']);
const SUBRESOURCES = [
  'accelerate',
  'acl',
  'analytics',
  'cors',
  'encryption',
  'intelligent-tiering',
  'inventory',
  'lifecycle',
  'location',
  'logging',
  'metrics',
  'notification',
  'object-lock',
  'ownershipControls',
  'policy',
  'policyStatus',
  'publicAccessBlock',
  'replication',
  'requestPayment',
  'tagging',
  'uploads',
  'versioning',
  'versions',
  'website',
  'delete',
  'attributes',
  'legal-hold',
  'retention',
  'restore',
  'select',
  'torrent',
  'uploadId',
];

/**
 * S3's REST-XML API for what the CDK CLI and CloudFormation do with the bootstrap bucket: create/head/delete a
 * bucket, GetBucketLocation, GetBucketEncryption, ListObjectsV2 (and v1), Put/Head/Get/DeleteObject and
 * DeleteObjects. Path-style addressing (`/bucket/key`, what the SDK uses for an IP endpoint) and virtual hosts
 * under `localhost`. Anything else is answered with NotImplemented naming it, never with a wrong shape.
 */
export async function serveS3(
  store: S3Store,
  req: IncomingMessage,
  res: ServerResponse,
  region: string,
): Promise<void> {
  try {
    await route(store, req, res, region);
  } catch (err) {
    if (err instanceof BodyTooLarge) {
      res.setHeader('connection', 'close');
      sendError(
        req,
        res,
        new S3Error(
          'EntityTooLarge',
          400,
          `Your proposed upload exceeds the local maximum of ${MAX_S3_BODY_BYTES} bytes.`,
        ),
      );
      res.once('finish', () => req.destroy());
    } else if (err instanceof S3Error) sendError(req, res, err);
    else throw err;
  }
}

function addressOf(req: IncomingMessage): { bucket: string; key: string; query: URLSearchParams } {
  const [rawPath = '/', qs = ''] = (req.url ?? '/').split('?');
  const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
  const path = rawPath.split('/').map((p) => decodeURIComponent(p));
  if (host.endsWith('.localhost')) {
    return {
      bucket: host.slice(0, -'.localhost'.length),
      key: path.slice(1).join('/'),
      query: new URLSearchParams(qs),
    };
  }
  return { bucket: path[1] ?? '', key: path.slice(2).join('/'), query: new URLSearchParams(qs) };
}

async function route(store: S3Store, req: IncomingMessage, res: ServerResponse, region: string): Promise<void> {
  const { bucket, key, query } = addressOf(req);
  const method = req.method ?? 'GET';
  const sub = SUBRESOURCES.find((s) => query.has(s) && !SERVED_SUBRESOURCES.has(s));
  if (sub)
    throw new S3Error(
      'NotImplemented',
      501,
      `S3 ${method} ?${sub} is not emulated locally (docs/local-cloud.md lists what is)`,
    );
  if (!bucket) {
    if (method !== 'GET') throw new S3Error('MethodNotAllowed', 405, `${method} / is not allowed`);
    return sendXmlDoc(res, 'ListAllMyBucketsResult', {
      Owner: { ID: 'local', DisplayName: 'local' },
      Buckets: { Bucket: store.listBuckets().map((b) => ({ Name: b.name, CreationDate: new Date(b.created) })) },
    });
  }
  if (!key) return bucketRequest(store, req, res, { bucket, query, method, region });
  switch (method) {
    case 'PUT': {
      if (req.headers['x-amz-copy-source'])
        throw new S3Error('NotImplemented', 501, 'CopyObject is not emulated locally');
      const body = decodeAwsChunked(req, await readBody(req, MAX_S3_BODY_BYTES));
      const meta = store.put(bucket, key, body, String(req.headers['content-type'] ?? 'binary/octet-stream'));
      return send(res, 200, { etag: meta.etag });
    }
    case 'HEAD':
    case 'GET': {
      const { meta, body } =
        method === 'GET' ? store.get(bucket, key) : { meta: store.head(bucket, key), body: undefined };
      res.writeHead(200, {
        'content-type': meta.contentType,
        'content-length': String(meta.size),
        etag: meta.etag,
        'last-modified': new Date(meta.lastModified).toUTCString(),
        'accept-ranges': 'bytes',
      });
      res.end(body);
      return;
    }
    case 'DELETE':
      store.delete(bucket, key);
      return send(res, 204);
    default:
      throw new S3Error('MethodNotAllowed', 405, `${method} on an object is not allowed`);
  }
}

async function bucketRequest(
  store: S3Store,
  req: IncomingMessage,
  res: ServerResponse,
  r: { bucket: string; query: URLSearchParams; method: string; region: string },
): Promise<void> {
  const { bucket, query } = r;
  if (r.method === 'PUT') {
    const body = (await readBody(req, 64 * 1024)).toString('utf8');
    const constraint = /<LocationConstraint>([^<]*)<\/LocationConstraint>/.exec(body)?.[1];
    store.createBucket(bucket, constraint || r.region);
    return send(res, 200, { location: `/${bucket}` });
  }
  if (r.method === 'HEAD') {
    const b = store.bucket(bucket);
    return send(res, 200, { 'x-amz-bucket-region': b.region });
  }
  if (r.method === 'DELETE') {
    store.deleteBucket(bucket);
    return send(res, 204);
  }
  if (r.method === 'POST' && query.has('delete')) return deleteObjects(store, req, res, bucket);
  if (r.method !== 'GET') throw new S3Error('MethodNotAllowed', 405, `${r.method} on a bucket is not allowed`);
  const b = store.bucket(bucket);
  if (query.has('location')) {
    // us-east-1 is the empty constraint, as S3 answers it.
    return sendXmlDoc(res, 'LocationConstraint', b.region === 'us-east-1' ? '' : b.region);
  }
  if (query.has('encryption')) {
    if (!b.encryption) {
      throw new S3Error(
        'ServerSideEncryptionConfigurationNotFoundError',
        404,
        'The server side encryption configuration was not found',
      );
    }
    const byDefault = { SSEAlgorithm: b.encryption.algorithm, KMSMasterKeyID: b.encryption.kmsKeyId };
    return sendXmlDoc(res, 'ServerSideEncryptionConfiguration', {
      Rule: { ApplyServerSideEncryptionByDefault: byDefault },
    });
  }
  return listObjects(store, res, bucket, query);
}

function listObjects(store: S3Store, res: ServerResponse, bucket: string, query: URLSearchParams): void {
  const v2 = query.get('list-type') === '2';
  if (query.has('delimiter'))
    throw new S3Error('NotImplemented', 501, 'ListObjects with a delimiter is not emulated locally');
  const prefix = query.get('prefix') ?? '';
  const maxKeys = Math.min(1000, Math.max(0, Number(query.get('max-keys') ?? 1000)));
  const token = query.get('continuation-token');
  const after = v2
    ? token
      ? Buffer.from(token, 'base64').toString('utf8')
      : (query.get('start-after') ?? '')
    : (query.get('marker') ?? '');
  const { keys, truncated } = store.list(bucket, prefix, after, maxKeys);
  const last = keys.at(-1)?.[0];
  const contents = keys.map(([Key, m]) => ({
    Key,
    LastModified: new Date(m.lastModified),
    ETag: m.etag,
    Size: m.size,
    StorageClass: 'STANDARD',
  }));
  const page: Record<string, XmlValue> = v2
    ? {
        Name: bucket,
        Prefix: prefix,
        KeyCount: keys.length,
        MaxKeys: maxKeys,
        IsTruncated: truncated,
        ...(token ? { ContinuationToken: token } : {}),
        ...(truncated && last ? { NextContinuationToken: Buffer.from(last).toString('base64') } : {}),
        Contents: contents,
      }
    : {
        Name: bucket,
        Prefix: prefix,
        Marker: after,
        MaxKeys: maxKeys,
        IsTruncated: truncated,
        ...(truncated && last ? { NextMarker: last } : {}),
        Contents: contents,
      };
  sendXmlDoc(res, 'ListBucketResult', page);
}

async function deleteObjects(store: S3Store, req: IncomingMessage, res: ServerResponse, bucket: string): Promise<void> {
  store.bucket(bucket);
  const parsed = parseXML(decodeAwsChunked(req, await readBody(req, 2 * 1024 * 1024)).toString('utf8')) as {
    Delete?: { Object?: { Key?: string } | { Key?: string }[]; Quiet?: string };
  };
  const objects = [parsed.Delete?.Object ?? []].flat();
  if (objects.length > 1000) throw new S3Error('MalformedXML', 400, 'DeleteObjects takes at most 1000 keys');
  const deleted: { Key: string }[] = [];
  for (const o of objects) {
    if (typeof o.Key !== 'string') throw new S3Error('MalformedXML', 400, 'every Object in Delete needs a Key');
    store.delete(bucket, o.Key);
    deleted.push({ Key: o.Key });
  }
  sendXmlDoc(res, 'DeleteResult', { Deleted: parsed.Delete?.Quiet === 'true' ? [] : deleted });
}

/**
 * The SDK sends streamed bodies as `aws-chunked` (`<hex size>[;chunk-signature=…]\r\n<data>\r\n…0\r\n<trailers>`),
 * with the decoded length in x-amz-decoded-content-length. Hand-written: a dozen lines of a documented framing.
 */
export function decodeAwsChunked(req: IncomingMessage, body: Buffer): Buffer {
  const encoding = String(req.headers['content-encoding'] ?? '');
  const sha = String(req.headers['x-amz-content-sha256'] ?? '');
  if (!encoding.includes('aws-chunked') && !sha.startsWith('STREAMING-')) return body;
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) throw new S3Error('IncompleteBody', 400, 'the aws-chunked body ends inside a chunk header');
    const size = parseInt(body.subarray(at, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (!Number.isInteger(size) || size < 0)
      throw new S3Error('InvalidRequest', 400, 'malformed aws-chunked chunk size');
    if (size === 0) break;
    parts.push(body.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  const decoded = Buffer.concat(parts);
  const declared = req.headers['x-amz-decoded-content-length'];
  if (declared !== undefined && Number(declared) !== decoded.length) {
    throw new S3Error(
      'IncompleteBody',
      400,
      `the body has ${decoded.length} bytes, x-amz-decoded-content-length says ${String(declared)}`,
    );
  }
  return decoded;
}

function send(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'x-amz-request-id': randomUUID(), 'content-length': '0', ...headers });
  res.end();
}

function sendXmlDoc(res: ServerResponse, root: string, body: Record<string, XmlValue> | string): void {
  const xml =
    typeof body === 'string'
      ? `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${XMLNS}">${escapeXml(body)}</${root}>`
      : xmlDocument(root, XMLNS, body);
  res.writeHead(200, {
    'content-type': 'application/xml',
    'content-length': String(Buffer.byteLength(xml)),
    'x-amz-request-id': randomUUID(),
  });
  res.end(xml);
}

function sendError(req: IncomingMessage, res: ServerResponse, err: S3Error): void {
  if (req.method === 'HEAD') {
    res.writeHead(err.status, { 'x-amz-request-id': randomUUID(), 'content-length': '0' });
    res.end();
    return;
  }
  const xml = xmlDocument('Error', undefined, {
    Code: err.code,
    Message: err.message,
    ...err.extra,
    RequestId: randomUUID(),
  });
  res.writeHead(err.status, { 'content-type': 'application/xml', 'content-length': String(Buffer.byteLength(xml)) });
  res.end(xml);
}
