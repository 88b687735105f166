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

function setup() {
  const model = new GraphModel();
  const sources: FakeES[] = [];
  const states: LiveState[] = [];
  const timers: (() => void)[] = [];
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
    setTimer: (fn) => timers.push(fn),
    clearTimer: () => undefined,
  });
  c.start();
  return { model, sources, states, timers, c, fallbacks: () => fallbacks };
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
    const { sources, timers, c, fallbacks } = setup();
    sources[0]!.fail(true);
    expect(c.state).toBe('reconnecting');
    expect(fallbacks()).toBe(1);
    expect(timers).toHaveLength(1);
    timers[0]!();
    expect(sources).toHaveLength(2);
    sources[1]!.emit('snapshot', smallTopology(), '42');
    expect(c.state).toBe('live');
  });

  it('on reset discards the state and reconnects for a new snapshot', () => {
    const { model, sources, timers, c } = setup();
    sources[0]!.emit('snapshot', smallTopology(), '42');
    sources[0]!.emit('reset', {});
    expect(c.state).toBe('reconnecting');
    expect(model.state.loaded).toBe(false);
    expect(sources[0]!.closed).toBe(true);
    timers.shift()!();
    sources[1]!.emit('snapshot', smallTopology(), '60');
    expect(c.state).toBe('live');
    expect(model.graph().nodes.length).toBeGreaterThan(0);
  });

  it('starts over after a malformed event', () => {
    const { sources, timers, c } = setup();
    sources[0]!.emit('snapshot', smallTopology(), '42');
    sources[0]!.emit('change', '{"kind":', '43');
    expect(c.state).toBe('reconnecting');
    expect(sources[0]!.closed).toBe(true);
    timers.shift()!();
    expect(sources).toHaveLength(2);
  });
});
