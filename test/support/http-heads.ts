/**
 * HTTP/1.1 message heads split out of recorded connection bytes (see socket-tap.ts), for tests
 * that look at what a client sent without standing in for the server: request lines and header
 * lines as sent, paired with the status of their answers.
 */

/** A request head: the request line and the header lines. */
export interface RequestHead {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: ReadonlyArray<readonly [string, string]>;
  readonly upgrade: boolean;
}

/**
 * Pairs the request heads a client sent with the status lines of the answers, in order (HTTP/1.1
 * answers in request order). Bodies are skipped by Content-Length (the fake cluster always sends
 * one outside watches, which kubectl port-forward does not use). After an upgrade request, the
 * client's further bytes are the upgraded stream: `rest` of the answer that is its 101.
 */
export class HttpHeads {
  #client = Buffer.alloc(0);
  #server = Buffer.alloc(0);
  #serverBody = 0;
  readonly #pending: RequestHead[] = [];
  #upgradeAsked = false;

  /** Feeds client-to-server bytes. */
  client(bytes: Buffer): void {
    this.#client = Buffer.concat([this.#client, bytes]);
    while (!this.#upgradeAsked) {
      const head = splitHead(this.#client);
      if (head === undefined) return;
      const [requestLine = '', ...lines] = head.lines;
      const [method = '', url = ''] = requestLine.split(' ');
      const rawHeaders = lines.map(headerLine);
      const upgrade = rawHeaders.some(([name]) => name.toLowerCase() === 'upgrade');
      const body = Number(rawHeaders.find(([name]) => name.toLowerCase() === 'content-length')?.[1] ?? 0);
      if (head.length + body > this.#client.length) return;
      this.#client = this.#client.subarray(head.length + body);
      this.#pending.push({ method, url, rawHeaders, upgrade });
      this.#upgradeAsked = upgrade;
    }
  }

  /** Feeds server-to-client bytes; returns the requests answered by them, with their status. */
  server(bytes: Buffer): Array<{ request: RequestHead; status: number; rest: Buffer }> {
    this.#server = Buffer.concat([this.#server, bytes]);
    const answered: Array<{ request: RequestHead; status: number; rest: Buffer }> = [];
    for (;;) {
      const skip = Math.min(this.#serverBody, this.#server.length);
      this.#server = this.#server.subarray(skip);
      this.#serverBody -= skip;
      if (this.#serverBody > 0) return answered;
      const head = splitHead(this.#server);
      const request = this.#pending[0];
      if (head === undefined || request === undefined) return answered;
      this.#pending.shift();
      this.#server = this.#server.subarray(head.length);
      const status = Number(head.lines[0]?.split(' ')[1]);
      const length = head.lines.map(headerLine).find(([name]) => name.toLowerCase() === 'content-length')?.[1];
      this.#serverBody = request.method === 'HEAD' || status === 101 ? 0 : Number(length ?? 0);
      const rest = status === 101 ? this.#client : Buffer.alloc(0);
      if (request.upgrade && status !== 101) this.#upgradeAsked = false;
      answered.push({ request, status, rest });
    }
  }
}

function splitHead(bytes: Buffer): { lines: string[]; length: number } | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  return { lines: bytes.subarray(0, end).toString('latin1').split('\r\n'), length: end + 4 };
}

function headerLine(line: string): readonly [string, string] {
  const colon = line.indexOf(':');
  return [line.slice(0, colon), line.slice(colon + 1).trim()];
}
