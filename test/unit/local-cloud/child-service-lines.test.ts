import { freePort, spawnService } from '../../../local-cloud/emulators/child-service';
import { waitFor } from '../../../shared/util/wait';

describe("spawnService: a child's output, line by line", () => {
  it('hands on whole lines however the pipe cuts them, and the last one without a newline when the child ends', async () => {
    const port = await freePort();
    // A real child process serving HTTP (what spawnService waits for) that writes one line in two pieces, 100 ms
    // apart — two chunks on the pipe — then a last line with no newline, and exits.
    const script = [
      `require('node:http').createServer((_, res) => res.end('ok')).listen(${port}, '127.0.0.1', () => {`,
      `  process.stdout.write('kinesa');`,
      `  setTimeout(() => process.stdout.write('lite:put\\nsecond line\\nthé last'), 100);`,
      `  setTimeout(() => process.exit(0), 300);`,
      `});`,
    ].join('\n');
    const lines: string[] = [];
    const child = await spawnService({
      name: 'lines',
      command: process.execPath,
      args: ['-e', script],
      port,
      onOutput: (line) => lines.push(line),
    });
    try {
      await waitFor('the last line', 10_000, () => lines.includes('thé last'));
      expect(lines).toEqual(['kinesalite:put', 'second line', 'thé last']);
    } finally {
      await child.stop();
    }
  });
});
