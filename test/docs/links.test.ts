/**
 * Every link between the documents lands: the file exists and, for `page.md#anchor`, the page
 * has a heading with that anchor. Links to the web are not followed (tests stay off the
 * network).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { test } from 'node:test';
import { PACKAGE_ROOT } from '../support/helpers.js';
import { anchors, documents, links } from './markdown.js';

test('every link between the documents lands on a file and a heading', () => {
  const broken: string[] = [];
  for (const doc of documents()) {
    for (const link of links(doc.text)) {
      if (/^[a-z][a-z+.-]*:/i.test(link.target)) continue;
      const [file = '', anchor] = link.target.split('#');
      const path =
        file === '' ? join(PACKAGE_ROOT, doc.name) : join(PACKAGE_ROOT, dirname(doc.name), file);
      const where = `${doc.name}:${link.line}: ${link.target}`;
      if (!existsSync(path)) {
        broken.push(`${where}: no ${relative(PACKAGE_ROOT, path)}`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!statSync(path).isFile() || !path.endsWith('.md')) {
        broken.push(`${where}: an anchor into a file that is not a page`);
      } else if (!anchors(readFileSync(path, 'utf8')).has(anchor)) {
        broken.push(`${where}: no heading with that anchor`);
      }
    }
  }
  assert.deepEqual(broken, []);
});
