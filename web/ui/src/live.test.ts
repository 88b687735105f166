import { describe, expect, it } from 'vitest';
import { smallTopology } from './fixtures';
import { LiveClient, type EventSourceLike, type LiveState } from './live';
import { GraphModel } from './model';

class FakeES implements EventSourceLike {
  readyState = 0;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private l = new Map<string, ((ev: MessageEvent) => void)[]>();
  constructor(readonly url: string) {}
  addEventListener(type: string, fn: (ev: MessageEvent) => void) {
    this.l.set(type, [...(this.l.get(type) ?? []), fn]);
  }
  close() {
    this.closed = true;
    this.readyState = 2;
  }
  emit(type: string, data: unknown, id = '') {
    this.readyState = 1;
    for (const fn of this.l.get(type) ?? []) fn({ data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId: id } as MessageEvent);
  }
  fail(closed: boolean) {
    this.readyState = closed ? 2 : 0;
    this.onerror?.(new Event('error'));
  }
}

/** Fake timers on a fake clock: advance(ms) runs what falls due, in order. */
function fakeTime() {
  let now = 0;
  let seq = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => now,
    setTimer: (fn: () => void, ms: number) => {
      pending.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clearTimer: (id: unknown) => void pending.delete(id as number),
    pending: () => pending.size,
    advance(ms: number) {
      const end = now + ms;
      for (;;) {
        let next: [number, { at: number; fn: () => void }] | undefined;
        for (const e of pending) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
        if (!next) break;
        pending.delete(next[0]);
        now = next[1].at;
        next[1].fn();
      }
      now = end;
    },
  };
}

function setup() {
  const model = new GraphModel();
  const sources: FakeES[] = [];
  const states: LiveState[] = [];
  const time = fakeTime();
  let fallbacks = 0;
  const c = new LiveClient({
    url: '/api/v1/events',
    create: (u) => {
      const es = new FakeES(u);
      sources.push(es);
      return es;
    },
    onEvent: (t, d, id) => model.applyEvent(t, d, id),
    onState: (s) => states.push(s),
    fallback: async () => {
      fallbacks++;
    },
    setTimer: time.setTimer,
    clearTimer: time.clearTimer,
    now: time.now,
  });
  c.start();
  return { model, sources, states, time, c, fallbacks: () => fallbacks };
}

describe('live connection', () => {
  it('is live after a snapshot, reconnecting on error until the next snapshot', () => {
    const { model, sources, c } = setup();
    expect(c.state).toBe('connecting');
    sources[0]!.emit('snapshot', smallTopology(), '42');
    expect(c.state).toBe('live');
    expect(model.state.revision).toBe(42);
    sources[0]!.emit('status', { nve: 'hv1', status: { openflow: { connected: false } } });
    expect(model.graph().nodes.find((n) => n.id === 'nve:hv1')!.classes).toContain('down');
    sources[0]!.fail(false); // the browser reconnects by itself
    expect(c.state).toBe('reconnecting');
    expect(sources).toHaveLength(1);
    sources[0]!.emit('snapshot', { ...smallTopology(), revision: 50 }, '50');
    expect(c.state).toBe('live');
    expect(model.state.revision).toBe(50);
  });

  it('retries with a new EventSource when the browser gives up, fetching the topology meanwhile', () => {
    const { sources, time, c, fallbacks } = setup();
    sources[0]!.fail(true);
    expect(c.state).toBe('reconnecting');
    expect(fallbacks()).toBe(1);
    time.advance(999);
    expect(sources).toHaveLength(1);
    time.advance(1);
    expect(sources).toHaveLength(2);
    sources[1]!.emit('snapshot', smallTopology(), '42');
    expect(c.state).toBe('live');
  });

  it('on reset discards the state and reconnects for a new snapshot', () => {
    const { model, sources, time, c } = setup();
    sources[0]!.emit('snapshot', smallTopology(), '42');
    sources[0]!.emit('reset', {});
    expect(c.state).toBe('reconnecting');
    expect(model.state.loaded).toBe(false);
    expect(sources[0]!.closed).toBe(true);
    time.advance(100);
    sources[1]!.emit('snapshot', smallTopology(), '60');
    expect(c.state).toBe('live');
    expect(model.graph().nodes.length).toBeGreaterThan(0);
  });

  it('starts over after a malformed event', () => {
    const { sources, time, c } = setup();
    sources[0]!.emit('snapshot', smallTopology(), '42');
    sources[0]!.emit('change', '{"kind":', '43');
    expect(c.state).toBe('reconnecting');
    expect(sources[0]!.closed).toBe(true);
    time.advance(1000);
    expect(sources).toHaveLength(2);
  });

  it('takes pings as liveness and reopens a stream silent for 45 s', () => {
    const { model, sources, time, c } = setup();
    sources[0]!.emit('snapshot', smallTopology(), '42');
    const version = model.state.version;
    time.advance(30000);
    sources[0]!.emit('ping', {});
    expect(c.state).toBe('live');
    expect(model.state.version).toBe(version); // a ping changes nothing
    time.advance(30000); // 60 s: the last event (the ping) was 30 s ago
    expect(c.state).toBe('live');
    expect(sources).toHaveLength(1);
    time.advance(15000); // 45 s of silence
    expect(c.state).toBe('reconnecting');
    expect(sources[0]!.closed).toBe(true);
    time.advance(1000);
    expect(sources).toHaveLength(2);
    sources[1]!.emit('snapshot', { ...smallTopology(), revision: 43 }, '43');
    expect(c.state).toBe('live');
    expect(model.state.revision).toBe(43);
  });

  it('stops its timers on stop()', () => {
    const { sources, time, c } = setup();
    sources[0]!.emit('snapshot', smallTopology(), '42');
    c.stop();
    expect(time.pending()).toBe(0);
    expect(sources[0]!.closed).toBe(true);
  });
});
