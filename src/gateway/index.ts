export {
  type BridgeRate,
  type MediaDirection,
  MediaLeg,
  type MediaLegOptions,
  type MediaLegStats,
  type NegotiatedMedia,
} from './media-leg.js';
