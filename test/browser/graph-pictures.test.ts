import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../infra/local-stack/s3.ts';
import { renderSvg, renderZones, toDot, toGraphJson } from '../../layers/graph/index.ts';
import type { GraphModel } from '../../layers/graph/model.ts';
import { createGraphApi, type GraphApi } from '../../layers/graph-api/server.ts';
import { S3GraphSource } from '../../layers/graph-api/source.ts';
import { graphKey } from '../../layers/store/keys.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { clusterMesh } from '../bench/graph.bench.ts';
import { failedEdge, model, node, okEdge } from '../fixtures/graph/models.ts';

/**
 * The graph pictures as a person sees them: in Debian's chromium (DejaVu Sans,
 * no Helvetica), 1200 px wide like a Grafana panel. Opened as a page of
 * their own they fit the window without scroll bars; embedded as an <img>
 * they take the panel's width; drawn inline, the texts Chromium measures
 * overlap nothing. Screenshots are kept in test-artifacts/ (the README's
 * pictures in docs/ are copies of graph-4-nodes.png and graph-100-nodes.png).
 */
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const WIDTH = 1200;

/** Four nodes in two zones as the demo measures them: asymmetric pairs, one failed direction. */
function demoLike(): GraphModel {
  const names = ['node-1', 'node-2', 'node-3', 'node-4'];
  const edges = names.flatMap((src, i) =>
    names
      .filter((dst) => dst !== src)
      .map((dst, j) =>
        src === 'node-4' && dst === 'node-1'
          ? failedEdge(src, dst, 'timeout')
          : {
              ...okEdge(src, dst, 0.0045 + 0.0013 * ((i * 3 + j) % 5), 1e7 * (1 + ((i + j) % 3))),
              lossRatio: 0,
            },
      ),
  );
  return model(
    names.map((name, i) => node(name, i < 2 ? 'zone-a' : 'zone-b', `10.0.${i}.2`)),
    edges,
    'k8s-netmon: demo',
  );
}

const SIZES: ReadonlyArray<[number, () => GraphModel]> = [
  [4, demoLike],
  [8, () => clusterMesh(8)],
  [20, () => clusterMesh(20)],
  [100, () => clusterMesh(100)],
];

let dir: string;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: bash infra/system/install.sh installs chromium`);
  dir = await mkdtemp(join(tmpdir(), 'netmon-pictures-test-'));
  await mkdir(ARTIFACTS, { recursive: true });
  // Root cannot use Chromium's sandbox.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'], headless: true });
  page = await browser.newPage({ viewport: { width: WIDTH, height: 900 } });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** Whether the page scrolls sideways (or, when asked, down). */
async function overflow(): Promise<{ x: number; y: number }> {
  return page.evaluate(() => ({
    x: document.documentElement.scrollWidth - window.innerWidth,
    y: document.documentElement.scrollHeight - window.innerHeight,
  }));
}

/** Pairs of texts whose boxes, as Chromium draws them, overlap; and node texts outside their shape. */
async function collisions(svg: string): Promise<string[]> {
  await page.goto('about:blank'); // setContent needs an HTML document, not the SVG one opened before
  await page.setContent(
    `<!doctype html><body style="margin:0"><div style="width:${WIDTH}px">${svg}</div></body>`,
  );
  return page.evaluate(() => {
    const box = (e: SVGGraphicsElement) => e.getBBox();
    const texts = [...document.querySelectorAll('svg text')].filter(
      (t): t is SVGTextElement => (t.textContent ?? '').trim() !== '',
    );
    const boxes = texts.map((t) => ({ text: t.textContent ?? '', b: box(t), t }));
    const hit = (a: DOMRect, b: DOMRect) =>
      a.x < b.x + b.width - 0.5 &&
      b.x < a.x + a.width - 0.5 &&
      a.y < b.y + b.height - 0.5 &&
      b.y < a.y + a.height - 0.5;
    const found: string[] = [];
    boxes.forEach((a, i) => {
      for (const b of boxes.slice(i + 1)) if (hit(a.b, b.b)) found.push(`"${a.text}" / "${b.text}"`);
    });
    for (const group of document.querySelectorAll('svg g.node')) {
      const shape = group.querySelector('path, polygon') as SVGGraphicsElement | null;
      if (shape === null) continue;
      const s = box(shape);
      for (const t of group.querySelectorAll('text')) {
        const b = box(t);
        if (b.x < s.x - 0.5 || b.x + b.width > s.x + s.width + 0.5)
          found.push(`"${t.textContent}" leaves its box`);
      }
    }
    return found;
  });
}

describe('graph pictures at 1200 px in chromium', () => {
  it.each(SIZES)('%i nodes: fits the window, fills the panel, no text overlaps', async (n, make) => {
    const svg = await renderSvg(toDot(make()));
    const file = join(dir, `graph-${n}.svg`);
    await writeFile(file, svg);
    // A browser tab: the picture scales into the window.
    await page.goto(`file://${file}`);
    const tab = await overflow();
    expect(tab.x).toBeLessThanOrEqual(0);
    expect(tab.y).toBeLessThanOrEqual(0);
    // A Grafana text panel: <img style="width:100%;height:auto"> in a 1200 px column.
    const data = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`;
    await page.goto('about:blank');
    await page.setContent(
      `<!doctype html><body style="margin:0"><img id="g" src="${data}" style="width:100%;height:auto"></body>`,
    );
    await page.waitForFunction(
      () => (document.getElementById('g') as HTMLImageElement | null)?.complete === true,
    );
    const shown = await page.$eval('#g', (img) => img.getBoundingClientRect().width);
    expect(shown).toBe(WIDTH);
    expect((await overflow()).x).toBeLessThanOrEqual(0);
    await page.screenshot({ path: join(ARTIFACTS, `graph-${n}-nodes.png`), fullPage: true });
    expect(await collisions(svg)).toEqual([]);
  });

  it('the graph API serves the zone view render stored beside the node-level files', async () => {
    let s3: LocalS3 | undefined;
    let api: GraphApi | undefined;
    try {
      s3 = await startLocalS3(join(dir, 's3'));
      const store = storeFrom({
        NETMON_S3_BUCKET: s3.bucket,
        NETMON_S3_ENDPOINT: s3.endpoint,
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
      });
      const mesh = clusterMesh(100);
      const zones = await renderZones(mesh);
      // Only what this test reads: the set's graph.json (the source's model) and the zone SVG.
      await store.putText(graphKey('latest', 'json'), toGraphJson(mesh), 'application/json', 'no-cache');
      await store.putText(graphKey('latest', 'zones-svg'), zones['zones-svg'], 'image/svg+xml', 'no-cache');
      api = await createGraphApi({
        source: new S3GraphSource(store, 0),
        assetsDir: join(dir, 'no-assets'),
        pollSeconds: 1,
        title: 'k8s-netmon: pictures test',
      });
      const { port } = await api.listen(0, '127.0.0.1');
      const response = await page.goto(`http://127.0.0.1:${port}/graph-zones.svg`);
      expect(response?.headers()['content-type']).toBe('image/svg+xml');
      expect(await response?.text()).toBe(zones['zones-svg']);
      expect(await page.locator('g.node').count()).toBe(3);
      expect(await page.locator('g.edge').count()).toBe(6);
      const fit = await overflow();
      expect(Math.max(fit.x, fit.y)).toBeLessThanOrEqual(0);
      await page.screenshot({ path: join(ARTIFACTS, 'graph-zones-100-nodes.png') });
      expect(await collisions(zones['zones-svg'])).toEqual([]);
    } finally {
      await api?.close(1000);
      await s3?.stop();
    }
  });
});
