/** What a server transaction tells its transaction user (RFC 3261 §17.2). */
export interface ServerTransactionUser {
  /** Timer H fired: the ACK for a non-2xx final never came (RFC 3261 §17.2.1). */
  onTimeout?(): void;
  /** The transport could not send a response (RFC 3261 §17.2.4). */
  onTransportError?(error: unknown): void;
}
