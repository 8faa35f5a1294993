import { errorLine, ValidationError } from '../core/errors.ts';
import { checkReferences, type GraphModel, sortEdges, sortNodes } from './model.ts';
import { graphModelSchema, parseWith } from './schema.ts';

/**
 * The model as JSON (schema: docs/graph-json.md). Writing validates too, so
 * that nothing is published that parseGraphJson would refuse.
 */

export function toGraphJson(model: GraphModel): string {
  // The schema's parse also puts every object's keys in schema order: version first.
  const canonical = parseWith(graphModelSchema, model, '');
  checkReferences(canonical.nodes, canonical.edges);
  return `${JSON.stringify(canonical, null, 2)}\n`;
}

/** Reads a graph document; a bad one gives a ValidationError naming the path, e.g. `edges[3].latency.median`. */
export function parseGraphJson(text: string): GraphModel {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ValidationError('graph JSON', text, `a JSON document (${errorLine(err)})`, { cause: err });
  }
  const model = parseWith(graphModelSchema, data, '');
  checkReferences(model.nodes, model.edges);
  return { ...model, nodes: sortNodes(model.nodes), edges: sortEdges(model.edges) };
}

/** Reads a graph.json back into the model (the offline path of `netmon render --from-json`); same checks as parseGraphJson. */
export function graphFromJson(text: string): GraphModel {
  return parseGraphJson(text);
}
