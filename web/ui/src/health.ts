// Health of NVEs, tunnels and ports from the live status the server reports.
// Pure: no DOM.

import { statusOf } from './state';
import { isRecord, type NVE, type Port, type Tunnel } from './topology';

export type Health = 'up' | 'pending' | 'down' | 'error' | 'unknown';

export interface HealthInfo {
  health: Health;
  /** One line saying why (shown on hover and in the details panel). */
  reason: string;
}

const withError = (msg: string, err: unknown): string =>
  typeof err === 'string' && err !== '' ? `${msg} (last error: ${err})` : msg;

/**
 * The health of an NVE:
 *  - error: OpenFlow sync is "error" (the reason carries last_error);
 *  - down: OpenFlow disconnected, or OVSDB present and disconnected;
 *  - up: (OVSDB absent or connected) and OpenFlow connected and in_sync
 *    (pending instead while OVSDB says the bridge is not ready);
 *  - pending: connected, sync pending (or another transitional state);
 *  - unknown: no status (no southbound on the answering node).
 */
export function nveHealth(n: NVE | undefined): HealthInfo {
  if (!n) return { health: 'unknown', reason: 'NVE not known' };
  const st = statusOf(n);
  const ov = st && isRecord(st.ovsdb) ? st.ovsdb : null;
  const of = st && isRecord(st.openflow) ? st.openflow : null;
  if (!of && !ov) return { health: 'unknown', reason: 'no live status reported for this NVE' };
  if (of && of.sync === 'error') {
    return { health: 'error', reason: `OpenFlow sync error: ${of.last_error || 'no message'}` };
  }
  if (of && !of.connected) return { health: 'down', reason: withError('OpenFlow not connected', of.last_error) };
  if (ov && !ov.connected) return { health: 'down', reason: withError('OVSDB not connected', ov.last_error) };
  if (!of) return { health: 'unknown', reason: 'OVSDB connected; no OpenFlow status reported' };
  switch (of.sync) {
    case 'in_sync':
      if (ov && ov.bridge_ready === false) return { health: 'pending', reason: 'OVSDB bridge not ready yet' };
      return { health: 'up', reason: 'connected and in sync' };
    case 'pending': {
      const aw = Array.isArray(of.awaiting) && of.awaiting.length > 0 ? `; awaiting ${of.awaiting.join(', ')}` : '';
      return { health: 'pending', reason: `flows pending${aw}` };
    }
    default:
      return { health: 'pending', reason: `OpenFlow sync ${of.sync ?? 'not reported'}` };
  }
}

/** A BFD state read from the several shapes a backend may send. */
export function bfdState(bfd: unknown, a: string, b: string): { state: string; detail: string } | null {
  if (typeof bfd === 'string') return { state: bfd, detail: `BFD ${bfd}` };
  if (!isRecord(bfd)) return null;
  if (typeof bfd.state === 'string') return { state: bfd.state, detail: `BFD ${bfd.state}` };
  const sa = bfd[a];
  const sb = bfd[b];
  const get = (x: unknown): string | undefined =>
    typeof x === 'string' ? x : isRecord(x) && typeof x.state === 'string' ? x.state : undefined;
  const ea = get(sa);
  const eb = get(sb);
  if (ea === undefined && eb === undefined) return null;
  const down = [ea, eb].some((s) => s !== undefined && s !== 'up');
  return { state: down ? 'down' : 'up', detail: `BFD ${a}: ${ea ?? '?'}, ${b}: ${eb ?? '?'}` };
}

/**
 * The health of the tunnel between NVEs a and b: up when both ends are up
 * (and BFD, when reported, is up), down otherwise; the reason names the end
 * at fault and why.
 */
export function tunnelHealth(a: NVE | undefined, b: NVE | undefined, info?: Tunnel): HealthInfo & { bfd?: string } {
  const an = a?.name ?? '?';
  const bn = b?.name ?? '?';
  const ha = nveHealth(a);
  const hb = nveHealth(b);
  const faults: string[] = [];
  if (ha.health !== 'up') faults.push(`${an} ${ha.health}: ${ha.reason}`);
  if (hb.health !== 'up') faults.push(`${bn} ${hb.health}: ${hb.reason}`);
  const bfd = info ? bfdState(info.bfd, an, bn) : null;
  if (bfd && bfd.state !== 'up') faults.push(bfd.detail);
  const out: HealthInfo & { bfd?: string } =
    faults.length === 0
      ? { health: 'up', reason: bfd ? `both ends up; ${bfd.detail}` : 'both ends connected and in sync' }
      : { health: 'down', reason: faults.join('; ') };
  if (bfd) out.bfd = bfd.state;
  return out;
}

export type Realization = 'realized' | 'pending' | 'down' | 'error' | 'unknown';

/** Whether a port's flows are on its NVE, from the NVE's status. */
export function portRealization(p: Port, n: NVE | undefined): { state: Realization; reason: string } {
  if (!n) return { state: 'unknown', reason: `NVE ${p.nve} not known` };
  const st = statusOf(n);
  const iface = p.interface ?? '';
  const ov = st && isRecord(st.ovsdb) ? st.ovsdb : null;
  const of = st && isRecord(st.openflow) ? st.openflow : null;
  const ps = ov && isRecord(ov.ports) && iface ? ov.ports[iface] : undefined;
  if (ps?.error) return { state: 'error', reason: `interface ${iface}: ${ps.error}` };
  const awaiting = (of?.awaiting ?? []).find((a) => a === `port ${p.name}` || a.startsWith(`port ${p.name} `));
  if (awaiting) return { state: 'pending', reason: `not realized: ${awaiting} has no OpenFlow port yet` };
  const h = nveHealth(n);
  if (h.health === 'down' || h.health === 'error' || h.health === 'unknown') {
    return { state: h.health, reason: `NVE ${n.name} ${h.health}: ${h.reason}` };
  }
  if (ps && ps.link_up === false) return { state: 'down', reason: `interface ${iface}: link down` };
  if (h.health === 'pending') return { state: 'pending', reason: `NVE ${n.name} pending: ${h.reason}` };
  const ofp = ps?.ofport ? ` (ofport ${ps.ofport})` : '';
  return { state: 'realized', reason: `flows installed on ${n.name}${ofp}` };
}
