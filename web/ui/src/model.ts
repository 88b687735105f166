// The graph model of the nva topology UI: nodes and edges computed from the
// TopologyState (a snapshot plus events), the view (VN filter, selection)
// and the aggregation limits, with stable positions. Pure: no DOM, no
// cytoscape; main.ts draws what graph() returns, and the vitest tests check
// it.
//
// The graph is built by layers, each adding the nodes and edges of one
// concern (NVEs, ports, VN hubs, tunnels, unclaimed switches). Later issues
// (packet traces, split-NVE access links, L3 domains, gateways) add a Layer
// and styles for their classes; they do not change the existing ones.
//
// Node ids: nve:<name>, port:<name>, vn:<name> (a VN hub), sw:<datapath id>
// (an unclaimed switch). Edge ids: tun:<a>|<b> (a < b, an NVE pair sharing
// VNs), att:<port> (a port to its NVE), mem:<vn>|<nve> (an NVE's
// membership in a VN hub).

import { nveHealth, portRealization, tunnelHealth, type HealthInfo } from './health';
import { Positions, type Point } from './positions';
import { pairKey, TopologyState, type ApplyResult } from './state';
import { isRecord, type ChangeEvent, type NVE, type StatusEvent } from './topology';

export type { Health, HealthInfo } from './health';
export type { Point } from './positions';

/** What is selected: an NVE, a port, a VN or a tunnel (name = "a|b"). */
export interface Sel {
  kind: 'nve' | 'port' | 'vn' | 'tunnel' | 'switch';
  name: string;
}

export interface View {
  /** Everything outside this VN is dimmed (and its tunnels are drawn). */
  filterVN: string | null;
  selected: Sel | null;
}

/**
 * Aggregation at scale. Ports: an NVE's ports are drawn for the selected
 * NVE, for every NVE when the topology has at most maxExpandedPorts ports
 * and the NVE at most fewPorts, and for the filtered VN when it has at most
 * maxExpandedPorts; otherwise the NVE shows a count. Tunnels: every NVE
 * pair sharing a VN is drawn while there are at most maxPairTunnels of them
 * (VNs are then colours); beyond that VNs become hubs (drawn while there
 * are at most maxHubs, with NVE membership edges while there are at most
 * maxMemberEdges) and per-pair tunnels are drawn only for the selected NVE
 * and the filtered or selected VN (at most maxSelectedPairs).
 */
export interface Limits {
  maxExpandedPorts: number;
  fewPorts: number;
  maxPairTunnels: number;
  maxHubs: number;
  maxMemberEdges: number;
  maxSelectedPairs: number;
}

export const defaultLimits: Limits = {
  maxExpandedPorts: 800,
  fewPorts: 24,
  maxPairTunnels: 600,
  maxHubs: 300,
  maxMemberEdges: 2000,
  maxSelectedPairs: 1200,
};

export interface GNode {
  id: string;
  kind: string;
  label: string;
  /** Style classes: the kind, health/realization, selected, dimmed, ... */
  classes: string[];
  /** Hover text. */
  title: string;
  data: Record<string, unknown>;
  /** VNs this element belongs to, for the VN filter (absent: none). */
  vns?: readonly string[];
  /** Positioned relative to this node (ports: their NVE). */
  anchor?: string;
  /** Nodes to be placed near when new. */
  near?: string[];
  position?: Point;
}

export interface GEdge {
  id: string;
  kind: string;
  source: string;
  target: string;
  classes: string[];
  title: string;
  data: Record<string, unknown>;
  vns?: readonly string[];
}

export interface GraphStats {
  /** pairs: every NVE pair sharing a VN is drawn; hubs: VNs are hub nodes. */
  mode: 'pairs' | 'hubs';
  nves: number;
  ports: number;
  vns: number;
  drawnPorts: number;
  /** Upper bound of NVE pairs sharing a VN (sum over VNs of k(k-1)/2). */
  pairEstimate: number;
  tunnels: number;
  /** Candidate pairs looked at while building (bounded, never N^2 at scale). */
  pairWork: number;
}

export interface Graph {
  nodes: GNode[];
  edges: GEdge[];
  stats: GraphStats;
  /** Messages for the user about what is aggregated. */
  notes: string[];
  /** The node or edge to centre on for the selection, if drawn. */
  focus: string | null;
}

/** Collects a layer's elements; edges whose ends are not drawn are dropped. */
export class GraphBuilder {
  readonly nodes = new Map<string, GNode>();
  readonly edges = new Map<string, GEdge>();
  readonly notes: string[] = [];
  pairWork = 0;

  addNode(n: GNode): void {
    this.nodes.set(n.id, n);
  }

  addEdge(e: GEdge): void {
    this.edges.set(e.id, e);
  }
}

/** What a layer sees. */
export interface LayerContext {
  state: TopologyState;
  view: View;
  limits: Limits;
  b: GraphBuilder;
  mode: 'pairs' | 'hubs';
  /** The NVE whose ports and tunnels are shown (the selected NVE, or the selected port's). */
  focusNVE: string | null;
  /** The VN whose tunnels are shown (the filter, else the selected VN). */
  focusVN: string | null;
  health(nve: string): HealthInfo;
  colour(vn: string): string;
}

export interface Layer {
  name: string;
  build(ctx: LayerContext): void;
}

export const nveId = (n: string) => `nve:${n}`;
export const portId = (n: string) => `port:${n}`;
export const vnId = (n: string) => `vn:${n}`;
export const tunnelId = (a: string, b: string) => `tun:${pairKey(a, b)}`;

/** A colour per VN name by hash (the fallback of VNColours). */
export function vnColor(name: string): string {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 16777619);
  }
  const hue = (h >>> 0) % 360;
  return `hsl(${hue}, 62%, 48%)`;
}

/** Distinct colours handed to VNs in order (then hash hues). */
export const VN_PALETTE = [
  '#3b6fd4', '#f28e2b', '#8c5fc7', '#17becf', '#c9a227', '#e377c2',
  '#8c564b', '#1f9e89', '#7f7f7f', '#bcbd22', '#393b79', '#ff7f50',
];

const NAMED: Record<string, string> = {
  blue: '#3b6fd4', red: '#e05555', green: '#4caf50', orange: '#f28e2b', purple: '#8c5fc7', violet: '#8c5fc7',
  yellow: '#e6c229', gold: '#c9a227', pink: '#e377c2', brown: '#8c564b', cyan: '#17becf', teal: '#1f9e89',
  grey: '#7f7f7f', gray: '#7f7f7f', navy: '#393b79', olive: '#bcbd22', magenta: '#c2185b', black: '#333333',
};

/**
 * The colour of each VN, stable for the life of the page: a VN named after
 * a colour (blue, tenant-red) gets it; others get the next palette colour
 * when first seen (in name order within a snapshot), then hash hues.
 */
export class VNColours {
  private readonly m = new Map<string, string>();
  private next = 0;

  get(vn: string): string {
    let c = this.m.get(vn);
    if (c) return c;
    const named = vn.toLowerCase().split(/[^a-z]+/).map((t) => NAMED[t]).find((x) => x !== undefined);
    if (named) c = named;
    else if (this.next < VN_PALETTE.length) c = VN_PALETTE[this.next++]!;
    else c = vnColor(vn);
    this.m.set(vn, c);
    return c;
  }
}

export function kindLabel(kind: string): string {
  switch (kind) {
    case 'ovs':
      return 'hypervisor (Open vSwitch)';
    case 'openflow':
      return 'hardware switch (OpenFlow)';
    case 'vtep':
      return 'hardware VTEP';
    case 'gateway':
      return 'gateway';
    default:
      return kind || 'NVE';
  }
}

const cssToken = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : 's'}`;

/** NVE nodes (their port count is filled in by the ports layer). */
export const nveLayer: Layer = {
  name: 'nves',
  build({ state, b, health }) {
    for (const n of state.nves.values()) {
      const h = health(n.name);
      const vns = state.vnsOf(n.name);
      const ports = state.portsByNVE.get(n.name)?.size ?? 0;
      const ips = (n.underlay_ips ?? []).join(', ');
      const near: string[] = [];
      for (const vn of vns) {
        for (const peer of state.hostsOf(vn)) {
          if (peer !== n.name && near.length < 3) near.push(nveId(peer));
          if (near.length >= 3) break;
        }
        if (near.length >= 3) break;
      }
      b.addNode({
        id: nveId(n.name),
        kind: 'nve',
        label: n.name,
        classes: ['nve', `kind-${cssToken(n.kind || 'unknown')}`, h.health],
        title:
          `${n.name} — ${kindLabel(n.kind)}\n${h.health}: ${h.reason}` +
          (ips ? `\nunderlay ${ips}` : '') +
          `\n${plural(ports, 'port')}, ${plural(vns.length, 'VN')}`,
        data: { name: n.name, kind: n.kind, health: h.health, reason: h.reason, ports, hiddenPorts: ports },
        vns,
        near,
      });
    }
  },
};

/** Port nodes with their attachment edge; the rest of an NVE's ports as a count on it. */
export const portLayer: Layer = {
  name: 'ports',
  build({ state, view, limits, b, focusNVE, focusVN, colour }) {
    const total = state.ports.size;
    const vnPortsSmall = focusVN !== null && (state.portsByVN.get(focusVN)?.size ?? 0) <= limits.maxExpandedPorts;
    for (const [nve, names] of state.portsByNVE) {
      const nn = b.nodes.get(nveId(nve));
      if (!nn) continue;
      const all = nve === focusNVE || (total <= limits.maxExpandedPorts && names.size <= limits.fewPorts);
      let drawn = 0;
      for (const name of names) {
        const p = state.ports.get(name)!;
        if (!all && !(vnPortsSmall && p.vn === focusVN) && !(view.selected?.kind === 'port' && view.selected.name === name)) continue;
        drawn++;
        const r = portRealization(p, state.nves.get(nve));
        const ips = (p.ips ?? []).join(', ');
        b.addNode({
          id: portId(name),
          kind: 'port',
          label: name,
          classes: ['port', r.state],
          title:
            `port ${name} — VN ${p.vn} on ${nve}` +
            `\n${p.mac ?? ''}${ips ? ` ${ips}` : ''}${p.vlan ? ` vlan ${p.vlan}` : ''}` +
            `\n${r.state}: ${r.reason}`,
          data: { name, vn: p.vn, nve, mac: p.mac ?? '', ips, color: colour(p.vn), realization: r.state },
          vns: [p.vn],
          anchor: nveId(nve),
          near: [nveId(nve)],
        });
        b.addEdge({
          id: `att:${name}`,
          kind: 'attach',
          source: portId(name),
          target: nveId(nve),
          classes: ['attach'],
          title: `${name} on ${nve}`,
          data: { color: colour(p.vn) },
          vns: [p.vn],
        });
      }
      const hidden = names.size - drawn;
      nn.data.hiddenPorts = hidden;
      if (hidden > 0) {
        nn.label = `${nn.label}\n${drawn > 0 ? '+' : ''}${plural(hidden, 'port')}`;
        nn.classes.push('collapsed');
      }
    }
  },
};

function vnTitle(state: TopologyState, vn: string): string {
  const v = state.vns.get(vn);
  const parts = [v?.vni !== undefined ? `VNI ${v.vni}` : '', v?.service ?? '', v?.encap ?? '', v?.tenant ? `tenant ${v.tenant}` : '']
    .filter(Boolean)
    .join(', ');
  return `VN ${vn}${parts ? ` (${parts})` : ''}\n${plural(state.hostCount(vn), 'NVE')}, ${plural(state.portsByVN.get(vn)?.size ?? 0, 'port')}`;
}

/**
 * VN hubs with NVE membership edges, when per-pair tunnels are too many: for
 * every VN while hubs and memberships are few, else for the filtered (or
 * selected) VN only.
 */
export const vnHubLayer: Layer = {
  name: 'vn-hubs',
  build({ state, limits, b, mode, focusVN, colour }) {
    if (mode !== 'hubs') return;
    const all = [...new Set([...state.vns.keys(), ...state.hostedVNs()])].sort();
    let members = 0;
    for (const v of all) members += state.hostCount(v);
    const full = all.length <= limits.maxHubs && members <= limits.maxMemberEdges;
    const hubs = full ? all : all.filter((v) => v === focusVN);
    if (!full) {
      b.notes.push(`${all.length} VNs with ${members} NVE memberships: filter a VN to see its hub and tunnels, select an NVE to see its tunnels`);
    }
    for (const v of hubs) {
      const hosts = state.hostsOf(v).sort();
      b.addNode({
        id: vnId(v),
        kind: 'vn',
        label: v,
        classes: ['vn'],
        title: vnTitle(state, v),
        data: { name: v, color: colour(v), nves: hosts.length },
        vns: [v],
        near: hosts.slice(0, 64).map(nveId),
      });
      if (hosts.length > limits.maxMemberEdges) {
        b.notes.push(`VN ${v} spans ${hosts.length} NVEs: membership edges not drawn`);
        continue;
      }
      for (const h of hosts) {
        b.addEdge({
          id: `mem:${v}|${h}`,
          kind: 'member',
          source: nveId(h),
          target: vnId(v),
          classes: ['member'],
          title: `${h} hosts VN ${v}`,
          data: { color: colour(v) },
          vns: [v],
        });
      }
    }
  },
};

/** Tunnels between NVEs of a VN, coloured by health. */
export const tunnelLayer: Layer = {
  name: 'tunnels',
  build(ctx) {
    const { state, limits, b, mode, focusNVE, focusVN } = ctx;
    const pairs = new Map<string, { a: string; b: string; vns: string[] }>();
    const add = (x: string, y: string, vn: string) => {
      b.pairWork++;
      if (x === y) return;
      const k = pairKey(x, y);
      let p = pairs.get(k);
      if (!p) pairs.set(k, (p = { a: x < y ? x : y, b: x < y ? y : x, vns: [] }));
      if (!p.vns.includes(vn)) p.vns.push(vn);
    };
    const allPairsOf = (vn: string) => {
      const hosts = state.hostsOf(vn).sort();
      for (let i = 0; i < hosts.length; i++) for (let j = i + 1; j < hosts.length; j++) add(hosts[i]!, hosts[j]!, vn);
    };
    if (mode === 'pairs') {
      for (const vn of state.hostedVNs()) allPairsOf(vn);
    } else {
      if (focusNVE && state.nves.has(focusNVE)) {
        let n = 0;
        outer: for (const vn of state.vnsOf(focusNVE)) {
          for (const h of state.hostsOf(vn)) {
            if (h === focusNVE) continue;
            if (!pairs.has(pairKey(focusNVE, h)) && ++n > limits.maxSelectedPairs) {
              b.notes.push(`${focusNVE}: more than ${limits.maxSelectedPairs} tunnels, only the first drawn`);
              break outer;
            }
            add(focusNVE, h, vn);
          }
        }
      }
      if (focusVN) {
        const k = state.hostCount(focusVN);
        if ((k * (k - 1)) / 2 <= limits.maxSelectedPairs) allPairsOf(focusVN);
        else b.notes.push(`VN ${focusVN} spans ${k} NVEs (${(k * (k - 1)) / 2} tunnels): select one of its NVEs to see its tunnels`);
      }
    }
    for (const [k, p] of pairs) {
      const info = state.tunnelInfo.get(k);
      const h = tunnelHealth(state.nves.get(p.a), state.nves.get(p.b), info);
      p.vns.sort();
      const classes = ['tunnel', h.health];
      if (h.bfd) classes.push(`bfd-${cssToken(h.bfd)}`);
      b.addEdge({
        id: `tun:${k}`,
        kind: 'tunnel',
        source: nveId(p.a),
        target: nveId(p.b),
        classes,
        title: `tunnel ${p.a} ⇄ ${p.b} (VN ${p.vns.join(', ')})\n${h.health}: ${h.reason}`,
        data: { a: p.a, b: p.b, vns: p.vns, health: h.health, reason: h.reason, width: mode === 'pairs' ? Math.min(1 + p.vns.length, 6) : 1.5 },
        vns: p.vns,
      });
    }
  },
};

/** Switches connected over OpenFlow that no NVE claims (by datapath ID). */
export const unclaimedLayer: Layer = {
  name: 'unclaimed',
  build({ state, b }) {
    const list = state.snapshotExtras.unclaimed_switches;
    if (!Array.isArray(list)) return;
    for (const s of list) {
      if (!isRecord(s) || typeof s.datapath_id !== 'string') continue;
      const remote = typeof s.remote === 'string' ? s.remote : '';
      b.addNode({
        id: `sw:${s.datapath_id}`,
        kind: 'switch',
        label: `unclaimed\n${s.datapath_id}`,
        classes: ['unclaimed'],
        title: `unclaimed switch ${s.datapath_id}${remote ? ` from ${remote}` : ''}\ncreate an NVE with this datapath_id to claim it`,
        data: { name: s.datapath_id, remote },
      });
    }
  },
};

export const coreLayers: Layer[] = [nveLayer, portLayer, vnHubLayer, tunnelLayer, unclaimedLayer];

/** Builds the graph of state as seen through view (positions are not assigned). */
export function buildGraph(
  state: TopologyState,
  view: View,
  limits: Limits = defaultLimits,
  layers: Layer[] = coreLayers,
  colours: VNColours = new VNColours(),
): Graph {
  const memo = new Map<string, HealthInfo>();
  const health = (nve: string): HealthInfo => {
    let h = memo.get(nve);
    if (!h) memo.set(nve, (h = nveHealth(state.nves.get(nve))));
    return h;
  };
  let pairEstimate = 0;
  for (const vn of state.hostedVNs()) {
    const k = state.hostCount(vn);
    pairEstimate += (k * (k - 1)) / 2;
  }
  const sel = view.selected;
  let focusNVE: string | null = null;
  if (sel?.kind === 'nve') focusNVE = sel.name;
  else if (sel?.kind === 'port') focusNVE = state.ports.get(sel.name)?.nve ?? null;
  const focusVN = view.filterVN ?? (sel?.kind === 'vn' ? sel.name : null);
  const mode = pairEstimate <= limits.maxPairTunnels ? 'pairs' : 'hubs';
  const b = new GraphBuilder();
  const ctx: LayerContext = { state, view, limits, b, mode, focusNVE, focusVN, health, colour: (vn) => colours.get(vn) };
  for (const l of layers) l.build(ctx);

  const edges = [...b.edges.values()].filter((e) => b.nodes.has(e.source) && b.nodes.has(e.target));
  const nodes = [...b.nodes.values()];
  // Selection and VN filter.
  const focus = selectionId(sel);
  if (focus) {
    const n = b.nodes.get(focus);
    if (n) n.classes.push('selected');
    for (const e of edges) {
      if (e.id === focus) e.classes.push('selected');
      else if (e.source === focus || e.target === focus) e.classes.push('highlight');
    }
  }
  if (view.filterVN !== null) {
    const f = view.filterVN;
    for (const el of [...nodes, ...edges]) if (!el.vns?.includes(f)) el.classes.push('dimmed');
  }
  const drawnPorts = nodes.reduce((s, n) => s + (n.kind === 'port' ? 1 : 0), 0);
  return {
    nodes,
    edges,
    notes: b.notes,
    focus: focus && (b.nodes.has(focus) || edges.some((e) => e.id === focus)) ? focus : null,
    stats: {
      mode,
      nves: state.nves.size,
      ports: state.ports.size,
      vns: state.vns.size,
      drawnPorts,
      pairEstimate,
      tunnels: edges.reduce((s, e) => s + (e.kind === 'tunnel' ? 1 : 0), 0),
      pairWork: b.pairWork,
    },
  };
}

/** The graph element id of a selection. */
export function selectionId(sel: Sel | null): string | null {
  if (!sel) return null;
  switch (sel.kind) {
    case 'nve':
      return nveId(sel.name);
    case 'port':
      return portId(sel.name);
    case 'vn':
      return vnId(sel.name);
    case 'tunnel':
      return `tun:${sel.name}`;
    case 'switch':
      return `sw:${sel.name}`;
  }
}

/** The selection of a graph element id (the inverse of selectionId). */
export function selectionOf(id: string): Sel | null {
  const i = id.indexOf(':');
  if (i < 0) return null;
  const name = id.slice(i + 1);
  switch (id.slice(0, i)) {
    case 'nve':
      return { kind: 'nve', name };
    case 'port':
      return { kind: 'port', name };
    case 'vn':
      return { kind: 'vn', name };
    case 'tun':
      return { kind: 'tunnel', name };
    case 'sw':
      return { kind: 'switch', name };
    case 'att':
      return { kind: 'port', name };
    default:
      return null;
  }
}

export interface SearchHit {
  sel: Sel;
  /** The element to centre on. */
  id: string;
  label: string;
  /** What matched: name, mac, ip, underlay, datapath_id, vni, interface. */
  field: string;
  value: string;
  rank: number;
}

const macDigits = (s: string) => s.toLowerCase().replace(/[^0-9a-f]/g, '');
const stripPrefix = (ip: string) => ip.replace(/\/\d+$/, '').toLowerCase();

/**
 * Finds NVEs, ports and VNs by name (substring, case-insensitive), ports by
 * MAC (any separator) or IP address (exact or prefix, with or without the
 * prefix length), NVEs by underlay IP or datapath ID, VNs by VNI. Exact
 * matches first.
 */
export function search(state: TopologyState, query: string, limit = 20): SearchHit[] {
  const q = query.trim().toLowerCase();
  if (q === '') return [];
  const hits: SearchHit[] = [];
  const qMac = macDigits(q);
  const macLike = /^[0-9a-f:.-]+$/.test(q) && qMac.length >= 4;
  const ipLike = /^[0-9a-f.:]+(\/\d+)?$/.test(q) && /[.:]/.test(q);
  const qIP = stripPrefix(q);
  const rankOf = (v: string, qq: string) => (v === qq ? 0 : v.startsWith(qq) ? 1 : 2);
  const name = (sel: Sel, id: string, n: string, label: string) => {
    const v = n.toLowerCase();
    if (v.includes(q)) hits.push({ sel, id, label, field: 'name', value: n, rank: rankOf(v, q) });
  };
  for (const n of state.nves.values()) {
    const sel: Sel = { kind: 'nve', name: n.name };
    const id = nveId(n.name);
    name(sel, id, n.name, `NVE ${n.name}`);
    if (ipLike) {
      for (const ip of n.underlay_ips ?? []) {
        if (stripPrefix(ip).startsWith(qIP)) hits.push({ sel, id, label: `NVE ${n.name}`, field: 'underlay', value: ip, rank: stripPrefix(ip) === qIP ? 0 : 1 });
      }
    }
    if (macLike && n.datapath_id && macDigits(n.datapath_id).includes(qMac)) {
      hits.push({ sel, id, label: `NVE ${n.name}`, field: 'datapath_id', value: n.datapath_id, rank: 1 });
    }
  }
  for (const v of state.vns.values()) {
    const sel: Sel = { kind: 'vn', name: v.name };
    name(sel, vnId(v.name), v.name, `VN ${v.name}`);
    if (/^\d+$/.test(q) && v.vni !== undefined && String(v.vni) === q) {
      hits.push({ sel, id: vnId(v.name), label: `VN ${v.name}`, field: 'vni', value: q, rank: 0 });
    }
  }
  for (const p of state.ports.values()) {
    const sel: Sel = { kind: 'port', name: p.name };
    const id = portId(p.name);
    const label = `port ${p.name} (${p.vn} on ${p.nve})`;
    name(sel, id, p.name, label);
    if (macLike && p.mac) {
      const m = macDigits(p.mac);
      if (m.includes(qMac)) hits.push({ sel, id, label, field: 'mac', value: p.mac, rank: m === qMac ? 0 : 1 });
    }
    if (ipLike) {
      for (const ip of p.ips ?? []) {
        const a = stripPrefix(ip);
        if (a.startsWith(qIP)) hits.push({ sel, id, label, field: 'ip', value: ip, rank: a === qIP ? 0 : 1 });
      }
    }
    if (p.interface && p.interface.toLowerCase() === q) hits.push({ sel, id, label, field: 'interface', value: p.interface, rank: 1 });
  }
  const kindOrder: Record<string, number> = { port: 0, nve: 1, vn: 2 };
  hits.sort((x, y) => x.rank - y.rank || (kindOrder[x.sel.kind] ?? 3) - (kindOrder[y.sel.kind] ?? 3) || x.id.localeCompare(y.id));
  const seen = new Set<string>();
  const out: SearchHit[] = [];
  for (const h of hits) {
    if (seen.has(h.id)) continue;
    seen.add(h.id);
    out.push(h);
    if (out.length >= limit) break;
  }
  return out;
}

/** One line of a details panel. */
export interface Field {
  k: string;
  v: string;
  cls?: string;
}

export interface ListItem {
  label: string;
  sel?: Sel;
  cls?: string;
  note?: string;
}

export interface DetailList {
  title: string;
  items: ListItem[];
  /** Items left out (lists are capped). */
  more: number;
}

/** What the details panel shows for a selection. */
export interface Details {
  sel: Sel;
  title: string;
  subtitle: string;
  health?: { state: string; reason: string };
  fields: Field[];
  lists: DetailList[];
  exists: boolean;
}

const LIST_CAP = 400;

function list(title: string, items: ListItem[]): DetailList {
  return { title, items: items.slice(0, LIST_CAP), more: Math.max(0, items.length - LIST_CAP) };
}

const yesNo = (b: unknown) => (b === true ? 'yes' : b === false ? 'no' : '—');

function nveStatusFields(n: NVE): Field[] {
  const st = isRecord(n.status) ? n.status : null;
  const f: Field[] = [];
  const ov = st && isRecord(st.ovsdb) ? st.ovsdb : null;
  const of = st && isRecord(st.openflow) ? st.openflow : null;
  if (n.ovsdb || ov) {
    f.push({ k: 'OVSDB', v: `${n.ovsdb ?? ''}${ov ? ` — ${ov.connected ? 'connected' : 'disconnected'}` : ''}`, cls: ov ? (ov.connected ? 'up' : 'down') : '' });
    if (ov) f.push({ k: 'bridge ready', v: yesNo(ov.bridge_ready) });
    if (ov?.last_error) f.push({ k: 'OVSDB error', v: String(ov.last_error), cls: 'error' });
  }
  if (of) {
    f.push({ k: 'OpenFlow', v: `${of.connected ? 'connected' : 'disconnected'}${of.remote ? ` from ${of.remote}` : ''}`, cls: of.connected ? 'up' : 'down' });
    f.push({ k: 'sync', v: String(of.sync ?? '—'), cls: of.sync === 'in_sync' ? 'up' : of.sync === 'error' ? 'error' : 'pending' });
    if (of.realized_revision !== undefined) f.push({ k: 'realized revision', v: String(of.realized_revision) });
    if (of.last_sync) f.push({ k: 'last sync', v: String(of.last_sync) });
    if (of.last_error) f.push({ k: 'last error', v: `${of.last_error}${of.last_error_at ? ` (${of.last_error_at})` : ''}`, cls: 'error' });
    if (of.error_count) f.push({ k: 'failed syncs', v: String(of.error_count) });
    if (of.openflow_errors) f.push({ k: 'OpenFlow errors', v: String(of.openflow_errors) });
    if (of.flow_mods_sent !== undefined) f.push({ k: 'flow mods sent', v: String(of.flow_mods_sent) });
    if (of.last_change) f.push({ k: 'last change', v: String(of.last_change) });
    for (const w of of.warnings ?? []) f.push({ k: 'warning', v: String(w), cls: 'pending' });
    for (const a of of.awaiting ?? []) f.push({ k: 'awaiting', v: String(a), cls: 'pending' });
  }
  return f;
}

/** The details of a selection (exists is false when the object is gone). */
export function details(state: TopologyState, sel: Sel): Details {
  const d: Details = { sel, title: sel.name, subtitle: sel.kind, fields: [], lists: [], exists: true };
  switch (sel.kind) {
    case 'nve': {
      const n = state.nves.get(sel.name);
      if (!n) return { ...d, exists: false, subtitle: 'NVE (deleted)' };
      const h = nveHealth(n);
      d.subtitle = kindLabel(n.kind);
      d.health = { state: h.health, reason: h.reason };
      d.fields.push({ k: 'underlay', v: (n.underlay_ips ?? []).join(', ') || '—' });
      if (n.profile) d.fields.push({ k: 'profile', v: String(n.profile) });
      if (n.bridge) d.fields.push({ k: 'bridge', v: n.bridge });
      if (n.datapath_id) d.fields.push({ k: 'datapath ID', v: n.datapath_id });
      if (n.datapath_type) d.fields.push({ k: 'datapath type', v: n.datapath_type });
      d.fields.push(...nveStatusFields(n));
      if (n.revision) d.fields.push({ k: 'revision', v: String(n.revision) });
      const ports = [...(state.portsByNVE.get(n.name) ?? [])].sort().map((pn) => {
        const p = state.ports.get(pn)!;
        const r = portRealization(p, n);
        return { label: pn, sel: { kind: 'port', name: pn } as Sel, cls: r.state, note: `${p.vn} ${p.mac ?? ''} ${(p.ips ?? []).join(' ')}`.trim() };
      });
      d.lists.push(list(`ports (${ports.length})`, ports));
      const vns = state.vnsOf(n.name);
      d.lists.push(list(`VNs (${vns.length})`, vns.map((v) => ({ label: v, sel: { kind: 'vn', name: v }, note: `${state.hostCount(v)} NVEs` }))));
      return d;
    }
    case 'port': {
      const p = state.ports.get(sel.name);
      if (!p) return { ...d, exists: false, subtitle: 'port (deleted)' };
      const n = state.nves.get(p.nve);
      const r = portRealization(p, n);
      d.subtitle = 'tenant port';
      d.health = { state: r.state, reason: r.reason };
      d.fields.push({ k: 'VN', v: p.vn }, { k: 'NVE', v: p.nve }, { k: 'interface', v: p.interface ?? '—' });
      d.fields.push({ k: 'MAC', v: p.mac ?? '—' }, { k: 'IPs', v: (p.ips ?? []).join(', ') || '—' });
      d.fields.push({ k: 'VLAN', v: p.vlan ? String(p.vlan) : 'untagged' });
      const ps = n && isRecord(n.status) && isRecord(n.status.ovsdb) && isRecord(n.status.ovsdb.ports) ? n.status.ovsdb.ports[p.interface ?? ''] : undefined;
      if (ps) {
        d.fields.push({ k: 'ofport', v: ps.ofport ? String(ps.ofport) : '—' }, { k: 'link', v: ps.link_up ? 'up' : 'down', cls: ps.link_up ? 'up' : 'down' });
        if (ps.error) d.fields.push({ k: 'interface error', v: ps.error, cls: 'error' });
      }
      if (p.revision) d.fields.push({ k: 'revision', v: String(p.revision) });
      d.lists.push(list('links', [{ label: `NVE ${p.nve}`, sel: { kind: 'nve', name: p.nve } }, { label: `VN ${p.vn}`, sel: { kind: 'vn', name: p.vn } }]));
      return d;
    }
    case 'vn': {
      const v = state.vns.get(sel.name);
      if (!v) return { ...d, exists: false, subtitle: 'VN (deleted)' };
      d.subtitle = 'virtual network';
      const add = (k: string, x: unknown) => {
        if (x !== undefined && x !== null && x !== '') d.fields.push({ k, v: String(x) });
      };
      add('VNI', v.vni);
      add('service', v.service);
      add('encapsulation', v.encap);
      add('BUM', v.bum);
      add('tenant', v.tenant);
      add('MTU', v.mtu);
      add('unknown ARP/ND', v.unknown_arp);
      add('revision', v.revision);
      const hosts = state.hostsOf(v.name).sort();
      d.lists.push(
        list(`NVEs (${hosts.length})`, hosts.map((h) => {
          const hh = nveHealth(state.nves.get(h));
          return { label: h, sel: { kind: 'nve', name: h } as Sel, cls: hh.health, note: hh.health };
        })),
      );
      const ports = [...(state.portsByVN.get(v.name) ?? [])].sort().map((pn) => {
        const p = state.ports.get(pn)!;
        return { label: pn, sel: { kind: 'port', name: pn } as Sel, note: `${p.nve} ${p.mac ?? ''} ${(p.ips ?? []).join(' ')}`.trim() };
      });
      d.lists.push(list(`members (${ports.length} ports)`, ports));
      return d;
    }
    case 'tunnel': {
      const [a = '', b = ''] = sel.name.split('|');
      const na = state.nves.get(a);
      const nb = state.nves.get(b);
      if (!na || !nb) return { ...d, exists: false, subtitle: 'tunnel (gone)' };
      const vnsA = new Set(state.vnsOf(a));
      const shared = state.vnsOf(b).filter((v) => vnsA.has(v));
      const h = tunnelHealth(na, nb, state.tunnelInfo.get(pairKey(a, b)));
      d.title = `${a} ⇄ ${b}`;
      d.subtitle = 'tunnel';
      d.health = { state: h.health, reason: h.reason };
      d.fields.push({ k: `${a} underlay`, v: (na.underlay_ips ?? []).join(', ') || '—' }, { k: `${b} underlay`, v: (nb.underlay_ips ?? []).join(', ') || '—' });
      if (h.bfd) d.fields.push({ k: 'BFD', v: h.bfd, cls: h.bfd === 'up' ? 'up' : 'down' });
      d.lists.push(list('ends', [a, b].map((x) => ({ label: x, sel: { kind: 'nve', name: x } as Sel, cls: nveHealth(state.nves.get(x)).health }))));
      d.lists.push(list(`VNs (${shared.length})`, shared.map((v) => ({ label: v, sel: { kind: 'vn', name: v } as Sel }))));
      if (shared.length === 0) d.exists = false;
      return d;
    }
    case 'switch': {
      d.subtitle = 'unclaimed switch';
      d.fields.push({ k: 'datapath ID', v: sel.name }, { k: 'to claim', v: 'create an NVE (kind openflow) with this datapath_id' });
      return d;
    }
  }
}

/** The kind of SSE event handled, for the connection state. */
export type EventOutcome = 'snapshot' | 'change' | 'status' | 'reset' | 'ignored';

/**
 * The model the page draws: state + view + positions. graph() is cached
 * until the state or the view changes.
 */
export class GraphModel {
  readonly state = new TopologyState();
  readonly positions = new Positions();
  readonly colours = new VNColours();
  view: View = { filterVN: null, selected: null };
  limits: Limits;
  layers: Layer[];
  private viewVersion = 0;
  private cache: { key: string; graph: Graph } | null = null;

  constructor(limits: Partial<Limits> = {}, layers: Layer[] = coreLayers) {
    this.limits = { ...defaultLimits, ...limits };
    this.layers = layers;
  }

  applySnapshot(raw: unknown): ApplyResult {
    const r = this.state.applySnapshot(raw);
    const s = this.state;
    for (const v of [...s.vns.keys()].sort()) this.colours.get(v);
    // Forget positions of what no longer exists; keep the view when it still applies.
    this.positions.prune((id) => {
      const sel = selectionOf(id);
      if (!sel) return false;
      switch (sel.kind) {
        case 'nve':
          return s.nves.has(sel.name);
        case 'port':
          return s.ports.has(sel.name);
        case 'vn':
          return s.vns.has(sel.name) || s.hostCount(sel.name) > 0;
        default:
          return true;
      }
    });
    if (this.view.filterVN !== null && !s.vns.has(this.view.filterVN)) this.setFilter(null);
    if (this.view.selected && !details(s, this.view.selected).exists) this.select(null);
    return r;
  }

  applyChange(ev: ChangeEvent, index?: number): ApplyResult {
    const r = this.state.applyChange(ev, index);
    if (ev.op === 'delete') {
      if (ev.kind === 'port') this.positions.forget(portId(ev.name));
      if (ev.kind === 'nve') this.positions.forget(nveId(ev.name));
      if (ev.kind === 'vn') {
        this.positions.forget(vnId(ev.name));
        if (this.view.filterVN === ev.name) this.setFilter(null);
      }
      const sel = this.view.selected;
      if (sel && sel.kind === ev.kind && sel.name === ev.name) this.select(null);
    }
    if (r.moved) this.positions.forget(portId(r.moved));
    return r;
  }

  applyStatus(ev: StatusEvent): ApplyResult {
    return this.state.applyStatus(ev);
  }

  reset(): void {
    this.state.reset();
  }

  /**
   * Applies one server-sent event (type, raw data, the event id). Throws on
   * malformed data of a known type.
   */
  applyEvent(type: string, data: string, lastEventId?: string): EventOutcome {
    const id = lastEventId !== undefined && lastEventId !== '' ? Number(lastEventId) : undefined;
    switch (type) {
      case 'snapshot':
        this.applySnapshot(JSON.parse(data));
        return 'snapshot';
      case 'change': {
        const ev: unknown = JSON.parse(data);
        if (!isRecord(ev) || typeof ev.kind !== 'string' || typeof ev.name !== 'string' || (ev.op !== 'put' && ev.op !== 'delete')) {
          throw new Error('change event: want {kind, op, name, object}');
        }
        if (!this.state.loaded) return 'ignored'; // after a reset, until the snapshot
        this.applyChange(ev as unknown as ChangeEvent, id !== undefined && Number.isFinite(id) ? id : undefined);
        return 'change';
      }
      case 'status': {
        const ev: unknown = JSON.parse(data);
        if (!isRecord(ev) || typeof ev.nve !== 'string') throw new Error('status event: want {nve, status}');
        if (!this.state.loaded) return 'ignored';
        this.applyStatus({ nve: ev.nve, status: isRecord(ev.status) ? ev.status : null });
        return 'status';
      }
      case 'reset':
        this.reset();
        return 'reset';
      default:
        return 'ignored';
    }
  }

  setFilter(vn: string | null): void {
    if (this.view.filterVN === vn) return;
    this.view = { ...this.view, filterVN: vn };
    this.viewVersion++;
  }

  select(sel: Sel | null): void {
    const cur = this.view.selected;
    if (cur === sel || (cur && sel && cur.kind === sel.kind && cur.name === sel.name)) return;
    this.view = { ...this.view, selected: sel };
    this.viewVersion++;
  }

  /** Tells the model that positions were replaced (a layout ran): recompute. */
  invalidate(): void {
    this.viewVersion++;
  }

  /** The graph to draw, every node positioned. */
  graph(): Graph {
    const key = `${this.state.version}/${this.viewVersion}`;
    if (this.cache?.key === key) return this.cache.graph;
    const g = buildGraph(this.state, this.view, this.limits, this.layers, this.colours);
    this.positions.place(g.nodes);
    this.cache = { key, graph: g };
    return g;
  }

  search(q: string, limit?: number): SearchHit[] {
    return search(this.state, q, limit);
  }

  details(sel: Sel): Details {
    return details(this.state, sel);
  }
}
