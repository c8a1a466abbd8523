import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The code and the docs cite only what the repository holds: the project's own docs pages
 * (`docs/<page>.md#<heading>`) or public rules (an RFC, a GDPR article). A citation of a
 * document outside the repository leaves a maintainer with nothing to follow, and a citation
 * of a docs heading that was renamed points nowhere.
 */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const THIS_FILE = relative(ROOT, fileURLToPath(import.meta.url));

/**
 * Documents that were never part of the repository, however they are spelled. (Written so
 * that this file does not match them itself: `[-]` is a plain hyphen.)
 */
const OUTSIDE_DOCUMENTS: [RegExp, string][] = [
  [/\bseeds? ?0\d\d\b/i, 'a numbered source note'],
  [/\breference ?§/i, 'a section of a reference note'],
  [/\bthe reference's\b|\breference consent rules\b/i, 'a reference note'],
  [/\bPRODUCT\.md\b/, 'the product brief'],
  [
    /\bprivacy[-]apis\b|\bconsent[-]rules\b|\bpeople[-]and[-]rights\b|\bhouse[-]style\.md\b/i,
    'a reference note',
  ],
];

const SOURCE_EXTENSIONS = /\.(ts|js|mjs|json|eta|css|sql)$/;

function filesUnder(dir: string, keep: (path: string) => boolean): string[] {
  const absolute = join(ROOT, dir);
  if (!existsSync(absolute)) return [];
  return readdirSync(absolute, { recursive: true, encoding: 'utf8' })
    .map((entry) => join(dir, entry))
    .filter((path) => keep(path) && !path.split('/').includes('node_modules'));
}

const codeFiles = ['src', 'test', 'bench', 'web', 'config']
  .flatMap((dir) => filesUnder(dir, (path) => SOURCE_EXTENSIONS.test(path)))
  .filter((path) => path !== THIS_FILE);
const markdownFiles = [
  ...['README.md', 'ARCHITECTURE.md', 'CONTRIBUTING.md'].filter((path) => existsSync(join(ROOT, path))),
  ...filesUnder('docs', (path) => path.endsWith('.md')),
];

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/**
 * The anchor GitHub gives a heading (the github-slugger rule): lower case, everything but
 * letters, digits, spaces, hyphens and underscores removed, each space a hyphen; a repeated
 * heading gets `-1`, `-2`, …
 */
function slug(heading: string): string {
  return heading
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/\*/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a markdown file's headings, skipping fenced code blocks. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fence: { char: string; length: number } | undefined;
  for (const line of markdown.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(line);
    if (marker?.[1] !== undefined) {
      const [char, length] = [marker[1][0] as string, marker[1].length];
      if (fence === undefined) fence = { char, length };
      else if (char === fence.char && length >= fence.length && marker[2]?.trim() === '') fence = undefined;
      continue;
    }
    if (fence !== undefined) continue;
    const heading = /^ {0,3}#{1,6}\s+(.*?)(?:\s+#+)?\s*$/.exec(line);
    if (heading?.[1] === undefined) continue;
    const base = slug(heading[1]);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

interface Citation {
  from: string;
  line: number;
  /** The cited file, relative to the repository root. */
  file: string;
  anchor: string | undefined;
}

/** `docs/<page>.md` or `docs/<page>.md#<anchor>` wherever code mentions it. */
function docsCitationsIn(path: string): Citation[] {
  return read(path)
    .split('\n')
    .flatMap((text, i) =>
      [...text.matchAll(/\bdocs\/([\w.-]+\.md)(?:#([\w-]+))?/g)].map((m) => ({
        from: path,
        line: i + 1,
        file: `docs/${m[1]}`,
        anchor: m[2],
      })),
    );
}

/** Relative links between markdown files: `[text](page.md#anchor)` and `[text](#anchor)`. */
function markdownLinksIn(path: string): Citation[] {
  return read(path)
    .split('\n')
    .flatMap((text, i) =>
      [...text.matchAll(/\]\(([^)\s:]*?\.md)?(?:#([^)\s]+))?\)/g)]
        .filter((m) => m[1] !== undefined || m[2] !== undefined)
        .map((m) => ({
          from: path,
          line: i + 1,
          file: m[1] === undefined ? path : relative(ROOT, resolve(ROOT, dirname(path), m[1])),
          anchor: m[2],
        })),
    );
}

function broken(citations: Citation[]): string[] {
  const anchors = new Map<string, Set<string> | undefined>();
  const anchorsFor = (file: string) => {
    if (!anchors.has(file))
      anchors.set(file, existsSync(join(ROOT, file)) ? anchorsOf(read(file)) : undefined);
    return anchors.get(file);
  };
  return citations.flatMap(({ from, line, file, anchor }) => {
    const known = anchorsFor(file);
    if (known === undefined) return [`${from}:${line} cites ${file}, which does not exist`];
    if (anchor !== undefined && !known.has(anchor))
      return [`${from}:${line} cites ${file}#${anchor}, a heading ${file} does not have`];
    return [];
  });
}

describe('heading anchors', () => {
  it('follow the rule GitHub uses', () => {
    expect(slug('OAuth 2.0 client credentials')).toBe('oauth-20-client-credentials');
    expect(slug('Art. 7(3): withdrawing is as easy as giving')).toBe(
      'art-73-withdrawing-is-as-easy-as-giving',
    );
    expect(slug('`custos audit verify`')).toBe('custos-audit-verify');
    expect(slug('With the official `@forge/api` helper')).toBe('with-the-official-forgeapi-helper');
    expect(slug('Cycle-Period')).toBe('cycle-period');
  });

  it('number repeated headings and ignore headings inside code blocks', () => {
    const anchors = anchorsOf(
      ['# Intro', '## Usage', '````md', '## Not a heading', '```', '## Still not', '````', '## Usage'].join(
        '\n',
      ),
    );
    expect([...anchors]).toEqual(['intro', 'usage', 'usage-1']);
  });
});

describe('citations', () => {
  it('cite no document outside the repository', () => {
    const found = [...codeFiles, ...markdownFiles].flatMap((path) =>
      read(path)
        .split('\n')
        .flatMap((text, i) =>
          OUTSIDE_DOCUMENTS.filter(([pattern]) => pattern.test(text)).map(
            ([, what]) => `${path}:${i + 1} cites ${what}: ${text.trim()}`,
          ),
        ),
    );
    expect(found).toEqual([]);
  });

  it('from the code name docs pages and headings that exist', () => {
    const citations = codeFiles.flatMap(docsCitationsIn);
    // The check would pass vacuously if the pattern stopped matching: the code cites the docs.
    expect(citations.filter((c) => c.anchor !== undefined).length).toBeGreaterThan(20);
    expect(broken(citations)).toEqual([]);
  });

  it('between markdown files name pages and headings that exist', () => {
    const links = markdownFiles.flatMap(markdownLinksIn);
    expect(links.length).toBeGreaterThan(10);
    expect(broken(links)).toEqual([]);
  });
});
