/**
 * Every option a function accepts is documented, in the README and in docs/api.md (or
 * docs/audit.md for the audit). The list comes from the functions themselves — the message
 * of the error an unknown option gets — so an option added without its words fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import * as afs from '../../src/index.js';
import * as audit from '../../src/audit/index.js';
import { PACKAGE_ROOT } from '../support/helpers.js';

type Call = (options: object) => unknown;
const none = (): undefined => undefined;

/** Each public function, called with the given options and otherwise valid arguments. */
const CALLS: Record<string, [page: string, call: Call]> = {
  writeFile: ['api', (o) => afs.writeFile('x', 'x', o)],
  writeFileSync: [
    'api',
    (o) => {
      afs.writeFileSync('x', 'x', o);
    },
  ],
  openAtomic: ['api', (o) => afs.openAtomic('x', o)],
  openAtomicSync: ['api', (o) => afs.openAtomicSync('x', o)],
  readJson: ['api', (o) => afs.readJson('x', o)],
  readJsonSync: ['api', (o) => afs.readJsonSync('x', o)],
  writeJson: ['api', (o) => afs.writeJson('x', {}, o)],
  writeJsonSync: [
    'api',
    (o) => {
      afs.writeJsonSync('x', {}, o);
    },
  ],
  update: ['api', (o) => afs.update('x', none, o)],
  updateSync: ['api', (o) => afs.updateSync('x', none, o)],
  updateJson: ['api', (o) => afs.updateJson('x', none, o)],
  updateJsonSync: [
    'api',
    (o) => {
      afs.updateJsonSync('x', none, o);
    },
  ],
  copyFile: ['api', (o) => afs.copyFile('x', 'y', o)],
  download: ['api', (o) => afs.download('http://127.0.0.1:1/', 'y', o)],
  writeFiles: ['api', (o) => afs.writeFiles({}, o)],
  cleanupTemps: ['api', (o) => afs.cleanupTemps('.', o)],
  writeDirectory: ['api', (o) => afs.writeDirectory('d', {}, o)],
  replaceSymlink: ['api', (o) => afs.replaceSymlink('t', 'l', o)],
  audit: ['audit', (o) => audit.audit(none, o)],
  auditCommand: ['audit', (o) => audit.auditCommand(['true'], o)],
};

/** The options `name` accepts, as its own error for an unknown one lists them. */
async function accepted(name: string, call: Call): Promise<string[]> {
  const error = await (async () => {
    try {
      await call({ notAnOptionOfAnyFunction: 1 });
    } catch (caught) {
      return caught as Error & { code?: string };
    }
    return undefined;
  })();
  assert.ok(error instanceof TypeError, `${name} accepted an unknown option`);
  assert.equal((error as { code?: string }).code, 'ERR_INVALID_ARG_VALUE');
  const list = /Its options: ([\w, ]+)$/.exec(error.message)?.[1];
  assert.ok(list !== undefined, `${name}: no list of options in ${JSON.stringify(error.message)}`);
  return list.split(', ');
}

const read = (name: string): string => readFileSync(join(PACKAGE_ROOT, name), 'utf8');

test('every option of every function is in the README and in its page of docs/', async () => {
  const readme = read('README.md');
  const missing: string[] = [];
  for (const [name, [page, call]] of Object.entries(CALLS)) {
    const text = read(`docs/${page}.md`);
    assert.ok(text.includes(`\`${name}`), `docs/${page}.md does not name ${name}`);
    for (const option of await accepted(name, call)) {
      if (!text.includes(`\`${option}\``)) missing.push(`docs/${page}.md: ${name}'s ${option}`);
      if (page === 'api' && !readme.includes(`\`${option}\``))
        missing.push(`README.md: ${name}'s ${option}`);
    }
  }
  assert.deepEqual(missing, []);
});
