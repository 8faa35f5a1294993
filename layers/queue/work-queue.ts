import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { z } from 'zod';
import {
  type Config,
  type CredentialSettings,
  credentialsOption,
  type TimeoutSettings,
  timeoutHandlerOptions,
} from '../core/config.ts';
import { NetmonError } from '../core/errors.ts';
import { log } from '../core/log.ts';
import { TEST_NAMES } from '../domain/test-types.ts';

export class QueueError extends NetmonError {
  override name = 'QueueError';
}

/** A send that failed part way: `sent` messages went out before (0: none did). */
export class SendError extends QueueError {
  override name = 'SendError';
  readonly sent: number;

  constructor(message: string, sent: number, options?: ErrorOptions) {
    super(message, options);
    this.sent = sent;
  }
}

/** One pair to test in one round: the body of a work-queue message. */
export const pairMessageSchema = z.object({
  schedule: z.string().min(1),
  round: z.string().min(1),
  src: z.string().min(1),
  dst: z.string().min(1),
  test: z.enum(TEST_NAMES),
  lengthSeconds: z.number().int().min(1).max(3600),
  delaySeconds: z.number().int().min(0).max(60).optional(),
  hostNetwork: z.boolean().optional(),
  timeoutSeconds: z.number().int().min(10).max(7200).optional(),
  /**
   * A disjoint round's slot: its node-disjoint pairs (src and dst above are
   * the first of them), tested at once by the probe that receives it.
   */
  slot: z
    .object({
      index: z.number().int().min(0),
      pairs: z.array(z.object({ src: z.string().min(1), dst: z.string().min(1) })).min(1),
    })
    .optional(),
  /** A disjoint round's solo check: src -> dst again, alone, after the slots. */
  solo: z.literal(true).optional(),
});
export type PairMessage = z.infer<typeof pairMessageSchema>;

export interface ReceivedMessage {
  body: PairMessage;
  receiptHandle: string;
  /** 1 on first delivery; more after a probe died or gave the message back. */
  receiveCount: number;
}

/** All messages share one group: FIFO then hands out one test at a time cluster-wide (on real SQS). */
export const MESSAGE_GROUP = 'netmon';

export type SqsSettings = Pick<Config, 'NETMON_SQS_ENDPOINT' | 'NETMON_SQS_REGION'> &
  CredentialSettings &
  TimeoutSettings;

/** The longest long poll SQS allows (WaitTimeSeconds): a receive may be silent that long by design. */
const LONG_POLL_MAX_MS = 20_000;

export function makeSqsClient(settings: SqsSettings): SQSClient {
  return new SQSClient({
    region: settings.NETMON_SQS_REGION,
    ...(settings.NETMON_SQS_ENDPOINT === undefined ? {} : { endpoint: settings.NETMON_SQS_ENDPOINT }),
    ...credentialsOption(settings),
    requestHandler: timeoutHandlerOptions(settings, LONG_POLL_MAX_MS),
  });
}

/** SQS allows 128 characters of alphanumerics and punctuation; longer ids are hashed. */
export function deduplicationId(
  message: Pick<PairMessage, 'schedule' | 'round' | 'src' | 'dst' | 'solo'>,
): string {
  // The solo check tests a pair that a slot's message may name too: its own id.
  const id = `${message.schedule}/${message.round}/${message.src}/${message.dst}${message.solo ? '/solo' : ''}`;
  if (id.length <= 128 && /^[\x21-\x7e]+$/.test(id)) return id;
  return createHash('sha256').update(id).digest('hex');
}

/**
 * Creates the FIFO work queue and its dead-letter queue (idempotent) and
 * returns the work queue's URL. serverless.yml and the Helm chart create them
 * in production; the embedded stack and tests use this.
 */
export async function ensureWorkQueue(
  client: SQSClient,
  name: string,
  options: { visibilityTimeoutSeconds: number; maxReceives: number },
): Promise<string> {
  const base = name.replace(/\.fifo$/, '');
  const fifo = { FifoQueue: 'true', ContentBasedDeduplication: 'false' };
  const dlq = await client.send(new CreateQueueCommand({ QueueName: `${base}-dlq.fifo`, Attributes: fifo }));
  const dlqAttributes = await client.send(
    new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  const queue = await client.send(
    new CreateQueueCommand({
      QueueName: `${base}.fifo`,
      Attributes: {
        ...fifo,
        VisibilityTimeout: String(options.visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlqAttributes.Attributes?.QueueArn,
          maxReceiveCount: options.maxReceives,
        }),
      },
    }),
  );
  if (!queue.QueueUrl) throw new QueueError(`creating queue ${base}.fifo returned no URL`);
  return queue.QueueUrl;
}

export class WorkQueue {
  readonly url: string;
  private readonly client: SQSClient;
  readonly visibilityTimeoutSeconds: number;

  constructor(client: SQSClient, url: string, visibilityTimeoutSeconds: number) {
    this.client = client;
    this.url = url;
    this.visibilityTimeoutSeconds = visibilityTimeoutSeconds;
  }

  /**
   * Sends pairs in order, ten per batch. Throws a SendError naming the
   * pairs SQS refused and how many messages went out before.
   */
  async send(messages: readonly PairMessage[]): Promise<void> {
    for (let i = 0; i < messages.length; i += 10) {
      const batch = messages.slice(i, i + 10);
      const response = await this.client
        .send(
          new SendMessageBatchCommand({
            QueueUrl: this.url,
            Entries: batch.map((message, j) => ({
              Id: String(j),
              MessageBody: JSON.stringify(message),
              MessageGroupId: MESSAGE_GROUP,
              MessageDeduplicationId: deduplicationId(message),
            })),
          }),
        )
        .catch((err: Error) => {
          throw new SendError(`send on ${this.url}: ${err.message}`, i, { cause: err });
        });
      const failed = response.Failed ?? [];
      if (failed.length > 0) {
        const which = failed.map(
          (f) => `${batch[Number(f.Id)]?.src}->${batch[Number(f.Id)]?.dst}: ${f.Message}`,
        );
        const sent = i + batch.length - failed.length;
        throw new SendError(`SQS refused ${failed.length} messages: ${which.join('; ')}`, sent);
      }
    }
  }

  /**
   * The next message, waiting up to `waitSeconds` (long polling); undefined
   * when the queue stays empty. A message whose body is not a pair message
   * cannot ever succeed: it is logged and deleted.
   */
  async receive(waitSeconds: number): Promise<ReceivedMessage | undefined> {
    for (;;) {
      const response = await this.call('receive', () =>
        this.client.send(
          new ReceiveMessageCommand({
            QueueUrl: this.url,
            MaxNumberOfMessages: 1,
            WaitTimeSeconds: waitSeconds,
            VisibilityTimeout: this.visibilityTimeoutSeconds,
            // local-aws-sqs ignores MessageSystemAttributeNames; 'All' works on both.
            AttributeNames: ['All'],
          }),
        ),
      );
      const message = response.Messages?.[0];
      if (message?.ReceiptHandle === undefined) return undefined;
      const body = parseBody(message.Body);
      if (body === undefined) {
        log.error(
          { messageId: message.MessageId, body: message.Body?.slice(0, 200) },
          'dropping a malformed work message',
        );
        await this.delete(message.ReceiptHandle);
        continue;
      }
      return {
        body,
        receiptHandle: message.ReceiptHandle,
        receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 1),
      };
    }
  }

  /** Keeps a message invisible while its test runs longer than the visibility timeout. */
  async extendVisibility(receiptHandle: string, seconds = this.visibilityTimeoutSeconds): Promise<void> {
    await this.call('extend visibility', () =>
      this.client.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: this.url,
          ReceiptHandle: receiptHandle,
          VisibilityTimeout: seconds,
        }),
      ),
    );
  }

  async delete(receiptHandle: string): Promise<void> {
    await this.call('delete', () =>
      this.client.send(new DeleteMessageCommand({ QueueUrl: this.url, ReceiptHandle: receiptHandle })),
    );
  }

  async approximateCounts(): Promise<{ visible: number; inFlight: number }> {
    const response = await this.call('count', () =>
      this.client.send(
        new GetQueueAttributesCommand({
          QueueUrl: this.url,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      ),
    );
    return {
      visible: Number(response.Attributes?.ApproximateNumberOfMessages ?? 0),
      inFlight: Number(response.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  }

  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw new QueueError(`${what} on ${this.url}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function parseBody(body: string | undefined): PairMessage | undefined {
  try {
    const parsed = pairMessageSchema.safeParse(JSON.parse(body ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
