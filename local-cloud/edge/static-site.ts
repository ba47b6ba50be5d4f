import type { IncomingMessage, ServerResponse } from 'node:http';

export interface SiteFile {
  body: Buffer;
  contentType: string;
}

/**
 * Static sites the edge serves under a path prefix (the web console at /_console/), as a bucket behind a CDN
 * would: GET/HEAD only, an exact file list (no directory walking, so no path traversal), `index.html` for the
 * prefix itself, and headers that keep the page to its own origin.
 */
export class StaticSites {
  private readonly sites = new Map<string, Record<string, SiteFile>>();

  publish(prefix: string, files: Record<string, SiteFile>): void {
    if (!/^\/[\w-]+\/$/.test(prefix)) throw new Error(`static site prefix must look like /name/, got ${prefix}`);
    this.sites.set(prefix, files);
  }

  /** Serves the request if it is for a published site; false when it is not. */
  serve(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0] as string;
    const prefix = [...this.sites.keys()].find((p) => path === p.slice(0, -1) || path.startsWith(p));
    if (!prefix) return false;
    if (path === prefix.slice(0, -1)) {
      res.writeHead(301, { location: prefix }).end();
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return true;
    }
    const file = this.sites.get(prefix)?.[path.slice(prefix.length) || 'index.html'];
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return true;
    }
    // Scripts only from this origin; inline styles allowed because the chart library positions its canvases with
    // style attributes (a style cannot run code).
    res.writeHead(200, {
      'content-type': file.contentType,
      'content-length': file.body.length,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
      'content-security-policy':
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    });
    res.end(req.method === 'HEAD' ? undefined : file.body);
    return true;
  }
}
