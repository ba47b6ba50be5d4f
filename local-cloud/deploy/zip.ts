import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { inflateRawSync } from 'node:zlib';

/** A zip holds at most this much unpacked (Lambda's own limit for a function's unzipped code is 250 MB). */
export const MAX_UNZIPPED_BYTES = 250 * 1024 * 1024;

/**
 * Unpacks a Lambda deployment package (the zip the CDK CLI uploaded) into `dir`.
 *
 * Hand-written because no zip reader is among the project's dependencies and this needs only the reading half of
 * PKWARE's APPNOTE: the central directory (which the CDK's archiver always writes), stored and deflated entries
 * (node:zlib inflates), no encryption, no zip64 (a Lambda package is < 250 MB). Entry names that would escape
 * `dir` (`../`, absolute paths) and totals beyond Lambda's unzipped limit are refused, never half-written.
 */
export function extractZip(zip: Buffer, dir: string): void {
  const entries = centralDirectory(zip);
  const root = resolve(dir);
  let total = 0;
  const files: { path: string; data: Buffer }[] = [];
  for (const e of entries) {
    const path = resolve(root, e.name);
    if (path !== root && !path.startsWith(root + sep))
      throw new Error(`zip entry ${e.name} would be written outside ${dir}`);
    if (e.name.endsWith('/')) continue;
    total += e.size;
    if (total > MAX_UNZIPPED_BYTES) throw new Error(`zip unpacks to more than ${MAX_UNZIPPED_BYTES} bytes`);
    files.push({ path, data: entryData(zip, e) });
  }
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true });
    writeFileSync(f.path, f.data);
  }
  mkdirSync(join(root), { recursive: true });
}

interface Entry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeader: number;
}

function centralDirectory(zip: Buffer): Entry[] {
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 65535); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error('not a zip file (no end of central directory record)');
  const count = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  if (count === 0xffff || at === 0xffffffff) throw new Error('zip64 archives are not supported');
  const entries: Entry[] = [];
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error('corrupt zip: bad central directory entry');
    const flags = zip.readUInt16LE(at + 8);
    if (flags & 1) throw new Error('encrypted zip entries are not supported');
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    entries.push({
      method: zip.readUInt16LE(at + 10),
      compressedSize: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
      localHeader: zip.readUInt32LE(at + 42),
      name: zip.subarray(at + 46, at + 46 + nameLength).toString('utf8'),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function entryData(zip: Buffer, e: Entry): Buffer {
  if (zip.readUInt32LE(e.localHeader) !== 0x04034b50) throw new Error(`corrupt zip: bad local header for ${e.name}`);
  const start = e.localHeader + 30 + zip.readUInt16LE(e.localHeader + 26) + zip.readUInt16LE(e.localHeader + 28);
  const raw = zip.subarray(start, start + e.compressedSize);
  const data =
    e.method === 0 ? raw : e.method === 8 ? inflateRawSync(raw, { maxOutputLength: e.size || 1 }) : undefined;
  if (!data)
    throw new Error(`zip entry ${e.name} uses compression method ${e.method} (only stored and deflate are supported)`);
  if (data.length !== e.size)
    throw new Error(`zip entry ${e.name} unpacks to ${data.length} bytes, its header says ${e.size}`);
  return data;
}
