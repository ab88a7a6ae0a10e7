/**
 * Port specs: which local port forwards to which pod port, in kubectl's syntax (`parsePorts` in
 * client-go's portforward.go, plus kubectl's named ports), parsed and validated before anything is
 * bound.
 *
 * | spec        | local                               | remote |
 * |-------------|-------------------------------------|--------|
 * | `"8080"`    | 8080                                | 8080   |
 * | `"9000:80"` | 9000                                | 80     |
 * | `":80"`     | a free port                         | 80     |
 * | `"0:80"`    | a free port                         | 80     |
 * | `"http"`    | the port `http` resolves to         | that port |
 * | `"9000:http"` | 9000                              | the port `http` resolves to |
 *
 * Rules (kubectl's): at most one `:`; a local port is a decimal 0..65535 (0: any free port); a
 * remote port is a decimal 1..65535 (0 is rejected) or a port name (IANA_SVC_NAME, as
 * Kubernetes validates container port names: 1-15 of a-z 0-9 and `-`, at least one letter, no
 * `-` at either end or twice in a row).
 */
import { ErrorCode, KubemuxError } from '../errors.js';

/** One port to forward: a kubectl-style string (see the file comment) or its parts. */
export type PortSpec =
  | string
  | {
      /** Local port, 0..65535; 0 picks a free one. Default: the remote port (after resolution, for a name). */
      readonly local?: number;
      /** Pod port 1..65535, or a port name for the `resolvePort` hook. */
      readonly remote: number | string;
    };

/** A validated {@link PortSpec} (what {@link parsePortSpec} returns). */
export interface ParsedPortSpec {
  /** The spec as given, for messages (`"9000:80"`, or `{ local: 9000, remote: 80 }` shown that way). */
  readonly text: string;
  /** Local port; undefined: the same as the remote port. */
  readonly local: number | undefined;
  /** Pod port or port name, before resolution. */
  readonly remote: number | string;
}

const DECIMAL = /^[0-9]+$/;
const MAX_PORT_NAME_LENGTH = 15;

function invalid(text: string, why: string): KubemuxError {
  return new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', `invalid port spec ${text}: ${why}`);
}

/** Whether `name` is a valid port name (see the file comment). */
export function isPortName(name: string): boolean {
  return (
    name.length >= 1 &&
    name.length <= MAX_PORT_NAME_LENGTH &&
    /^[a-z0-9-]+$/.test(name) &&
    /[a-z]/.test(name) &&
    !name.includes('--') &&
    !name.startsWith('-') &&
    !name.endsWith('-')
  );
}

function parseLocal(text: string, value: string | number): number {
  const port = typeof value === 'number' ? value : DECIMAL.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) throw invalid(text, `local port ${JSON.stringify(value)} is not a port number in 0..65535`);
  return port;
}

function parseRemote(text: string, value: string | number): number | string {
  if (typeof value === 'string' && !DECIMAL.test(value)) {
    if (!isPortName(value)) throw invalid(text, `remote port ${JSON.stringify(value)} is neither a port number in 1..65535 nor a port name`);
    return value;
  }
  const port = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
    throw invalid(text, port === 0 ? 'remote port must be > 0' : `remote port ${JSON.stringify(value)} is outside 1..65535`);
  }
  return port;
}

/** Parses one spec; throws ERR_INVALID_ARGUMENT (usage) naming it. */
export function parsePortSpec(spec: PortSpec): ParsedPortSpec {
  if (typeof spec === 'string') {
    const text = JSON.stringify(spec);
    const parts = spec.split(':');
    if (parts.length > 2) throw invalid(text, 'more than one ":"');
    if (parts.length === 1) return { text, local: undefined, remote: parseRemote(text, parts[0]!) };
    const [local, remote] = parts as [string, string];
    // ":80" is kubectl's "0:80": any free local port.
    return { text, local: parseLocal(text, local === '' ? '0' : local), remote: parseRemote(text, remote) };
  }
  if (typeof spec !== 'object' || spec === null) throw invalid(String(spec), 'expected a string such as "8080:80" or { local?, remote }');
  const text = `{ ${spec.local === undefined ? '' : `local: ${JSON.stringify(spec.local)}, `}remote: ${JSON.stringify(spec.remote)} }`;
  if (typeof spec.remote !== 'number' && typeof spec.remote !== 'string') throw invalid(text, 'remote must be a port number or a port name');
  if (spec.local !== undefined && typeof spec.local !== 'number') throw invalid(text, 'local must be a port number');
  return { text, local: spec.local === undefined ? undefined : parseLocal(text, spec.local), remote: parseRemote(text, spec.remote) };
}

/** Parses every spec (at least one); throws ERR_INVALID_ARGUMENT (usage) naming the first bad one. */
export function parsePortSpecs(specs: readonly PortSpec[]): ParsedPortSpec[] {
  if (!Array.isArray(specs) || specs.length === 0) throw new KubemuxError(ErrorCode.INVALID_ARGUMENT, 'usage', 'ports must list at least one port to forward');
  return specs.map(parsePortSpec);
}
