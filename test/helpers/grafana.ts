import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/** The Grafana dashboard of infra/grafana, read as tests need it. */
export const DASHBOARD_FILE = new URL('../../infra/grafana/dashboard.json', import.meta.url);

const target = z.looseObject({ refId: z.string().min(1), expr: z.string().min(1) });
const panel = z.looseObject({
  id: z.number().int().positive(),
  type: z.string().min(1),
  title: z.string().min(1),
  gridPos: z.object({
    h: z.number().int().positive(),
    w: z.number().int().positive(),
    x: z.number().int().min(0),
    y: z.number().int().min(0),
  }),
  targets: z.array(target).optional(),
});
const variable = z.looseObject({ name: z.string().min(1), type: z.string().min(1) });

export const dashboardSchema = z.looseObject({
  uid: z.string().min(1).max(40),
  title: z.string().min(1),
  schemaVersion: z.number().int().min(39),
  panels: z.array(panel).min(1),
  templating: z.object({ list: z.array(variable) }),
  time: z.object({ from: z.string(), to: z.string() }),
});
export type Dashboard = z.infer<typeof dashboardSchema>;

export async function loadDashboard(): Promise<Dashboard> {
  return dashboardSchema.parse(JSON.parse(await readFile(DASHBOARD_FILE, 'utf8')));
}

/** Every PromQL expression of the dashboard with the panel it belongs to. */
export function dashboardQueries(
  dashboard: Dashboard,
): Array<{ panel: string; refId: string; expr: string }> {
  return dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ panel: p.title, refId: t.refId, expr: t.expr })),
  );
}

/** Names of the dashboard variables an expression uses: $name, ${name} or ${name:format}. */
export function variablesUsed(text: string): string[] {
  return [...text.matchAll(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g)].map((m) => (m[1] ?? m[2]) as string);
}

/** Replaces dashboard variables as Grafana would for a single value. */
export function expandVariables(expr: string, values: Record<string, string>): string {
  return expr.replace(
    /\$\{(\w+)(?::\w+)?\}|\$(\w+)/g,
    (whole, braced: string | undefined, bare: string | undefined) => {
      const name = (braced ?? bare) as string;
      const value = values[name];
      if (value === undefined) throw new Error(`no value for dashboard variable ${name} in ${whole}`);
      return value;
    },
  );
}
