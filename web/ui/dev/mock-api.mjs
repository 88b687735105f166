#!/usr/bin/env node
// A stand-in for nva's REST API, for developing and looking at the UI without
// a running nva: GET /api/v1/topology, the SSE stream GET /api/v1/events
// (a snapshot, then a change or status event every few seconds) and GET
// /api/v1/nves/{name}/flows, in the shapes of the data contract (see
// src/topology.ts). Node built-ins only.
//
//   node dev/mock-api.mjs                       # demo topology on 127.0.0.1:8080
//   node dev/mock-api.mjs --nves 1000 --ports 20 --vns 100   # scale
//   node dev/mock-api.mjs --static dist --port 8090          # also serve the built UI
//   node dev/mock-api.mjs --quiet                # no random events
//   curl -d '{"event":"status","data":{"nve":"hv1","status":{}}}' 127.0.0.1:8080/mock/events
//                                                # inject an event (change, status, reset)
//
// With `npm run dev` (vite proxies /api to 127.0.0.1:8080, or NVA_API).

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : def;
};
const flag = (name) => args.includes(`--${name}`);
const PORT = Number(opt('port', '8080'));
const STATIC = opt('static', '');
const QUIET = flag('quiet');

const up = () => ({
  ovsdb: { connected: true, bridge_ready: true, ports: {} },
  openflow: { connected: true, sync: 'in_sync', realized_revision: 100, flow_mods_sent: 64 },
});

function demo() {
  const nves = [
    ['hv1', 'ovs', '198.18.0.1'],
    ['hv2', 'ovs', '198.18.0.2'],
    ['hv3', 'ovs', '198.18.0.3'],
    ['hv4', 'ovs', '198.18.0.4'],
    ['tor1', 'openflow', '198.18.1.1'],
    ['tor2', 'openflow', '198.18.1.2'],
  ].map(([name, kind, ip], i) => ({
    name,
    kind,
    underlay_ips: [ip],
    ...(kind === 'ovs' ? { ovsdb: `tcp:${ip}:6640`, bridge: 'br-nva' } : {}),
    datapath_id: (i + 1).toString(16).padStart(16, '0'),
    revision: 10 + i,
    status: kind === 'ovs' ? up() : { openflow: { connected: true, sync: 'in_sync' } },
  }));
  nves[2].status.openflow = { connected: true, sync: 'pending', awaiting: ['port app3 (interface vm3)'] };
  nves[3].status.openflow = { connected: true, sync: 'error', last_error: 'OFPET_BAD_ACTION/OFPBAC_BAD_OUT_PORT on flow mod (table=l2_forward)' };
  nves[5].status.openflow = { connected: false, sync: 'disconnected', last_error: 'read tcp: connection reset by peer' };
  const vns = [
    { name: 'blue', vni: 600, service: 'l2', encap: 'vxlan', bum: 'head-end', tenant: 'acme', unknown_arp: 'flood' },
    { name: 'red', vni: 601, service: 'l2', encap: 'vxlan', bum: 'head-end', tenant: 'acme', unknown_arp: 'flood' },
    { name: 'green', vni: 602, service: 'l2', encap: 'geneve', bum: 'head-end', tenant: 'globex', unknown_arp: 'drop' },
  ];
  const ports = [];
  const add = (name, vn, nve, n, ip) => {
    ports.push({
      name,
      vn,
      nve,
      interface: nve.startsWith('tor') ? `eth${n}` : `vm${n}`,
      mac: `02:00:00:00:${(ports.length >> 8).toString(16).padStart(2, '0')}:${(ports.length & 255).toString(16).padStart(2, '0')}`,
      ips: [ip],
      revision: 20 + ports.length,
    });
  };
  add('web1', 'blue', 'hv1', 1, '10.0.0.11/24');
  add('web2', 'blue', 'hv2', 1, '10.0.0.12/24');
  add('web3', 'blue', 'hv3', 1, '10.0.0.13/24');
  add('db1', 'red', 'hv1', 2, '10.0.0.21/24');
  add('db2', 'red', 'hv2', 2, '10.0.0.22/24');
  add('app3', 'red', 'hv3', 3, '10.0.0.23/24');
  add('bm1', 'blue', 'tor1', 5, '10.0.0.31/24');
  add('bm2', 'red', 'tor1', 6, '10.0.0.32/24');
  add('g1', 'green', 'hv4', 1, '192.168.1.1/24');
  add('g2', 'green', 'hv2', 4, '192.168.1.2/24');
  add('g3', 'green', 'tor2', 1, '192.168.1.3/24');
  add('web4', 'blue', 'hv4', 2, '10.0.0.14/24');
  for (const p of ports) {
    const n = nves.find((x) => x.name === p.nve);
    if (n.status.ovsdb) n.status.ovsdb.ports[p.interface] = { ofport: Object.keys(n.status.ovsdb.ports).length + 1, link_up: p.name !== 'db2' };
  }
  return {
    revision: 100,
    nves,
    vns,
    ports,
    unclaimed_switches: [{ datapath_id: '00000000000000ff', remote: '198.18.2.9:40112' }],
  };
}

function scale(n, per, vnCount) {
  const t = { revision: 5000, nves: [], vns: [], ports: [] };
  for (let v = 0; v < vnCount; v++) t.vns.push({ name: `vn${v}`, vni: 1000 + v, service: 'l2', encap: 'vxlan' });
  for (let i = 0; i < n; i++) {
    const name = `hv${String(i).padStart(4, '0')}`;
    for (let j = 0; j < per; j++) {
      const k = i * per + j;
      const h = (x) => ((k >> x) & 255).toString(16).padStart(2, '0');
      t.ports.push({ name: `p${k}`, vn: `vn${(i * 7 + j) % vnCount}`, nve: name, interface: `tap${j}`, mac: `02:00:${h(24)}:${h(16)}:${h(8)}:${h(0)}`, ips: [`10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`] });
    }
    t.nves.push({ name, kind: 'ovs', underlay_ips: [`198.18.${(i >> 8) & 255}.${i & 255}`], status: up() });
  }
  return t;
}

/** The server's computation: vns per NVE and the tunnels (omitted at scale). */
function finish(t, withTunnels) {
  const hosted = new Map(t.nves.map((n) => [n.name, new Set()]));
  for (const p of t.ports) hosted.get(p.nve)?.add(p.vn);
  for (const n of t.nves) n.vns = [...hosted.get(n.name)].sort();
  if (withTunnels) {
    t.tunnels = [];
    const names = t.nves.map((n) => n.name).sort();
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        const a = hosted.get(names[i]);
        const shared = [...hosted.get(names[j])].filter((v) => a.has(v)).sort();
        if (shared.length) t.tunnels.push({ a: names[i], b: names[j], vns: shared });
      }
    }
  }
  return t;
}

const nveCount = Number(opt('nves', '0'));
let topo = nveCount > 0 ? finish(scale(nveCount, Number(opt('ports', '20')), Number(opt('vns', '100'))), false) : finish(demo(), true);
let revision = topo.revision;

function flows(name) {
  const n = topo.nves.find((x) => x.name === name);
  if (!n) return null;
  const stages = ['classify', 'port_security', 'arp_responder', 'l2_forward', 'flood', 'egress'];
  const desired = [];
  stages.forEach((s, i) => {
    desired.push(`table=${s},priority=0,cookie=0x1,actions=${i === stages.length - 1 ? 'drop' : `goto_table:${stages[i + 1]}`}`);
  });
  for (const p of topo.ports.filter((x) => x.nve === name)) {
    desired.push(`table=classify,priority=100,cookie=0x1,in_port=${p.interface},vlan_vid=0x0,actions=write_metadata:0x${(600).toString(16)}/0x1ffffff,goto_table:port_security`);
    desired.push(`table=port_security,priority=100,cookie=0x1,in_port=${p.interface},dl_src=${p.mac},actions=goto_table:arp_responder`);
    desired.push(`table=l2_forward,priority=100,cookie=0x1,metadata=0x258/0xffffff,dl_dst=${p.mac},actions=output:${p.interface}`);
  }
  const connected = n.status?.openflow?.connected === true;
  const installed = connected ? desired.slice(n.status.openflow.sync === 'in_sync' ? 0 : 2).map((f, i) => ({ flow: f, n_packets: i * 7, n_bytes: i * 700, duration_sec: 60 })) : [];
  return {
    nve: name,
    profile: n.kind === 'ovs' ? 'ovs' : 'hw-basic',
    status: n.status?.openflow ?? { connected: false, sync: 'disconnected' },
    revision,
    desired,
    installed,
    installed_known: connected,
    desired_groups: [],
    installed_groups: [],
    diff: connected
      ? { in_sync: n.status.openflow.sync === 'in_sync', missing: n.status.openflow.sync === 'in_sync' ? [] : desired.slice(0, 2), unchanged_flows: installed.length, planned_messages: 0 }
      : { in_sync: false, unchanged_flows: 0, planned_messages: 0 },
  };
}

const clients = new Set();
const send = (res, type, data, id) => res.write(`event: ${type}\n${id !== undefined ? `id: ${id}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
const broadcast = (type, data, id) => {
  for (const c of clients) send(c, type, data, id);
};
// Keep-alive, as nva sends it (the page reopens a stream silent for 45 s).
setInterval(() => broadcast('ping', {}), 15000).unref();

function randomEvent() {
  const r = Math.random();
  const n = topo.nves[Math.floor(Math.random() * topo.nves.length)];
  if (!n) return;
  if (r < 0.5) {
    const st = n.status?.openflow?.sync === 'in_sync' && Math.random() < 0.5
      ? { ...n.status, openflow: { connected: true, sync: 'pending' } }
      : { ...(n.status ?? {}), openflow: { connected: true, sync: 'in_sync' } };
    n.status = st;
    broadcast('status', { nve: n.name, status: st });
  } else if (r < 0.8) {
    const vn = topo.vns[Math.floor(Math.random() * topo.vns.length)];
    const name = `tmp${revision}`;
    const p = { name, vn: vn.name, nve: n.name, interface: `tap-${revision}`, mac: `02:aa:00:00:${((revision >> 8) & 255).toString(16).padStart(2, '0')}:${(revision & 255).toString(16).padStart(2, '0')}`, ips: [`10.99.${(revision >> 8) & 255}.${revision & 255}`] };
    topo.ports.push(p);
    revision++;
    broadcast('change', { kind: 'port', op: 'put', name, object: p }, revision);
  } else {
    const i = topo.ports.findIndex((p) => p.name.startsWith('tmp'));
    if (i < 0) return;
    const [p] = topo.ports.splice(i, 1);
    revision++;
    broadcast('change', { kind: 'port', op: 'delete', name: p.name }, revision);
  }
}

if (!QUIET) setInterval(randomEvent, 3000);
setInterval(() => {
  for (const c of clients) c.write(': keepalive\n\n');
}, 15000);

const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.json': 'application/json' };

async function serveStatic(req, res) {
  const root = resolve(STATIC);
  let p = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname));
  if (p === '/' || !extname(p)) p = '/index.html';
  const file = join(root, p);
  try {
    if (!file.startsWith(root) || !(await stat(file)).isFile()) throw new Error('not a file');
    res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(await readFile(file));
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  }
}

const json = (res, code, body) => {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
};

/** Applies an injected change to the mock's topology (so later snapshots agree). */
function applyInjected(type, data) {
  if (type === 'status') {
    const n = topo.nves.find((x) => x.name === data.nve);
    if (n) n.status = data.status;
  } else if (type === 'change') {
    const list = { vn: topo.vns, nve: topo.nves, port: topo.ports }[data.kind];
    if (!list) return;
    const i = list.findIndex((x) => x.name === data.name);
    if (i >= 0) list.splice(i, 1);
    if (data.op === 'put') list.push(data.object);
    revision++;
  }
}

createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  // POST /mock/events {"event": "change"|"status"|"reset", "data": {...}}: broadcast one event.
  if (url.pathname === '/mock/events' && req.method === 'POST') {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        const { event, data } = JSON.parse(body);
        applyInjected(event, data);
        broadcast(event, data ?? {}, event === 'change' ? revision : undefined);
        if (event === 'reset') for (const c of clients) c.end();
        json(res, 200, { revision });
      } catch (e) {
        json(res, 400, { error: { code: 'bad_request', message: String(e) } });
      }
    });
    return undefined;
  }
  if (url.pathname === '/api/v1/topology') return json(res, 200, { ...topo, revision });
  if (url.pathname === '/api/v1/events') {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    send(res, 'snapshot', { ...topo, revision }, revision);
    clients.add(res);
    req.on('close', () => clients.delete(res));
    return undefined;
  }
  const m = /^\/api\/v1\/nves\/([^/]+)\/flows$/.exec(url.pathname);
  if (m) {
    const r = flows(decodeURIComponent(m[1]));
    return r ? json(res, 200, r) : json(res, 404, { error: { code: 'not_found', message: `nve "${m[1]}" not found` } });
  }
  if (url.pathname.startsWith('/api/')) return json(res, 404, { error: { code: 'not_found', message: 'no such endpoint in the mock' } });
  if (STATIC) return void serveStatic(req, res);
  res.writeHead(404);
  res.end();
  return undefined;
}).listen(PORT, '127.0.0.1', () => {
  console.log(`mock nva API on http://127.0.0.1:${PORT}/ (${topo.nves.length} NVEs, ${topo.ports.length} ports)${STATIC ? `, serving ${STATIC}` : ''}`);
});
