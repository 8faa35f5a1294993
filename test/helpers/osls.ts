import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunResult, runProcess } from '../../layers/core/process.ts';

/**
 * `osls package` of serverless.yml offline: no AWS account, and every AWS
 * endpoint and proxy pointed at `nowhere` (a loopback listener the caller
 * counts connections on), so a test can prove nothing reached AWS.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OSLS = join(ROOT, 'node_modules', '.bin', 'osls');

export const SECRETS_EXTENSION_LAYER_ARN =
  'arn:aws:lambda:us-east-1:177933569100:layer:AWS-Parameters-and-Secrets-Lambda-Extension:12';

/** Packages the service folder `service` into service/out; `params` become --param=key=value. */
export function packageOffline(
  service: string,
  nowhere: string,
  params: Record<string, string>,
  extra: readonly string[] = [],
): Promise<RunResult> {
  return runProcess(
    [
      OSLS,
      'package',
      '--package',
      join(service, 'out'),
      '--stage',
      'test',
      '--region',
      'us-east-1',
      ...Object.entries(params).map(([key, value]) => `--param=${key}=${value}`),
      ...extra,
    ],
    {
      cwd: service,
      timeoutMs: 120_000,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: service,
        AWS_ACCESS_KEY_ID: 'AKIAOFFLINEPACKAGE00',
        AWS_SECRET_ACCESS_KEY: 'offline-package-only',
        AWS_REGION: 'us-east-1',
        AWS_ENDPOINT_URL: nowhere,
        HTTP_PROXY: nowhere,
        HTTPS_PROXY: nowhere,
        NO_PROXY: '',
        NPM_CONFIG_UPDATE_NOTIFIER: 'false',
      },
    },
  );
}
