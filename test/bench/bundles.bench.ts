/** Bundle size per function and the CLI's cold start. */
import { bundleAll } from '../../infra/build/bundle.ts';
import { runProcess } from '../../layers/core/process.ts';
import { line, median } from './report.ts';

export default async function bundles(): Promise<void> {
  for (const { name, bytes } of await bundleAll()) line(`bundle ${name}`, `${(bytes / 1024).toFixed(0)} KiB`);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const result = await runProcess([process.execPath, 'dist/cli.js', '--help'], { timeoutMs: 10_000 });
    times.push(result.durationMs);
  }
  line('cli cold start (--help), median of 7', `${median(times).toFixed(0)} ms`);
}
