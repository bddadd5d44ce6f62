/**
 * atomic-fs/audit: the crash-state explorer. Record what a program does to its files (with
 * strace, or in-process through atomic-fs's own fs seam), enumerate the states a power cut
 * could leave on disk, and check each one.
 * @packageDocumentation
 */
export { audit, auditCommand } from './audit.js';
export type { AuditOptions, CheckFunction, CommandAuditOptions } from './audit.js';
export { AUDIT_EXIT_STATUS, formatReport, verdict } from './report.js';
export type {
  AuditReport,
  AuditStatus,
  ReportExample,
  ReportOperation,
  SkippedPath,
} from './report.js';
export type { ScopeOptions } from './scope.js';
export type { ViolationKind } from './check.js';
export type { PersistenceModel } from './model.js';
export { AuditSetupError } from './errors.js';
export { straceAvailable } from './trace.js';
