import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGraphPageAssets } from '../../functions/graph-api/assets.ts';
import { type LocalS3, startLocalS3 } from '../../infra/local-stack/s3.ts';
import { formatBitsPerSecond, formatSeconds } from '../../layers/core/format.ts';
import { renderGraphSet } from '../../layers/graph/index.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { createGraphApi, type GraphApi } from '../../layers/graph-api/server.ts';
import { S3GraphSource } from '../../layers/graph-api/source.ts';
import { storeGraphs } from '../../layers/pipeline/render.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { failedEdge, model, node, okEdge } from '../fixtures/graph/models.ts';

/**
 * The interactive page in a real browser (Debian's chromium, driven by
 * playwright-core) against the graph API serving graph sets from s3rver:
 * nodes drawn, hover figures, node highlight, metric switch, and a new set
 * animated into the old one. The screenshot is kept in test-artifacts/.
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const NAMES = ['node-1', 'node-2', 'node-3', 'node-4'];

let s3: LocalS3;
let dir: string;
let store: ObjectStore;
let api: GraphApi;
let browser: Browser;
let page: Page;
let base: string;
const problems: string[] = [];

/** Four nodes in two zones, a full mesh with distinct figures, one failed pair. */
function meshOf(scale: number, extra: string[] = []): GraphModel {
  const names = [...NAMES, ...extra];
  const edges = names.flatMap((src, i) =>
    names
      .filter((dst) => dst !== src)
      .map((dst, j) =>
        src === 'node-1' && dst === 'node-4'
          ? failedEdge(src, dst, 'unreachable')
          : okEdge(src, dst, scale * 0.0001 * (1 + i * 4 + j), 1e7 * (1 + i + j)),
      ),
  );
  return model(
    names.map((name, i) => node(name, i < 2 ? 'zone-a' : 'zone-b', `198.18.7.${i + 10}`)),
    edges,
  );
}

async function publish(graph: GraphModel): Promise<void> {
  await storeGraphs(store, await renderGraphSet(graph), new Date(), 5);
}

function edgeOf(graph: GraphModel, src: string, dst: string): GraphModel['edges'][number] {
  const edge = graph.edges.find((e) => e.src === src && e.dst === dst);
  if (edge === undefined) throw new Error(`no edge ${src}->${dst}`);
  return edge;
}

/** Waits until the page has drawn more than `renders` graphs with `metric`. */
async function drawn(metric: string, renders: number): Promise<number> {
  await page.waitForFunction(
    ([m, r]) =>
      document.body.dataset.state === 'ready' &&
      document.body.dataset.metric === m &&
      Number(document.body.dataset.renders ?? 0) > Number(r),
    [metric, String(renders)] as const,
    { timeout: 20_000 },
  );
  return Number(await page.evaluate(() => document.body.dataset.renders));
}

async function titles(selector: string): Promise<string[]> {
  return page.$$eval(selector, (groups) => groups.map((g) => g.querySelector('title')?.textContent ?? ''));
}

async function edgeLabels(): Promise<string[]> {
  return page.$$eval('#graph g.edge text', (texts) => texts.map((t) => t.textContent ?? ''));
}

/**
 * A point on the middle of an edge's line that the edge itself receives the
 * mouse at (a label or another curve could lie on top elsewhere).
 */
async function pointOn(title: string): Promise<{ x: number; y: number }> {
  const point = await page.evaluate((wanted) => {
    const group = [...document.querySelectorAll('#graph g.edge')].find(
      (g) => g.querySelector('title')?.textContent === wanted,
    );
    const path = group?.querySelector('path');
    const matrix = path?.getScreenCTM();
    if (path == null || matrix == null) return null;
    const length = path.getTotalLength();
    for (const fraction of [0.5, 0.4, 0.6, 0.3, 0.7]) {
      const p = path.getPointAtLength(length * fraction);
      const x = p.x * matrix.a + p.y * matrix.c + matrix.e;
      const y = p.x * matrix.b + p.y * matrix.d + matrix.f;
      if (document.elementFromPoint(x, y)?.closest('g.edge') === group) return { x, y };
    }
    return null;
  }, title);
  if (point === null) throw new Error(`no point on edge ${title} reaches the edge itself`);
  return point;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: bash infra/system/install.sh installs chromium`);
  dir = await mkdtemp(join(tmpdir(), 'netmon-page-test-'));
  s3 = await startLocalS3(join(dir, 's3'));
  store = storeFrom({
    NETMON_S3_BUCKET: s3.bucket,
    NETMON_S3_ENDPOINT: s3.endpoint,
    AWS_ACCESS_KEY_ID: 'S3RVER',
    AWS_SECRET_ACCESS_KEY: 'S3RVER',
  });
  await buildGraphPageAssets(join(dir, 'assets'));
  await publish(meshOf(1));
  api = await createGraphApi({
    source: new S3GraphSource(store, 0),
    assetsDir: join(dir, 'assets'),
    pollSeconds: 1,
    title: 'k8s-netmon: page test',
  });
  const { port } = await api.listen(0, '127.0.0.1');
  base = `http://127.0.0.1:${port}`;
  // Root cannot use Chromium's sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // Everything the page loads comes from the graph API: no CDN (clusters may have no internet).
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${base}/`) && !url.startsWith('data:'))
      problems.push(`request outside the API: ${url}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console: ${message.text()}`);
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await api?.close(1000);
  await s3?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('graph page', () => {
  it('draws one node per cluster node and every edge, with the latency labels', async () => {
    await page.goto(`${base}/`);
    await drawn('latency', 0);
    expect((await titles('#graph g.node')).sort()).toEqual(NAMES);
    expect(await titles('#graph g.edge')).toHaveLength(12);
    const labels = await edgeLabels();
    expect(labels).toContain(formatSeconds(edgeOf(meshOf(1), 'node-2', 'node-3').latency?.median));
    expect(labels).toContain('unreachable');
    expect(await page.textContent('#status')).toContain('4 nodes, 12 edges');
  });

  it('hovering an edge shows its figures, the latency first among them', async () => {
    const edge = edgeOf(meshOf(1), 'node-2', 'node-1');
    const { x, y } = await pointOn('node-2->node-1');
    await page.mouse.move(x, y);
    await page.waitForSelector('#tooltip:not([hidden])', { timeout: 5000 });
    expect(await page.getAttribute('#tooltip', 'data-edge')).toBe('node-2->node-1');
    const text = (await page.textContent('#tooltip')) ?? '';
    expect(text).toContain('node-2 → node-1');
    expect(text).toContain(`median ${formatSeconds(edge.latency?.median)}`);
    expect(text).toContain(
      `mean ${formatBitsPerSecond(edge.throughput?.mean)} (median ${formatBitsPerSecond(edge.throughput?.median)}`,
    );
    expect(await page.textContent('#tooltip .current')).toContain('latency');
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'graph-page.png'), fullPage: true });
    await page.mouse.move(2, 2);
    await page.waitForSelector('#tooltip[hidden]', { state: 'attached', timeout: 5000 });
  });

  it('clicking a node highlights its edges in both directions and fades the rest; a second click clears', async () => {
    await page.locator('#graph g.node', { hasText: 'node-1' }).click();
    await page.waitForFunction(() => document.body.dataset.selected === 'node-1');
    const highlighted = await titles('#graph g.edge.highlight');
    expect(highlighted.sort()).toEqual(
      [
        'node-1->node-2',
        'node-1->node-3',
        'node-1->node-4',
        'node-2->node-1',
        'node-3->node-1',
        'node-4->node-1',
      ].sort(),
    );
    expect(await titles('#graph g.edge.dimmed')).toHaveLength(6);
    expect(await titles('#graph g.node.selected')).toEqual(['node-1']);
    expect(await titles('#graph g.node.dimmed')).toEqual([]);
    await page.locator('#graph g.node', { hasText: 'node-1' }).click();
    await page.waitForFunction(() => document.body.dataset.selected === '');
    expect(await titles('#graph g.edge.dimmed')).toEqual([]);
  });

  it('switching the metric redraws the edges with that figure', async () => {
    const before = Number(await page.evaluate(() => document.body.dataset.renders));
    await page.selectOption('#metric', 'throughput');
    await drawn('throughput', before);
    const graph = meshOf(1);
    const labels = await edgeLabels();
    for (const edge of graph.edges.filter((e) => e.connectivity === 1)) {
      expect(labels).toContain(formatBitsPerSecond(edge.throughput?.mean));
    }
    expect(labels.filter((label) => label.endsWith(' ms'))).toEqual([]);
    expect(new URL(page.url()).searchParams.get('metric')).toBe('throughput');
    expect((await titles('#graph g.node')).sort()).toEqual(NAMES);
  });

  it('new figures in S3: the page polls and animates the new graph into the old one', async () => {
    const before = Number(await page.evaluate(() => document.body.dataset.renders));
    // Elements d3-graphviz moves rather than replaces keep this mark.
    await page.$$eval('#graph g.node', (groups) => {
      for (const g of groups) (g as unknown as { netmonMark?: boolean }).netmonMark = true;
    });
    const next = meshOf(10, ['node-5']);
    await publish(next);
    await drawn('throughput', before);
    expect((await titles('#graph g.node')).sort()).toEqual([...NAMES, 'node-5']);
    const kept = await page.$$eval('#graph g.node', (groups) =>
      groups
        .filter((g) => (g as unknown as { netmonMark?: boolean }).netmonMark === true)
        .map((g) => g.querySelector('title')?.textContent),
    );
    expect(kept.sort()).toEqual(NAMES);
    expect(await edgeLabels()).toContain(
      formatBitsPerSecond(edgeOf(next, 'node-5', 'node-1').throughput?.mean),
    );
    await page.selectOption('#metric', 'latency');
    await drawn('latency', before + 1);
    const { x, y } = await pointOn('node-2->node-1');
    await page.mouse.move(x, y);
    await page.waitForFunction(
      (text) => document.querySelector('#tooltip')?.textContent?.includes(text) === true,
      `median ${formatSeconds(edgeOf(next, 'node-2', 'node-1').latency?.median)}`,
      { timeout: 5000 },
    );
    await page.screenshot({ path: join(ARTIFACTS, 'graph-page-updated.png'), fullPage: true });
    expect(problems).toEqual([]);
  });
});
