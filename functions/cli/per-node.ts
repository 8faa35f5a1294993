import { InvalidArgumentError } from 'commander';
import { ValidationError } from '../../layers/core/errors.ts';

/**
 * Comma lists of one figure per simulated node (`--rates 10,20,30`,
 * `--delays 0,5,12`, `--losses 0,0,1`): the demo and `cluster up` read them
 * alike. Values are in the flag's user unit; `toRig` turns one into the
 * rig's base unit (bit/s, seconds, a ratio).
 */
export interface PerNodeFlag {
  flag: string;
  unit: string;
  /** Smallest valid value; exclusive when `aboveMin`. */
  min: number;
  aboveMin?: boolean;
  max: number;
  toRig: (value: number) => number;
}

export const RATES_FLAG: PerNodeFlag = {
  flag: '--rates',
  unit: 'Mbit/s',
  min: 0,
  aboveMin: true,
  max: 100_000,
  toRig: (mbit) => mbit * 1e6,
};

export const DELAYS_FLAG: PerNodeFlag = {
  flag: '--delays',
  unit: 'ms',
  min: 0,
  max: 1000,
  toRig: (ms) => ms / 1000,
};

export const LOSSES_FLAG: PerNodeFlag = {
  flag: '--losses',
  unit: '%',
  min: 0,
  max: 50,
  toRig: (percent) => percent / 100,
};

function rangeText(spec: PerNodeFlag): string {
  return `${spec.aboveMin === true ? `over ${spec.min}` : `${spec.min}`} to ${spec.max} ${spec.unit}`;
}

/** A commander parser for the flag: numbers separated by commas, each in range. */
export function perNodeList(spec: PerNodeFlag): (value: string) => number[] {
  return (value) => {
    const values = value.split(',').map((part) => (part.trim() === '' ? Number.NaN : Number(part)));
    const bad = values.some(
      (v) => !Number.isFinite(v) || v > spec.max || (spec.aboveMin === true ? v <= spec.min : v < spec.min),
    );
    if (bad)
      throw new InvalidArgumentError(
        `${spec.flag} wants one figure per node separated by commas, each ${rangeText(spec)}; got ${JSON.stringify(value)}`,
      );
    return values;
  };
}

/** The list has one value per node; undefined (the flag not given) passes. */
export function checkPerNodeCount(
  spec: PerNodeFlag,
  values: readonly number[] | undefined,
  nodes: number,
): void {
  if (values !== undefined && values.length !== nodes)
    throw new ValidationError(spec.flag, values.join(','), `${nodes} figures in ${spec.unit}, one per node`);
}
