// The data contract of the nva REST API as the UI reads it: GET
// /api/v1/topology, the events of GET /api/v1/events, and the NVE status
// objects inside them. Every interface tolerates unknown fields (later
// issues add profiles, tables, BFD, access links, learned endpoints), and
// every field the UI does not strictly need is optional.

/** OVSDB half of an NVE's live status (app/nvesync.OVSDBStatus). */
export interface OVSDBStatus {
  connected: boolean;
  bridge_ready?: boolean;
  last_error?: string;
  /** Per interface: OpenFlow port number, link state, error. */
  ports?: Record<string, { ofport?: number; link_up?: boolean; error?: string }>;
  [key: string]: unknown;
}

/** OpenFlow half of an NVE's live status (ofctl.OpenFlowStatus). */
export interface OpenFlowStatus {
  connected: boolean;
  /** in_sync, pending, error, disconnected or unclaimed. */
  sync?: string;
  datapath_id?: string;
  remote?: string;
  realized_revision?: number;
  last_sync?: string;
  last_error?: string;
  last_error_at?: string;
  error_count?: number;
  openflow_errors?: number;
  flow_mods_sent?: number;
  group_mods_sent?: number;
  last_change?: string;
  warnings?: string[];
  /** "port p1 (interface vm1)", "tunnel port nva-vxlan": not realized yet. */
  awaiting?: string[];
  [key: string]: unknown;
}

/** An NVE's live status: either half may be absent. */
export interface NVEStatus {
  ovsdb?: OVSDBStatus | null;
  openflow?: OpenFlowStatus | null;
  [key: string]: unknown;
}

/** An NVE as GET /api/v1/topology renders it. */
export interface NVE {
  name: string;
  /** ovs (hypervisor Open vSwitch) or openflow (hardware switch); later vtep, gateway. */
  kind: string;
  underlay_ips?: string[] | null;
  ovsdb?: string;
  bridge?: string;
  datapath_type?: string;
  datapath_id?: string;
  revision?: number;
  profile?: string;
  status?: NVEStatus | null;
  /** VNs the NVE hosts (the server's view at snapshot time). */
  vns?: string[] | null;
  [key: string]: unknown;
}

export interface VN {
  name: string;
  vni?: number;
  service?: string;
  encap?: string;
  bum?: string;
  tenant?: string;
  mtu?: number;
  unknown_arp?: string;
  revision?: number;
  [key: string]: unknown;
}

/** A tenant-system attachment. */
export interface Port {
  name: string;
  vn: string;
  nve: string;
  interface?: string;
  mac?: string;
  ips?: string[] | null;
  vlan?: number;
  revision?: number;
  [key: string]: unknown;
}

/**
 * A pair of NVEs sharing VNs (a < b). Optional in the snapshot: the UI
 * derives pairs from the ports; a server-sent tunnel contributes extra
 * fields such as bfd.
 */
export interface Tunnel {
  a: string;
  b: string;
  vns?: string[];
  /** BFD state: "up"/"down", {state}, or per end {"<nve>": "up"}. */
  bfd?: unknown;
  [key: string]: unknown;
}

/** The body of GET /api/v1/topology and of the SSE snapshot event. */
export interface Topology {
  revision: number;
  nves: NVE[] | null;
  vns: VN[] | null;
  ports: Port[] | null;
  tunnels?: Tunnel[] | null;
  unclaimed_switches?: unknown;
  [key: string]: unknown;
}

/** The data of an SSE change event. */
export interface ChangeEvent {
  /** vn, nve or port today; unknown kinds are kept for later layers. */
  kind: string;
  op: 'put' | 'delete';
  name: string;
  object?: unknown;
}

/** The data of an SSE status event. */
export interface StatusEvent {
  nve: string;
  status: NVEStatus | null;
}

/** The FlowReport of GET /api/v1/nves/{name}/flows. */
export interface FlowReport {
  nve: string;
  profile?: string;
  status?: OpenFlowStatus;
  revision?: number;
  desired?: string[] | null;
  installed?: { flow: string; n_packets?: number; n_bytes?: number; duration_sec?: number }[] | null;
  installed_known?: boolean;
  desired_groups?: string[] | null;
  installed_groups?: string[] | null;
  diff?: {
    in_sync?: boolean;
    missing?: string[] | null;
    differ?: string[] | null;
    extra?: string[] | null;
    unchanged_flows?: number;
    planned_messages?: number;
    [key: string]: unknown;
  };
  warnings?: string[] | null;
  read_error?: string;
  [key: string]: unknown;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Validates the little the UI needs of a topology body (throws on garbage). */
export function parseTopology(v: unknown): Topology {
  if (!isRecord(v)) throw new Error('topology: not an object');
  const arr = (k: string): unknown[] => {
    const x = v[k];
    if (x === undefined || x === null) return [];
    if (!Array.isArray(x)) throw new Error(`topology: ${k} is not a list`);
    return x;
  };
  const named = (k: string): Record<string, unknown>[] =>
    arr(k).filter((o): o is Record<string, unknown> => isRecord(o) && typeof o.name === 'string');
  const t: Topology = {
    ...v,
    revision: typeof v.revision === 'number' ? v.revision : 0,
    nves: named('nves') as NVE[],
    vns: named('vns') as VN[],
    ports: named('ports') as Port[],
  };
  if (Array.isArray(v.tunnels)) {
    t.tunnels = v.tunnels.filter(
      (o): o is Tunnel => isRecord(o) && typeof o.a === 'string' && typeof o.b === 'string',
    );
  } else {
    delete t.tunnels;
  }
  return t;
}
