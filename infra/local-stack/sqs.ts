import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSqsServer } from 'local-aws-sqs';

/** local-aws-sqs (npm) on 127.0.0.1: the embedded default's SQS. */
export interface LocalSqs {
  endpoint: string;
  stop(): Promise<void>;
}

export async function startLocalSqs(): Promise<LocalSqs> {
  const server: Server = await createSqsServer({
    port: 0,
    hostname: '127.0.0.1',
    // Tests delete and recreate queues; real SQS's 60 s wait only slows them down.
    emulateQueueCreationLifecycle: false,
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}
