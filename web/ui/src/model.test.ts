import { describe, expect, it } from 'vitest';
import { scaleTopology, smallTopology, upStatus } from './fixtures';
import { nveHealth, tunnelHealth } from './health';
import { buildGraph, GraphModel, search, VN_PALETTE, VNColours, type Graph, type Layer } from './model';

const ids = (g: Graph) => ({
  nodes: g.nodes.map((n) => n.id).sort(),
  edges: g.edges.map((e) => e.id).sort(),
});
const node = (g: Graph, id: string) => g.nodes.find((n) => n.id === id);
const edge = (g: Graph, id: string) => g.edges.find((e) => e.id === id);

function loaded(limits = {}) {
  const m = new GraphModel(limits);
  m.applySnapshot(smallTopology());
  return m;
}

describe('snapshot to graph', () => {
  it('draws NVEs, ports with their attachment, and a tunnel per NVE pair sharing a VN', () => {
    const m = loaded();
    const g = m.graph();
    expect(ids(g)).toEqual({
      nodes: ['nve:hv1', 'nve:hv2', 'nve:tor1', 'port:bm1', 'port:db1', 'port:db2', 'port:web1', 'port:web2'],
      edges: ['att:bm1', 'att:db1', 'att:db2', 'att:web1', 'att:web2', 'tun:hv1|hv2', 'tun:hv1|tor1', 'tun:hv2|tor1'],
    });
    expect(g.stats.mode).toBe('pairs');
    expect(m.state.revision).toBe(42);
    expect(edge(g, 'tun:hv1|hv2')!.data.vns).toEqual(['blue', 'red']);
    expect(edge(g, 'tun:hv1|tor1')!.data.vns).toEqual(['blue']);
    expect(edge(g, 'att:web1')).toMatchObject({ source: 'port:web1', target: 'nve:hv1' });
    const hv1 = node(g, 'nve:hv1')!;
    expect(hv1.classes).toEqual(expect.arrayContaining(['nve', 'kind-ovs', 'up']));
    expect(node(g, 'nve:tor1')!.classes).toContain('kind-openflow');
    expect(node(g, 'port:web1')!.classes).toEqual(['port', 'realized']);
    expect(hv1.data.ports).toBe(2);
    expect(hv1.data.hiddenPorts).toBe(0);
  });

  it('derives the same tunnels when the snapshot has no tunnel list, and tolerates unknown fields', () => {
    const t = smallTopology();
    delete t.tunnels;
    const m = new GraphModel();
    m.applySnapshot(t);
    expect(ids(m.graph())).toEqual(ids(loaded().graph()));
    expect(m.state.snapshotExtras.some_future_field).toEqual({ x: 1 });
  });

  it('draws unclaimed switches and tolerates null lists', () => {
    const m = new GraphModel();
    m.applySnapshot({ revision: 1, nves: null, vns: null, ports: null, tunnels: null, unclaimed_switches: [{ datapath_id: '00000000000000ff', remote: '10.1.1.1:5000' }] });
    expect(ids(m.graph()).nodes).toEqual(['sw:00000000000000ff']);
  });
});

describe('change events', () => {
  it('port put adds the port, its attachment and a tunnel to a new peer', () => {
    const m = loaded();
    const before = m.graph();
    expect(edge(before, 'tun:hv2|tor1')).toBeDefined();
    expect(m.applyEvent('change', JSON.stringify({ kind: 'port', op: 'put', name: 'db3', object: { name: 'db3', vn: 'red', nve: 'tor1', interface: 'eth6', mac: '02:00:00:00:01:03', ips: ['10.0.0.3'] } }), '43')).toBe('change');
    const g = m.graph();
    expect(node(g, 'port:db3')).toBeDefined();
    expect(edge(g, 'att:db3')).toMatchObject({ source: 'port:db3', target: 'nve:tor1' });
    expect(edge(g, 'tun:hv1|tor1')!.data.vns).toEqual(['blue', 'red']);
    expect(m.state.revision).toBe(43);
    expect(m.state.vnsOf('tor1')).toEqual(['blue', 'red']);
  });

  it('port delete removes the port and the tunnels that no longer share a VN', () => {
    const m = loaded();
    m.applyEvent('change', JSON.stringify({ kind: 'port', op: 'delete', name: 'bm1' }), '44');
    const g = m.graph();
    expect(node(g, 'port:bm1')).toBeUndefined();
    expect(edge(g, 'att:bm1')).toBeUndefined();
    expect(edge(g, 'tun:hv1|tor1')).toBeUndefined();
    expect(edge(g, 'tun:hv2|tor1')).toBeUndefined();
    expect(edge(g, 'tun:hv1|hv2')).toBeDefined();
    expect(m.state.vnsOf('tor1')).toEqual([]);
  });

  it('a port moved to another NVE is re-placed near it', () => {
    const m = loaded();
    m.graph();
    m.applyChange({ kind: 'port', op: 'put', name: 'web1', object: { name: 'web1', vn: 'blue', nve: 'hv2', interface: 'vm9', mac: '02:00:00:00:00:01' } });
    const g = m.graph();
    expect(edge(g, 'att:web1')!.target).toBe('nve:hv2');
    const p = node(g, 'port:web1')!.position!;
    const hv2 = node(g, 'nve:hv2')!.position!;
    expect(Math.hypot(p.x - hv2.x, p.y - hv2.y)).toBeLessThan(120);
  });

  it('NVE and VN puts and deletes, and unknown kinds are kept for later layers', () => {
    const m = loaded();
    m.applyChange({ kind: 'nve', op: 'put', name: 'hv3', object: { name: 'hv3', kind: 'ovs', underlay_ips: ['198.18.0.4'] } });
    m.applyChange({ kind: 'vn', op: 'put', name: 'green', object: { name: 'green', vni: 602 } });
    m.applyChange({ kind: 'gateway', op: 'put', name: 'gw1', object: { name: 'gw1' } });
    let g = m.graph();
    expect(node(g, 'nve:hv3')!.classes).toContain('unknown');
    expect(m.state.vns.get('green')!.vni).toBe(602);
    expect(m.state.extras.get('gateway')!.get('gw1')).toEqual({ name: 'gw1' });
    // A put of the stored NVE object keeps the live status it had.
    m.applyChange({ kind: 'nve', op: 'put', name: 'hv1', object: { name: 'hv1', kind: 'ovs', underlay_ips: ['198.18.0.9'] } });
    expect(node(m.graph(), 'nve:hv1')!.classes).toContain('up');
    m.applyChange({ kind: 'nve', op: 'delete', name: 'hv3' });
    g = m.graph();
    expect(node(g, 'nve:hv3')).toBeUndefined();
  });

  it('ignores changes between a reset and the next snapshot', () => {
    const m = loaded();
    expect(m.applyEvent('reset', '{}')).toBe('reset');
    expect(m.state.loaded).toBe(false);
    expect(m.graph().nodes).toHaveLength(0);
    expect(m.applyEvent('change', JSON.stringify({ kind: 'port', op: 'delete', name: 'bm1' }), '50')).toBe('ignored');
    expect(m.applyEvent('snapshot', JSON.stringify(smallTopology()), '42')).toBe('snapshot');
    expect(node(m.graph(), 'port:bm1')).toBeDefined();
  });

  it('rejects a malformed change event', () => {
    const m = loaded();
    expect(() => m.applyEvent('change', '{"kind":"port"}', '1')).toThrow();
    expect(() => m.applyEvent('snapshot', 'not json', '1')).toThrow();
  });
});

describe('health', () => {
  it('NVE status events change NVE, tunnel and port health', () => {
    const m = loaded();
    const down = upStatus();
    down.openflow = { connected: false, sync: 'disconnected', last_error: 'EOF' };
    m.applyEvent('status', JSON.stringify({ nve: 'hv2', status: down }));
    let g = m.graph();
    expect(node(g, 'nve:hv2')!.classes).toContain('down');
    expect(node(g, 'nve:hv2')!.data.reason).toBe('OpenFlow not connected (last error: EOF)');
    expect(edge(g, 'tun:hv1|hv2')!.classes).toContain('down');
    expect(edge(g, 'tun:hv1|hv2')!.title).toContain('hv2 down: OpenFlow not connected');
    expect(edge(g, 'tun:hv1|tor1')!.classes).toContain('up');
    expect(node(g, 'port:web2')!.classes).toContain('down');

    const err = upStatus();
    err.openflow = { connected: true, sync: 'error', last_error: 'OFPET_BAD_ACTION' };
    m.applyStatus({ nve: 'hv2', status: err });
    g = m.graph();
    expect(node(g, 'nve:hv2')!.classes).toContain('error');
    expect(node(g, 'nve:hv2')!.title).toContain('OFPET_BAD_ACTION');

    const pend = upStatus();
    pend.openflow = { connected: true, sync: 'pending', awaiting: ['port web2 (interface vm2)'] };
    m.applyStatus({ nve: 'hv2', status: pend });
    g = m.graph();
    expect(node(g, 'nve:hv2')!.classes).toContain('pending');
    expect(node(g, 'port:web2')!.classes).toContain('pending');
    expect(edge(g, 'tun:hv1|hv2')!.classes).toContain('down');

    m.applyStatus({ nve: 'hv2', status: upStatus() });
    expect(edge(m.graph(), 'tun:hv1|hv2')!.classes).toContain('up');
  });

  it('computes NVE health by the documented rules', () => {
    const h = (status: unknown) => nveHealth({ name: 'x', kind: 'ovs', status: status as never }).health;
    expect(h(undefined)).toBe('unknown');
    expect(h({ state: 'fake' })).toBe('unknown');
    expect(h({ openflow: { connected: true, sync: 'in_sync' } })).toBe('up');
    expect(h({ ovsdb: { connected: false }, openflow: { connected: true, sync: 'in_sync' } })).toBe('down');
    expect(h({ ovsdb: { connected: true, bridge_ready: false }, openflow: { connected: true, sync: 'in_sync' } })).toBe('pending');
    expect(h({ ovsdb: { connected: true }, openflow: { connected: false, sync: 'disconnected' } })).toBe('down');
    expect(h({ openflow: { connected: true, sync: 'pending' } })).toBe('pending');
    expect(h({ openflow: { connected: true, sync: 'error', last_error: 'x' } })).toBe('error');
  });

  it('takes BFD into account where the backend reports it', () => {
    const a = { name: 'a', kind: 'ovs', status: upStatus() };
    const b = { name: 'b', kind: 'ovs', status: upStatus() };
    expect(tunnelHealth(a, b).health).toBe('up');
    expect(tunnelHealth(a, b, { a: 'a', b: 'b', bfd: 'up' })).toMatchObject({ health: 'up', bfd: 'up' });
    expect(tunnelHealth(a, b, { a: 'a', b: 'b', bfd: { a: 'up', b: 'down' } })).toMatchObject({ health: 'down', bfd: 'down' });
    expect(tunnelHealth(a, b, { a: 'a', b: 'b', bfd: { state: 'down' } }).reason).toContain('BFD down');
  });
});

describe('VN filter', () => {
  it('dims everything outside the VN', () => {
    const m = loaded();
    m.setFilter('red');
    const g = m.graph();
    const dimmed = (id: string) => [...g.nodes, ...g.edges].find((x) => x.id === id)!.classes.includes('dimmed');
    expect(dimmed('nve:hv1')).toBe(false);
    expect(dimmed('nve:tor1')).toBe(true);
    expect(dimmed('port:db1')).toBe(false);
    expect(dimmed('port:web1')).toBe(true);
    expect(dimmed('att:web1')).toBe(true);
    expect(dimmed('tun:hv1|hv2')).toBe(false);
    expect(dimmed('tun:hv1|tor1')).toBe(true);
    m.setFilter(null);
    expect(m.graph().nodes.some((n) => n.classes.includes('dimmed'))).toBe(false);
  });

  it('is cleared when its VN is deleted', () => {
    const m = loaded();
    m.setFilter('red');
    m.applyChange({ kind: 'vn', op: 'delete', name: 'red' });
    expect(m.view.filterVN).toBeNull();
  });
});

describe('search', () => {
  it('finds ports by MAC in any notation', () => {
    const m = loaded();
    expect(m.search('02:00:00:00:01:02')[0]!.id).toBe('port:db2');
    expect(m.search('0200.0000.0102')[0]!.id).toBe('port:db2');
    expect(m.search('00:01:0')!.map((h) => h.id)).toEqual(['port:db1', 'port:db2']);
  });

  it('finds ports by IP (with or without prefix length), exact matches first', () => {
    const m = loaded();
    const hits = m.search('10.0.0.1');
    expect(hits.map((h) => h.id)).toEqual(['port:db1', 'port:web1']);
    expect(hits[0]!.field).toBe('ip');
    expect(m.search('fd00::1')[0]!.id).toBe('port:db1');
    expect(m.search('10.0.0.1/24').map((h) => [h.id, h.value, h.rank])).toEqual([
      ['port:db1', '10.0.0.1', 0],
      ['port:web1', '10.0.0.1/24', 0],
    ]);
    expect(m.search('198.18.0.3')[0]).toMatchObject({ id: 'nve:tor1', field: 'underlay' });
  });

  it('finds by name and VNI; selecting a hit expands its NVE and focuses it', () => {
    const m = new GraphModel({ maxExpandedPorts: 0 });
    m.applySnapshot(smallTopology());
    expect(node(m.graph(), 'port:db2')).toBeUndefined();
    expect(m.search('web').map((h) => h.id)).toEqual(['port:web1', 'port:web2']);
    expect(m.search('601')[0]!.id).toBe('vn:red');
    const hit = m.search('DB2')[0]!;
    m.select(hit.sel);
    const g = m.graph();
    expect(g.focus).toBe('port:db2');
    expect(node(g, 'port:db2')!.classes).toContain('selected');
    expect(node(g, 'port:web2')).toBeDefined(); // the rest of hv2's ports too
    expect(node(g, 'port:db1')).toBeUndefined(); // hv1's stay aggregated
    expect(search(m.state, '')).toEqual([]);
  });
});

describe('scale', () => {
  it('1,000 NVEs x 20 ports builds a bounded number of elements, without enumerating NVE pairs', () => {
    const t = scaleTopology(1000, 20, 100);
    const m = new GraphModel();
    m.applySnapshot(t);
    const g = m.graph();
    expect(g.stats.nves).toBe(1000);
    expect(g.stats.ports).toBe(20000);
    expect(g.stats.mode).toBe('hubs');
    expect(g.stats.pairEstimate).toBeGreaterThan(100000);
    expect(g.stats.drawnPorts).toBe(0);
    expect(g.stats.tunnels).toBe(0);
    expect(g.stats.pairWork).toBe(0);
    expect(g.nodes.length).toBe(1000); // no hubs: 100 VNs with 20,000 memberships are too many
    expect(g.edges.length).toBe(0);
    expect(node(g, 'nve:hv0007')!.label).toBe('hv0007\n20 ports');
    expect(g.notes.length).toBeGreaterThan(0);

    // Selecting an NVE expands its ports and draws its tunnels only: linear work.
    m.select({ kind: 'nve', name: 'hv0007' });
    const s = m.graph();
    expect(s.stats.drawnPorts).toBe(20);
    expect(s.stats.tunnels).toBeGreaterThan(0);
    expect(s.stats.tunnels).toBeLessThanOrEqual(m.limits.maxSelectedPairs);
    expect(s.stats.pairWork).toBeLessThanOrEqual(20 * 1000);
    expect(s.edges.every((e) => e.kind !== 'tunnel' || e.source === 'nve:hv0007' || e.target === 'nve:hv0007')).toBe(true);
    expect(s.nodes.length + s.edges.length).toBeLessThanOrEqual(1000 + 2 * 20 + m.limits.maxSelectedPairs);

    // Filtering a VN spanning 200 NVEs does not draw its 19,900 pairs.
    m.select(null);
    m.setFilter('vn3');
    const f = m.graph();
    expect(m.state.hostCount('vn3')).toBe(200);
    expect(f.stats.tunnels).toBe(0);
    expect(f.stats.drawnPorts).toBe(200); // the VN's own ports
    expect(f.notes.join('\n')).toContain('vn3 spans 200 NVEs');
    expect(f.nodes.filter((n) => n.kind === 'vn').map((n) => n.id)).toEqual(['vn:vn3']);
    expect(f.edges.filter((e) => e.kind === 'member')).toHaveLength(200);
  });

  it('draws per-pair tunnels of a filtered VN small enough', () => {
    const m = new GraphModel({ maxPairTunnels: 0 });
    m.applySnapshot(smallTopology());
    expect(m.graph().stats.tunnels).toBe(0);
    m.setFilter('red');
    expect(ids(m.graph()).edges.filter((e) => e.startsWith('tun:'))).toEqual(['tun:hv1|hv2']);
    expect(ids(m.graph()).nodes).toContain('vn:red');
  });
});

describe('positions', () => {
  it('stay put across events; new ports land near their NVE', () => {
    const m = loaded();
    const g0 = m.graph();
    const before = new Map(g0.nodes.map((n) => [n.id, { ...n.position! }]));
    m.applyChange({ kind: 'port', op: 'put', name: 'web3', object: { name: 'web3', vn: 'blue', nve: 'hv2', interface: 'vm7', mac: '02:00:00:00:00:07' } });
    m.applyStatus({ nve: 'hv1', status: null });
    m.applyChange({ kind: 'nve', op: 'put', name: 'hv9', object: { name: 'hv9', kind: 'ovs', underlay_ips: ['198.18.0.9'] } });
    m.applyChange({ kind: 'port', op: 'put', name: 'web9', object: { name: 'web9', vn: 'blue', nve: 'hv9', interface: 'vm1', mac: '02:00:00:00:00:09' } });
    m.setFilter('blue');
    const g1 = m.graph();
    for (const [id, p] of before) expect(node(g1, id)!.position, id).toEqual(p);
    const near = (a: string, b: string) => {
      const pa = node(g1, a)!.position!;
      const pb = node(g1, b)!.position!;
      return Math.hypot(pa.x - pb.x, pa.y - pb.y);
    };
    expect(near('port:web3', 'nve:hv2')).toBeLessThan(120);
    expect(near('port:web9', 'nve:hv9')).toBeLessThan(120);
    // hv9 was placed before its port arrived: it had no peer yet, so it took a grid slot.
    expect(node(g1, 'nve:hv9')!.position).toBeDefined();
  });

  it('a new NVE with a VN is placed near a peer; ports follow their NVE when it moves', () => {
    const m = loaded();
    m.graph();
    m.applyChange({ kind: 'port', op: 'put', name: 'x1', object: { name: 'x1', vn: 'red', nve: 'hv8', interface: 'i' } });
    m.applyChange({ kind: 'nve', op: 'put', name: 'hv8', object: { name: 'hv8', kind: 'ovs', vns: ['red'] } });
    const g = m.graph();
    const p8 = node(g, 'nve:hv8')!.position!;
    const peers = ['nve:hv1', 'nve:hv2'].map((id) => node(g, id)!.position!);
    expect(Math.min(...peers.map((p) => Math.hypot(p.x - p8.x, p.y - p8.y)))).toBeLessThan(400);

    // A layout (or drag) moves hv1: its undrawn ports follow when drawn again.
    const web1 = m.positions.get('port:web1')!;
    const hv1 = m.positions.get('nve:hv1')!;
    m.positions.set('nve:hv1', { x: hv1.x + 1000, y: hv1.y });
    expect(m.positions.get('port:web1')).toEqual({ x: web1.x + 1000, y: web1.y });
  });

  it('survive a reconnect snapshot and a save/restore', () => {
    const m = loaded();
    const g0 = m.graph();
    m.applySnapshot(smallTopology());
    const g1 = m.graph();
    for (const n of g0.nodes) expect(node(g1, n.id)!.position).toEqual(n.position);
    const m2 = new GraphModel();
    m2.positions.load(JSON.parse(JSON.stringify(m.positions.toJSON())));
    m2.applySnapshot(smallTopology());
    for (const n of m2.graph().nodes) {
      const p = node(g0, n.id)!.position!;
      expect(Math.abs(n.position!.x - p.x)).toBeLessThan(0.1);
      expect(Math.abs(n.position!.y - p.y)).toBeLessThan(0.1);
    }
  });
});

describe('details', () => {
  it('describes an NVE, a port, a VN and a tunnel', () => {
    const m = loaded();
    const n = m.details({ kind: 'nve', name: 'hv1' });
    expect(n.health).toEqual({ state: 'up', reason: 'connected and in sync' });
    expect(n.lists[0]!.items.map((i) => i.label)).toEqual(['db1', 'web1']);
    expect(n.fields.find((f) => f.k === 'underlay')!.v).toBe('198.18.0.1');
    const p = m.details({ kind: 'port', name: 'db2' });
    expect(p.fields.find((f) => f.k === 'VLAN')!.v).toBe('20');
    expect(p.health!.state).toBe('realized');
    const v = m.details({ kind: 'vn', name: 'blue' });
    expect(v.lists[0]!.items.map((i) => i.label)).toEqual(['hv1', 'hv2', 'tor1']);
    expect(v.lists[1]!.items.map((i) => i.label)).toEqual(['bm1', 'web1', 'web2']);
    const t = m.details({ kind: 'tunnel', name: 'hv1|tor1' });
    expect(t.lists[1]!.items.map((i) => i.label)).toEqual(['blue']);
    expect(m.details({ kind: 'nve', name: 'nope' }).exists).toBe(false);
  });
});

describe('layers', () => {
  it('a later layer adds its own elements without changing the core ones', () => {
    const gateways: Layer = {
      name: 'gateways',
      build({ state, b }) {
        for (const [name, obj] of state.extras.get('gateway') ?? []) {
          const nve = (obj as { nve?: string }).nve ?? '';
          b.addNode({ id: `gw:${name}`, kind: 'gateway', label: name, classes: ['gateway'], title: name, data: {}, near: [`nve:${nve}`] });
          b.addEdge({ id: `gwl:${name}`, kind: 'gwlink', source: `gw:${name}`, target: `nve:${nve}`, classes: [], title: '', data: {} });
        }
      },
    };
    const m = loaded();
    const core = ids(m.graph());
    m.applyChange({ kind: 'gateway', op: 'put', name: 'gw1', object: { nve: 'hv1' } });
    const g = buildGraph(m.state, m.view, m.limits, [...m.layers, gateways]);
    expect(ids(g).nodes).toEqual([...core.nodes, 'gw:gw1'].sort());
    expect(ids(g).edges).toEqual([...core.edges, 'gwl:gw1'].sort());
  });
});

describe('VN colours', () => {
  it('are stable, named after the VN when it is a colour, distinct otherwise', () => {
    const c = new VNColours();
    expect(c.get('tenant-blue')).toBe(c.get('blue'));
    expect(c.get('red')).not.toBe(c.get('blue'));
    const a = c.get('web');
    const b = c.get('db');
    expect([a, b]).toEqual([VN_PALETTE[0], VN_PALETTE[1]]);
    expect(c.get('web')).toBe(a);
    const m = loaded();
    const g = m.graph();
    const port = (n: string) => g.nodes.find((x) => x.id === `port:${n}`)!.data.color;
    expect(port('web1')).toBe(port('web2'));
    expect(port('web1')).not.toBe(port('db1'));
  });
});
