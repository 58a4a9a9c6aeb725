// WebSocket close codes (RFC 6455 §7.4.1) as every route uses them, in one place.
export const WS_CLOSE = {
  /** The session ended as it should (hangup, disconnect, session closed). */
  normal: 1000,
  /** The server is shutting down. */
  goingAway: 1001,
  /** The client broke a rule: rate limit, forbidden, bad room id, slow consumer, refused reconnect. */
  policy: 1008,
  /** A frame larger than the route's maxPayload (sent by `ws` itself). */
  tooBig: 1009,
  /** Something failed on our side for this connection only. */
  internal: 1011,
  /** Over a limit (calls, rooms, members): try again later. */
  tryAgainLater: 1013,
} as const;

export type WsCloseCode = (typeof WS_CLOSE)[keyof typeof WS_CLOSE];
