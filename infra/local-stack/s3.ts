import { mkdir } from 'node:fs/promises';
import S3rver from 's3rver';

/** s3rver (npm) on 127.0.0.1 over a local folder: the embedded default's S3. */
export interface LocalS3 {
  endpoint: string;
  bucket: string;
  directory: string;
  stop(): Promise<void>;
}

/** `address`: 127.0.0.1, or a simulated cluster's host address so that its nodes reach it. */
export async function startLocalS3(
  directory: string,
  bucket = 'netmon',
  address = '127.0.0.1',
): Promise<LocalS3> {
  await mkdir(directory, { recursive: true });
  const server = new S3rver({
    address,
    port: 0,
    directory,
    silent: true,
    // Path-style only: by default s3rver takes any host name that is not an address or localhost
    // (e.g. the cluster's s3.netmon-stack) for a bucket name.
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  const bound = await server.run();
  return {
    endpoint: `http://${address}:${bound.port}`,
    bucket,
    directory,
    stop: () => server.close(),
  };
}
