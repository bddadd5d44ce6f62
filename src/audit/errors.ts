/**
 * Errors of the crash-state explorer. A setup error (strace missing, io_uring in use, a
 * directory too large to snapshot) means the audit could not be made: the CLI exits 2.
 */
export class AuditSetupError extends Error {
  readonly code = 'ERR_ATOMIC_AUDIT_SETUP';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditSetupError';
  }
}
