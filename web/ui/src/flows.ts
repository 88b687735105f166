// The flow table of an NVE by pipeline stage, from the FlowReport of GET
// /api/v1/nves/{name}/flows (flows in ovs-ofctl syntax with table=<stage
// name>). Pure: no DOM.

import type { FlowReport } from './topology';

export interface InstalledFlow {
  flow: string;
  packets: number;
  bytes: number;
}

export interface Stage {
  name: string;
  desired: string[];
  installed: InstalledFlow[];
  /** Desired flows missing on the switch, installed ones differing, installed nva flows not desired. */
  missing: number;
  differ: number;
  extra: number;
}

export interface FlowTable {
  stages: Stage[];
  desired: number;
  installed: number;
  installedKnown: boolean;
  inSync: boolean | null;
  groupsDesired: number;
  groupsInstalled: number;
  missing: Set<string>;
  differ: Set<string>;
  extra: Set<string>;
}

/** The stage (table name or number) of a flow in ovs-ofctl syntax. */
export function stageOf(flow: string): string {
  const m = /(?:^|[,\s])table=([^,\s]+)/.exec(flow);
  return m?.[1] ?? '(no table)';
}

/**
 * Groups a report's flows by stage, in pipeline order (the order in which
 * the stages first appear among the desired flows, which the server sorts
 * by the profile's table order), installed-only stages last.
 */
export function flowTable(r: FlowReport): FlowTable {
  const stages = new Map<string, Stage>();
  const stage = (name: string): Stage => {
    let s = stages.get(name);
    if (!s) stages.set(name, (s = { name, desired: [], installed: [], missing: 0, differ: 0, extra: 0 }));
    return s;
  };
  const desired = r.desired ?? [];
  const installed = r.installed ?? [];
  for (const f of desired) stage(stageOf(f)).desired.push(f);
  for (const row of installed) {
    if (!row || typeof row.flow !== 'string') continue;
    stage(stageOf(row.flow)).installed.push({ flow: row.flow, packets: row.n_packets ?? 0, bytes: row.n_bytes ?? 0 });
  }
  const missing = new Set(r.diff?.missing ?? []);
  const differ = new Set(r.diff?.differ ?? []);
  const extra = new Set(r.diff?.extra ?? []);
  for (const f of missing) stage(stageOf(f)).missing++;
  for (const f of differ) stage(stageOf(f)).differ++;
  for (const f of extra) stage(stageOf(f)).extra++;
  return {
    stages: [...stages.values()],
    desired: desired.length,
    installed: installed.length,
    installedKnown: r.installed_known === true,
    inSync: r.installed_known === true && r.diff ? r.diff.in_sync === true : null,
    groupsDesired: (r.desired_groups ?? []).length,
    groupsInstalled: (r.installed_groups ?? []).length,
    missing,
    differ,
    extra,
  };
}

/** The message of an API error body {"error": {"code", "message", "field"}}. */
export function apiErrorMessage(status: number, body: unknown): string {
  if (typeof body === 'object' && body !== null && 'error' in body) {
    const e = (body as { error: unknown }).error;
    if (typeof e === 'object' && e !== null && 'message' in e && typeof (e as { message: unknown }).message === 'string') {
      return `${status}: ${(e as { message: string }).message}`;
    }
  }
  return `HTTP ${status}`;
}
