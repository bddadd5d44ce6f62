/**
 * Appends to a temp file from the calling thread, gathering small chunks into one 64 KiB
 * write (a stream of tiny chunks would otherwise cost one threadpool round trip each).
 * Chunks at least that large are written as they are, without a copy.
 */
import { HANDLE_BUFFER_BYTES } from './constants.js';
import { runAsync } from '../engine/executors.js';
import { type Job, writeChunks } from './replace-plans.js';

export class BufferedWriter {
  readonly #job: Job;
  readonly #fd: number;
  readonly #signal: AbortSignal | undefined;
  #staging: Buffer | undefined;
  #staged = 0;

  constructor(job: Job, fd: number, signal: AbortSignal | undefined) {
    this.#job = job;
    this.#fd = fd;
    this.#signal = signal;
  }

  /** Add bytes; they may only be staged (copied), so the caller may reuse its buffer. */
  async add(bytes: Uint8Array): Promise<void> {
    if (bytes.byteLength >= HANDLE_BUFFER_BYTES) {
      await this.flush();
      await this.#write(bytes);
      return;
    }
    if (this.#staged + bytes.byteLength > HANDLE_BUFFER_BYTES) await this.flush();
    this.#staging ??= Buffer.allocUnsafe(HANDLE_BUFFER_BYTES);
    this.#staging.set(bytes, this.#staged);
    this.#staged += bytes.byteLength;
  }

  /** Write whatever is staged. */
  async flush(): Promise<void> {
    if (this.#staging === undefined || this.#staged === 0) return;
    await this.#write(this.#staging.subarray(0, this.#staged));
    this.#staged = 0;
  }

  #write(bytes: Uint8Array): Promise<void> {
    return runAsync(writeChunks(this.#job, this.#fd, [bytes], this.#signal));
  }
}
