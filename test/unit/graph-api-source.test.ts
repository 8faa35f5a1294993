import { describe, expect, it } from 'vitest';
import { toGraphJson } from '../../layers/graph/index.ts';
import { GraphSourceError, NoGraphError, S3GraphSource } from '../../layers/graph-api/source.ts';
import type { ObjectStore } from '../../layers/store/s3-store.ts';
import { clusterMesh } from '../bench/graph.bench.ts';

/**
 * The S3 source reads graph.json as bytes, hashes them to know an unchanged
 * set, and parses them once into the model (no parsed document or text kept
 * beside it: megabytes at 100 nodes). A read that caught the object half
 * rewritten (s3rver rewrites in place) is read again before it counts as broken.
 */

const GRAPH = Buffer.from(toGraphJson(clusterMesh(6)));

/** An ObjectStore that answers graph.json with each of `answers` in turn, the last one from then on. */
function storeAnswering(...answers: Array<Uint8Array | undefined>): {
  store: ObjectStore;
  reads: () => number;
} {
  let reads = 0;
  const store = {
    bucket: 'netmon',
    getBytes: async (key: string) => {
      expect(key).toBe('graphs/latest/graph.json');
      reads += 1;
      return answers[Math.min(reads, answers.length) - 1];
    },
  } as unknown as ObjectStore;
  return { store, reads: () => reads };
}

describe('S3GraphSource', () => {
  it('reads the model, and keeps the same model object while graph.json is unchanged', async () => {
    const { store, reads } = storeAnswering(GRAPH, Buffer.from(GRAPH));
    const source = new S3GraphSource(store, 0); // every call reads again
    const first = await source.model();
    expect(first.nodes).toHaveLength(6);
    expect(await source.model()).toBe(first);
    expect(reads()).toBe(2);
  });

  it('reads a new model when graph.json changes', async () => {
    const other = Buffer.from(toGraphJson(clusterMesh(5)));
    const { store } = storeAnswering(GRAPH, other);
    const source = new S3GraphSource(store, 0);
    expect((await source.model()).nodes).toHaveLength(6);
    expect((await source.model()).nodes).toHaveLength(5);
  });

  it('reads again a graph.json caught half rewritten', async () => {
    const { store, reads } = storeAnswering(GRAPH.subarray(0, GRAPH.length / 2), GRAPH);
    const model = await new S3GraphSource(store, 0).model();
    expect(model.nodes).toHaveLength(6);
    expect(reads()).toBe(2);
  });

  it('gives up on a graph.json that stays cut off, and at once on one that is JSON but no graph', async () => {
    const cut = storeAnswering(GRAPH.subarray(0, 100));
    await expect(new S3GraphSource(cut.store, 0).model()).rejects.toThrow(
      /s3:\/\/netmon\/graphs\/latest\/graph\.json is not a valid graph/,
    );
    expect(cut.reads()).toBe(5);
    const wrong = storeAnswering(Buffer.from('{"version": 1}'));
    await expect(new S3GraphSource(wrong.store, 0).model()).rejects.toThrow(GraphSourceError);
    expect(wrong.reads()).toBe(1);
  });

  it('without graph.json: no graph yet, which is not a failure of the source', async () => {
    const source = new S3GraphSource(storeAnswering(undefined).store, 0);
    await expect(source.model()).rejects.toThrow(NoGraphError);
    expect(source.watch.state(Date.now(), 10_000).state).toBe('ok');
  });
});
