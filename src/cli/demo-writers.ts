/**
 * `npm run demo` / `atomic-fs demo`: four ways to save a settings file, each audited for
 * power cuts at every step, in one table. Under strace each writer is a real Node program;
 * without strace the in-process front end replays writers 1–3 as the same calls through the
 * fs seam (what `fs.writeFileSync` and friends do) and runs atomic-fs as it is.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { direct, openFlagBits, seam } from '../engine/fs.js';
import { writeFile } from '../core/write-file.js';
import { auditCommand, audit } from '../audit/audit.js';
import { type AuditReport, table, verdict, wrap } from '../audit/report.js';
import { straceAvailable } from '../audit/trace.js';

interface DemoWriter {
  readonly name: string;
  /** A Node program: argv[2] is the destination, argv[3] the new content's file, argv[4] atomic-fs. */
  readonly script: string;
  /** The same steps through the fs seam, for the in-process front end. */
  readonly inProcess: (dest: string, data: Uint8Array) => unknown;
}

const READ = `import fs from 'node:fs';
const [dest, source, library] = process.argv.slice(2);
const data = fs.readFileSync(source);
const tmp = dest + '.tmp';
`;

function writeAll(fd: number, data: Uint8Array): void {
  for (let offset = 0; offset < data.length;) {
    offset += seam.sync.write(fd, data, offset, data.length - offset);
  }
}

const CREATE = openFlagBits.O_WRONLY | openFlagBits.O_CREAT | openFlagBits.O_TRUNC;

function seamWrite(path: string, data: Uint8Array, fsync: boolean): void {
  const fd = seam.sync.open(path, CREATE, 0o666);
  writeAll(fd, data);
  if (fsync) seam.sync.fsync(fd);
  seam.sync.close(fd);
}

const DEMO_WRITERS: readonly DemoWriter[] = [
  {
    name: '1. fs.writeFileSync, in place',
    script: `${READ}fs.writeFileSync(dest, data);\n`,
    inProcess: (dest, data) => {
      seamWrite(dest, data, false);
    },
  },
  {
    name: '2. temp file + rename, no fsync',
    script: `${READ}fs.writeFileSync(tmp, data);\nfs.renameSync(tmp, dest);\n`,
    inProcess: (dest, data) => {
      seamWrite(`${dest}.tmp`, data, false);
      seam.sync.rename(`${dest}.tmp`, dest);
    },
  },
  {
    name: '3. fsync + rename, no directory fsync',
    script:
      `${READ}const fd = fs.openSync(tmp, 'w');\nfs.writeSync(fd, data);\nfs.fsyncSync(fd);\n` +
      'fs.closeSync(fd);\nfs.renameSync(tmp, dest);\n',
    inProcess: (dest, data) => {
      seamWrite(`${dest}.tmp`, data, true);
      seam.sync.rename(`${dest}.tmp`, dest);
    },
  },
  {
    name: '4. atomic-fs writeFile',
    script: `${READ}const { writeFile } = await import(library);\nawait writeFile(dest, data);\n`,
    inProcess: (dest, data) => writeFile(dest, data),
  },
];

/** The settings file: old and new versions of about 12 KB (three pages). */
function settings(version: number): Uint8Array {
  const entries = Array.from({ length: 160 }, (_, index) => [
    `option${String(index).padStart(3, '0')}`,
    `value ${version}.${index} ${'x'.repeat(40)}`,
  ]);
  return new TextEncoder().encode(`${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`);
}

export interface DemoResult {
  readonly writer: string;
  readonly report: AuditReport;
}

export interface DemoOptions {
  /** 'auto': strace when available, else in-process. */
  readonly frontEnd?: 'auto' | 'strace' | 'in-process';
  readonly write: (text: string) => void;
  readonly env?: NodeJS.ProcessEnv | undefined;
}

/** Audit each writer on a fresh copy of the old settings file. */
export async function runDemo(options: DemoOptions): Promise<DemoResult[]> {
  const env = options.env ?? process.env;
  const wanted = options.frontEnd ?? 'auto';
  const useStrace = wanted === 'strace' || (wanted === 'auto' && straceAvailable(env));
  const scratch = direct.mkdtemp(join(tmpdir(), 'atomic-fs-demo-'));
  const oldData = settings(1);
  const newData = settings(2);
  const results: DemoResult[] = [];
  const library = new URL('../index.js', import.meta.url).href;
  options.write(
    `atomic-fs demo: four ways to save settings.json (${Math.round(newData.length / 1024)} KB) over its previous version,\n` +
      'each audited for a power cut at every step: a crash state is every way the writes so far\n' +
      'may or may not have reached disk (model: posix).\n' +
      (useStrace
        ? 'front end: strace (each writer ran as its own Node process under strace -f)\n\n'
        : 'front end: in-process (strace is not available: writers 1-3 are replayed as the same system calls through the fs seam)\n\n'),
  );
  try {
    direct.writeFile(join(scratch, 'new.json'), newData);
    for (const [index, writer] of DEMO_WRITERS.entries()) {
      const dir = join(scratch, `writer-${index + 1}`);
      direct.mkdir(dir, 0o755);
      const dest = join(dir, 'settings.json');
      direct.writeFile(dest, oldData, 0o644);
      let report: AuditReport;
      if (useStrace) {
        const script = join(scratch, `writer-${index + 1}.mjs`);
        direct.writeFile(script, writer.script);
        report = await auditCommand(
          [process.execPath, script, dest, join(scratch, 'new.json'), library],
          { cwd: dir, env, output: 'ignore' },
        );
      } else {
        report = await audit(() => writer.inProcess(dest, newData), { dir });
      }
      results.push({ writer: writer.name, report });
    }
  } finally {
    direct.rm(scratch);
  }
  const header = [
    'writer',
    'crash states',
    'torn/empty',
    'missing',
    'stale-after-done',
    'leftover temp',
  ];
  const rows = results.map(({ writer, report }) => [
    writer,
    String(report.states.explored),
    String(report.violations.torn),
    String(report.violations.missing),
    String(report.violations['stale-after-done']),
    String(report.violations['leftover-temp']),
  ]);
  options.write(`${table(header, rows)}\n`);
  for (const { writer, report } of results) {
    const first = report.examples[0];
    options.write(`${wrap(`${writer}: ${verdict(report)}.`, 92, '   ')}\n`);
    if (first !== undefined) options.write(`   ${wrap(`${first.message}.`, 89, '   ')}\n`);
  }
  return results;
}
