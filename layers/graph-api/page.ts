import { HEADLINE_NAMES } from '../graph/headline.ts';
import { GRAPH_METRICS, type GraphMetric, type ViewParams } from './params.ts';

/**
 * The interactive page at `/`: a shell that loads the browser bundle
 * (functions/graph-api/page/app.ts, built by buildGraphPageAssets). Every URL
 * in it is relative, so the page also works behind a path prefix (an
 * Ingress path, `kubectl proxy`).
 */

export const PAGE_SCRIPT = 'graph-page.js';

export const METRIC_TITLES: Readonly<Record<GraphMetric, string>> = {
  latency: HEADLINE_NAMES.latency,
  throughput: HEADLINE_NAMES.throughput,
  loss: 'loss',
};

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

export interface PageSettings {
  /** How often the page asks for a new graph. */
  pollSeconds: number;
  /** The cluster's name, for the title. */
  title: string;
}

export function pageHtml(settings: PageSettings, params: ViewParams): string {
  const metric = params.metric ?? 'latency';
  const options = GRAPH_METRICS.map(
    (m) => `<option value="${m}"${m === metric ? ' selected' : ''}>${escapeHtml(METRIC_TITLES[m])}</option>`,
  ).join('');
  const title = escapeHtml(settings.title);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="assets/graph-page.css">
<script type="module" src="assets/${PAGE_SCRIPT}"></script>
</head>
<body data-state="loading" data-poll-seconds="${settings.pollSeconds}" data-max-age="${params.maxAgeSeconds ?? ''}">
<header>
<h1>${title}</h1>
<label>metric <select id="metric">${options}</select></label>
<span id="status" role="status">loading the graph…</span>
<nav>download: <a href="graph.svg">SVG</a> <a href="graph.dot">DOT</a> <a href="graph.graphml">GraphML</a> <a href="graph.json">JSON</a> <a href="matrix.svg">matrix</a> <a href="graph-zones.svg">zones</a></nav>
</header>
<main id="graph" aria-label="graph of the cluster"></main>
<div id="tooltip" role="tooltip" hidden></div>
<noscript>This page draws the graph with JavaScript. Without it, open <a href="graph.svg">graph.svg</a>.</noscript>
</body>
</html>
`;
}

export const PAGE_CSS = `
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; font: 14px/1.4 system-ui, sans-serif; color: #202020; background: #fff; }
body { display: flex; flex-direction: column; }
header { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem 1.2rem; padding: 0.5rem 1rem; border-bottom: 1px solid #ddd; }
header h1 { font-size: 1.1rem; margin: 0; }
header nav { margin-left: auto; font-size: 0.85rem; }
header nav a { margin-left: 0.3rem; }
#status { color: #555; font-size: 0.85rem; }
body[data-state="error"] #status { color: #b00020; font-weight: 600; }
#graph { flex: 1; min-height: 300px; overflow: hidden; }
#graph svg { width: 100%; height: 100%; }
#graph g.edge { cursor: help; }
#graph g.node { cursor: pointer; }
#graph g.dimmed { opacity: 0.15; }
#graph g.edge.highlight path { stroke-width: 3px; }
#graph g.node.selected path, #graph g.node.selected polygon { stroke: #1f78b4; stroke-width: 3px; }
#tooltip { position: fixed; z-index: 10; pointer-events: none; padding: 0.4rem 0.6rem;
  background: #fffff4; border: 1px solid #999; border-radius: 4px; box-shadow: 0 2px 6px rgba(0,0,0,.2);
  font: 12px/1.35 ui-monospace, monospace; white-space: pre; }
#tooltip .current { font-weight: 700; }
`;
