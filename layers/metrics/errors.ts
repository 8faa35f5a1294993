import { NetmonError } from '../core/errors.ts';
import { redactText, redactUrl } from '../core/redact.ts';

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
    super(`${what} ${safeUrl}: ${statusText}: ${redactText(detail, [url])}`, options);
    this.url = safeUrl;
    this.status = status;
  }
}

/** promtool could not be run. */
export class PromtoolError extends NetmonError {
  override name = 'PromtoolError';
}
