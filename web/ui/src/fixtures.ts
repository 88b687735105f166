// Topology fixtures shared by the unit tests, the benchmark and the mock
// API server (dev/mock-api.mjs builds the same shapes).

import type { NVEStatus, Port, Topology } from './topology';

export function upStatus(): NVEStatus {
  return {
    ovsdb: { connected: true, bridge_ready: true, ports: {} },
    openflow: { connected: true, sync: 'in_sync', realized_revision: 10 },
  };
}

/** hv1, hv2 (ovs) and tor1 (openflow); VNs blue and red; blue on all three, red on hv1 and hv2. */
export function smallTopology(): Topology {
  const ports: Port[] = [
    { name: 'web1', vn: 'blue', nve: 'hv1', interface: 'vm1', mac: '02:00:00:00:00:01', ips: ['10.0.0.1/24'] },
    { name: 'web2', vn: 'blue', nve: 'hv2', interface: 'vm2', mac: '02:00:00:00:00:02', ips: ['10.0.0.2'] },
    { name: 'db1', vn: 'red', nve: 'hv1', interface: 'vm3', mac: '02:00:00:00:01:01', ips: ['10.0.0.1', 'fd00::1'] },
    { name: 'db2', vn: 'red', nve: 'hv2', interface: 'vm4', mac: '02:00:00:00:01:02', ips: ['10.0.0.2'], vlan: 20 },
    { name: 'bm1', vn: 'blue', nve: 'tor1', interface: 'eth5', mac: '02:00:00:00:00:03', ips: ['10.0.0.3'] },
  ];
  const hv1 = upStatus();
  hv1.ovsdb!.ports = { vm1: { ofport: 1, link_up: true }, vm3: { ofport: 2, link_up: true } };
  return {
    revision: 42,
    nves: [
      { name: 'hv1', kind: 'ovs', underlay_ips: ['198.18.0.1'], ovsdb: 'unix:/run/openvswitch/db.sock', bridge: 'br-nva', datapath_id: '0000000000000001', revision: 3, status: hv1, vns: ['blue', 'red'] },
      { name: 'hv2', kind: 'ovs', underlay_ips: ['198.18.0.2'], ovsdb: 'tcp:198.18.0.2:6640', revision: 4, status: upStatus(), vns: ['blue', 'red'] },
      { name: 'tor1', kind: 'openflow', underlay_ips: ['198.18.0.3'], datapath_id: '00000000000000aa', revision: 5, status: { openflow: { connected: true, sync: 'in_sync' } }, vns: ['blue'], profile: 'hw-basic' },
    ],
    vns: [
      { name: 'blue', vni: 600, service: 'l2', encap: 'vxlan', bum: 'head-end', unknown_arp: 'flood' },
      { name: 'red', vni: 601, service: 'l2', encap: 'vxlan', bum: 'head-end', unknown_arp: 'flood', tenant: 't1' },
    ],
    ports,
    tunnels: [
      { a: 'hv1', b: 'hv2', vns: ['blue', 'red'] },
      { a: 'hv1', b: 'tor1', vns: ['blue'] },
      { a: 'hv2', b: 'tor1', vns: ['blue'] },
    ],
    unclaimed_switches: [],
    some_future_field: { x: 1 },
  };
}

/**
 * nves NVEs with portsPer ports each; port j of NVE i is in VN
 * vn<(i*7+j) % vnCount>, so every NVE hosts many VNs and every VN spans
 * many NVEs (the shape that makes per-pair tunnels quadratic). No tunnels
 * list (the aggregated form).
 */
export function scaleTopology(nves: number, portsPer: number, vnCount: number): Topology {
  const t: Topology = { revision: 1000, nves: [], vns: [], ports: [] };
  for (let v = 0; v < vnCount; v++) t.vns!.push({ name: `vn${v}`, vni: 1000 + v, service: 'l2', encap: 'vxlan' });
  for (let i = 0; i < nves; i++) {
    const name = `hv${String(i).padStart(4, '0')}`;
    const vns = new Set<string>();
    for (let j = 0; j < portsPer; j++) {
      const vn = `vn${(i * 7 + j) % vnCount}`;
      vns.add(vn);
      const k = i * portsPer + j;
      t.ports!.push({
        name: `p${k}`,
        vn,
        nve: name,
        interface: `tap${j}`,
        mac: `02:00:${((k >> 24) & 255).toString(16).padStart(2, '0')}:${((k >> 16) & 255).toString(16).padStart(2, '0')}:${((k >> 8) & 255).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`,
        ips: [`10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`],
      });
    }
    t.nves!.push({ name, kind: 'ovs', underlay_ips: [`198.18.${(i >> 8) & 255}.${i & 255}`], status: upStatus(), vns: [...vns].sort() });
  }
  return t;
}
