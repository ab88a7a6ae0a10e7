/**
 * Where the CLI writes: log lines on stdout and stderr and, on a terminal, one live status line
 * kept at the bottom of stdout. Log lines are written above the status line (it is cleared, the
 * line printed, the status drawn again), so the two never mangle each other. A stdout or stderr
 * that the reader closed (`kubemux … | head -1`) is the end of that output, not a crash: writes
 * to it stop and the command goes on.
 */
import type { Writable } from 'node:stream';

/** A stream the CLI writes to: Node's process.stdout/stderr, or a test's capture. */
export interface OutputStream extends Writable {
  readonly isTTY?: boolean;
}

const CLEAR_LINE = '\r\x1b[2K';

/** See the file comment. */
export class Console {
  readonly #stdout: OutputStream;
  readonly #stderr: OutputStream;
  readonly #live: boolean;
  #status = '';
  #stdoutOpen = true;
  #stderrOpen = true;

  /** `live`: draw a status line (default: when stdout is a terminal). */
  constructor(stdout: OutputStream, stderr: OutputStream, options: { readonly live?: boolean } = {}) {
    this.#stdout = stdout;
    this.#stderr = stderr;
    this.#live = options.live ?? stdout.isTTY === true;
    // A closed pipe (EPIPE) ends that output; anything else is reported once on the other one.
    stdout.on('error', () => {
      this.#stdoutOpen = false;
    });
    stderr.on('error', () => {
      this.#stderrOpen = false;
    });
  }

  /** Whether a live status line is drawn. */
  get live(): boolean {
    return this.#live;
  }

  /** A line on stdout (kubectl's "Forwarding from ...", "Handling connection for ..."). */
  out(line: string): void {
    this.#write(this.#stdout, line);
  }

  /** A line on stderr (errors, replacements). */
  err(line: string): void {
    this.#write(this.#stderr, line);
  }

  /** Replaces the status line (ignored unless live). */
  status(text: string): void {
    if (!this.#live || !this.#stdoutOpen) return;
    this.#status = text;
    this.#stdout.write(`${CLEAR_LINE}${text}`);
  }

  /** Removes the status line for good (before exiting). */
  endStatus(): void {
    if (!this.#live || this.#status === '' || !this.#stdoutOpen) return;
    this.#stdout.write(CLEAR_LINE);
    this.#status = '';
  }

  #write(stream: OutputStream, line: string): void {
    const open = stream === this.#stdout ? this.#stdoutOpen : this.#stderrOpen;
    const drawn = this.#live && this.#status !== '' && this.#stdoutOpen;
    if (drawn) this.#stdout.write(CLEAR_LINE);
    if (open) stream.write(`${line}\n`);
    if (drawn) this.#stdout.write(this.#status);
  }
}
