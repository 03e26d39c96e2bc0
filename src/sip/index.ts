export {
  type EndpointMessageOps,
  type EndpointTransport,
  type RequestHandler,
  SipEndpoint,
  type SipEndpointOptions,
} from './endpoint.js';
export * from './transaction/index.js';
