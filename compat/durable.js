// The durable-replace sequence under any runtime, for `atomic-fs audit` (scripts/compat.js):
// replaces four files in the directory given as the argument with writeFile, writeFileSync,
// openAtomic and copyFile, then exits 0 (which the audit takes as "done").
import { join } from 'node:path';
import { copyFile, openAtomic, writeFile, writeFileSync } from '../dist/index.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: durable.js <dir>');
await writeFile(join(dir, 'a.txt'), 'the new a\n');
writeFileSync(join(dir, 'b.txt'), 'the new b\n');
const file = await openAtomic(join(dir, 'c.txt'));
await file.write('the new ');
await file.write('c\n');
await file.commit();
await copyFile(join(dir, 'source.txt'), join(dir, 'd.txt'));
