import { NetmonError } from '../../layers/core/errors.ts';

/** The local real cluster cannot be built, started or removed on this host; the message says what to do. */
export class ClusterError extends NetmonError {
  override name = 'ClusterError';
}
