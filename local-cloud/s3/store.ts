import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StateFile } from '../state-file';

export interface ObjectMeta {
  size: number;
  /** Quoted MD5 of the body, as S3 sends it for a single-part upload. */
  etag: string;
  lastModified: number;
  contentType: string;
}

export interface BucketEncryption {
  algorithm: string;
  kmsKeyId?: string;
}

interface Bucket {
  created: number;
  region: string;
  /** Recorded from CloudFormation's BucketEncryption and answered by GetBucketEncryption; nothing is encrypted. */
  encryption?: BucketEncryption;
  objects: Record<string, ObjectMeta>;
}

/** An S3 error: the code and HTTP status AWS uses, and its message. */
export class S3Error extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly extra: Record<string, string> = {},
  ) {
    super(message);
  }
}

const BUCKET_NAME = /^(?!\d+\.\d+\.\d+\.\d+$)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Buckets and objects: bodies in `<dir>/objects/` (named by a hash of bucket and key), the index in
 * `<dir>/index.json`; in memory when there is no dir. Single-part objects only — the CDK's assets and
 * templates are far below the 5 GiB single PUT limit, and the edge caps a body well below that.
 */
export class S3Store {
  private readonly file: StateFile<Record<string, Bucket>>;
  private readonly buckets: Map<string, Bucket>;
  private readonly memory = new Map<string, Buffer>();

  constructor(private readonly dir: string | undefined) {
    this.file = new StateFile(dir && join(dir, 'index.json'), () => ({}));
    this.buckets = new Map(Object.entries(this.file.load()));
  }

  createBucket(name: string, region: string): void {
    if (!BUCKET_NAME.test(name) || name.includes('..')) {
      throw new S3Error('InvalidBucketName', 400, 'The specified bucket is not valid.', { BucketName: name });
    }
    const existing = this.buckets.get(name);
    // us-east-1 answers 200 to its owner creating a bucket again; every other region says it is already owned.
    if (existing && region !== 'us-east-1') {
      throw new S3Error(
        'BucketAlreadyOwnedByYou',
        409,
        'Your previous request to create the named bucket succeeded and you already own it.',
        { BucketName: name },
      );
    }
    if (!existing) this.buckets.set(name, { created: Date.now(), region, objects: {} });
    this.save();
  }

  bucket(name: string): Bucket {
    const b = this.buckets.get(name);
    if (!b) throw new S3Error('NoSuchBucket', 404, 'The specified bucket does not exist', { BucketName: name });
    return b;
  }

  hasBucket(name: string): boolean {
    return this.buckets.has(name);
  }

  setEncryption(name: string, encryption: BucketEncryption | undefined): void {
    const b = this.bucket(name);
    if (encryption) b.encryption = encryption;
    else delete b.encryption;
    this.save();
  }

  deleteBucket(name: string): void {
    const b = this.bucket(name);
    if (Object.keys(b.objects).length > 0) {
      throw new S3Error('BucketNotEmpty', 409, 'The bucket you tried to delete is not empty', { BucketName: name });
    }
    this.buckets.delete(name);
    this.save();
  }

  listBuckets(): { name: string; created: number }[] {
    return [...this.buckets].map(([name, b]) => ({ name, created: b.created }));
  }

  put(bucket: string, key: string, body: Buffer, contentType: string): ObjectMeta {
    const b = this.bucket(bucket);
    validateKey(key);
    const meta: ObjectMeta = {
      size: body.length,
      etag: `"${createHash('md5').update(body).digest('hex')}"`,
      lastModified: Date.now(),
      contentType,
    };
    if (this.dir) {
      mkdirSync(join(this.dir, 'objects'), { recursive: true });
      writeFileSync(this.bodyPath(bucket, key), body);
    } else this.memory.set(`${bucket}/${key}`, body);
    b.objects[key] = meta;
    this.save();
    return meta;
  }

  head(bucket: string, key: string): ObjectMeta {
    const meta = this.bucket(bucket).objects[key];
    if (!meta) throw new S3Error('NoSuchKey', 404, 'The specified key does not exist.', { Key: key });
    return meta;
  }

  get(bucket: string, key: string): { meta: ObjectMeta; body: Buffer } {
    const meta = this.head(bucket, key);
    const body = this.dir ? readFileSync(this.bodyPath(bucket, key)) : this.memory.get(`${bucket}/${key}`);
    if (!body) throw new S3Error('NoSuchKey', 404, 'The specified key does not exist.', { Key: key });
    return { meta, body };
  }

  /** Deleting a key that is not there succeeds, as in S3. */
  delete(bucket: string, key: string): void {
    const b = this.bucket(bucket);
    if (!(key in b.objects)) return;
    delete b.objects[key];
    if (this.dir) rmSync(this.bodyPath(bucket, key), { force: true });
    else this.memory.delete(`${bucket}/${key}`);
    this.save();
  }

  /** Keys in UTF-8 binary order, as S3 lists them, from after `startAfter`. */
  list(
    bucket: string,
    prefix: string,
    startAfter: string,
    maxKeys: number,
  ): { keys: [string, ObjectMeta][]; truncated: boolean } {
    const all = Object.entries(this.bucket(bucket).objects)
      .filter(([k]) => k.startsWith(prefix) && Buffer.compare(Buffer.from(k), Buffer.from(startAfter)) > 0)
      .sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    return { keys: all.slice(0, maxKeys), truncated: all.length > maxKeys };
  }

  private bodyPath(bucket: string, key: string): string {
    return join(this.dir ?? '', 'objects', createHash('sha256').update(`${bucket}/${key}`).digest('hex'));
  }

  private save(): void {
    this.file.save(Object.fromEntries(this.buckets));
  }
}

function validateKey(key: string): void {
  if (key.length === 0 || Buffer.byteLength(key) > 1024) {
    throw new S3Error('KeyTooLongError', 400, 'Your key is too long (or empty): at most 1024 bytes of UTF-8.');
  }
}
