/**
 * The wait that makes a fresh v4 pair open: the runtime's port prefix on both of its channels
 * (spec/websocket-channels.md §1.4), under the open's deadline.
 */
import { ErrorCode, KubemuxError, abortError } from '../../errors.js';
import type { V4DataStream } from './data-stream.js';

/**
 * Waits for the runtime's port prefix on both channels of a fresh pair (see
 * {@link V4DataStream.prefixed}). On failure the pair is destroyed: a close frame goes out, then
 * the socket is destroyed at once, since a runtime that is stuck cannot be counted on to answer
 * the closing handshake. Fails with ERR_STREAM_OPEN_TIMEOUT after `ms` (`shownMs` is the deadline
 * as the caller set it, for the message), with the abort's reason (a KubemuxError), or with the
 * pair's own error when the WebSocket fails or closes first.
 * @internal
 */
export function awaitPortPrefixes(data: V4DataStream, ms: number, shownMs: number, signal: AbortSignal): Promise<void> {
  if (data.prefixed) return Promise.resolve();
  return new Promise<void>((resolve, reject) => {
    const finish = (error?: KubemuxError): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      data.off('prefixed', onPrefixed);
      data.off('close', onClose);
      if (error === undefined) resolve();
      else reject(error);
    };
    /** Gives up on a pair that is still open: close frame, then the socket at once. */
    const giveUp = (error: KubemuxError): void => {
      finish(error);
      data.destroy(error);
      data.connection.destroy();
    };
    const onPrefixed = (): void => finish();
    const onAbort = (): void => giveUp(abortError(signal, 'stream', `opening the v4 pair for port ${data.port}`));
    // The pair failed by itself (a wrong prefix: its closing handshake, bounded by the
    // connection's closeTimeoutMs, is under way) or the server closed it.
    const onClose = (): void => {
      const failure = data.errored;
      finish(
        failure instanceof KubemuxError
          ? failure
          : new KubemuxError(ErrorCode.TRANSPORT_CLOSED, 'transport', `the v4 WebSocket for port ${data.port} closed before the runtime sent its port prefix`),
      );
    };
    const timer = setTimeout(() => {
      giveUp(
        new KubemuxError(
          ErrorCode.STREAM_OPEN_TIMEOUT,
          'stream',
          `the v4 pair for port ${data.port} was not ready within ${shownMs} ms: the runtime sent no port prefix on ${data.missingPrefixes()}`,
        ),
      );
    }, ms);
    timer.unref();
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    data.on('prefixed', onPrefixed);
    data.on('close', onClose);
  });
}
