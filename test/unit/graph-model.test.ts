import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../layers/core/errors.ts';
import { buildGraphModel, type GraphModelInput } from '../../layers/graph/model.ts';
import {
  ago,
  GENERATED_AT,
  MAX_AGE_SECONDS,
  node,
  okEdge,
  sampleModel,
  unmeasuredEdge,
} from '../fixtures/graph/models.ts';

function input(overrides: Partial<GraphModelInput> = {}): GraphModelInput {
  return {
    title: 't',
    schedule: null,
    generatedAt: GENERATED_AT,
    maxAgeSeconds: MAX_AGE_SECONDS,
    nodes: [node('b'), node('a'), node('c')],
    edges: [okEdge('b', 'a', 0.001, 1e6), okEdge('a', 'c', 0.001, 1e6), okEdge('a', 'b', 0.001, 1e6)],
    ...overrides,
  };
}

function rejection(build: () => unknown): ValidationError {
  try {
    build();
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('buildGraphModel', () => {
  it('sorts nodes by name and edges by (src, dst)', () => {
    const model = buildGraphModel(input());
    expect(model.version).toBe(1);
    expect(model.generatedAt).toBe('2025-06-01T12:00:00.000Z');
    expect(model.nodes.map((n) => n.name)).toEqual(['a', 'b', 'c']);
    expect(model.edges.map((e) => `${e.src}>${e.dst}`)).toEqual(['a>b', 'a>c', 'b>a']);
  });

  it('computes age and staleness against the max age', () => {
    const edges = [
      { ...okEdge('a', 'b', 0.001, null), measuredAt: ago(MAX_AGE_SECONDS) },
      { ...okEdge('a', 'c', 0.001, null), measuredAt: ago(MAX_AGE_SECONDS + 0.5) },
      unmeasuredEdge('b', 'a'),
      { ...okEdge('b', 'c', 0.001, null), measuredAt: ago(12.345) },
    ];
    const byPair = new Map(buildGraphModel(input({ edges })).edges.map((e) => [`${e.src}>${e.dst}`, e]));
    expect(byPair.get('a>b')).toMatchObject({ ageSeconds: MAX_AGE_SECONDS, stale: false });
    expect(byPair.get('a>c')).toMatchObject({ ageSeconds: MAX_AGE_SECONDS + 0.5, stale: true });
    expect(byPair.get('b>a')).toMatchObject({ ageSeconds: null, stale: true });
    expect(byPair.get('b>c')).toMatchObject({ ageSeconds: 12.345, stale: false });
  });

  it('keeps both directions of a pair with their own figures', () => {
    const model = sampleModel();
    const ab = model.edges.find((e) => e.src === 'node-a' && e.dst === 'node-b');
    const ba = model.edges.find((e) => e.src === 'node-b' && e.dst === 'node-a');
    expect(ab?.latency?.median).toBe(0.0004);
    expect(ba?.latency?.median).toBe(0.03);
    expect(ab?.throughput?.median).toBe(9.4e8);
    expect(ba?.throughput?.median).toBe(2e6);
  });

  it('does not share arrays with its input', () => {
    const edges = [okEdge('a', 'b', 0.001, null)];
    const model = buildGraphModel(input({ edges }));
    edges[0]?.tests.push('rrul');
    expect(model.edges[0]?.tests).toEqual(['ping']);
  });

  it.each([
    ['an unknown src', { edges: [okEdge('x', 'a', 0.001, null)] }, 'edges[0].src', 'x'],
    [
      'an unknown dst',
      { edges: [okEdge('a', 'b', 0.001, null), okEdge('a', 'zz', 0.001, null)] },
      'edges[1].dst',
      'zz',
    ],
    ['a self loop', { edges: [okEdge('a', 'a', 0.001, null)] }, 'edges[0].dst', 'a'],
    [
      'a duplicate pair',
      {
        edges: [okEdge('a', 'b', 0.001, null), okEdge('b', 'a', 0.001, null), okEdge('a', 'b', 0.002, null)],
      },
      'edges[2]',
      'a -> b',
    ],
    ['a duplicate node', { nodes: [node('a'), node('b'), node('a')], edges: [] }, 'nodes[2].name', 'a'],
    ['an empty node name', { nodes: [node('')], edges: [] }, 'nodes[0].name', ''],
    ['a control character in a name', { nodes: [node('a\u0001')], edges: [] }, 'nodes[0].name', 'a\u0001'],
    [
      'a NaN figure',
      {
        edges: [
          {
            ...okEdge('a', 'b', 0.001, null),
            latency: { min: 0, mean: 0, median: Number.NaN, p99: 0, max: 0 },
          },
        ],
      },
      'edges[0].latency.median',
      Number.NaN,
    ],
    [
      'a loss ratio above 1',
      { edges: [{ ...okEdge('a', 'b', 0.001, null), lossRatio: 1.5 }] },
      'edges[0].lossRatio',
      1.5,
    ],
    [
      'a local time',
      { edges: [{ ...okEdge('a', 'b', 0.001, null), measuredAt: '2025-06-01T12:00:00+02:00' }] },
      'edges[0].measuredAt',
      '2025-06-01T12:00:00+02:00',
    ],
    ['a zero max age', { maxAgeSeconds: 0 }, 'maxAgeSeconds', 0],
    ['an invalid date', { generatedAt: new Date('nope') }, 'generatedAt', new Date('nope')],
  ])('rejects %s naming the field and value', (_what, overrides, field, value) => {
    const err = rejection(() => buildGraphModel(input(overrides)));
    expect(err.field).toBe(field);
    expect(err.value).toEqual(value);
    expect(err.message).toContain(field);
  });
});
