/**
 * The documents a user reads, and what is in them: fenced code blocks, links and heading
 * anchors. A small reader of the Markdown this repository writes (prettier-formatted), not a
 * general parser: fences open with three backticks at the start of a line.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../support/helpers.js';

export interface Block {
  /** The fence's language (`js`, `sh`, `text`, …); `''` for a bare fence. */
  readonly lang: string;
  /** Its text, without the fences. */
  readonly body: string;
  /** The line of the opening fence (1-based). */
  readonly line: number;
}

export interface Link {
  readonly target: string;
  readonly line: number;
}

export interface Doc {
  /** The path from the package root, e.g. `docs/api.md`. */
  readonly name: string;
  readonly text: string;
}

/**
 * Pages that scripts regenerate from runs: their recipes are run by the suites that produce
 * them, not by the examples test (docs/audit-gallery.md: test/audit/gallery.test.ts runs each
 * row exactly as its recipe says; docs/kernel-check.md has no code).
 */
export const GENERATED: ReadonlySet<string> = new Set([
  'docs/audit-gallery.md',
  'docs/kernel-check.md',
  'docs/long-runs.md',
]);

/** Every Markdown document of the package: the README, the root's other pages, docs/. */
export function documents(): Doc[] {
  const names = [
    ...readdirSync(PACKAGE_ROOT).filter((name) => name.endsWith('.md')),
    ...walk(join(PACKAGE_ROOT, 'docs')).map((path) => relative(PACKAGE_ROOT, path)),
  ];
  return names
    .sort()
    .map((name) => ({ name, text: readFileSync(join(PACKAGE_ROOT, name), 'utf8') }));
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return walk(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

/** The fenced code blocks of a document, in order. */
export function blocks(text: string): Block[] {
  const found: Block[] = [];
  const lines = text.split('\n');
  let open: { lang: string; line: number; body: string[] } | undefined;
  lines.forEach((line, index) => {
    if (open === undefined) {
      const fence = /^```(\S*)\s*$/.exec(line);
      if (fence !== null) open = { lang: fence[1] ?? '', line: index + 1, body: [] };
    } else if (line === '```') {
      found.push({ lang: open.lang, body: `${open.body.join('\n')}\n`, line: open.line });
      open = undefined;
    } else {
      open.body.push(line);
    }
  });
  if (open !== undefined)
    throw new Error(`a code block opened at line ${open.line} is never closed`);
  return found;
}

/** The text outside code blocks and inline code, where links and headings live. */
function prose(text: string): string[] {
  let inFence = false;
  return text.split('\n').map((line) => {
    if (line.startsWith('```')) {
      inFence = !inFence;
      return '';
    }
    return inFence ? '' : line.replace(/`[^`]*`/g, (code) => ' '.repeat(code.length));
  });
}

/** The links of a document's prose (`[text](target)`), images included. */
export function links(text: string): Link[] {
  return prose(text).flatMap((line, index) =>
    [...line.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => ({
      target: match[1] ?? '',
      line: index + 1,
    })),
  );
}

/** The anchors GitHub gives a document's headings (`## The model` → `the-model`). */
export function anchors(text: string): Set<string> {
  const seen = new Map<string, number>();
  const found = new Set<string>();
  let inFence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = inFence ? null : /^#{1,6} (.*)$/.exec(line);
    if (heading === null) continue;
    const base = slug(heading[1] ?? '');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    found.add(count === 0 ? base : `${base}-${count}`);
  }
  return found;
}

/** GitHub's heading slug: lower case, punctuation dropped, each space a hyphen. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}
