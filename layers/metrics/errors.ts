import { NetmonError } from '../core/errors.ts';

/**
 * The Pushgateway or Prometheus refused a request or could not be reached.
 * Carries the endpoint (credentials redacted: a gateway URL may embed
 * basic-auth user:pass) and the HTTP status when there was a response.
 */
export class MetricsError extends NetmonError {
  override name = 'MetricsError';
  /** The endpoint, with any user:pass replaced by "***". */
  readonly url: string;
  /** HTTP status of the response; null when no response came (refused, timeout, bad body). */
  readonly status: number | null;

  constructor(what: string, url: string, status: number | null, detail: string, options?: ErrorOptions) {
    const safeUrl = redactUrl(url);
    const statusText = status === null ? 'no HTTP response' : `HTTP ${status}`;
    super(`${what} ${safeUrl}: ${statusText}: ${redactText(detail, url)}`, options);
    this.url = safeUrl;
    this.status = status;
  }
}

/** promtool could not be run. */
export class PromtoolError extends NetmonError {
  override name = 'PromtoolError';
}

/** The URL with user and password replaced by "***"; unparsable input is hidden entirely. */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return '[unparsable URL]';
  }
  // Anything but http(s) may hide credentials where URL does not see them (e.g. "host:pass@x").
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return `[${parsed.protocol} URL]`;
  if (parsed.username === '' && parsed.password === '') return parsed.toString();
  parsed.username = '***';
  parsed.password = '';
  return parsed.toString();
}

/** Removes the URL's credentials from free text (a server may echo them back). */
function redactText(text: string, url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return text;
  }
  let out = text;
  for (const secret of [parsed.password, safeDecode(parsed.password)]) {
    if (secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
