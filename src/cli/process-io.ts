/**
 * What every kubemux command needs from its process: where to write, and when to stop.
 *
 * - Output: a reader that goes away (`kubemux … | head -1`) ends that output, not the command.
 *   Node reports the closed pipe as an 'error' event (EPIPE) on process.stdout, which without a
 *   listener is an uncaught exception and a stack trace; with {@link endOutputOnError} the error
 *   is taken as the end of the output, and later writes go nowhere.
 * - Stopping: long-running commands stop cleanly on SIGINT and SIGTERM and exit 0
 *   ({@link stopSignal}); the handlers are installed before the command does anything, so a
 *   signal during start-up is a stop too, not a kill.
 */
import type { OutputStream } from './console.js';

/** What a command is given to run with (tests pass their own). */
export interface CommandIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  /** Resolves when the user asks the command to stop (SIGINT, SIGTERM). */
  readonly stopped: Promise<void>;
}

const ended = new WeakSet<OutputStream>();

/** Makes an error on `stream` (EPIPE: the reader is gone) the end of that output instead of a crash. Idempotent. */
export function endOutputOnError(stream: OutputStream): void {
  if (ended.has(stream)) return;
  ended.add(stream);
  stream.on('error', () => {
    // Nothing to do: the stream is destroyed, and writes to it from now on are dropped.
  });
}

let stop: Promise<void> | undefined;

/**
 * Resolves on the first SIGINT or SIGTERM. From the first call on, neither signal kills the
 * process: the first asks the command to stop, and later ones are ignored while it does. The
 * same promise for every call.
 */
export function stopSignal(): Promise<void> {
  stop ??= new Promise<void>((resolve) => {
    const onSignal = (): void => resolve();
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
  return stop;
}
