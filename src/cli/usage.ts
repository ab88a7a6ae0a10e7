/**
 * Usage errors, told the same way by every command: one line saying what is wrong, then where the
 * help is, and exit code 2:
 *
 *   kubemux fake-cluster: Unknown option '--bogus'
 *   See 'kubemux fake-cluster --help'.
 *
 * Never the whole help text: it would bury the one line that matters (git and kubectl do the
 * same), and the help is one command away.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

/** The exit code of a usage error. */
export const USAGE_EXIT_CODE = 2;

/** A usage error: one line for the user (exit 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The two lines of a usage error of `command` (`kubemux`, `kubemux forward`, ...). */
export function usageMessage(command: string, message: string): string {
  return `${command}: ${message}\nSee '${command} --help'.\n`;
}

/** The first sentence of a message, without its full stop. */
function firstSentence(message: string): string {
  return message.split('. ')[0]!.replace(/\.$/, '');
}

/**
 * node:util's parseArgs, its errors turned into {@link UsageError}s of one line (Node's messages
 * go on with advice about `--` that does not apply: "Unknown option '--bogus'. To specify a
 * positional argument starting with a '-', ...").
 */
export function parseOptions<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    throw new UsageError(firstSentence((error as Error).message));
  }
}
