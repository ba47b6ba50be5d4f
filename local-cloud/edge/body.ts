import type { IncomingMessage } from 'node:http';

export class BodyTooLarge extends Error {}

/** Buffers a request body of at most `maxBytes`; rejects with BodyTooLarge as soon as it is exceeded. */
export function readBody(stream: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(stream.headers['content-length'] ?? 0) > maxBytes) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        stream.pause();
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    });
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
