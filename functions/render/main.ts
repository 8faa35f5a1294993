#!/usr/bin/env node
import { markReady, runAsCommand } from '../../layers/core/handler.ts';
import { type RenderReport, render } from '../../layers/pipeline/render.ts';
import { renderDepsFrom } from '../../layers/wiring/context.ts';

/** render (CronJob every few minutes / scheduled function): latest figures -> graphs in S3. */
export async function handler(_event: unknown): Promise<RenderReport> {
  const deps = renderDepsFrom();
  markReady('render');
  return render(deps);
}

// No top-level await: a module with one cannot be require()d, and `osls invoke local` require()s the bundle.
if (import.meta.main) void runAsCommand('render', handler);
