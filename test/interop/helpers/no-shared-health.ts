/** A node with no outbound gateways: nothing to share, no hold to tell of. */
import type { ShareableHealth } from '../../../src/cluster/index.js';

export const noSharedHealth: ShareableHealth = {
  ownTotals: () => [],
  setPeerTotals: () => undefined,
  setSharedHold: () => undefined,
  on: () => undefined,
  off: () => undefined,
};
