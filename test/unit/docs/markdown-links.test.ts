import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/**
 * Every relative link in the repository's markdown points at a file that exists, and every `#anchor` at a
 * heading of that file (GitHub's slugs). Files move (the reshape moved dozens); a doc that still names the
 * old path should fail here rather than in a reader's browser.
 */

const ROOT = resolve(__dirname, '../../..');

function markdownFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '*.md'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return out.split('\n').filter((f) => f && existsSync(join(ROOT, f)));
}

/** The text outside fenced code blocks and inline code spans, where a `](…)` is a real link. */
function prose(markdown: string): string {
  return markdown.replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)].map((m) => slug(m[1]!)));
}

function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  for (const m of prose(readFileSync(join(ROOT, file), 'utf8')).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    const [pathPart, anchor] = target.split('#', 2) as [string, string?];
    const resolved = pathPart ? resolve(ROOT, dirname(file), pathPart) : join(ROOT, file);
    if (!existsSync(resolved)) {
      problems.push(`${file}: ${target} — no such file`);
      continue;
    }
    if (anchor && statSync(resolved).isFile() && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) {
      problems.push(`${file}: ${target} — no heading with that anchor`);
    }
  }
  return problems;
}

describe('markdown links', () => {
  it('slugs headings as GitHub does', () => {
    expect(slug('Bench (embedded pipeline)')).toBe('bench-embedded-pipeline');
    expect(slug('`npm start`')).toBe('npm-start');
    expect(slug('The Raft ledger (`raft-node/`)')).toBe('the-raft-ledger-raft-node');
  });

  it('every relative link and anchor in the markdown resolves', () => {
    const files = markdownFiles();
    expect(files).toEqual(expect.arrayContaining(['README.md', 'docs/architecture.md']));
    expect(files.flatMap(brokenLinks)).toEqual([]);
  });
});
