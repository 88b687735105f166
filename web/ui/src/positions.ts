// Stable node positions. A node keeps the position it was given (by a
// layout, a drag, or its first placement) for as long as it exists; a new
// node is placed near what it belongs to (a port near its NVE, a new NVE
// near an NVE it shares a VN with, a VN hub among its NVEs), otherwise in
// the next free slot of a grid. Positions of nodes attached to an anchor
// (ports to their NVE) are stored relative to it, so that they follow it
// when it moves, also while they are not drawn. Pure: no DOM.

export interface Point {
  x: number;
  y: number;
}

/** What Positions needs of a node to place it. */
export interface Placeable {
  id: string;
  kind: string;
  /** Stored relative to this node (and placed on a ring around it). */
  anchor?: string | undefined;
  /** Candidate neighbours (by id) to be placed near, best first. */
  near?: string[] | undefined;
  position?: Point;
}

interface Stored {
  x: number;
  y: number;
  rel?: string;
}

const GOLDEN = Math.PI * (3 - Math.sqrt(5));

/** Spacing of the grid of NVEs that have nothing to be placed near. */
export const GRID = 240;

export class Positions {
  private readonly m = new Map<string, Stored>();
  private readonly ring = new Map<string, number>();
  private gridNext = 0;
  private gridCols = 0;

  get size(): number {
    return this.m.size;
  }

  has(id: string): boolean {
    return this.m.has(id);
  }

  /** The absolute position of id, if it has one. */
  get(id: string): Point | undefined {
    const s = this.m.get(id);
    if (!s) return undefined;
    if (s.rel === undefined) return { x: s.x, y: s.y };
    const a = this.m.get(s.rel);
    if (!a || a.rel !== undefined) return undefined; // anchors are absolute
    return { x: a.x + s.x, y: a.y + s.y };
  }

  /** The anchor id is stored relative to, if any. */
  anchorOf(id: string): string | undefined {
    return this.m.get(id)?.rel;
  }

  /** Records p as id's position (relative to anchor when it has one). */
  set(id: string, p: Point, anchor?: string): void {
    if (!Number.isFinite(p.x) || !Number.isFinite(p.y)) return;
    const a = anchor !== undefined && anchor !== id ? this.get(anchor) : undefined;
    if (a && this.m.get(anchor!)?.rel === undefined) this.m.set(id, { x: p.x - a.x, y: p.y - a.y, rel: anchor! });
    else this.m.set(id, { x: p.x, y: p.y });
  }

  forget(id: string): void {
    this.m.delete(id);
    this.ring.delete(id);
  }

  /** Forgets every position whose id keep() rejects. */
  prune(keep: (id: string) => boolean): void {
    for (const id of [...this.m.keys()]) if (!keep(id)) this.forget(id);
  }

  /** Forgets everything (a re-layout from scratch). */
  clear(): void {
    this.m.clear();
    this.ring.clear();
    this.gridNext = 0;
    this.gridCols = 0;
  }

  /**
   * Gives every node a position: its stored one, or a new one near its
   * anchor/neighbours, or a grid slot. Nodes are placed in the order given,
   * except that nodes without an anchor go first (NVEs before their ports).
   */
  place(nodes: Placeable[]): void {
    const before = new Set<string>();
    let unplacedFree = 0;
    for (const n of nodes) {
      if (this.m.has(n.id)) before.add(n.id);
      else if (n.anchor === undefined && n.kind === 'nve') unplacedFree++;
    }
    const ordered = [...nodes.filter((n) => n.anchor === undefined), ...nodes.filter((n) => n.anchor !== undefined)];
    for (const n of ordered) {
      let p = this.m.has(n.id) ? this.get(n.id) : undefined;
      if (p && n.anchor !== undefined) {
        const rel = this.m.get(n.id)?.rel;
        if (rel !== undefined && rel !== n.anchor) p = undefined; // re-anchored (a port moved): re-place
        else if (rel === undefined) this.set(n.id, p, n.anchor); // from now on, follow the anchor
      }
      if (!p) {
        p = this.fresh(n, before, unplacedFree);
        this.set(n.id, p, n.anchor);
      }
      n.position = p;
    }
  }

  private fresh(n: Placeable, before: Set<string>, batch: number): Point {
    if (n.anchor !== undefined) {
      const a = this.get(n.anchor);
      if (a) return this.around(n.anchor, a, 34, 9);
    }
    const near = (n.near ?? []).filter((id) => id !== n.id);
    if (n.kind === 'nve') {
      // A new NVE goes next to a peer that was placed before this round
      // (in the first round, when nothing was, every NVE takes a grid slot).
      for (const id of near) {
        const p = before.has(id) ? this.get(id) : undefined;
        if (p) return this.around(id, p, GRID * 0.9, 30);
      }
      return this.gridSlot(batch);
    }
    const pts = near.map((id) => this.get(id)).filter((p): p is Point => p !== undefined);
    if (pts.length > 0) {
      const c = { x: pts.reduce((s, p) => s + p.x, 0) / pts.length, y: pts.reduce((s, p) => s + p.y, 0) / pts.length };
      const key = `@${Math.round(c.x)},${Math.round(c.y)}`;
      return this.around(key, { x: c.x, y: c.y - (pts.length === 1 ? 70 : 0) }, 10, 30);
    }
    return this.gridSlot(batch);
  }

  /** The next point of a golden-angle spiral around centre (per key). */
  private around(key: string, c: Point, r0: number, step: number): Point {
    const i = this.ring.get(key) ?? 0;
    this.ring.set(key, i + 1);
    const r = r0 + step * Math.sqrt(i);
    const t = i * GOLDEN;
    return { x: c.x + r * Math.cos(t), y: c.y + r * Math.sin(t) };
  }

  private gridSlot(batch: number): Point {
    if (this.gridCols === 0) this.gridCols = Math.max(4, Math.ceil(Math.sqrt(Math.max(batch, 1))));
    const i = this.gridNext++;
    return { x: (i % this.gridCols) * GRID, y: Math.floor(i / this.gridCols) * GRID };
  }

  /** A JSON-able copy (for localStorage). */
  toJSON(): [string, number, number, string?][] {
    const out: [string, number, number, string?][] = [];
    for (const [id, s] of this.m) {
      const x = Math.round(s.x * 10) / 10;
      const y = Math.round(s.y * 10) / 10;
      out.push(s.rel === undefined ? [id, x, y] : [id, x, y, s.rel]);
    }
    return out;
  }

  /** Restores toJSON() output; ignores malformed entries. */
  load(v: unknown): void {
    if (!Array.isArray(v)) return;
    for (const e of v) {
      if (!Array.isArray(e) || typeof e[0] !== 'string' || typeof e[1] !== 'number' || typeof e[2] !== 'number') continue;
      const s: Stored = { x: e[1], y: e[2] };
      if (typeof e[3] === 'string') s.rel = e[3];
      if (Number.isFinite(s.x) && Number.isFinite(s.y)) this.m.set(e[0], s);
    }
    // New grid slots go below whatever was restored.
    let maxY = -Infinity;
    for (const s of this.m.values()) if (s.rel === undefined && s.y > maxY) maxY = s.y;
    if (Number.isFinite(maxY)) {
      this.gridCols = this.gridCols || 8;
      this.gridNext = (Math.floor(maxY / GRID) + 1) * this.gridCols;
    }
  }
}
