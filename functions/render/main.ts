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

if (import.meta.main) await runAsCommand('render', handler);
