import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsCommand,
  type ListObjectsCommandOutput,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { z } from 'zod';
import {
  type Config,
  type CredentialSettings,
  credentialsOption,
  PRESIGNED_URL_MAX_SECONDS,
  type TimeoutSettings,
  timeoutHandlerOptions,
} from '../core/config.ts';
import { NetmonError, ValidationError } from '../core/errors.ts';

/**
 * Why a request failed, when S3 said so in a way a user can act on: the
 * bucket is not there, no credentials were found, they were refused, or they
 * may not do this. Otherwise `other`.
 */
export type StoreFailure =
  | 'no-such-bucket'
  | 'no-credentials'
  | 'credentials-refused'
  | 'access-denied'
  | 'other';

export class StoreError extends NetmonError {
  override name = 'StoreError';
  readonly failure: StoreFailure;

  constructor(message: string, options?: ErrorOptions & { failure?: StoreFailure }) {
    super(message, options);
    this.failure = options?.failure ?? 'other';
  }
}

/** A store failure that may pass (unreachable, timed out, 5xx, throttled), not a refusal that says something true. */
export function isTransientStoreError(err: unknown): boolean {
  return err instanceof StoreError && err.failure === 'other';
}

function failureOf(err: unknown): StoreFailure {
  if (err instanceof Error && err.name === 'CredentialsProviderError') return 'no-credentials';
  if (!(err instanceof S3ServiceException)) return 'other';
  if (err.name === 'NoSuchBucket') return 'no-such-bucket';
  if (['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'ExpiredToken', 'InvalidToken'].includes(err.name))
    return 'credentials-refused';
  return err.name === 'AccessDenied' || err.$metadata.httpStatusCode === 403 ? 'access-denied' : 'other';
}

const BODY_READ_ATTEMPTS = 4;
/** Uploads up to this size are sent from memory, so that a dropped connection can be retried (archives are far smaller). */
const IN_MEMORY_UPLOAD_BYTES = 64 * 1024 * 1024;

/** A connection dropped while the response was read: worth another try. */
function isCutOff(err: unknown): boolean {
  const cause = err instanceof StoreError ? err.cause : err;
  const code = (cause as { code?: unknown } | undefined)?.code;
  return (
    cause instanceof Error &&
    !(cause instanceof S3ServiceException) &&
    (code === 'ECONNRESET' || code === 'EPIPE' || cause.message === 'aborted')
  );
}

export type S3Settings = Pick<
  Config,
  | 'NETMON_S3_BUCKET'
  | 'NETMON_S3_ENDPOINT'
  | 'NETMON_S3_REGION'
  | 'NETMON_S3_FORCE_PATH_STYLE'
  | 'NETMON_S3_CHECKSUMS'
> &
  CredentialSettings &
  TimeoutSettings;

export function makeS3Client(settings: S3Settings): S3Client {
  return new S3Client({
    region: settings.NETMON_S3_REGION,
    ...(settings.NETMON_S3_ENDPOINT === undefined ? {} : { endpoint: settings.NETMON_S3_ENDPOINT }),
    forcePathStyle: settings.NETMON_S3_FORCE_PATH_STYLE,
    ...credentialsOption(settings),
    requestChecksumCalculation: settings.NETMON_S3_CHECKSUMS,
    responseChecksumValidation: settings.NETMON_S3_CHECKSUMS,
    requestHandler: timeoutHandlerOptions(settings),
  });
}

/**
 * An upload's time limit: the request timeout plus its size at a slow but
 * working rate, so a big archive on a thin link is not cut off while a
 * stalled one still is (the socket's silence limit stays the request timeout).
 */
export function uploadTimeoutMs(settings: TimeoutSettings, bytes: number): number {
  return (
    timeoutHandlerOptions(settings).requestTimeout + Math.ceil((bytes / UPLOAD_FLOOR_BYTES_PER_SECOND) * 1000)
  );
}
/** 256 KiB/s: a 64 MiB upload may take about 4 minutes more than a small one. */
const UPLOAD_FLOOR_BYTES_PER_SECOND = 256 * 1024;

/** Everything k8s-netmon keeps in S3, under the key layout of keys.ts. */
export class ObjectStore {
  readonly bucket: string;
  private readonly client: S3Client;
  private readonly endpoint: string | undefined;
  private readonly region: string;
  private readonly timeouts: TimeoutSettings;

  constructor(client: S3Client, settings: S3Settings) {
    this.client = client;
    this.timeouts = settings;
    this.bucket = settings.NETMON_S3_BUCKET;
    this.endpoint = settings.NETMON_S3_ENDPOINT;
    this.region = settings.NETMON_S3_REGION;
  }

  /** A URL for the object (path style on a custom endpoint, virtual-hosted on AWS). */
  urlFor(key: string): string {
    const path = key.split('/').map(encodeURIComponent).join('/');
    if (this.endpoint !== undefined) return `${this.endpoint.replace(/\/$/, '')}/${this.bucket}/${path}`;
    return `https://${this.bucket}.s3.${this.region}.amazonaws.com/${path}`;
  }

  /**
   * A presigned GET URL for the object: anyone with it can read the object
   * until it expires, without credentials. It is signed here (no request to
   * S3) with this store's credentials, so it opens only if they may read the
   * key. `expiresAt` is the sooner of `seconds` from now and the end of
   * temporary credentials (a role's session): S3 refuses the URL after either.
   */
  async presignGet(key: string, seconds: number): Promise<{ url: string; expiresAt: Date }> {
    if (!Number.isInteger(seconds) || seconds < 1 || seconds > PRESIGNED_URL_MAX_SECONDS) {
      throw new ValidationError(
        'expires',
        seconds,
        `whole seconds from 1 to ${PRESIGNED_URL_MAX_SECONDS} (7 days, the most SigV4 allows)`,
      );
    }
    const signedAt = Date.now();
    const credentials = await this.call(`credentials to sign ${key}`, () => this.client.config.credentials());
    const url = await this.call(`sign ${key}`, () =>
      getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
        expiresIn: seconds,
      }),
    );
    const sessionEnd = credentials.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    return { url, expiresAt: new Date(Math.min(signedAt + seconds * 1000, sessionEnd)) };
  }

  async putFile(key: string, path: string, contentType: string): Promise<void> {
    const { size } = await stat(path);
    // A body in memory can be sent again: the SDK retries a dropped upload. A stream it cannot
    // ("a non-retryable streaming request"), so only files too big to hold are streamed.
    const body = size <= IN_MEMORY_UPLOAD_BYTES ? await readFile(path) : createReadStream(path);
    await this.call(`put ${key}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentLength: size,
          ContentType: contentType,
        }),
        { requestTimeout: uploadTimeoutMs(this.timeouts, size) },
      ),
    );
  }

  async putText(key: string, body: string, contentType: string, cacheControl?: string): Promise<void> {
    await this.call(`put ${key}`, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: contentType,
          ...(cacheControl === undefined ? {} : { CacheControl: cacheControl }),
        }),
      ),
    );
  }

  putJson(key: string, value: unknown): Promise<void> {
    return this.putText(key, `${JSON.stringify(value, null, 2)}\n`, 'application/json');
  }

  /**
   * The object's bytes, or undefined when there is no such key. The SDK
   * retries a failed request but not a body cut off mid-read (a reset
   * connection, or s3rver rewriting the file in place), so the whole get is
   * retried a few times before it counts as failed.
   */
  async getBytes(key: string): Promise<Uint8Array | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.getBytesOnce(key);
      } catch (err) {
        if (attempt >= BODY_READ_ATTEMPTS || !isCutOff(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }

  private async getBytesOnce(key: string): Promise<Uint8Array | undefined> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return response.Body === undefined ? new Uint8Array() : await response.Body.transformToByteArray();
    } catch (err) {
      if (
        err instanceof NoSuchKey ||
        (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404)
      ) {
        return undefined;
      }
      throw new StoreError(`get s3://${this.bucket}/${key}: ${(err as Error).message}`, {
        cause: err,
        failure: failureOf(err),
      });
    }
  }

  /** Reads and validates a JSON object; undefined when absent; a StoreError when it is not what `schema` says. */
  async getJson<T>(key: string, schema: z.ZodType<T>): Promise<T | undefined> {
    const document = await this.readJsonDocument(key);
    if (document === undefined) return undefined;
    const parsed = schema.safeParse(document.value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new StoreError(
        `s3://${this.bucket}/${key}: ${issue?.path.join('.') || '(root)'}: ${issue?.message}`,
      );
    }
    return parsed.data;
  }

  /**
   * S3 replaces objects atomically; s3rver (and some gateways) rewrite the
   * file in place, so a read racing a write can see half a document. Such a
   * read is retried a few times before it counts as corrupt.
   */
  private async readJsonDocument(key: string): Promise<{ value: unknown } | undefined> {
    for (let attempt = 1; ; attempt++) {
      const bytes = await this.getBytes(key);
      if (bytes === undefined) return undefined;
      try {
        return { value: JSON.parse(Buffer.from(bytes).toString('utf8')) };
      } catch (err) {
        if (attempt >= 5) throw new StoreError(`s3://${this.bucket}/${key}: not valid JSON`, { cause: err });
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  }

  /** Every key under `prefix` (all pages). */
  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    await this.eachPage(prefix, undefined, (page) => {
      for (const object of page.Contents ?? []) if (object.Key !== undefined) keys.push(object.Key);
    });
    return keys;
  }

  /** The "folders" directly under `prefix`. */
  async listPrefixes(prefix: string): Promise<string[]> {
    const prefixes: string[] = [];
    await this.eachPage(prefix, '/', (page) => {
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix !== undefined) prefixes.push(p.Prefix);
    });
    return prefixes;
  }

  /**
   * ListObjects (v1) with markers rather than v2's continuation tokens:
   * s3rver encrypts its tokens with DES, which Node 24's OpenSSL 3 no longer
   * offers, so v2 fails there after the first 1000 keys. S3, MinIO and Ceph
   * all serve v1.
   */
  private async eachPage(
    prefix: string,
    delimiter: string | undefined,
    visit: (page: ListObjectsCommandOutput) => void,
  ): Promise<void> {
    let marker: string | undefined;
    for (;;) {
      const page = await this.call(`list ${prefix}`, () =>
        this.client.send(
          new ListObjectsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            Delimiter: delimiter,
            Marker: marker,
          }),
        ),
      );
      visit(page);
      if (!page.IsTruncated) return;
      const last = [
        ...(page.Contents ?? []).map((o) => o.Key ?? ''),
        ...(page.CommonPrefixes ?? []).map((p) => p.Prefix ?? ''),
      ]
        .sort()
        .pop();
      const next = page.NextMarker ?? last;
      if (next === undefined || next === marker) return;
      marker = next;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await this.call(`delete ${batch.length} objects`, () =>
        this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
        ),
      );
    }
  }

  private async call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (err) {
      throw new StoreError(`${what} in bucket ${this.bucket}: ${(err as Error).message}`, {
        cause: err,
        failure: failureOf(err),
      });
    }
  }
}
