/**
 * Credentials never reach a log line, an error message or an HTTP body. A
 * Pushgateway or Prometheus behind basic auth is configured as a URL with
 * user:pass in it, and that URL is shown in logs, errors and /healthz; other
 * libraries' errors may quote it. The one place that strips it: redactUrl for
 * a URL shown as data, redactText for free text (the error tree, errorLine and
 * the logger pass everything through it).
 */

/** What stands in for removed credentials. */
export const REDACTED = '***';

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
  // Without credentials the URL is shown as written (no trailing slash added).
  if (parsed.username === '' && parsed.password === '') return url;
  parsed.username = REDACTED;
  parsed.password = '';
  return parsed.toString();
}

// scheme://userinfo@ : userinfo runs to the last "@" before the host (a raw "@" in a password included).
const USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^\s/?#"'<>]*@/gi;

/**
 * `text` without the userinfo of any URL in it, nor the passwords of `known`
 * URLs wherever they appear (a server may echo a password back on its own).
 */
export function redactText(text: string, known: readonly string[] = []): string {
  let out = text.replace(USERINFO, `$1${REDACTED}@`);
  for (const url of known) {
    for (const secret of passwordsOf(url)) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** The password of `url` as written and decoded; none when it has none or does not parse. */
function passwordsOf(url: string): string[] {
  const password = URL.parse(url)?.password ?? '';
  if (password === '') return [];
  let decoded = password;
  try {
    decoded = decodeURIComponent(password);
  } catch {
    // A malformed escape: the password as written is all there is to hide.
  }
  return [...new Set([password, decoded])];
}
