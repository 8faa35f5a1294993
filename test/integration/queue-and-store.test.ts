import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startLocalS3 } from '../../infra/local-stack/s3.ts';
import { startLocalSqs } from '../../infra/local-stack/sqs.ts';
import { waitFor } from '../../layers/core/process.ts';
import { parseArchive } from '../../layers/flent/archive.ts';
import {
  ensureWorkQueue,
  makeSqsClient,
  type PairMessage,
  WorkQueue,
} from '../../layers/queue/work-queue.ts';
import { archiveKey } from '../../layers/store/keys.ts';
import { makeS3Client, ObjectStore } from '../../layers/store/s3-store.ts';

/** The queue against local-aws-sqs and the store against s3rver: real peers, started here. */
const credentials = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' };
const fixture = (name: string): string => new URL(`../fixtures/flent/${name}`, import.meta.url).pathname;

let stopAll: Array<() => Promise<void>> = [];
let store: ObjectStore;
let sqsEndpoint: string;
let dir: string;
let s3Settings: Parameters<typeof makeS3Client>[0];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'netmon-qs-'));
  const s3 = await startLocalS3(join(dir, 's3'));
  const sqs = await startLocalSqs();
  stopAll = [s3.stop, sqs.stop];
  sqsEndpoint = sqs.endpoint;
  const settings = {
    NETMON_S3_BUCKET: s3.bucket,
    NETMON_S3_ENDPOINT: s3.endpoint,
    NETMON_S3_REGION: 'us-east-1',
    NETMON_S3_FORCE_PATH_STYLE: true,
    NETMON_S3_CHECKSUMS: 'WHEN_REQUIRED' as const,
    ...credentials,
  };
  s3Settings = settings;
  store = new ObjectStore(makeS3Client(settings), settings);
});

afterAll(async () => {
  for (const stop of stopAll) await stop();
  await rm(dir, { recursive: true, force: true });
});

function message(src: string, dst: string, round = 'r1'): PairMessage {
  return { schedule: 's', round, src, dst, test: 'ping', lengthSeconds: 2 };
}

async function queue(
  name: string,
  visibility: number,
  maxReceives = 3,
): Promise<{ work: WorkQueue; dlq: WorkQueue }> {
  const client = makeSqsClient({
    NETMON_SQS_ENDPOINT: sqsEndpoint,
    NETMON_SQS_REGION: 'us-east-1',
    ...credentials,
  });
  const url = await ensureWorkQueue(client, name, { visibilityTimeoutSeconds: visibility, maxReceives });
  return {
    work: new WorkQueue(client, url, visibility),
    dlq: new WorkQueue(client, url.replace(/\.fifo$/, '-dlq.fifo'), visibility),
  };
}

describe('work queue on local-aws-sqs', () => {
  it('delivers pairs in FIFO order and deduplicates a pair queued twice', async () => {
    const { work } = await queue('order', 30);
    await work.send([message('a', 'b'), message('b', 'a'), message('a', 'b'), message('c', 'a')]);
    const received: string[] = [];
    for (;;) {
      const m = await work.receive(0);
      if (!m) break;
      received.push(`${m.body.src}>${m.body.dst}`);
      expect(m.receiveCount).toBe(1);
      await work.delete(m.receiptHandle);
    }
    expect(received).toEqual(['a>b', 'b>a', 'c>a']);
  });

  it('hides a message while its visibility is extended and brings it back after', async () => {
    // local-aws-sqs counts every ChangeMessageVisibility as a receive: room for that.
    const { work } = await queue('visibility', 10, 10);
    await work.send([message('a', 'b')]);
    const first = await work.receive(0);
    expect(first).toBeDefined();
    await work.extendVisibility(first?.receiptHandle as string, 30);
    expect(await work.receive(0)).toBeUndefined();
    expect((await work.approximateCounts()).inFlight).toBe(1);
    await work.extendVisibility(first?.receiptHandle as string, 0);
    let again: Awaited<ReturnType<WorkQueue['receive']>>;
    await waitFor('the message to come back', async () => {
      again = await work.receive(0);
      return again !== undefined;
    });
    expect(again?.body.src).toBe('a');
    expect(again?.receiveCount).toBeGreaterThanOrEqual(2);
  });

  it('moves a message to the dead-letter queue after N receives', async () => {
    // A 1 s visibility: each delivery lapses on its own, as when a probe dies.
    const { work, dlq } = await queue('poison', 1, 2);
    await work.send([message('x', 'y')]);
    for (let i = 1; i <= 2; i++) {
      let m: Awaited<ReturnType<WorkQueue['receive']>>;
      await waitFor(`delivery ${i}`, async () => {
        m = await work.receive(0);
        return m !== undefined;
      });
      expect(m?.receiveCount).toBe(i);
    }
    await waitFor('the message to reach the DLQ', async () => {
      await work.receive(0);
      return (await dlq.approximateCounts()).visible === 1;
    });
    const dead = await dlq.receive(0);
    expect(dead?.body).toEqual(message('x', 'y'));
  });

  it('drops a malformed message instead of retrying it forever', async () => {
    const { work } = await queue('malformed', 10);
    const client = makeSqsClient({
      NETMON_SQS_ENDPOINT: sqsEndpoint,
      NETMON_SQS_REGION: 'us-east-1',
      ...credentials,
    });
    await client.send(
      new SendMessageCommand({
        QueueUrl: work.url,
        MessageBody: '{"not":"a pair"}',
        MessageGroupId: 'netmon',
        MessageDeduplicationId: 'bad',
      }),
    );
    await work.send([message('a', 'b')]);
    expect((await work.receive(0))?.body.src).toBe('a');
  });
});

describe('object store on s3rver', () => {
  it('round-trips an archive byte for byte (no checksum framing stored)', async () => {
    const key = archiveKey('s', 'node/a', 'b', 'rrul', new Date('2026-11-26T08:00:00Z'));
    await store.putFile(key, fixture('rrul.flent.gz'), 'application/gzip');
    const bytes = await store.getBytes(key);
    expect(Buffer.compare(Buffer.from(bytes ?? []), await readFile(fixture('rrul.flent.gz')))).toBe(0);
    expect(parseArchive(bytes ?? new Uint8Array()).metadata.NAME).toBe('rrul');
    expect(await store.list('archives/s/2026/11/26/node%2Fa/')).toEqual([key]);
  });

  it('reads JSON with a schema, says what is wrong, and returns undefined for a missing key', async () => {
    await store.putJson('rounds/s/r1.json', { round: 'r1', count: 3 });
    const schema = z.object({ round: z.string(), count: z.number() });
    expect(await store.getJson('rounds/s/r1.json', schema)).toEqual({ round: 'r1', count: 3 });
    expect(await store.getJson('rounds/s/none.json', schema)).toBeUndefined();
    await expect(store.getJson('rounds/s/r1.json', z.object({ round: z.number() }))).rejects.toThrow(
      /rounds\/s\/r1\.json: round/,
    );
  });

  it('lists across pages, lists folders and deletes', async () => {
    const keys = Array.from({ length: 1105 }, (_, i) => `graphs/t${String(i).padStart(4, '0')}/graph.json`);
    await Promise.all(keys.map((key) => store.putText(key, '{}', 'application/json')));
    expect(await store.list('graphs/')).toHaveLength(1105);
    expect(await store.listPrefixes('graphs/')).toHaveLength(1105);
    await store.delete(keys);
    expect(await store.list('graphs/')).toEqual([]);
  }, 60_000);

  describe('through a connection that drops mid-way (a real s3rver behind a resetting proxy)', () => {
    const upstream = (): URL => new URL(s3Settings.NETMON_S3_ENDPOINT as string);
    const sockets = new Set<Socket>();
    const servers: Server[] = [];
    /** Resets the first `cuts` connections after 2 KiB of `side` (the response: headers and part of the body). */
    const proxyFor = async (cuts: number, side: 'request' | 'response'): Promise<string> => {
      let seen = 0;
      const server = createServer((client) => {
        sockets.add(client);
        const cut = seen++ < cuts;
        const toS3 = connect(Number(upstream().port), upstream().hostname);
        sockets.add(toS3);
        let sent = 0;
        const relay = (from: Socket, to: Socket, cutting: boolean): void => {
          from.on('data', (chunk: Buffer) => {
            if (!cutting) return void to.write(chunk);
            to.write(chunk.subarray(0, Math.max(0, 2048 - sent)));
            sent += chunk.length;
            if (sent >= 2048) {
              client.resetAndDestroy();
              toS3.destroy();
            }
          });
        };
        relay(client, toS3, cut && side === 'request');
        relay(toS3, client, cut && side === 'response');
        toS3.on('end', () => client.end());
        for (const socket of [client, toS3]) socket.on('error', () => socket.destroy());
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      return `http://127.0.0.1:${port}`;
    };
    const through = (endpoint: string): ObjectStore => {
      const settings = { ...s3Settings, NETMON_S3_ENDPOINT: endpoint };
      return new ObjectStore(makeS3Client(settings), settings);
    };
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      for (const server of servers) await new Promise((resolve) => server.close(resolve));
    });

    it('reads an object whose body the connection dropped, and says so when it keeps dropping', async () => {
      const bytes = await readFile(fixture('rrul.flent.gz'));
      await store.putFile('archives/cut/rrul.flent.gz', fixture('rrul.flent.gz'), 'application/gzip');
      const read = await through(await proxyFor(2, 'response')).getBytes('archives/cut/rrul.flent.gz');
      expect(Buffer.compare(Buffer.from(read ?? []), bytes)).toBe(0);
      await expect(
        through(await proxyFor(Number.POSITIVE_INFINITY, 'response')).getBytes('archives/cut/rrul.flent.gz'),
      ).rejects.toThrow(
        /get s3:\/\/netmon\/archives\/cut\/rrul\.flent\.gz: (aborted|.*socket hang up|.*ECONNRESET)/,
      );
    });

    it('uploads an archive whose upload the connection dropped (the SDK retries a body it holds)', async () => {
      const bytes = await readFile(fixture('rrul.flent.gz'));
      await through(await proxyFor(1, 'request')).putFile(
        'archives/cut/upload.flent.gz',
        fixture('rrul.flent.gz'),
        'application/gzip',
      );
      const stored = await store.getBytes('archives/cut/upload.flent.gz');
      expect(Buffer.compare(Buffer.from(stored ?? []), bytes)).toBe(0);
    });
  });

  it('names objects by URL', () => {
    expect(store.urlFor('archives/s/a b.flent.gz')).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/netmon\/archives\/s\/a%20b\.flent\.gz$/,
    );
  });
});
