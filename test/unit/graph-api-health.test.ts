import { describe, expect, it } from 'vitest';
import { isTimeout } from '../../layers/graph-api/health.ts';

/** What the graph API calls silence (504) and what an answer that failed (502). */
describe('isTimeout', () => {
  const sdkError = (code: string): Error => {
    // @smithy/node-http-handler names socket errors TimeoutError so that its retries take them.
    const socket = Object.assign(new Error(`socket ${code}`), { code });
    const err = new Error('read failed', { cause: socket });
    err.name = 'TimeoutError';
    return err;
  };

  it('takes a reset or broken connection for an answer, even named TimeoutError', () => {
    expect(isTimeout(sdkError('ECONNRESET'))).toBe(false);
    expect(isTimeout(new Error('wrapped', { cause: sdkError('EPIPE') }))).toBe(false);
  });

  it('takes a timed-out request or connect for silence', () => {
    expect(isTimeout(sdkError('ETIMEDOUT'))).toBe(true);
    expect(isTimeout(Object.assign(new Error('connect'), { code: 'UND_ERR_CONNECT_TIMEOUT' }))).toBe(true);
    const named = new Error('request timed out');
    named.name = 'TimeoutError';
    expect(isTimeout(named)).toBe(true);
    expect(isTimeout(new Error('refused'))).toBe(false);
  });
});
