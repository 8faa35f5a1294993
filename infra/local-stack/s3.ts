import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';

/** s3rver (npm) on 127.0.0.1 over a local folder: the embedded default's S3. */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  directory: string;
  stop(): Promise<void>;
}

export async function startLocalS3(directory: string, bucket = 'netmon'): Promise<LocalS3> {
  await mkdir(directory, { recursive: true });
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    directory,
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  const address = await server.run();
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    bucket,
    directory,
    stop: () => server.close(),
  };
}
