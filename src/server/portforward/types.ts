/** Shapes shared by the port-forward endpoint's modules. */

/** The pod a port-forward request addresses, as the fake cluster (or any host) resolved it. */
export interface PodTarget {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** Where a connection to the pod's `port` goes (the fake cluster: 127.0.0.1:port unless mapped). */
  resolvePort(port: number): { host: string; port: number };
}

/** Counters the endpoint keeps; all monotonic except activeSessions. */
export interface EndpointStats {
  /** Upgraded connections ever served (SPDY, tunnel and v4). */
  readonly sessions: number;
  /** Of `sessions`: plain SPDY/3.1 upgrades. */
  readonly spdySessions: number;
  /** Of `sessions`: SPDY tunnelled in WebSocket (`SPDY/3.1+portforward.k8s.io`). */
  readonly tunnelSessions: number;
  /** Of `sessions`: WebSocket v4 channel connections (`v4.channel.k8s.io`). */
  readonly v4Sessions: number;
  readonly activeSessions: number;
  /** Forwarded connections (stream pairs or v4 ports) ever started. */
  readonly streams: number;
  readonly bytesToPod: number;
  readonly bytesFromPod: number;
  readonly dialFailures: number;
  /** Stream pairs that never completed within the pairing timeout. */
  readonly pairingTimeouts: number;
  /** Streams refused for bad headers. */
  readonly rejectedStreams: number;
  /** SPDY sessions (plain or tunnelled) that ended with an error, by KubemuxError code (e.g. ERR_PROTOCOL, ERR_TRANSPORT_CLOSED). */
  readonly sessionErrors: Readonly<Record<string, number>>;
}
