import { describe, expect, it } from 'vitest';
import { ALL_METRICS } from '../../layers/metrics/names.ts';
import { ROUND_METRICS } from '../../layers/metrics/rounds.ts';
import { SWEEP_METRICS } from '../../layers/metrics/sweep.ts';
import { dashboardQueries, loadDashboard, variablesUsed } from '../helpers/grafana.ts';

/** Grafana's variable syntax, spelled so it is not read as a template literal by mistake. */
const grafanaVariable = (name: string): string => `$\{${name}}`;

/** The dashboard's structure; its queries run against a real Prometheus in test/integration/pipeline.test.ts. */
describe('Grafana dashboard', () => {
  it('has the panels users look for, each with a unique id, inside the 24-column grid, not overlapping', async () => {
    const dashboard = await loadDashboard();
    const titles = dashboard.panels.map((p) => p.title.toLowerCase());
    for (const wanted of [
      'connectivity matrix',
      'sweep matrix',
      'latency per pair',
      'throughput per pair',
      'worst pairs',
      'stale pairs',
      'not measured',
      'round progress',
      'cluster graph',
    ])
      expect(
        titles.some((t) => t.includes(wanted)),
        wanted,
      ).toBe(true);
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const { title, gridPos } of dashboard.panels) {
      expect(gridPos.x + gridPos.w, title).toBeLessThanOrEqual(24);
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x++)
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps another panel at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });

  it('defines every variable its queries and panels use, and reads the datasource from a variable', async () => {
    const dashboard = await loadDashboard();
    const defined = new Set(dashboard.templating.list.map((v) => v.name));
    const text = JSON.stringify(dashboard.panels);
    for (const name of variablesUsed(text)) expect(defined, `$${name}`).toContain(name);
    for (const panel of dashboard.panels)
      for (const target of panel.targets ?? [])
        expect(target.datasource, `${panel.title} ${target.refId}`).toEqual({
          type: 'prometheus',
          uid: grafanaVariable('datasource'),
        });
    // The zone view above the node-level graph, each from its own URL variable.
    const [zones, graph] = dashboard.panels.filter((p) => p.type === 'text');
    expect(JSON.stringify(zones?.options)).toContain(grafanaVariable('graph_zones_url'));
    expect(JSON.stringify(graph?.options)).toContain(grafanaVariable('graph_url'));
    expect(zones?.gridPos.y ?? 0).toBeLessThan(graph?.gridPos.y ?? 0);
  });

  it('queries only metrics k8s-netmon pushes', async () => {
    const known = new Set(
      [...ALL_METRICS, ...Object.values(ROUND_METRICS), ...Object.values(SWEEP_METRICS)].map((m) => m.name),
    );
    known.add('push_time_seconds');
    for (const { panel, expr } of dashboardQueries(await loadDashboard())) {
      const names = [...expr.matchAll(/\b(netmon_[a-z0-9_]+|push_time_seconds)\b/g)].map(
        (m) => m[1] as string,
      );
      expect(names.length, `${panel}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) expect(known, `${panel}: ${name}`).toContain(name);
    }
  });
});
