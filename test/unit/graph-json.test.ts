import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../layers/core/errors.ts';
import { graphFromJson, parseGraphJson, toGraphJson } from '../../layers/graph/json.ts';
import { awkwardModel, meshModel, sampleModel } from '../fixtures/graph/models.ts';

function rejection(text: string): ValidationError {
  try {
    parseGraphJson(text);
  } catch (err) {
    if (err instanceof ValidationError) return err;
    throw err;
  }
  throw new Error('expected a ValidationError');
}

/** The sample document, changed by `edit` on its parsed JSON. */
function edited(
  edit: (doc: Record<string, unknown> & { edges: Array<Record<string, unknown>> }) => void,
): string {
  const doc = JSON.parse(toGraphJson(sampleModel()));
  edit(doc);
  return JSON.stringify(doc);
}

describe('graph JSON', () => {
  it.each([
    ['sample', sampleModel],
    ['awkward names', awkwardModel],
    ['full mesh of 12', () => meshModel(12)],
  ])('round-trips the %s model exactly', (_name, make) => {
    const model = make();
    expect(parseGraphJson(toGraphJson(model))).toEqual(model);
  });

  it('is pretty, deterministic and puts the version first', () => {
    const text = toGraphJson(sampleModel());
    expect(text.startsWith('{\n  "version": 1,\n  "title": ')).toBe(true);
    expect(text.endsWith('}\n')).toBe(true);
    const { version, ...rest } = sampleModel();
    const versionLast = { ...rest, version };
    expect(Object.keys(versionLast).at(-1)).toBe('version');
    expect(toGraphJson(versionLast)).toBe(text);
    expect(Object.keys(JSON.parse(text).edges[0])).toEqual([
      'src',
      'dst',
      'connectivity',
      'reason',
      'latency',
      'lossRatio',
      'throughput',
      'tests',
      'measuredAt',
      'connectivitySource',
      'connectivityAt',
      'concurrency',
      'sweep',
      'lastTest',
      'notMeasured',
      'ageSeconds',
      'stale',
    ]);
  });

  it('drops unknown fields (readers of version 1 ignore additions)', () => {
    const text = edited((doc) => {
      doc.extra = 'x';
      doc.edges[0] = { ...doc.edges[0], jitter: 0.001 };
    });
    expect(parseGraphJson(text)).toEqual(sampleModel());
  });

  it.each([
    ['not JSON', '{"version": 1,', 'graph JSON', /a JSON document/],
    ['not an object', '[]', 'graph', /expected/],
    ['another version', edited((d) => Object.assign(d, { version: 2 })), 'version', /version 1/],
    [
      'a figure of the wrong type',
      edited((d) =>
        Object.assign(d.edges[1] ?? {}, { latency: { min: 0, mean: 0, median: '1 ms', p99: 0, max: 0 } }),
      ),
      'edges[1].latency.median',
      /finite number >= 0 \(seconds\)/,
    ],
    ['a missing field', edited((d) => delete d.edges[0]?.stale), 'edges[0].stale', /true or false/],
    ['a bad time', edited((d) => Object.assign(d, { generatedAt: 'yesterday' })), 'generatedAt', /ISO 8601/],
    [
      'a negative throughput',
      edited((d) => Object.assign(d.edges[0] ?? {}, { throughput: { mean: -1, median: 1, p99: 1 } })),
      'edges[0].throughput.mean',
      />= 0/,
    ],
    [
      'an edge to an unknown node',
      edited((d) => Object.assign(d.edges[2] ?? {}, { dst: 'node-z' })),
      'edges[2].dst',
      /node names/,
    ],
    [
      'a label that is not a string',
      edited((d) => {
        const nodes = d.nodes as Array<{ labels: Record<string, unknown> }>;
        if (nodes[0]) nodes[0].labels['topology.kubernetes.io/zone'] = 3;
      }),
      'nodes[0].labels["topology.kubernetes.io/zone"]',
      /string/,
    ],
  ])('rejects %s, naming the path', (_what, text, field, expected) => {
    const err = rejection(text);
    expect(err.field).toBe(field);
    expect(err.message).toMatch(expected);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
  });

  it('refuses to write a model that it could not read back', () => {
    const model = sampleModel();
    const broken = { ...model, maxAgeSeconds: Number.POSITIVE_INFINITY };
    expect(() => toGraphJson(broken)).toThrow(ValidationError);
  });

  it('graphFromJson reads a graph.json back into the model, with the same checks', () => {
    const model = sampleModel();
    const back = graphFromJson(toGraphJson(model));
    expect(back).toEqual(model);
    // Stale flags come from the file: an offline rendering shows what the render step saw.
    expect(back.edges.filter((e) => e.stale).map((e) => `${e.src}>${e.dst}`)).toEqual([
      'node-b>node-c',
      'node-c>node-a',
    ]);
    let caught: unknown;
    try {
      graphFromJson(edited((d) => Object.assign(d.edges[0] ?? {}, { connectivity: 2 })));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).field).toBe('edges[0].connectivity');
  });
});
