// TopologyState: the client's copy of the nva topology, built from a
// snapshot and kept current by change and status events, with the indexes
// the graph needs (ports per NVE and per VN, NVEs hosting each VN). Pure:
// no DOM.

import {
  isRecord,
  parseTopology,
  type ChangeEvent,
  type NVE,
  type NVEStatus,
  type Port,
  type StatusEvent,
  type Topology,
  type Tunnel,
  type VN,
} from './topology';

/** The key of an NVE pair, a < b by name (as the server orders them). */
export function pairKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}

function inc(m: Map<string, Map<string, number>>, k: string, sub: string): boolean {
  let inner = m.get(k);
  if (!inner) {
    inner = new Map();
    m.set(k, inner);
  }
  const n = inner.get(sub) ?? 0;
  inner.set(sub, n + 1);
  return n === 0;
}

function dec(m: Map<string, Map<string, number>>, k: string, sub: string): boolean {
  const inner = m.get(k);
  const n = inner?.get(sub);
  if (!inner || n === undefined) return false;
  if (n <= 1) {
    inner.delete(sub);
    if (inner.size === 0) m.delete(k);
    return true;
  }
  inner.set(sub, n - 1);
  return false;
}

/** What applying an event did (for the indicator and the render loop). */
export interface ApplyResult {
  changed: boolean;
  /** A port moved to another NVE (its old position no longer applies). */
  moved?: string;
}

export class TopologyState {
  /** Revision of the last applied snapshot or change (0 before any). */
  revision = 0;
  /** Revision of the last applied snapshot. */
  snapshotRevision = 0;
  /** False after reset() until the next snapshot. */
  loaded = false;
  /** Bumped on every mutation (cache key of derived data). */
  version = 0;

  readonly nves = new Map<string, NVE>();
  readonly vns = new Map<string, VN>();
  readonly ports = new Map<string, Port>();
  /** Extra per-pair data the server sent (bfd, later counters). */
  readonly tunnelInfo = new Map<string, Tunnel>();
  /** Objects of change kinds this UI does not model yet, by kind and name. */
  readonly extras = new Map<string, Map<string, unknown>>();
  /** Top-level snapshot fields this UI does not model (e.g. unclaimed_switches). */
  snapshotExtras: Record<string, unknown> = {};

  readonly portsByNVE = new Map<string, Set<string>>();
  readonly portsByVN = new Map<string, Set<string>>();
  /** vn -> nve -> number of the NVE's ports in the VN. */
  private readonly vnHosts = new Map<string, Map<string, number>>();
  /** nve -> vn -> number of ports (the inverse index). */
  private readonly nveVNs = new Map<string, Map<string, number>>();
  /**
   * VNs the server said an NVE hosts without any port of it in the VN
   * (later: gateways, L3 domains). Kept until the next snapshot or a put
   * of the NVE carrying vns.
   */
  private readonly extraHosted = new Map<string, Set<string>>();

  /** Discards everything (SSE reset); loaded stays false until a snapshot. */
  reset(): void {
    this.nves.clear();
    this.vns.clear();
    this.ports.clear();
    this.tunnelInfo.clear();
    this.extras.clear();
    this.snapshotExtras = {};
    this.portsByNVE.clear();
    this.portsByVN.clear();
    this.vnHosts.clear();
    this.nveVNs.clear();
    this.extraHosted.clear();
    this.loaded = false;
    this.version++;
  }

  applySnapshot(raw: unknown): ApplyResult {
    const t: Topology = parseTopology(raw);
    this.reset();
    for (const v of t.vns ?? []) this.vns.set(v.name, v);
    for (const n of t.nves ?? []) this.nves.set(n.name, n);
    for (const p of t.ports ?? []) this.addPort(p);
    for (const n of t.nves ?? []) this.setExtraHosted(n);
    for (const tu of t.tunnels ?? []) this.tunnelInfo.set(pairKey(tu.a, tu.b), tu);
    const known = new Set(['revision', 'nves', 'vns', 'ports', 'tunnels']);
    for (const [k, v] of Object.entries(t)) if (!known.has(k)) this.snapshotExtras[k] = v;
    this.revision = t.revision;
    this.snapshotRevision = t.revision;
    this.loaded = true;
    this.version++;
    return { changed: true };
  }

  /** Applies a change event; index is the event id (the Raft index), if any. */
  applyChange(ev: ChangeEvent, index?: number): ApplyResult {
    if (index !== undefined && Number.isFinite(index) && index > this.revision) this.revision = index;
    const res: ApplyResult = { changed: false };
    const obj = isRecord(ev.object) ? ev.object : undefined;
    const put = ev.op === 'put';
    if (put && !obj) return res;
    switch (ev.kind) {
      case 'vn':
        if (put) this.vns.set(ev.name, { ...obj, name: ev.name } as VN);
        else this.vns.delete(ev.name);
        break;
      case 'nve':
        if (put) {
          const old = this.nves.get(ev.name);
          const n = { ...obj, name: ev.name } as NVE;
          // A put of the stored object carries no live status: keep ours.
          if (!('status' in n) && old?.status) n.status = old.status;
          this.nves.set(ev.name, n);
          if (Array.isArray(n.vns)) this.setExtraHosted(n);
        } else {
          this.nves.delete(ev.name);
          this.extraHosted.delete(ev.name);
        }
        break;
      case 'port': {
        const old = this.ports.get(ev.name);
        if (old) this.removePort(old);
        if (put) {
          const p = { ...obj, name: ev.name } as Port;
          this.addPort(p);
          if (old && old.nve !== p.nve) res.moved = ev.name;
        }
        break;
      }
      default: {
        let m = this.extras.get(ev.kind);
        if (!m) {
          m = new Map();
          this.extras.set(ev.kind, m);
        }
        if (put) m.set(ev.name, obj);
        else m.delete(ev.name);
      }
    }
    res.changed = true;
    this.version++;
    return res;
  }

  applyStatus(ev: StatusEvent): ApplyResult {
    const n = this.nves.get(ev.nve);
    if (!n) return { changed: false };
    this.nves.set(ev.nve, { ...n, status: ev.status });
    this.version++;
    return { changed: true };
  }

  /** The NVEs hosting VN vn (a port of theirs is in it, or the server says so). */
  hostsOf(vn: string): string[] {
    const out = [...(this.vnHosts.get(vn)?.keys() ?? [])];
    for (const [nve, set] of this.extraHosted) if (set.has(vn) && !out.includes(nve)) out.push(nve);
    return out;
  }

  /** Number of NVEs hosting vn (cheap). */
  hostCount(vn: string): number {
    let n = this.vnHosts.get(vn)?.size ?? 0;
    for (const [nve, set] of this.extraHosted) if (set.has(vn) && !this.vnHosts.get(vn)?.has(nve)) n++;
    return n;
  }

  /** The VNs NVE nve hosts, sorted. */
  vnsOf(nve: string): string[] {
    const set = new Set(this.nveVNs.get(nve)?.keys() ?? []);
    for (const v of this.extraHosted.get(nve) ?? []) set.add(v);
    return [...set].sort();
  }

  /** Every VN that some NVE hosts. */
  hostedVNs(): string[] {
    const set = new Set(this.vnHosts.keys());
    for (const s of this.extraHosted.values()) for (const v of s) set.add(v);
    return [...set];
  }

  private setExtraHosted(n: NVE): void {
    this.extraHosted.delete(n.name);
    if (!Array.isArray(n.vns)) return;
    const mine = this.nveVNs.get(n.name);
    const extra = new Set(n.vns.filter((v) => typeof v === 'string' && !mine?.has(v)));
    if (extra.size > 0) this.extraHosted.set(n.name, extra);
  }

  private addPort(p: Port): void {
    if (typeof p.nve !== 'string' || typeof p.vn !== 'string') return;
    this.ports.set(p.name, p);
    let s = this.portsByNVE.get(p.nve);
    if (!s) this.portsByNVE.set(p.nve, (s = new Set()));
    s.add(p.name);
    let v = this.portsByVN.get(p.vn);
    if (!v) this.portsByVN.set(p.vn, (v = new Set()));
    v.add(p.name);
    inc(this.vnHosts, p.vn, p.nve);
    inc(this.nveVNs, p.nve, p.vn);
  }

  private removePort(p: Port): void {
    this.ports.delete(p.name);
    const s = this.portsByNVE.get(p.nve);
    s?.delete(p.name);
    if (s?.size === 0) this.portsByNVE.delete(p.nve);
    const v = this.portsByVN.get(p.vn);
    v?.delete(p.name);
    if (v?.size === 0) this.portsByVN.delete(p.vn);
    dec(this.vnHosts, p.vn, p.nve);
    dec(this.nveVNs, p.nve, p.vn);
  }
}

/** An NVE's live status when it has one (tolerates any other shape). */
export function statusOf(n: NVE | undefined): NVEStatus | null {
  const s = n?.status;
  return isRecord(s) ? (s as NVEStatus) : null;
}
