/** A real HTTP server on 127.0.0.1 for one test (or one suite), closed when it ends. */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  readonly base: string;
  /** Requests seen, in order. */
  readonly requests: http.IncomingMessage[];
  close(): Promise<void>;
}

export async function serve(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<TestServer> {
  const requests: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => {
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

/** Write `total` bytes of `chunk` repeated, honouring backpressure. */
export async function stream(
  res: http.ServerResponse,
  chunk: Buffer,
  total: number,
  pauseMs = 0,
): Promise<void> {
  let sent = 0;
  while (sent < total && !res.destroyed) {
    const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
    sent += piece.length;
    if (!res.write(piece)) {
      // Whichever comes first, both listeners go: a long body waits for drain many times.
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
    if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
}
