import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { StaticSites } from '../../../local-cloud/edge/static-site';

describe('static sites on the edge', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    const sites = new StaticSites();
    sites.publish('/_console/', {
      'index.html': { body: Buffer.from('<h1>console</h1>'), contentType: 'text/html' },
      'app.js': { body: Buffer.from('1'), contentType: 'text/javascript' },
    });
    server = createServer((req, res) => {
      if (!sites.serve(req, res)) res.writeHead(418).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('serves the listed files with headers that keep the page to its origin', async () => {
    const res = await fetch(`${base}/_console/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('<h1>console</h1>');
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${base}/_console`, { redirect: 'manual' })).headers.get('location')).toBe('/_console/');
  });

  it('serves nothing outside its file list: traversal, unknown files, other methods', async () => {
    for (const path of ['/_console/../package.json', '/_console/%2e%2e/package.json', '/_console/src/main.ts']) {
      const res = await fetch(`${base}${path}`);
      expect([404, 418]).toContain(res.status);
    }
    expect((await fetch(`${base}/_console/app.js`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(418);
  });
});
