import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { XMLValidator } from 'fast-xml-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalS3, startLocalS3 } from '../../infra/local-stack/s3.ts';
import { ValidationError } from '../../layers/core/errors.ts';
import { graphFromJson, renderGraphSet } from '../../layers/graph/index.ts';
import { GRAPH_CACHE_CONTROL, storeGraphs } from '../../layers/pipeline/render.ts';
import { GRAPH_FORMATS, GRAPH_SET_FILES, type GraphSetFile, graphKey } from '../../layers/store/keys.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { storeFrom } from '../../layers/wiring/context.ts';
import { sampleModel } from '../fixtures/graph/models.ts';

/** The graph set of the render step, stored in a real S3 (s3rver), as the render function does. */

const FILES = Object.keys(GRAPH_SET_FILES) as GraphSetFile[];

describe('graph set', () => {
  it('has the four graph formats, a matrix per metric and the zone view, each under its key and media type', () => {
    const now = new Date('2026-11-26T07:50:12.345Z');
    const set = Object.fromEntries(
      FILES.map((file) => [file, [graphKey(now, file), GRAPH_SET_FILES[file].contentType]]),
    );
    const at = 'graphs/20261126T075012.345Z';
    // The published layout: the keys and Content-Types readers (the graph API, users' scripts) rely on.
    expect(set).toEqual({
      dot: [`${at}/graph.dot`, 'text/vnd.graphviz; charset=utf-8'],
      svg: [`${at}/graph.svg`, 'image/svg+xml'],
      graphml: [`${at}/graph.graphml`, 'application/graphml+xml'],
      json: [`${at}/graph.json`, 'application/json'],
      'matrix-latency': [`${at}/matrix-latency.svg`, 'image/svg+xml'],
      'matrix-throughput': [`${at}/matrix-throughput.svg`, 'image/svg+xml'],
      'matrix-loss': [`${at}/matrix-loss.svg`, 'image/svg+xml'],
      'zones-dot': [`${at}/graph-zones.dot`, 'text/vnd.graphviz; charset=utf-8'],
      'zones-svg': [`${at}/graph-zones.svg`, 'image/svg+xml'],
      'zones-graphml': [`${at}/graph-zones.graphml`, 'application/graphml+xml'],
      'zones-json': [`${at}/graph-zones.json`, 'application/json'],
    });
    // storeGraphs writes in this order: graph.json before the matrices (source.ts relies on it).
    expect(FILES).toEqual([
      'dot',
      'svg',
      'graphml',
      'json',
      'matrix-latency',
      'matrix-throughput',
      'matrix-loss',
      'zones-dot',
      'zones-svg',
      'zones-graphml',
      'zones-json',
    ]);
    expect(Object.keys(GRAPH_FORMATS)).toEqual(['dot', 'svg', 'graphml', 'json']);
    expect(graphKey('latest', 'matrix-loss')).toBe('graphs/latest/matrix-loss.svg');
  });

  it('renders every file of one model', async () => {
    const model = sampleModel();
    const set = await renderGraphSet(model);
    expect(Object.keys(set).sort()).toEqual([...FILES].sort());
    expect(graphFromJson(set.json)).toEqual(model);
    for (const file of ['svg', 'graphml', 'matrix-latency', 'matrix-throughput', 'matrix-loss'] as const) {
      expect(XMLValidator.validate(set[file]), file).toBe(true);
    }
    expect(set['matrix-throughput']).toContain('netmon-matrix-throughput');
  });
});

describe('storeGraphs (s3rver)', () => {
  let dir: string;
  let s3: LocalS3;
  let store: ObjectStore;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'netmon-graph-store-'));
    s3 = await startLocalS3(dir);
    store = storeFrom({
      NETMON_S3_BUCKET: s3.bucket,
      NETMON_S3_ENDPOINT: s3.endpoint,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    });
  });

  afterAll(async () => {
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const set = (tag: string): Record<GraphSetFile, string> =>
    Object.fromEntries(FILES.map((file) => [file, `${file} of ${tag}\n`])) as Record<GraphSetFile, string>;

  it('writes every file to latest/ and to a timestamped set, with media type and cache header', async () => {
    const now = new Date('2026-01-01T00:00:00.000Z');
    const stored = await storeGraphs(store, set('first'), now, 3);
    for (const file of FILES) {
      for (const [key, cache] of [
        [stored.latest[file], GRAPH_CACHE_CONTROL.latest],
        [stored.timestamped[file], GRAPH_CACHE_CONTROL.timestamped],
      ] as const) {
        const response = await fetch(store.urlFor(key));
        expect(response.status, key).toBe(200);
        expect(response.headers.get('content-type')).toBe(GRAPH_SET_FILES[file].contentType);
        expect(response.headers.get('cache-control')).toBe(cache);
        expect(await response.text()).toBe(`${file} of first\n`);
      }
    }
    expect(stored.latest['matrix-throughput']).toBe('graphs/latest/matrix-throughput.svg');
    expect(stored.timestamped.svg).toBe('graphs/20260101T000000.000Z/graph.svg');
    expect(stored.pruned).toEqual([]);
  });

  it('keeps the newest K timestamped sets and deletes the older ones whole', async () => {
    let last: Awaited<ReturnType<typeof storeGraphs>> | undefined;
    for (const day of ['02', '03', '04']) {
      last = await storeGraphs(store, set(day), new Date(`2026-01-${day}T00:00:00.000Z`), 2);
    }
    expect(last?.pruned).toEqual(['graphs/20260102T000000.000Z/']);
    expect(await store.listPrefixes('graphs/')).toEqual([
      'graphs/20260103T000000.000Z/',
      'graphs/20260104T000000.000Z/',
      'graphs/latest/',
    ]);
    expect(await store.list('graphs/20260101T000000.000Z/')).toEqual([]);
    expect(await store.list('graphs/20260104T000000.000Z/')).toHaveLength(FILES.length);
    const latest = await store.getBytes('graphs/latest/matrix-loss.svg');
    expect(Buffer.from(latest ?? []).toString()).toBe('matrix-loss of 04\n');
  });

  it('refuses to keep fewer than one set', async () => {
    await expect(storeGraphs(store, set('x'), new Date(), 0)).rejects.toThrow(ValidationError);
  });
});
