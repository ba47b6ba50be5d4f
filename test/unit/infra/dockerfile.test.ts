import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { run as dockerfileLint } from 'dockerfilelint';
import { loadInfraConfig } from '../../../infra/config';

const DOCKERFILE = path.resolve(__dirname, '../../../raft-node/Dockerfile');
const present = existsSync(DOCKERFILE);
if (!present) {
  // RAFT-NODE delivers raft-node/Dockerfile; until it is in the tree there is nothing to lint.
  console.warn(`${DOCKERFILE} is not there yet: the Dockerfile checks are skipped`);
}
const describeIfPresent = present ? describe : describe.skip;

interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

/** Instructions of the Dockerfile, continuation lines joined, comments dropped. */
function instructions(source: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let start = 0;
  source.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) return;
    if (pending === '') start = index + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    const full = pending + line;
    pending = '';
    const match = /^(\S+)\s*(.*)$/.exec(full);
    if (match?.[1]) out.push({ keyword: match[1].toUpperCase(), args: match[2] ?? '', line: start });
  });
  return out;
}

describeIfPresent('raft-node/Dockerfile', () => {
  const source = present ? readFileSync(DOCKERFILE, 'utf8') : '';
  const all = instructions(source);
  // The image that runs is the last stage: everything after the last FROM.
  const lastFrom = all.map((instruction) => instruction.keyword).lastIndexOf('FROM');
  const runtime = all.slice(lastFrom);
  const find = (keyword: string) => runtime.filter((instruction) => instruction.keyword === keyword);
  const config = loadInfraConfig(new App().node);

  it('passes dockerfilelint', () => {
    const findings = dockerfileLint(path.dirname(DOCKERFILE), source);
    expect(findings.map((finding) => `line ${finding.line}: ${finding.rule} ${finding.title}`)).toEqual([]);
  });

  it('runs as a non-root user whose uid the EFS access points use', () => {
    const users = find('USER');
    expect(users.length).toBeGreaterThan(0);
    const user = users[users.length - 1]?.args.split(':')[0]?.trim() ?? '';
    expect(['root', '0', '']).not.toContain(user);
    const base = find('FROM')[0]?.args ?? '';
    if (/^\d+$/.test(user)) {
      expect(Number(user)).toBe(config.raftNodeUid);
    } else {
      // The official Node images' "node" user is uid/gid 1000.
      expect(user).toBe('node');
      expect(base).toMatch(/^node:/);
      expect(config.raftNodeUid).toBe(1000);
    }
  });

  it('has a health check', () => {
    const checks = find('HEALTHCHECK');
    expect(checks).toHaveLength(1);
    expect(checks[0]?.args).toMatch(/CMD/);
    expect(checks[0]?.args).not.toMatch(/^NONE/);
  });

  it('declares a volume for the data dir the node uses (and the ECS tasks mount)', () => {
    const volumes = find('VOLUME').map((instruction) => instruction.args);
    expect(volumes.join(' ')).toContain(`"${config.raftDataDir}"`);
    const env = find('ENV')
      .map((instruction) => instruction.args)
      .join(' ');
    expect(env).toMatch(new RegExp(`RAFT_DATA_DIR=${config.raftDataDir}(\\s|$)`));
  });

  it('listens on the ports the stacks and compose expect', () => {
    const exposed = find('EXPOSE').flatMap((instruction) => instruction.args.split(/\s+/));
    expect(exposed).toEqual(
      expect.arrayContaining([String(config.raftPeerPort), String(config.raftHttpPort), String(config.raftClientPort)]),
    );
  });
});
