/**
 * atomic-fs: replace files atomically and durably.
 * @packageDocumentation
 */
export { writeFile, writeFileSync } from './write-file.js';
export { openAtomic, openAtomicSync } from './atomic-file.js';
export type { AtomicFile, AtomicFileSync } from './atomic-file.js';
export { AtomicFsError } from './errors.js';
export type { Phase } from './errors.js';
export type { WriteOptions, Durability, SymlinkPolicy } from './options.js';
export type { Chunk, Data } from './data.js';
export { writeDirectory } from './directory.js';
export type { DirectoryFiles, WriteDirectoryOptions, WriteDirectoryResult } from './directory.js';
export { replaceSymlink } from './symlink.js';
export type { ReplaceSymlinkOptions } from './symlink.js';
export {
  readJson,
  readJsonSync,
  writeJson,
  writeJsonSync,
  updateJson,
  updateJsonSync,
} from './json.js';
export type {
  ReadJsonOptions,
  WriteJsonOptions,
  UpdateJsonOptions,
  UpdateJsonFunction,
  UpdateJsonSyncFunction,
  JsonFormat,
  JsonReplacer,
} from './json.js';
export { update, updateSync } from './update.js';
export type { UpdateOptions, UpdateFunction, UpdateSyncFunction } from './update.js';
export type { LockOptions } from './lock.js';
// toolkit (copyFile, download, cleanupTemps, writeFiles)
export { copyFile } from './copy.js';
export type { CopyOptions, Progress } from './copy.js';
export { download } from './download.js';
export type { DownloadOptions, DownloadHeaders } from './download.js';
export { cleanupTemps } from './cleanup.js';
export type { CleanupOptions } from './cleanup.js';
export { writeFiles } from './write-files.js';
export type { WriteFilesOptions, WriteFilesOutcome, WriteFilesEntries } from './write-files.js';
