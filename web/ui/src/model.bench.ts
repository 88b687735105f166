// npm run bench: how long the graph model takes at scale (timing targets
// belong here, not in the unit tests).
import { bench, describe } from 'vitest';
import { scaleTopology } from './fixtures';
import { GraphModel } from './model';

const big = scaleTopology(1000, 20, 100);
const json = JSON.stringify(big);

describe('1,000 NVEs x 20 ports, 100 VNs', () => {
  bench('snapshot (JSON.parse + apply) and first graph', () => {
    const m = new GraphModel();
    m.applySnapshot(JSON.parse(json));
    m.graph();
  });

  const m = new GraphModel();
  m.applySnapshot(JSON.parse(json));
  m.graph();
  let i = 0;
  bench('port put event + graph', () => {
    i++;
    m.applyEvent('change', JSON.stringify({ kind: 'port', op: 'put', name: `new${i}`, object: { name: `new${i}`, vn: 'vn1', nve: 'hv0001', interface: `t${i}`, mac: '02:aa:00:00:00:01' } }), String(2000 + i));
    m.graph();
  });
  bench('status event + graph', () => {
    i++;
    m.applyEvent('status', JSON.stringify({ nve: 'hv0002', status: { openflow: { connected: true, sync: i % 2 ? 'pending' : 'in_sync' } } }));
    m.graph();
  });
  bench('select an NVE (its ports and tunnels) + graph', () => {
    i++;
    m.select({ kind: 'nve', name: `hv${String(i % 1000).padStart(4, '0')}` });
    m.graph();
  });
  bench('search by MAC', () => {
    m.search('02:00:00:00:03:e9');
  });
});
