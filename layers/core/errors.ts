import { redactText } from './redact.ts';

/**
 * The project's error tree. Every error a user can see is one of these: the
 * class says which part failed, the message says what to do next. Messages
 * lose any URL credentials they quote (they reach logs and HTTP bodies).
 */
export class NetmonError extends Error {
  override name = 'NetmonError';

  constructor(message?: string, options?: ErrorOptions) {
    super(message === undefined ? undefined : redactText(message), options);
  }
}

/** A setting or input is invalid. Names the field, the value and what would be valid. */
export class ValidationError extends NetmonError {
  override name = 'ValidationError';
  readonly field: string;
  readonly value: unknown;
  readonly expected: string;

  constructor(field: string, value: unknown, expected: string, options?: ErrorOptions) {
    super(`${field}: ${describeValue(value)} is not valid; expected ${expected}`, options);
    this.field = field;
    // The value reaches 400 bodies and logs as it is: a URL in it loses its credentials.
    this.value = typeof value === 'string' ? redactText(value) : value;
    this.expected = expected;
  }
}

/** A configuration variable or file is missing or malformed. */
export class ConfigError extends ValidationError {
  override name = 'ConfigError';
}

/** A Flent archive could not be read: corrupt, truncated, too large or of the wrong shape. */
export class ArchiveError extends NetmonError {
  override name = 'ArchiveError';
}

/** Flent (or a tool it runs) could not be started or behaved unexpectedly. */
export class FlentError extends NetmonError {
  override name = 'FlentError';
}

/** The simulated cluster rig cannot be built or torn down on this host. */
export class RigError extends NetmonError {
  override name = 'RigError';
}

/** A runner could not set up or clean up a test (not a network failure: that is a result). */
export class RunnerError extends NetmonError {
  override name = 'RunnerError';
}

export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = redactText(value);
    return JSON.stringify(shown.length > 80 ? `${shown.slice(0, 77)}...` : shown);
  }
  if (value === undefined) return 'undefined (missing)';
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return String(value);
  }
}

/** One line for a user: the message of the error and of its causes (other libraries' too, so redacted). */
export function errorLine(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    if (current instanceof Error) {
      parts.push(current.message);
      current = current.cause;
    } else {
      parts.push(String(current));
      break;
    }
  }
  return redactText(parts.join(': '));
}

/** The test lock was not had in time, or was lost. */
export class LockError extends NetmonError {
  override name = 'LockError';
}
