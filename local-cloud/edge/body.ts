import type { IncomingMessage } from 'node:http';

export class BodyTooLarge extends Error {}

/** Buffers a request body of at most `maxBytes`; rejects with BodyTooLarge as soon as it is exceeded. */
export function readBody(stream: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(stream.headers['content-length'] ?? 0) > maxBytes) return reject(new BodyTooLarge());
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > maxBytes) {
        // Stops reading here; what happens to the rest (a refusal, a lingering close) is the caller's.
        stream.off('data', onData);
        stream.pause();
        chunks.length = 0;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(c);
    };
    stream.on('data', onData);
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}
