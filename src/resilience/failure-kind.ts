/**
 * What a failed dial means for the next one. The resilience layer retries every failure that time
 * can mend, but not all the same way (spec/resilience.md, "Re-dial policy"):
 *
 * | kind             | what failed                                                    | what happens next                                           |
 * |------------------|----------------------------------------------------------------|-------------------------------------------------------------|
 * | `transient`      | connect refused or reset, TLS handshake, timeouts, 5xx, 429, a connection closed before answering, any other refusal | full-jitter backoff, for ever |
 * | `credentials`    | 401 or 403                                                     | one immediate re-dial with fresh credentials, then the backoff ceiling, for ever |
 * | `target-missing` | 404 for the pod; the resolver found no pod                     | the target is resolved again before each backed-off re-dial |
 * | `fatal`          | a usage error before any connection ever worked (a bad URL or option) | the connection closes with the error: retrying cannot help |
 */
import { ErrorCode, type KubemuxError } from '../errors.js';

/** How a dial failure is retried; see the file comment. */
export type FailureKind = 'transient' | 'credentials' | 'target-missing' | 'fatal';

/**
 * Classifies a dial (or target resolution) failure. `everConnected`: whether this target ever had
 * a working connection; after that, a usage error (an exec credential plugin that failed once,
 * say) is retried like any transient failure rather than ending a long-running forward.
 */
export function classifyFailure(error: KubemuxError, everConnected: boolean): FailureKind {
  const refused = error.code === ErrorCode.UPGRADE_REFUSED || error.code === ErrorCode.API_REFUSED;
  if (refused && (error.httpStatus === 401 || error.httpStatus === 403)) return 'credentials';
  if ((refused && error.httpStatus === 404) || error.code === ErrorCode.TARGET_NOT_FOUND) return 'target-missing';
  if (error.scope === 'usage' && error.code !== ErrorCode.ABORTED && !everConnected) return 'fatal';
  return 'transient';
}
