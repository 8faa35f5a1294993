import { Counter, Histogram, Registry } from 'prom-client';

/**
 * The graph API's own metrics, served on /metrics. A Registry of its own (not
 * prom-client's global one): nothing else in the process, such as the
 * Pushgateway client's gauges, ends up in this scrape.
 */
export interface ApiMetrics {
  registry: Registry;
  requests: Counter<'route' | 'method' | 'code'>;
  duration: Histogram<'route' | 'method'>;
  renders: Histogram<'view'>;
  sourceErrors: Counter<'source'>;
}

export function createApiMetrics(): ApiMetrics {
  // No collectDefaultMetrics: its nodejs_active_*_total gauges fail `promtool check metrics`, and the
  // kubelet reports the container's CPU and memory anyway.
  const registry = new Registry();
  return {
    registry,
    requests: new Counter({
      name: 'netmon_graph_api_requests_total',
      help: 'HTTP requests answered by the graph API, by route, method and status code.',
      labelNames: ['route', 'method', 'code'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'netmon_graph_api_request_duration_seconds',
      help: 'Time from request to the end of the response, by route and method.',
      labelNames: ['route', 'method'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    renders: new Histogram({
      name: 'netmon_graph_api_render_duration_seconds',
      help: 'Time to draw one view (format and metric) of a new model; reused drawings are not counted.',
      labelNames: ['view'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    sourceErrors: new Counter({
      name: 'netmon_graph_api_source_errors_total',
      help: 'Requests that could not be answered because the graph source (S3 or Prometheus) failed.',
      labelNames: ['source'],
      registers: [registry],
    }),
  };
}
