/**
 * atomic-fs: replace files atomically and durably.
 * @packageDocumentation
 */
export { writeFile, writeFileSync } from './core/write-file.js';
export { openAtomic, openAtomicSync } from './core/open-atomic.js';
export type { AtomicFile, AtomicFileSync } from './core/open-atomic.js';
export { AtomicFsError } from './engine/errors.js';
export type { Phase } from './engine/errors.js';
export type { WriteOptions, Durability, SymlinkPolicy } from './core/options.js';
export type { Chunk, Data } from './core/data.js';
export { writeDirectory } from './tree/write-directory.js';
export type {
  DirectoryFiles,
  WriteDirectoryOptions,
  WriteDirectoryResult,
} from './tree/write-directory.js';
export { replaceSymlink } from './tree/replace-symlink.js';
export type { ReplaceSymlinkOptions } from './tree/replace-symlink.js';
export {
  readJson,
  readJsonSync,
  writeJson,
  writeJsonSync,
  updateJson,
  updateJsonSync,
} from './json/json.js';
export type {
  JsonEncoding,
  ReadJsonOptions,
  WriteJsonOptions,
  UpdateJsonOptions,
  UpdateJsonFunction,
  UpdateJsonSyncFunction,
  JsonFormat,
  JsonReplacer,
} from './json/json.js';
export { update, updateSync } from './json/update.js';
export type { UpdateOptions, UpdateFunction, UpdateSyncFunction } from './json/update.js';
export type { LockOptions } from './json/lock.js';
// toolkit (copyFile, download, cleanupTemps, writeFiles)
export { copyFile } from './toolkit/copy-file.js';
export type { CopyOptions, Progress } from './toolkit/copy-file.js';
export { download } from './toolkit/download.js';
export type { DownloadOptions, DownloadHeaders } from './toolkit/download.js';
export { cleanupTemps } from './toolkit/cleanup-temps.js';
export type { CleanupOptions } from './toolkit/cleanup-temps.js';
export { writeFiles } from './toolkit/write-files.js';
export type {
  WriteFilesOptions,
  WriteFilesOutcome,
  WriteFilesEntries,
} from './toolkit/write-files.js';
