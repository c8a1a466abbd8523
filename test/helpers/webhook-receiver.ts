import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  body: unknown;
  verified: boolean;
}

/**
 * A webhook receiver as an app would run it: verifies each delivery with the
 * `standardwebhooks` package and deduplicates by `webhook-id`. `respond` scripts its
 * answers (status, headers, or 'hang' to time out) per arrival.
 */
export async function startReceiver(
  secret: string,
  respond: (n: number, id: string) => { status: number; headers?: Record<string, string> } | 'hang' = () => ({
    status: 204,
  }),
) {
  const verifier = new Webhook(secret);
  const arrivals: Received[] = [];
  const unique = new Map<string, Received>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      const headers = {
        'webhook-id': String(req.headers['webhook-id']),
        'webhook-timestamp': String(req.headers['webhook-timestamp']),
        'webhook-signature': String(req.headers['webhook-signature']),
      };
      let verified = false;
      let parsed: unknown;
      try {
        parsed = verifier.verify(body, headers);
        verified = true;
      } catch {
        verified = false;
      }
      const received = { id: headers['webhook-id'], body: parsed, verified };
      arrivals.push(received);
      const answer = respond(arrivals.length, received.id);
      if (answer === 'hang') return; // never answer: the sender must time out
      if (verified && answer.status >= 200 && answer.status < 300) unique.set(received.id, received);
      res.writeHead(answer.status, answer.headers ?? {});
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    arrivals,
    /** Deliveries accepted (2xx), deduplicated by webhook-id. */
    unique,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
