import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../layers/core/errors.ts';
import { buildGraphModel, type GraphModel, graphFromJson, toGraphJson } from '../../layers/graph/index.ts';
import { modelFingerprint, viewOfModel, withMaxAge } from '../../layers/graph-api/views.ts';
import { clusterMesh } from '../bench/graph.bench.ts';

/**
 * A ?maxAge= view of the graph API: the model judged against another
 * staleness threshold, and the fingerprint that decides whether a drawing of
 * it can be reused. Both were rebuilt edge by edge per request (a new model
 * through the schema, a hash of every edge's JSON): at 100 nodes that was the
 * graph API's peak memory (test/bench/graph-api.bench.ts).
 */

/** The model built anew with another threshold: what withMaxAge did before it shared edges. */
function rebuilt(model: GraphModel, maxAgeSeconds: number): GraphModel {
  return buildGraphModel({
    title: model.title,
    schedule: model.schedule,
    generatedAt: new Date(model.generatedAt),
    maxAgeSeconds,
    nodes: model.nodes,
    edges: model.edges.map(({ ageSeconds: _age, stale: _stale, ...edge }) => edge),
  });
}

const mesh = clusterMesh(12);
// The mesh's pairs were measured 30 to 230 s before generatedAt, a few 1200 s before.
const THRESHOLDS = [10, 100, 150, 229, 600, 1199, 5000];

describe('withMaxAge', () => {
  it('gives the model a build with that threshold gives', () => {
    for (const maxAge of THRESHOLDS) expect(withMaxAge(mesh, maxAge)).toEqual(rebuilt(mesh, maxAge));
  });

  it('shares the edges whose staleness stays, copies only those that change', () => {
    const judged = withMaxAge(mesh, 100);
    const changed = judged.edges.filter((edge, i) => edge !== mesh.edges[i]);
    expect(changed.length).toBeGreaterThan(0);
    expect(changed.length).toBeLessThan(mesh.edges.length);
    for (const edge of changed) expect(edge.stale).toBe(true);
    expect(judged.nodes).toBe(mesh.nodes);
    // The source's model is left as it was.
    expect(mesh.edges.filter((edge) => edge.stale).length).toBeLessThan(
      judged.edges.filter((edge) => edge.stale).length,
    );
    expect(withMaxAge(mesh, mesh.maxAgeSeconds)).toBe(mesh);
  });

  it('refuses a threshold that is not a positive number of seconds', () => {
    for (const maxAge of [0, -5, Number.NaN, Number.POSITIVE_INFINITY])
      expect(() => withMaxAge(mesh, maxAge)).toThrow(ValidationError);
  });
});

describe('viewOfModel', () => {
  it("is the model and its fingerprint at the model's own threshold", () => {
    expect(viewOfModel(mesh)).toEqual({ model: mesh, fingerprint: modelFingerprint(mesh) });
    expect(viewOfModel(mesh, mesh.maxAgeSeconds).fingerprint).toBe(modelFingerprint(mesh));
  });

  it('judges the model against the threshold asked for', () => {
    expect(viewOfModel(mesh, 150).model).toEqual(rebuilt(mesh, 150));
  });

  it('gives the same fingerprint for the same figures and threshold: a model read again, or drawn later', () => {
    const again = graphFromJson(toGraphJson(mesh));
    expect(again).not.toBe(mesh);
    expect(viewOfModel(again, 150).fingerprint).toBe(viewOfModel(mesh, 150).fingerprint);
    // Ten seconds later with the same measurements: ages grow, no stale flag under 150 s changes.
    const later = buildGraphModel({
      title: mesh.title,
      schedule: mesh.schedule,
      generatedAt: new Date(Date.parse(mesh.generatedAt) + 10_000),
      maxAgeSeconds: mesh.maxAgeSeconds,
      nodes: mesh.nodes,
      edges: mesh.edges.map(({ ageSeconds: _age, stale: _stale, ...edge }) => edge),
    });
    const flags = (model: GraphModel) => model.edges.map((edge) => edge.stale);
    expect(flags(viewOfModel(later, 1199).model)).toEqual(flags(viewOfModel(mesh, 1199).model));
    expect(viewOfModel(later, 1199).fingerprint).toBe(viewOfModel(mesh, 1199).fingerprint);
  });

  it('gives another fingerprint for another threshold, another figure or another stale flag', () => {
    const seen = new Set(THRESHOLDS.map((maxAge) => viewOfModel(mesh, maxAge).fingerprint));
    expect(seen.size).toBe(THRESHOLDS.length);
    const [first, ...rest] = mesh.edges;
    const median = first?.latency?.median;
    if (first === undefined || first.latency === null || typeof median !== 'number')
      throw new Error('the mesh starts with a measured edge');
    const slower: GraphModel = {
      ...mesh,
      edges: [{ ...first, latency: { ...first.latency, median: median * 2 } }, ...rest],
    };
    expect(viewOfModel(slower, 150).fingerprint).not.toBe(viewOfModel(mesh, 150).fingerprint);
    const staler: GraphModel = { ...mesh, edges: [{ ...first, measuredAt: mesh.generatedAt }, ...rest] };
    // Measured just now instead of minutes ago: fresh under 10 s, where it was stale.
    expect(viewOfModel(staler, 10).model.edges[0]?.stale).toBe(false);
    expect(viewOfModel(staler, 10).fingerprint).not.toBe(viewOfModel(mesh, 10).fingerprint);
  });
});
