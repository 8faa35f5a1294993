import { NetmonError } from '../core/errors.ts';

/** Graphviz could not load or lay out a graph, or a graph could not be written in a format. */
export class GraphError extends NetmonError {
  override name = 'GraphError';
}
