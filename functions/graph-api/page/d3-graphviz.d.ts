// The part of d3-graphviz 5 the page uses (the package ships no types).
declare module 'd3-graphviz' {
  import type { Transition } from 'd3';

  export type GraphvizEvent = 'initEnd' | 'start' | 'layoutEnd' | 'renderEnd' | 'transitionEnd' | 'end';

  export interface GraphvizOptions {
    useWorker?: boolean;
    fit?: boolean;
    zoom?: boolean;
    width?: number;
    height?: number;
  }

  export interface Graphviz {
    engine(name: string): Graphviz;
    renderDot(dot: string, callback?: () => void): Graphviz;
    transition(factory: () => Transition<never, unknown, null, undefined>): Graphviz;
    on(event: GraphvizEvent, listener: (() => void) | null): Graphviz;
    onerror(callback: (message: string) => void): Graphviz;
    width(pixels: number): Graphviz;
    height(pixels: number): Graphviz;
  }

  export function graphviz(selector: string | Element, options?: GraphvizOptions): Graphviz;
}
