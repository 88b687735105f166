import { describe, expect, it } from 'vitest';
import { apiErrorMessage, flowTable, stageOf } from './flows';

describe('flow table by stage', () => {
  it('reads the stage name of ovs-ofctl flows', () => {
    expect(stageOf('table=classify,priority=100,in_port=1,actions=drop')).toBe('classify');
    expect(stageOf('cookie=0x1, table=l2_forward, priority=5 actions=drop')).toBe('l2_forward');
    expect(stageOf('table=3,priority=0,actions=drop')).toBe('3');
    expect(stageOf('priority=0,actions=drop')).toBe('(no table)');
  });

  it('groups desired and installed flows in pipeline order with the differences', () => {
    const t = flowTable({
      nve: 'hv1',
      desired: [
        'table=classify,priority=100,cookie=0x1,in_port=1,actions=goto_table:port_security',
        'table=classify,priority=0,cookie=0x1,actions=drop',
        'table=port_security,priority=0,cookie=0x1,actions=drop',
      ],
      installed: [
        { flow: 'table=classify,priority=0,cookie=0x1,actions=drop', n_packets: 7, n_bytes: 420 },
        { flow: 'table=port_security,priority=0,cookie=0x1,actions=drop' },
        { flow: 'table=egress,priority=9,cookie=0x1,actions=drop' },
      ],
      installed_known: true,
      diff: {
        in_sync: false,
        missing: ['table=classify,priority=100,cookie=0x1,in_port=1,actions=goto_table:port_security'],
        extra: ['table=egress,priority=9,cookie=0x1,actions=drop'],
      },
    });
    expect(t.stages.map((s) => [s.name, s.desired.length, s.installed.length, s.missing, s.extra])).toEqual([
      ['classify', 2, 1, 1, 0],
      ['port_security', 1, 1, 0, 0],
      ['egress', 0, 1, 0, 1],
    ]);
    expect(t.stages[0]!.installed[0]).toEqual({ flow: 'table=classify,priority=0,cookie=0x1,actions=drop', packets: 7, bytes: 420 });
    expect([t.desired, t.installed, t.inSync, t.installedKnown]).toEqual([3, 3, false, true]);
  });

  it('says nothing about sync when installed flows are unknown', () => {
    const t = flowTable({ nve: 'hv1', desired: null, installed: null, installed_known: false, diff: { in_sync: false } });
    expect(t.stages).toEqual([]);
    expect(t.inSync).toBeNull();
  });

  it('reads API error bodies', () => {
    expect(apiErrorMessage(501, { error: { code: 'not_implemented', message: 'no southbound' } })).toBe('501: no southbound');
    expect(apiErrorMessage(502, 'bad gateway')).toBe('HTTP 502');
  });
});
