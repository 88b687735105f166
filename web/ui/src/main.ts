// The page: draws the GraphModel with cytoscape (fcose layout on request),
// keeps it current from the SSE stream, and runs the toolbar, the details
// panel and the flows panel. Everything that decides what to draw lives in
// model.ts (unit-tested); this file is DOM and cytoscape glue.

import cytoscape, { type Core, type ElementDefinition, type LayoutOptions, type NodeSingular } from 'cytoscape';
import fcose from 'cytoscape-fcose';
import { describe, ensureSession } from './auth';
import { apiErrorMessage, flowTable, type FlowTable } from './flows';
import { LiveClient, type LiveState } from './live';
import { GraphModel, selectionId, selectionOf, type Details, type Graph, type GraphStats, type SearchHit, type Sel } from './model';
import { graphStyle } from './styles';
import type { FlowReport } from './topology';
import './style.css';

cytoscape.use(fcose);

const API = '/api/v1';
const POSITIONS_KEY = 'nva.ui.positions.v1';
/**
 * The first layout runs by itself only for a graph of at most this many
 * nodes; a larger one keeps the model's placement (a grid of NVEs, ports
 * around them) until "re-layout".
 */
const AUTO_LAYOUT_MAX = 400;

const $ = <T extends HTMLElement>(id: string) => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from index.html`);
  return el as T;
};

const els = {
  graph: $('graph'),
  vnFilter: $<HTMLSelectElement>('vn-filter'),
  search: $<HTMLInputElement>('search'),
  results: $<HTMLUListElement>('search-results'),
  relayout: $<HTMLButtonElement>('relayout'),
  fit: $<HTMLButtonElement>('fit'),
  counts: $('counts'),
  revision: $('revision'),
  live: $('live-state'),
  notes: $('notes'),
  legendMode: $('legend-mode'),
  details: $('details-body'),
  flows: $('flows'),
  tooltip: $('tooltip'),
};

const model = new GraphModel();
restorePositions();

const cy: Core = cytoscape({
  container: els.graph,
  style: graphStyle,
  elements: [],
  minZoom: 0.02,
  maxZoom: 4,
  boxSelectionEnabled: false,
  autounselectify: true, // the model has the selection
});

// ---- rendering ---------------------------------------------------------

let drawnRevision = 0;
let drawnSnapshot = 0;
let drawnLoaded = false;
let renders = 0;
let layoutRunning = false;
let laidOut = model.positions.size > 0;
let fitted = false;
/** A selection from the URL (#nve/hv1) is centred once it is drawn. */
let centreOnLoad = false;
let renderTimer: ReturnType<typeof setTimeout> | null = null;
let lastGraph: Graph | null = null;
const signatures = new Map<string, string>();

function scheduleRender(): void {
  if (renderTimer === null) renderTimer = setTimeout(render, 16);
}

function render(): void {
  renderTimer = null;
  const g = model.graph();
  lastGraph = g;
  const want = new Set<string>();
  const add: ElementDefinition[] = [];
  cy.batch(() => {
    for (const n of g.nodes) {
      want.add(n.id);
      const data = { ...n.data, id: n.id, kind: n.kind, label: n.label, title: n.title, anchor: n.anchor ?? '' };
      const sig = JSON.stringify([data, n.classes]);
      const el = cy.getElementById(n.id);
      if (el.empty()) {
        add.push({ group: 'nodes', data, classes: n.classes, position: { ...(n.position ?? { x: 0, y: 0 }) } });
      } else if (signatures.get(n.id) !== sig) {
        // A port moved to another NVE: the model placed it near the new one.
        if (el.data('anchor') !== data.anchor && n.position) el.position({ ...n.position });
        el.data(data);
        el.classes(n.classes);
      }
      signatures.set(n.id, sig);
    }
    for (const e of g.edges) {
      want.add(e.id);
      const data = { ...e.data, id: e.id, kind: e.kind, source: e.source, target: e.target, title: e.title };
      const sig = JSON.stringify([data, e.classes]);
      const el = cy.getElementById(e.id);
      if (el.nonempty() && (el.source().id() !== e.source || el.target().id() !== e.target)) {
        el.remove(); // an edge cannot change ends
      }
      if (cy.getElementById(e.id).empty()) {
        add.push({ group: 'edges', data, classes: e.classes });
      } else if (signatures.get(e.id) !== sig) {
        const x = cy.getElementById(e.id);
        x.data(data);
        x.classes(e.classes);
      }
      signatures.set(e.id, sig);
    }
    const gone = cy.elements().filter((x) => !want.has(x.id()));
    gone.forEach((x) => {
      signatures.delete(x.id());
    });
    gone.remove();
    // Nodes first, then edges (their ends must exist).
    cy.add(add.filter((a) => a.group === 'nodes'));
    cy.add(add.filter((a) => a.group === 'edges'));
  });
  drawnRevision = model.state.revision;
  drawnSnapshot = model.state.snapshotRevision;
  drawnLoaded = model.state.loaded;
  renders++;
  updateToolbar(g);
  updateDetails();
  if (!laidOut && g.nodes.length > 0) {
    laidOut = true;
    if (g.nodes.length <= AUTO_LAYOUT_MAX) runLayout(false);
    else cy.fit(undefined, 30);
  } else if (!fitted && g.nodes.length > 0) {
    cy.fit(undefined, 30); // positions restored from an earlier visit
  }
  if (g.nodes.length > 0) fitted = true;
  if (centreOnLoad && g.focus && !layoutRunning) {
    centreOnLoad = false;
    centreOn(model.view.selected);
  }
}

function runLayout(animate: boolean): void {
  if (layoutRunning || cy.nodes().length === 0) return;
  layoutRunning = true;
  els.relayout.disabled = true;
  const n = cy.nodes().length;
  const opts = {
    name: 'fcose',
    quality: n > 3000 ? 'draft' : 'default',
    randomize: true,
    animate: animate && n <= 600,
    animationDuration: 600,
    fit: true,
    padding: 30,
    nodeDimensionsIncludeLabels: false,
    packComponents: false,
    nodeSeparation: 90,
    nodeRepulsion: (node: NodeSingular) => (node.data('kind') === 'port' ? 1200 : 9000),
    idealEdgeLength: (edge: cytoscape.EdgeSingular) => {
      switch (edge.data('kind')) {
        case 'attach':
          return 35;
        case 'member':
          return 90;
        default:
          return 170;
      }
    },
    edgeElasticity: (edge: cytoscape.EdgeSingular) => (edge.data('kind') === 'attach' ? 0.9 : 0.45),
    numIter: n > 2000 ? 800 : 2500,
    tile: true,
    tilingPaddingVertical: 40,
    tilingPaddingHorizontal: 40,
    stop: () => {
      layoutRunning = false;
      els.relayout.disabled = false;
      recordPositions(cy.nodes());
      if (centreOnLoad) {
        centreOnLoad = false;
        centreOn(model.view.selected);
      }
    },
  };
  cy.layout(opts as unknown as LayoutOptions).run();
}

/** Stores drawn positions in the model (ports relative to their NVE) and saves them. */
function recordPositions(nodes: cytoscape.NodeCollection): void {
  // Anchors first so that anchored nodes are stored relative to the new anchor position.
  const anchored: NodeSingular[] = [];
  nodes.forEach((nd) => {
    if (nd.data('anchor')) anchored.push(nd);
    else model.positions.set(nd.id(), nd.position());
  });
  for (const nd of anchored) model.positions.set(nd.id(), nd.position(), nd.data('anchor') as string);
  savePositions();
}

let saveTimer: ReturnType<typeof setTimeout> | null = null;
function savePositions(): void {
  if (saveTimer !== null) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    try {
      const data = model.positions.toJSON();
      if (data.length <= 60000) localStorage.setItem(POSITIONS_KEY, JSON.stringify(data));
    } catch {
      // Storage full or disabled: positions are kept for this page only.
    }
  }, 500);
}

function restorePositions(): void {
  try {
    const raw = localStorage.getItem(POSITIONS_KEY);
    if (raw) model.positions.load(JSON.parse(raw));
  } catch {
    // Ignore unreadable saved positions.
  }
}

// ---- toolbar -----------------------------------------------------------

let vnOptionsKey = '';

function updateToolbar(g: Graph): void {
  const vns = [...model.state.vns.values()].sort((a, b) => a.name.localeCompare(b.name));
  const key = vns.map((v) => `${v.name}/${v.vni ?? ''}`).join(',');
  if (key !== vnOptionsKey) {
    vnOptionsKey = key;
    const opts = [new Option('all VNs', '')];
    for (const v of vns) opts.push(new Option(v.vni !== undefined ? `${v.name} (${v.vni})` : v.name, v.name));
    els.vnFilter.replaceChildren(...opts);
  }
  els.vnFilter.value = model.view.filterVN ?? '';
  const s = g.stats;
  els.counts.textContent = `${s.nves} NVEs · ${s.ports} ports · ${s.vns} VNs · ${s.tunnels} tunnels drawn`;
  els.revision.textContent = model.state.loaded ? `rev ${model.state.revision}` : 'rev —';
  els.legendMode.innerHTML =
    s.mode === 'pairs'
      ? '<b>VN</b> colours: every NVE pair sharing a VN has a tunnel'
      : '<b>VN</b> hubs: select an NVE or filter a VN to see its tunnels';
  els.notes.hidden = g.notes.length === 0;
  els.notes.replaceChildren(...g.notes.map((t) => Object.assign(document.createElement('div'), { textContent: t })));
}

function setLive(state: LiveState, detail: string): void {
  els.live.textContent = state;
  els.live.dataset.state = state;
  els.live.title = detail;
}

els.vnFilter.addEventListener('change', () => {
  model.setFilter(els.vnFilter.value || null);
  scheduleRender();
});

els.relayout.addEventListener('click', () => runLayout(true));
els.fit.addEventListener('click', () => cy.fit(undefined, 30));

// Search: results as you type; Enter or a click selects and centres.
let hits: SearchHit[] = [];
let active = 0;

function showResults(): void {
  const q = els.search.value;
  hits = q.trim() ? model.search(q, 15) : [];
  active = 0;
  if (!q.trim()) {
    els.results.hidden = true;
    return;
  }
  const items = hits.map((h, i) => {
    const li = document.createElement('li');
    li.className = i === active ? 'active' : '';
    li.dataset.id = h.id;
    const what = document.createElement('span');
    what.className = 'what';
    what.textContent = h.field === 'name' ? h.sel.kind : `${h.field} ${h.value}`;
    li.append(document.createTextNode(h.label), what);
    li.addEventListener('mousedown', (ev) => {
      ev.preventDefault();
      pick(h);
    });
    return li;
  });
  if (items.length === 0) {
    const li = document.createElement('li');
    li.className = 'none';
    li.textContent = 'no match';
    items.push(li);
  }
  els.results.replaceChildren(...items);
  els.results.hidden = false;
}

function pick(h: SearchHit): void {
  els.results.hidden = true;
  select(h.sel, true);
}

els.search.addEventListener('input', showResults);
els.search.addEventListener('focus', showResults);
els.search.addEventListener('blur', () => {
  els.results.hidden = true;
});
els.search.addEventListener('keydown', (ev) => {
  if (ev.key === 'ArrowDown' || ev.key === 'ArrowUp') {
    if (hits.length === 0) return;
    ev.preventDefault();
    active = (active + (ev.key === 'ArrowDown' ? 1 : hits.length - 1)) % hits.length;
    [...els.results.children].forEach((li, i) => li.classList.toggle('active', i === active));
  } else if (ev.key === 'Enter') {
    const h = hits[active];
    if (h) pick(h);
  } else if (ev.key === 'Escape') {
    els.results.hidden = true;
  }
});

// ---- selection and details ----------------------------------------------

function select(sel: Sel | null, centre: boolean): void {
  if (sel?.kind === 'vn') model.setFilter(sel.name);
  model.select(sel);
  const hash = sel ? `#${sel.kind}/${encodeURIComponent(sel.name)}` : '';
  if (location.hash !== hash) history.replaceState(null, '', hash || location.pathname + location.search);
  render();
  if (centre) centreOn(sel);
}

function centreOn(sel: Sel | null): void {
  const id = selectionId(sel);
  const el = id ? cy.getElementById(id) : null;
  if (!el || el.empty()) return;
  cy.animate({ center: { eles: el }, zoom: Math.max(cy.zoom(), 1) }, { duration: 300 });
}

cy.on('tap', 'node, edge', (ev) => {
  const sel = selectionOf(ev.target.id() as string);
  if (sel) select(sel, false);
});
cy.on('tap', (ev) => {
  if (ev.target === cy) select(null, false);
});

let detailsKey = '';
let flowsFor: string | null = null;

function updateDetails(): void {
  const sel = model.view.selected;
  const key = sel ? `${sel.kind}/${sel.name}/${model.state.version}` : '';
  if (key === detailsKey) return;
  detailsKey = key;
  if (!sel) {
    els.details.innerHTML = '<p class="hint">Select an NVE, a port, a VN or a tunnel — or search.</p>';
    els.flows.hidden = true;
    els.flows.replaceChildren();
    return;
  }
  const d = model.details(sel);
  els.details.replaceChildren(...renderDetails(d));
  if (sel.kind === 'nve' && d.exists) {
    if (flowsFor !== sel.name) {
      flowsFor = sel.name;
      const n = model.state.nves.get(sel.name);
      const hasOpenFlow = !!n?.status && typeof n.status === 'object' && !!n.status.openflow;
      renderFlowsIntro(sel.name, hasOpenFlow);
    }
  } else {
    flowsFor = null;
    els.flows.hidden = true;
    els.flows.replaceChildren();
  }
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Partial<HTMLElementTagNameMap[K]> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

function link(label: string, sel: Sel): HTMLAnchorElement {
  const a = h('a', { textContent: label, href: `#${sel.kind}/${encodeURIComponent(sel.name)}` });
  a.addEventListener('click', (ev) => {
    ev.preventDefault();
    select(sel, true);
  });
  return a;
}

function renderDetails(d: Details): Node[] {
  const out: Node[] = [h('h2', { textContent: d.title }), h('div', { className: 'sub', textContent: d.subtitle })];
  if (!d.exists) {
    out.push(h('p', { className: 'hint', textContent: 'This object no longer exists.' }));
    return out;
  }
  if (d.health) {
    out.push(h('div', { className: 'reason' }, h('span', { className: `health ${d.health.state}`, textContent: d.health.state }), d.health.reason));
  }
  if (d.fields.length > 0) {
    const rows = d.fields.map((f) => h('tr', {}, h('td', { className: 'k', textContent: f.k }), h('td', { className: f.cls ?? '', textContent: f.v })));
    out.push(h('table', {}, h('tbody', {}, ...rows)));
  }
  for (const l of d.lists) {
    out.push(h('h3', { textContent: l.title }));
    const items = l.items.map((it) =>
      h(
        'li',
        {},
        h('span', { className: `dot ${it.cls ?? ''}`, hidden: !it.cls }),
        it.sel ? link(it.label, it.sel) : it.label,
        h('span', { className: 'note', textContent: it.note ?? '' }),
      ),
    );
    if (l.more > 0) items.push(h('li', { className: 'note', textContent: `… and ${l.more} more` }));
    out.push(h('ul', { className: 'items' }, ...items));
  }
  return out;
}

// ---- flows panel -------------------------------------------------------

function renderFlowsIntro(nve: string, auto: boolean): void {
  els.flows.hidden = false;
  const btn = h('button', { type: 'button', textContent: auto ? 'refresh' : 'load flows' });
  btn.addEventListener('click', () => void loadFlows(nve));
  els.flows.replaceChildren(h('h3', { textContent: 'flows' }, ' ', btn), h('div', { id: 'flows-body', className: 'hint', textContent: auto ? 'loading…' : 'No OpenFlow status for this NVE on this node.' }));
  if (auto) void loadFlows(nve);
}

async function loadFlows(nve: string): Promise<void> {
  const body = document.getElementById('flows-body');
  if (!body) return;
  body.className = 'hint';
  body.textContent = 'loading…';
  let content: Node[];
  try {
    const res = await fetch(`${API}/nves/${encodeURIComponent(nve)}/flows`, { headers: { Accept: 'application/json' } });
    const json: unknown = await res.json().catch(() => null);
    if (!res.ok) throw new Error(apiErrorMessage(res.status, json));
    content = renderFlows(flowTable(json as FlowReport), json as FlowReport);
  } catch (e) {
    content = [h('div', { className: 'err', textContent: `flows unavailable: ${e instanceof Error ? e.message : String(e)}` })];
  }
  if (flowsFor !== nve) return; // the selection changed meanwhile
  const cur = document.getElementById('flows-body');
  if (!cur) return;
  cur.className = '';
  cur.replaceChildren(...content);
}

function renderFlows(t: FlowTable, r: FlowReport): Node[] {
  const sync = t.inSync === null ? 'installed flows unknown (switch not connected)' : t.inSync ? 'in sync' : 'NOT in sync';
  const out: Node[] = [
    h('div', { className: 'summary' }, `desired ${t.desired} · installed ${t.installedKnown ? t.installed : '?'} · ${sync}`,
      t.groupsDesired || t.groupsInstalled ? ` · groups ${t.groupsDesired}/${t.groupsInstalled}` : '',
      r.profile ? ` · profile ${r.profile}` : ''),
  ];
  if (r.read_error) out.push(h('div', { className: 'err', textContent: `read error: ${r.read_error}` }));
  for (const w of r.warnings ?? []) out.push(h('div', { className: 'differ', textContent: `warning: ${w}` }));
  const head = h('tr', {}, ...['stage', 'desired', 'installed', 'diff'].map((x) => h('td', { className: 'k', textContent: x })));
  const rows = t.stages.map((s) => {
    const diff = [s.missing ? `${s.missing} missing` : '', s.differ ? `${s.differ} differ` : '', s.extra ? `${s.extra} extra` : ''].filter(Boolean).join(', ');
    return h('tr', {}, h('td', { textContent: s.name }), h('td', { textContent: String(s.desired.length) }),
      h('td', { textContent: t.installedKnown ? String(s.installed.length) : '?' }), h('td', { className: diff ? 'down' : '', textContent: diff || '—' }));
  });
  out.push(h('table', { className: 'stages' }, h('tbody', {}, head, ...rows)));
  for (const s of t.stages) {
    const desired = h('pre');
    for (const f of s.desired) {
      const cls = t.missing.has(f) ? 'missing' : t.differ.has(f) ? 'differ' : '';
      desired.append(cls ? h('span', { className: cls, textContent: `${f}   [${cls}]` }) : f, '\n');
    }
    const installed = h('pre');
    for (const f of s.installed) {
      const text = `${f.flow}  n_packets=${f.packets} n_bytes=${f.bytes}`;
      installed.append(t.extra.has(f.flow) ? h('span', { className: 'extra', textContent: `${text}   [extra]` }) : text, '\n');
    }
    out.push(h('details', {}, h('summary', { textContent: `${s.name} (${s.desired.length} desired, ${s.installed.length} installed)` }),
      h('div', { className: 'k', textContent: 'desired' }), desired, h('div', { className: 'k', textContent: 'installed' }), installed));
  }
  return out;
}

// ---- hover and drag ------------------------------------------------------

cy.on('mouseover', 'node, edge', (ev) => {
  const t = ev.target.data('title') as string | undefined;
  if (!t) return;
  els.tooltip.textContent = t;
  els.tooltip.hidden = false;
});
cy.on('mousemove', (ev) => {
  if (els.tooltip.hidden) return;
  const r = els.graph.getBoundingClientRect();
  const p = ev.renderedPosition ?? { x: 0, y: 0 };
  els.tooltip.style.left = `${r.left + p.x + 14}px`;
  els.tooltip.style.top = `${r.top + p.y + 14}px`;
});
cy.on('mouseout', 'node, edge', () => {
  els.tooltip.hidden = true;
});

// Dragging an NVE drags its drawn ports along.
const dragFrom = new Map<string, cytoscape.Position>();
cy.on('grab', 'node', (ev) => {
  const nd = ev.target as NodeSingular;
  dragFrom.set(nd.id(), { ...nd.position() });
});
cy.on('drag', 'node', (ev) => {
  const nd = ev.target as NodeSingular;
  const from = dragFrom.get(nd.id());
  if (!from || nd.data('kind') !== 'nve') return;
  const p = nd.position();
  const dx = p.x - from.x;
  const dy = p.y - from.y;
  dragFrom.set(nd.id(), { ...p });
  cy.nodes().filter((x) => x.data('anchor') === nd.id() && !x.grabbed()).positions((x) => ({ x: x.position('x') + dx, y: x.position('y') + dy }));
});
cy.on('free', 'node', (ev) => {
  const nd = ev.target as NodeSingular;
  dragFrom.delete(nd.id());
  const moved = cy.nodes().filter((x) => x.id() === nd.id() || x.data('anchor') === nd.id());
  recordPositions(moved);
});

// ---- live updates ------------------------------------------------------

async function fetchTopologyOnce(): Promise<void> {
  const res = await fetch(`${API}/topology`, { headers: { Accept: 'application/json' } });
  if (res.status === 401) {
    // The session ended (token revoked): sign in again.
    location.reload();
    return;
  }
  if (!res.ok) return;
  model.applySnapshot(await res.json());
  scheduleRender();
}

const live = new LiveClient({
  url: `${API}/events`,
  create: (url) => new EventSource(url),
  onEvent: (type, data, id) => {
    const out = model.applyEvent(type, data, id);
    if (out !== 'ignored') scheduleRender();
    return out;
  },
  onState: setLive,
  fallback: fetchTopologyOnce,
});

function selectionFromHash(): Sel | null {
  const m = /^#(nve|port|vn|tunnel|switch)\/(.+)$/.exec(location.hash);
  return m ? { kind: m[1] as Sel['kind'], name: decodeURIComponent(m[2]!) } : null;
}

const initial = selectionFromHash();
if (initial) {
  model.select(initial);
  centreOnLoad = true;
}
window.addEventListener('hashchange', () => {
  const sel = selectionFromHash();
  if (sel) select(sel, true);
});

// An nva that requires tokens asks for one first (auth.ts); the session
// cookie then authenticates the fetches and the event stream.
void ensureSession(API, (u, i) => fetch(u, i), document).then((s) => {
  const who = document.getElementById('whoami');
  if (who) who.textContent = describe(s);
  live.start();
});

// ---- test API ----------------------------------------------------------

/** What a browser test reads of the drawn graph (window.nvaGraph). */
export interface NvaGraphApi {
  /** Store revision of the state drawn (last snapshot or change applied); 0 before the first snapshot. */
  revision(): number;
  /** Revision of the last snapshot drawn. */
  snapshotRevision(): number;
  /** True once a snapshot is drawn (false again after a reset until the next). */
  loaded(): boolean;
  /** "connecting", "live" or "reconnecting" (also the text of #live-state). */
  liveState(): LiveState;
  /**
   * Drawn nodes: id (nve:<name>, port:<name>, vn:<name>, sw:<dpid>), kind, label, classes (health: up/pending/down/error/unknown;
   * ports: realized/...), position (model coordinates), rendered (on screen, relative to #graph's top left: where to click).
   */
  nodes(): {
    id: string;
    kind: string;
    label: string;
    classes: string[];
    position: { x: number; y: number };
    rendered: { x: number; y: number };
    data: Record<string, unknown>;
  }[];
  /** Drawn edges: id (tun:<a>|<b>, att:<port>, mem:<vn>|<nve>), kind, ends, classes (tunnels: up/down). */
  edges(): { id: string; kind: string; source: string; target: string; classes: string[]; data: Record<string, unknown> }[];
  /** The drawn node or edge, or null. */
  element(id: string): { id: string; classes: string[]; data: Record<string, unknown> } | null;
  selected(): Sel | null;
  filter(): string | null;
  stats(): (GraphStats & { notes: string[] }) | null;
  /** Number of renders so far; a render follows each event within ~16 ms. */
  renders(): number;
  /** True while a layout runs or a render is scheduled. */
  busy(): boolean;
}

const api: NvaGraphApi = {
  revision: () => drawnRevision,
  snapshotRevision: () => drawnSnapshot,
  loaded: () => drawnLoaded,
  liveState: () => live.state,
  nodes: () =>
    cy.nodes().map((n) => ({
      id: n.id(),
      kind: String(n.data('kind')),
      label: String(n.data('label') ?? ''),
      classes: n.classes(),
      position: { ...n.position() },
      rendered: { ...n.renderedPosition() },
      data: { ...n.data() },
    })),
  edges: () =>
    cy.edges().map((e) => ({ id: e.id(), kind: String(e.data('kind')), source: e.source().id(), target: e.target().id(), classes: e.classes(), data: { ...e.data() } })),
  element: (id) => {
    const el = cy.getElementById(id);
    return el.empty() ? null : { id, classes: el.classes(), data: { ...el.data() } };
  },
  selected: () => model.view.selected,
  filter: () => model.view.filterVN,
  stats: () => (lastGraph ? { ...lastGraph.stats, notes: [...lastGraph.notes] } : null),
  renders: () => renders,
  busy: () => layoutRunning || renderTimer !== null,
};

declare global {
  interface Window {
    nvaGraph: NvaGraphApi;
  }
}
window.nvaGraph = Object.freeze(api);
