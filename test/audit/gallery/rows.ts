/**
 * The audit gallery: widely used programs and libraries saving a file, each audited with the
 * check that fits it. `npm run gallery` runs every row and writes docs/audit-gallery.md;
 * test/audit/gallery.test.ts runs the rows whose programs are installed and keeps their
 * verdicts. A row is what a reader types into an empty directory: files, setup commands and
 * one `atomic-fs audit` command line.
 *
 * The expected verdicts are those of the program versions CI installs (Debian 12: git 2.39,
 * sqlite3 3.40, vim 9.0, Python 3.11; the npm packages at the versions package.json pins).
 */
import type { ViolationKind } from '../../../src/audit/check.js';
import type { AuditStatus } from '../../../src/audit/report.js';
import type { PersistenceModel } from '../../../src/audit/model.js';

export interface Expected {
  readonly status: AuditStatus;
  /** Violation kinds found in at least one state (sorted as VIOLATION_KINDS). */
  readonly kinds: readonly ViolationKind[];
}

export interface GalleryRow {
  /** Short name: `npm run gallery -- <id>` runs this row alone. */
  readonly id: string;
  /** The program or library, as the table shows it. */
  readonly program: string;
  /** What it does here, in a few words. */
  readonly does: string;
  /** Executables the row needs (the test runs the row only when they are installed). */
  readonly needs: readonly string[];
  /** npm packages the row's script imports (installed with `npm install`; the gallery links them). */
  readonly packages?: readonly string[];
  /** Files written into the empty directory first, by name. */
  readonly files?: Readonly<Record<string, string>>;
  /** Shell commands run after the files are written (`sh -e`). */
  readonly setup: readonly string[];
  /** Environment of the setup and the audit, on top of the gallery's own (see ENV). */
  readonly env?: Readonly<Record<string, string>>;
  /** The arguments of `atomic-fs audit`. */
  readonly audit: readonly string[];
  /** The verdict under each model, on the versions CI installs. */
  readonly expect: Readonly<Record<PersistenceModel, Expected>>;
  /**
   * The models under which the test runs this row: rows that take long (a check command in
   * every state) run under fewer, or none; `npm run gallery` runs every row under both.
   */
  readonly ci: readonly PersistenceModel[];
  /** Why the verdict is what it is (Markdown). An unsafe verdict names what is missing. */
  readonly why: string;
  /** What the literature reports for this program, and where we agree or differ (Markdown). */
  readonly literature: string;
}

/**
 * Environment of every row: no user or system git configuration (yours could set
 * core.fsync), fixed identities and dates so that commits are the same from run to run.
 */
export const ENV: Readonly<Record<string, string>> = {
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_AUTHOR_NAME: 'A U Thor',
  GIT_AUTHOR_EMAIL: 'author@example.com',
  GIT_COMMITTER_NAME: 'A U Thor',
  GIT_COMMITTER_EMAIL: 'author@example.com',
  GIT_AUTHOR_DATE: '2026-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '2026-01-01T00:00:00Z',
};

const GIT_CHECK = `# A crash state of the repository is consistent when git fsck finds nothing wrong and HEAD
# is the old commit (one) or the new one (two); once git commit had returned, the new one.
out=$(git fsck --no-progress 2>&1) || {
  echo "failed: git fsck: $(printf '%s\\n' "$out" | grep -m1 -iE 'error|fatal|missing|corrupt|broken')"
  exit 1
}
subject=$(git log -1 --format=%s 2>&1) || { echo "failed: git log: $subject"; exit 1; }
case "$subject" in
  two) exit 0 ;;
  one) [ "$ATOMIC_FS_AUDIT_AFTER_DONE" = 0 ] && exit 0
       echo "failed: HEAD is the old commit after git commit returned"; exit 1 ;;
  *) echo "failed: HEAD is '$subject'"; exit 1 ;;
esac
`;

const GIT_SETUP = [
  'git init -q .',
  'echo hello > a.txt',
  'git add a.txt',
  'git commit -qm one',
  'echo world >> a.txt',
  'git add a.txt',
];

const SQLITE_CHECK = `# A crash state of the database is consistent when PRAGMA integrity_check says ok and the
# table holds the old rows (one) or the new ones (one,two); once sqlite3 had returned, the new.
ic=$(sqlite3 db.sqlite 'PRAGMA integrity_check' 2>&1) || { echo "failed: sqlite3: $ic"; exit 1; }
[ "$ic" = ok ] || { echo "failed: integrity_check: $ic"; exit 1; }
rows=$(sqlite3 db.sqlite 'SELECT group_concat(v) FROM (SELECT v FROM t ORDER BY id)' 2>&1)
case "$rows" in
  one,two) exit 0 ;;
  one) [ "$ATOMIC_FS_AUDIT_AFTER_DONE" = 0 ] && exit 0
       echo "failed: the row inserted is gone after sqlite3 returned"; exit 1 ;;
  *) echo "failed: the rows are '$rows', neither the old nor the new ones"; exit 1 ;;
esac
`;

const SQLITE_TABLE =
  "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES('one');";

/** The old settings, and a script's new ones: about 6 KB, so that a write spans two pages. */
const OLD_SETTINGS = `printf '{"theme": "light"}\\n' > settings.json`;

const PY_SETTINGS =
  'settings = {"theme": "dark", "recent": ["file-%04d.txt" % i for i in range(400)]}';
const JS_SETTINGS =
  "const settings = JSON.stringify({ theme: 'dark', recent: Array.from({ length: 400 }, (_, i) => `file-${String(i).padStart(4, '0')}.txt`) });";

const BOTH: readonly PersistenceModel[] = ['posix', 'ext4-ordered'];

const SAFE: Expected = { status: 'safe', kinds: [] };
const CHECK_FAILED: Expected = { status: 'unsafe', kinds: ['check-failed'] };
const NOT_DURABLE: Expected = { status: 'unsafe', kinds: ['stale-after-done'] };
const TORN_AND_STALE: Expected = { status: 'unsafe', kinds: ['torn', 'stale-after-done'] };

export const ROWS: readonly GalleryRow[] = [
  {
    id: 'git-commit',
    program: 'git',
    does: 'git commit, default settings',
    needs: ['git', 'sh'],
    files: { 'check.sh': GIT_CHECK },
    setup: GIT_SETUP,
    audit: ['--include', '.git', '--check', 'sh check.sh', '--', 'git', 'commit', '-qm', 'two'],
    expect: { posix: CHECK_FAILED, 'ext4-ordered': CHECK_FAILED },
    ci: [],
    why: `With its default settings git 2.39 makes no fsync call at all while committing: each
new loose object is written to a temp file, closed and linked to its name, the new index is
written to \`index.lock\` and renamed over \`index\`, the branch is written to
\`master.lock\` and renamed over \`refs/heads/master\`. Nothing orders the data before the
names that expose it, so a crash can leave an **empty or half-written object** (its
\`link\` reached disk before the data written into the temp file: no fsync of the object),
a **torn index** (\`index.lock\` renamed before its data: no fsync before the rename), or a
branch that names an object that is not there; and after \`git commit\` returned, the whole
commit can still be lost (no directory fsync after the renames).`,
    literature: `ALICE found crash vulnerabilities in git, among them index and ref updates that
depend on the order in which the file system persists a rename and the data before it, and
repositories that \`git fsck\` reports as corrupt after a crash *(from memory; the paper's
tables give the exact list)*. **We agree**: with default settings every one of those orderings
is open under the \`posix\` model here. Under \`ext4-ordered\` the empty objects and the
torn index go (a rename or link carries the data it exposes), and what remains is the order
of directory operations in different directories (below).`,
  },
  {
    id: 'git-commit-fsync-all',
    program: 'git',
    does: 'git commit, `core.fsync=all`',
    needs: ['git', 'sh'],
    files: { 'check.sh': GIT_CHECK },
    setup: GIT_SETUP,
    audit: [
      '--include',
      '.git',
      '--check',
      'sh check.sh',
      '--',
      'git',
      '-c',
      'core.fsync=all',
      'commit',
      '-qm',
      'two',
    ],
    expect: { posix: CHECK_FAILED, 'ext4-ordered': CHECK_FAILED },
    ci: [],
    why: `\`core.fsync=all\` (git 2.36 and later) fsyncs every file git writes before it is
linked or renamed into place — objects, the index, the branch — and the empty objects and torn
index are gone. What is left is **directory fsyncs: git never fsyncs a directory**. The new
object's directory (\`mkdir .git/objects/xx\`) and name (the \`link\`) live in
\`.git/objects\`, the renamed index in \`.git\`, the branch in \`.git/refs/heads\`: under
the \`posix\` model each becomes durable only when its own directory is fsynced, so the
renamed index or branch can reach disk while the object it names does not — \`git fsck\`:
*invalid sha1 pointer* — and the commit can be lost after \`git commit\` returned.`,
    literature: `ALICE predates \`core.fsync\` (added in git 2.36, 2022), so there is no
published result for this setting to compare with. The remaining problem depends on the file
system: ext4 and XFS journal directory operations in the order they are made, so on those the
\`mkdir\` and \`link\` of the object reach disk before the \`rename\` that exposes it. **We
differ from a real ext4 here on purpose**: both of our models let directory operations in
different directories persist in any order (as POSIX allows, and as ALICE's abstract
persistence model does *(from memory)*), so this row is unsafe under both.`,
  },
  {
    id: 'sqlite-rollback',
    program: 'sqlite3',
    does: 'INSERT, rollback journal (`journal_mode=DELETE`, `synchronous=FULL`: the defaults)',
    needs: ['sqlite3', 'sh'],
    files: { 'check.sh': SQLITE_CHECK },
    setup: [`sqlite3 db.sqlite "${SQLITE_TABLE}"`],
    audit: [
      '--check',
      'sh check.sh',
      '--',
      'sqlite3',
      'db.sqlite',
      "INSERT INTO t(v) VALUES('two')",
    ],
    expect: { posix: CHECK_FAILED, 'ext4-ordered': CHECK_FAILED },
    ci: ['posix'],
    why: `The database is never corrupt: SQLite writes the old pages to
\`db.sqlite-journal\`, fsyncs it, fsyncs the directory (so the journal's name is durable),
writes the new pages into \`db.sqlite\`, fsyncs it, and commits by unlinking the journal.
In every crash state before that, the journal is there and complete, and the next open rolls
back to the old rows. But the **unlink that commits is not followed by a directory fsync**:
after sqlite3 returned, a crash can bring the journal back, and the next open rolls the
committed row back. SQLite documents exactly this: \`synchronous=FULL\` in rollback mode is
not durable across a power cut right after commit; \`synchronous=EXTRA\` fsyncs the
directory after the unlink (next row).`,
    literature: `ALICE reported few problems for SQLite, and none that corrupts the database
*(from memory)*; as far as we recall it did flag durability of the rollback-journal mode,
which is what we find. **We agree**: consistency holds in every state, durability after
commit does not, and the cause is the missing directory fsync after the journal's unlink.`,
  },
  {
    id: 'sqlite-rollback-extra',
    program: 'sqlite3',
    does: 'INSERT, rollback journal, `synchronous=EXTRA`',
    needs: ['sqlite3', 'sh'],
    files: { 'check.sh': SQLITE_CHECK },
    setup: [`sqlite3 db.sqlite "${SQLITE_TABLE}"`],
    audit: [
      '--check',
      'sh check.sh',
      '--',
      'sqlite3',
      'db.sqlite',
      "PRAGMA synchronous=EXTRA; INSERT INTO t(v) VALUES('two')",
    ],
    expect: { posix: SAFE, 'ext4-ordered': SAFE },
    ci: ['posix'],
    why: `The same transaction, and one more call: after unlinking the journal SQLite fsyncs
the directory, so once sqlite3 returned the commit is durable. Consistent in every state, and
the new row in every state after it returned.`,
    literature: `Not a configuration ALICE studied *(from memory)*; it is the fix for the
durability gap of the row above, and the audit confirms it closes it.`,
  },
  {
    id: 'sqlite-wal',
    program: 'sqlite3',
    does: 'INSERT, write-ahead log (`journal_mode=WAL`)',
    needs: ['sqlite3', 'sh'],
    files: { 'check.sh': SQLITE_CHECK },
    setup: [`sqlite3 db.sqlite "PRAGMA journal_mode=WAL; ${SQLITE_TABLE}" > /dev/null`],
    audit: [
      '--check',
      'sh check.sh',
      '--',
      'sqlite3',
      'db.sqlite',
      "INSERT INTO t(v) VALUES('two')",
    ],
    expect: { posix: SAFE, 'ext4-ordered': SAFE },
    ci: ['posix'],
    why: `The transaction is appended to \`db.sqlite-wal\` and committed by an fsync of the
log (the directory was fsynced when the log was created); when the last connection closes,
SQLite copies the log into the database, fsyncs it, and removes the log. A crash at any point
leaves a log whose committed frames the next open replays, or a database that already holds
them: consistent everywhere, durable once sqlite3 returned. (The shared-memory index
\`db.sqlite-shm\` is written through a memory mapping the audit cannot see, and says so;
SQLite rebuilds it from the log after a crash, so its content does not matter.)`,
    literature: `ALICE found no vulnerability in SQLite's WAL mode as far as we recall
*(from memory)*. **We agree.**`,
  },
  {
    id: 'vim-compatible',
    program: 'vim',
    does: 'save a file, `vim -u NONE` (vi-compatible: `backupcopy=yes`, `writebackup`)',
    needs: ['vim'],
    setup: ["printf 'line one\\nline two\\n' > notes.txt"],
    audit: [
      '--',
      'vim',
      '-u',
      'NONE',
      '-i',
      'NONE',
      '-n',
      '-es',
      '-c',
      'set backupskip=',
      '-c',
      'normal Gothree',
      '-c',
      'wq',
      'notes.txt',
    ],
    expect: {
      posix: { status: 'unsafe', kinds: ['torn', 'leftover-temp'] },
      'ext4-ordered': { status: 'unsafe', kinds: ['torn', 'leftover-temp'] },
    },
    ci: BOTH,
    why: `With \`-u NONE\` vim runs vi-compatible, where \`backupcopy=yes\`: it copies the
file to \`notes.txt~\` (no fsync), then **truncates and rewrites \`notes.txt\` in place**,
fsyncs it, and removes the backup. The truncation can reach disk before the new data (the
file is rewritten in place, with no fsync in between), so \`notes.txt\` can be found empty —
and the backup, never fsynced, can be empty too. After vim exited the backup's removal is not
durable (no directory fsync), hence the leftover. (\`-c 'set backupskip='\`: vim makes no
backup of files under \`/tmp\` by default, and the gallery runs there; in your home directory
a backup is made without it.)`,
    literature: `Editors were not among the programs ALICE studied. The pattern — rewrite in
place, with the only fsync after the data — is the one every crash-consistency study calls
unsafe on every file system, and the audit agrees under both models.`,
  },
  {
    id: 'vim-nocompatible',
    program: 'vim',
    does: 'save a file, `vim -u NONE -N` (`backupcopy=auto`, as with a vimrc)',
    needs: ['vim'],
    setup: ["printf 'line one\\nline two\\n' > notes.txt"],
    audit: [
      '--',
      'vim',
      '-u',
      'NONE',
      '-N',
      '-i',
      'NONE',
      '-n',
      '-es',
      '-c',
      'set backupskip=',
      '-c',
      'normal Gothree',
      '-c',
      'wq',
      'notes.txt',
    ],
    expect: {
      posix: { status: 'unsafe', kinds: ['missing', 'torn', 'stale-after-done', 'leftover-temp'] },
      'ext4-ordered': {
        status: 'unsafe',
        kinds: ['missing', 'torn', 'stale-after-done', 'leftover-temp'],
      },
    },
    ci: BOTH,
    why: `Not vi-compatible (\`-N\`, or any vimrc), \`backupcopy=auto\` lets vim **rename
\`notes.txt\` to \`notes.txt~\`** and write a new \`notes.txt\`, fsync it, and remove the
backup. Until the new file's name reaches disk, \`notes.txt\` is missing (the old content is
safe under the backup's name, but a program opening \`notes.txt\` does not look there); the
new file is created empty and fsynced only after its data is written, so it can be found
empty; and no directory is ever fsynced, so after vim exited the rename can still be undone
(the old version comes back) and the backup can remain.`,
    literature: `Not studied by ALICE. The rename-the-original-away step is what leaves a window
with no file under the name at all; the audit's \`missing\` states are that window.`,
  },
  {
    id: 'python-json-dump',
    program: 'Python 3',
    does: '`json.dump` into the file, in place',
    needs: ['python3'],
    files: {
      'save.py': `import json

${PY_SETTINGS}
with open("settings.json", "w") as f:
    json.dump(settings, f)
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'python3', 'save.py'],
    expect: { posix: TORN_AND_STALE, 'ext4-ordered': TORN_AND_STALE },
    ci: BOTH,
    why: `\`open(..., "w")\` truncates the file, then the data is written, and nothing is
fsynced: a crash can leave it **empty or half-written** (the truncation reaches disk before
the data; it is rewritten in place, with no fsync at all), and the old version can come back
after the program exited (\`settings.json\` was never fsynced).`,
    literature: `Not studied by ALICE. In-place rewriting without fsync is the textbook unsafe
case; both models agree (ordering data before metadata does not help a rewrite in place).`,
  },
  {
    id: 'python-atomic-write',
    program: 'Python 3',
    does: '`tempfile.mkstemp` + fsync + `os.replace` + directory fsync (`atomic_write`)',
    needs: ['python3'],
    files: {
      'save.py': `import os, tempfile

def atomic_write(path, data):
    d = os.path.dirname(os.path.abspath(path))
    # Temp file MUST live in the same directory / filesystem
    # as the destination, or the rename can't be atomic.
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # force bytes to disk before renaming
        os.replace(tmp, path)  # atomic rename over the destination
        # Optional: fsync the directory so the rename itself survives a crash.
        dirfd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except BaseException:
        os.unlink(tmp)  # clean up the temp file on failure
        raise

import json
${PY_SETTINGS}
atomic_write("settings.json", json.dumps(settings))
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'python3', 'save.py'],
    expect: { posix: SAFE, 'ext4-ordered': SAFE },
    ci: BOTH,
    why: `Temp file in the same directory, data fsynced before the rename, directory fsynced
after it: old or new in every state, the new once the program exited. The audit checks content,
not modes: \`mkstemp\` creates the temp file \`0600\`, so the saved file loses its
\`0644\` — a real change for other readers, outside what a crash check sees.`,
    literature: `The pattern the literature recommends (and ALICE's authors describe as the
correct way to replace a file on POSIX *(from memory)*). **We agree.**`,
  },
  {
    id: 'python-save-atomically',
    program: 'Python 3',
    does: '`tempfile.mkstemp` + `os.rename`, no fsync (`save_atomically`)',
    needs: ['python3'],
    files: {
      'save.py': `import os, pathlib, tempfile

def save_atomically(path, data):
    fd, tmp_path = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.rename(tmp_path, path)

import json
${PY_SETTINGS}
save_atomically(pathlib.Path("settings.json"), json.dumps(settings))
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'python3', 'save.py'],
    expect: { posix: TORN_AND_STALE, 'ext4-ordered': NOT_DURABLE },
    ci: BOTH,
    why: `A temp file and a rename, but no fsync: **the rename can reach disk before the data
written into the temp file** (it was not fsynced before the rename), so \`settings.json\` can
be found empty or half-written; and the rename itself can be lost after the program exited
(no directory fsync). Under \`ext4-ordered\` the rename carries the data it exposes, and only
the durability gap remains.`,
    literature: `This is the pattern behind the 2009 ext4 "zero-length files after a crash"
reports, which led ext4 to add its \`auto_da_alloc\` heuristic (flush the data of a file
renamed over another before the rename commits). ALICE counts it as an ordering vulnerability
*(from memory)*. **We agree**, and the two models show the split: unsafe under \`posix\`,
only not durable where data is ordered before the rename.`,
  },
  {
    id: 'node-fs-writefile',
    program: 'Node.js',
    does: '`fs.promises.writeFile`, in place',
    needs: [],
    files: {
      'save.mjs': `import { writeFile } from 'node:fs/promises';

${JS_SETTINGS}
await writeFile('settings.json', settings);
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'node', 'save.mjs'],
    expect: { posix: TORN_AND_STALE, 'ext4-ordered': TORN_AND_STALE },
    ci: BOTH,
    why: `\`writeFile\` opens the file with \`O_TRUNC\` and writes: **rewritten in place, with
no fsync** — empty or half-written after a crash, and the old version can come back after the
program exited.`,
    literature: `Not studied by ALICE; the same case as \`json.dump\` above.`,
  },
  {
    id: 'write-file-atomic',
    program: 'write-file-atomic',
    does: '`writeFileAtomic(path, data)` (npm, default options)',
    needs: [],
    packages: ['write-file-atomic'],
    files: {
      'save.mjs': `import writeFileAtomic from 'write-file-atomic';

${JS_SETTINGS}
await writeFileAtomic('settings.json', settings);
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'node', 'save.mjs'],
    expect: { posix: NOT_DURABLE, 'ext4-ordered': NOT_DURABLE },
    ci: BOTH,
    why: `Temp file, fsync, rename: old or new in every state. But **no directory fsync after
the rename**: once the promise resolved, a crash can still bring the old version back.`,
    literature: `Not studied by ALICE. The missing step is the one ALICE's authors and the
ext4 developers both point to for durability of a rename *(from memory)*.`,
  },
  {
    id: 'atomically',
    program: 'atomically',
    does: '`writeFile(path, data)` (npm, default options)',
    needs: [],
    packages: ['atomically'],
    files: {
      'save.mjs': `import { writeFile } from 'atomically';

${JS_SETTINGS}
await writeFile('settings.json', settings);
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'node', 'save.mjs'],
    expect: { posix: NOT_DURABLE, 'ext4-ordered': NOT_DURABLE },
    ci: BOTH,
    why: `Like write-file-atomic: temp file, fsync, rename — consistent — and **no directory
fsync after the rename**, so not durable when the promise resolves.`,
    literature: `Not studied by ALICE.`,
  },
  {
    id: 'steno',
    program: 'steno',
    does: '`new Writer(path).write(data)` (npm)',
    needs: [],
    packages: ['steno'],
    files: {
      'save.mjs': `import { Writer } from 'steno';

${JS_SETTINGS}
await new Writer('settings.json').write(settings);
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'node', 'save.mjs'],
    expect: { posix: TORN_AND_STALE, 'ext4-ordered': NOT_DURABLE },
    ci: BOTH,
    why: `A temp file and a rename, and **no fsync at all**: the rename can reach disk before
the data written into \`.settings.json.tmp\` (not fsynced before the rename), so the file can
be found empty; and no directory fsync, so not durable either. Under \`ext4-ordered\` only the
durability gap remains.`,
    literature: `Not studied by ALICE; the same ordering vulnerability as \`save_atomically\`.`,
  },
  {
    id: 'atomic-fs',
    program: 'atomic-fs',
    does: '`writeFile(path, data)` (this library, default options)',
    needs: [],
    packages: ['atomic-fs'],
    files: {
      'save.mjs': `import { writeFile } from 'atomic-fs';

${JS_SETTINGS}
await writeFile('settings.json', settings);
`,
    },
    setup: [OLD_SETTINGS],
    audit: ['--', 'node', 'save.mjs'],
    expect: { posix: SAFE, 'ext4-ordered': SAFE },
    ci: BOTH,
    why: `Temp file in the same directory, data fsynced, renamed, directory fsynced: old or new
in every state, and the new one once the promise resolved.`,
    literature: `The sequence ALICE and the file-system developers recommend *(from memory)*.`,
  },
];
