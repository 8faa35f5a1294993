import { connect, createServer, type Server, type Socket } from 'node:net';
import { type LocalStack, startLocalStack } from '../local-stack/stack.ts';
import { ClusterError } from './errors.ts';

/**
 * The embedded stack (s3rver, local-aws-sqs, Debian's Pushgateway and
 * Prometheus) for the cluster's pods: started on the host as the demo starts
 * it, and reachable on the host's bridge address, the one address every node
 * (and, masqueraded, every pod) reaches. s3rver listens there itself; the
 * others listen on loopback only, so a small TCP forwarder per service
 * listens on the bridge address for them.
 */

export interface ClusterEndpoints {
  s3: string;
  s3Bucket: string;
  sqs: string;
  sqsQueueUrl: string;
  pushgateway: string;
  prometheus: string;
}

export interface ClusterStack {
  endpoints: ClusterEndpoints;
  /** s3rver's fixed credentials (not secrets: a local test server). */
  credentials: { AWS_ACCESS_KEY_ID: string; AWS_SECRET_ACCESS_KEY: string };
  stop(): Promise<void>;
}

interface Forwarder {
  /** host:port it listens on. */
  address: string;
  close(): Promise<void>;
}

/** Listens on host:0 and joins every connection to `target` (host:port), both ways. */
async function forward(host: string, target: URL): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = connect(Number(target.port), target.hostname);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      // A reset on one side ends the other; the error itself is the peer's business.
      socket.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const bound = server.address();
  if (bound === null || typeof bound === 'string') throw new ClusterError(`forwarder on ${host}: no port`);
  return {
    address: `${host}:${bound.port}`,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

function required(env: Record<string, string>, key: string): string {
  const value = env[key];
  if (value === undefined) throw new ClusterError(`the local stack did not set ${key}`);
  return value;
}

export async function startClusterStack(directory: string, hostAddress: string): Promise<ClusterStack> {
  const stack: LocalStack = await startLocalStack({ directory, s3Address: hostAddress });
  const forwarders: Forwarder[] = [];
  const stop = async (): Promise<void> => {
    for (const f of forwarders.splice(0)) await f.close();
    await stack.stop();
  };
  try {
    const through = async (url: string): Promise<URL> => {
      const target = new URL(url);
      const forwarder = await forward(hostAddress, target);
      forwarders.push(forwarder);
      return new URL(
        `${target.protocol}//${forwarder.address}${target.pathname === '/' ? '' : target.pathname}`,
      );
    };
    const sqs = await through(required(stack.env, 'NETMON_SQS_ENDPOINT'));
    // The queue's URL names local-aws-sqs's loopback address: the same path through the forwarder.
    const queue = new URL(required(stack.env, 'NETMON_SQS_QUEUE_URL'));
    const sqsQueueUrl = `${sqs.origin}${queue.pathname}`;
    const endpoints: ClusterEndpoints = {
      s3: required(stack.env, 'NETMON_S3_ENDPOINT'),
      s3Bucket: required(stack.env, 'NETMON_S3_BUCKET'),
      sqs: sqs.origin,
      sqsQueueUrl,
      pushgateway: (await through(stack.pushgatewayUrl)).href.replace(/\/$/, ''),
      prometheus: (await through(stack.prometheusUrl)).href.replace(/\/$/, ''),
    };
    return {
      endpoints,
      credentials: {
        AWS_ACCESS_KEY_ID: required(stack.env, 'AWS_ACCESS_KEY_ID'),
        AWS_SECRET_ACCESS_KEY: required(stack.env, 'AWS_SECRET_ACCESS_KEY'),
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
