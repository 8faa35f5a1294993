import { describe, expect, it } from 'vitest';
import { renderZones } from '../../layers/graph/index.ts';
import type { GraphEdgeInput } from '../../layers/graph/model.ts';
import { NO_ZONE, toZoneGraphML, zoneGraph } from '../../layers/graph/zones.ts';
import { GRAPH_SET_FILES } from '../../layers/store/keys.ts';
import { elementsNamed, failedEdge, model, node, okEdge, parseXml } from '../fixtures/graph/models.ts';

/** 100 nodes over zones a, b, c; from a to b every pair is slow (30 ms, 100 Mbit/s) and 5 pairs fail. */
function degradedMesh() {
  const names = Array.from({ length: 100 }, (_, i) => `node-${String(i).padStart(3, '0')}`);
  const zoneOf = (i: number) => `zone-${'abc'[i % 3]}`;
  const nodes = names.map((name, i) => node(name, zoneOf(i), `10.0.0.${i}`));
  let failing = 0;
  const edges: GraphEdgeInput[] = names.flatMap((src, i) =>
    names.flatMap((dst, j): GraphEdgeInput[] => {
      if (i === j) return [];
      if (zoneOf(i) !== 'zone-a' || zoneOf(j) !== 'zone-b')
        return [okEdge(src, dst, 0.0005 + (i + j) * 1e-6, 5e9)];
      if (failing < 5 && j === 1) {
        failing++;
        return [failedEdge(src, dst, 'timeout')];
      }
      return [okEdge(src, dst, 0.03 + i * 1e-5, 1e8)];
    }),
  );
  return model(nodes, edges, 'zoned 100');
}

describe('zone view', () => {
  const mesh = degradedMesh();
  const zones = zoneGraph(mesh);

  it('has one node per zone with its node count and one edge per ordered zone pair', () => {
    expect(zones.zones.map((z) => [z.zone, z.nodes])).toEqual([
      ['zone-a', 34],
      ['zone-b', 33],
      ['zone-c', 33],
    ]);
    expect(zones.edges.map((e) => `${e.src}>${e.dst}`)).toEqual([
      'zone-a>zone-b',
      'zone-a>zone-c',
      'zone-b>zone-a',
      'zone-b>zone-c',
      'zone-c>zone-a',
      'zone-c>zone-b',
    ]);
  });

  it('puts the worst figures and the failing pairs on the degraded zone pair', () => {
    const ab = zones.edges.find((e) => e.src === 'zone-a' && e.dst === 'zone-b');
    const others = zones.edges.filter((e) => e !== ab);
    expect(ab).toMatchObject({ pairs: 34 * 33, measured: 34 * 33, failing: 5, stale: 0 });
    expect(ab?.latency.worst).toBeCloseTo(0.03 + 99 * 1e-5, 9);
    expect(ab?.latency.median).toBeGreaterThan(0.03);
    expect(ab?.throughput.worst).toBeCloseTo(1e8 * 0.98, 0); // the headline: mean = 0.98 x median in the fixture
    for (const other of others) {
      expect(other.failing).toBe(0);
      expect(other.latency.worst ?? 1).toBeLessThan(ab?.latency.median ?? 0);
      expect(other.throughput.worst ?? 0).toBeGreaterThan(ab?.throughput.worst ?? 1);
    }
  });

  it('is drawn and written beside the node-level files, the degraded pair labelled with its figures', async () => {
    const set = await renderZones(mesh);
    expect(GRAPH_SET_FILES['zones-svg'].name).toBe('graph-zones.svg');
    const svg = parseXml(set['zones-svg']);
    const groups = (kind: string) => elementsNamed(svg, 'g').filter((g) => g.attrs.class === kind);
    expect(groups('node')).toHaveLength(3);
    const edges = elementsNamed(svg, 'g').filter((g) => g.attrs.class?.startsWith('edge'));
    expect(edges).toHaveLength(6);
    const ab = edges.find((g) => g.children.find((c) => c.name === 'title')?.text === 'zone-a->zone-b');
    const text =
      ab === undefined
        ? ''
        : elementsNamed([ab], 'text')
            .map((t) => t.text)
            .join('\n');
    expect(text).toContain('worst 30.990 ms');
    expect(text).toContain('5 of 1122 pairs failing');
    expect(JSON.parse(set['zones-json']).edges).toHaveLength(6);
    const graphml = parseXml(toZoneGraphML(zones));
    expect(elementsNamed(graphml, 'node')).toHaveLength(3);
    expect(elementsNamed(graphml, 'edge')).toHaveLength(6);
  });

  it('gathers nodes without a zone label in one zone of their own', () => {
    const plain = model([node('a'), node('b'), node('c', 'z1')], [okEdge('a', 'c', 0.001, 1e9)]);
    const view = zoneGraph(plain);
    expect(view.zones.map((z) => [z.zone, z.nodes])).toEqual([
      ['z1', 1],
      [NO_ZONE, 2],
    ]);
    expect(view.edges.find((e) => e.src === NO_ZONE)).toMatchObject({ pairs: 2, measured: 1, stale: 1 });
  });
});
