import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chooseDynamoDbFlavour, SHARED_DB_FILE } from '../../../local-cloud/emulators/dynamodb';

/**
 * Which DynamoDB emulator a stack runs: the embedded cloud needs nothing but Node (dynalite without a JDK), and a
 * data dir keeps the emulator whose tables it holds — switching would leave the deployed stack without its tables.
 */
describe('chooseDynamoDbFlavour', () => {
  const dirs: string[] = [];
  const folder = (file?: string): string => {
    const dir = mkdtempSync(join(tmpdir(), 'ddb-flavour-'));
    dirs.push(dir);
    if (file) writeFileSync(join(dir, file), '');
    return dir;
  };
  const withJava = () => Promise.resolve(true);
  const withoutJava = () => Promise.resolve(false);
  afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('takes DynamoDB Local with a JDK and dynalite without one, for a new or absent folder', async () => {
    expect(await chooseDynamoDbFlavour(folder(), undefined, withJava)).toBe('dynamodb-local');
    expect(await chooseDynamoDbFlavour(folder(), undefined, withoutJava)).toBe('dynalite');
    expect(await chooseDynamoDbFlavour(undefined, undefined, withoutJava)).toBe('dynalite');
    expect(await chooseDynamoDbFlavour(join(folder(), 'not-yet'), 'dynalite', withJava)).toBe('dynalite');
  });

  it('keeps the emulator whose tables the folder holds, whether or not a JDK is there now', async () => {
    expect(await chooseDynamoDbFlavour(folder('CURRENT'), undefined, withJava)).toBe('dynalite');
    expect(await chooseDynamoDbFlavour(folder(SHARED_DB_FILE), undefined, withJava)).toBe('dynamodb-local');
  });

  it('refuses the other emulator for a folder holding tables, naming both and the way out', async () => {
    const dynalite = folder('CURRENT');
    await expect(chooseDynamoDbFlavour(dynalite, 'dynamodb-local', withJava)).rejects.toThrow(
      `${dynalite} holds dynalite's tables, not DynamoDB Local's: use --dynamodb dynalite, or another data dir (--fresh deletes this one)`,
    );
    await expect(chooseDynamoDbFlavour(folder(SHARED_DB_FILE), 'dynalite', withJava)).rejects.toThrow(
      /holds DynamoDB Local's tables, not dynalite's: use --dynamodb dynamodb-local/,
    );
  });

  it("says a JDK is needed for DynamoDB Local's tables when there is none", async () => {
    await expect(chooseDynamoDbFlavour(folder(SHARED_DB_FILE), undefined, withoutJava)).rejects.toThrow(
      /holds DynamoDB Local's tables, which needs a JDK 17 \(java and javac\)/,
    );
  });
});
