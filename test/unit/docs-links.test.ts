import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';

// Every relative link in the docs must lead somewhere: to a file of the repository, and, with a
// #fragment into a Markdown file, to a heading of that file, by GitHub's anchor rules.

const DOCS = ['README.md', 'SECURITY.md', ...readdirSync('docs').filter((name) => name.endsWith('.md')).sort().map((name) => join('docs', name))];

/** The Markdown outside fenced code blocks, line by line (fences become empty lines). */
function proseLines(markdown: string): string[] {
  let fence: string | null = null;
  return markdown.split('\n').map((line) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && marker) {
      fence = marker;
      return '';
    }
    if (fence !== null) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = null;
      return '';
    }
    return line;
  });
}

/** The text GitHub renders for a heading's Markdown: code spans' contents, links' texts, no tags. */
function headingText(markdown: string): string {
  return markdown
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/(`+)(.*?)\1/g, '$2')
    .replace(/(\*\*|__|\*)(.*?)\1/g, '$2');
}

/** GitHub's anchor for a heading text (github-slugger): lowercase, punctuation but - and _ dropped, spaces to -. */
function slug(text: string): string {
  return headingText(text)
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor a Markdown file's headings produce, duplicates numbered -1, -2, … as GitHub does. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const line of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    out.add(count === 0 ? base : `${base}-${count}`);
  }
  return out;
}

/** The relative link targets of a Markdown file: inline links and images, and reference definitions. */
function relativeLinks(markdown: string): string[] {
  const targets: string[] = [];
  for (const line of proseLines(markdown)) {
    const prose = line.replace(/(`+).*?\1/g, '');
    for (const m of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
    const definition = /^ {0,3}\[[^\]]+\]:\s*<?([^\s>]+)>?/.exec(prose);
    if (definition) targets.push(definition[1]!);
  }
  return targets.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target));
}

/** What is wrong with each relative link of `file`, as "file: [target] reason". */
function brokenLinks(file: string, read: (path: string) => string | null = readMarkdown): string[] {
  const source = read(file);
  if (source === null) return [`${file}: no such file`];
  const broken: string[] = [];
  for (const target of relativeLinks(source)) {
    const hash = target.indexOf('#');
    const path = hash === -1 ? target : target.slice(0, hash);
    const fragment = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1));
    const resolved = path === '' ? file : normalize(join(dirname(file), decodeURIComponent(path)));
    if (path !== '' && !existsSync(resolved)) {
      broken.push(`${file}: [${target}] points to ${resolved}, which does not exist`);
      continue;
    }
    if (fragment === null) continue;
    if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) {
      broken.push(`${file}: [${target}] has an anchor, but ${resolved} is not a Markdown file`);
      continue;
    }
    const text = resolved === file ? source : read(resolved);
    if (text === null || !anchors(text).has(fragment)) {
      broken.push(`${file}: [${target}] points to #${fragment}, which no heading of ${resolved} produces`);
    }
  }
  return broken;
}

function readMarkdown(path: string): string | null {
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
}

describe('links in the docs', () => {
  it('checks README.md, SECURITY.md and docs/*.md', () => {
    expect(DOCS).toContain('README.md');
    expect(DOCS).toContain('SECURITY.md');
    expect(DOCS.length).toBeGreaterThan(2);
  });

  it.each(DOCS)('%s: every relative link leads to a file and a heading that exist', (file) => {
    expect(brokenLinks(file)).toEqual([]);
  });
});

describe('the link checker', () => {
  it('makes GitHub’s anchors: lowercase, punctuation dropped, code spans read, CJK kept, duplicates numbered', () => {
    const md = [
      '# Title',
      '## `POST /user/phone` (needs a token)',
      '## Capacity, on paper',
      "## Your users' data",
      '## The mini-program side: `client/wechat-auth.js`',
      '## 消息推送 and `snake_case`',
      '## Title',
      '## Title',
      '```',
      '## not a heading',
      '```',
    ].join('\n');
    expect([...anchors(md)]).toEqual([
      'title',
      'post-userphone-needs-a-token',
      'capacity-on-paper',
      'your-users-data',
      'the-mini-program-side-clientwechat-authjs',
      '消息推送-and-snake_case',
      'title-1',
      'title-2',
    ]);
  });

  it('fails, naming the file and the link, on a missing file or a missing anchor', () => {
    const files: Record<string, string> = {
      'README.md': [
        '[ok](docs/api.md#errors) [ok](#top) [web](https://example.com/x#y) `[code](nowhere.md)`',
        '[gone](docs/nowhere.md) [bad anchor](docs/api.md#no-such-heading) [self](#nope)',
        '```',
        '[in a fence](also-nowhere.md)',
        '```',
        '# Top',
      ].join('\n'),
      'docs/api.md': '# API\n## Errors\n',
    };
    const read = (path: string) => files[path] ?? null;
    // Existence is checked on disk: docs/api.md is real, docs/nowhere.md is not.
    expect(brokenLinks('README.md', read)).toEqual([
      'README.md: [docs/nowhere.md] points to docs/nowhere.md, which does not exist',
      'README.md: [docs/api.md#no-such-heading] points to #no-such-heading, which no heading of docs/api.md produces',
      'README.md: [#nope] points to #nope, which no heading of README.md produces',
    ]);
  });
});
