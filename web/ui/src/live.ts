// The live connection to GET /api/v1/events (Server-Sent Events) and the
// "live / reconnecting" state. The EventSource and the timers are injected,
// so the state machine is unit-tested without a browser.

import type { EventOutcome } from './model';

export type LiveState = 'connecting' | 'live' | 'reconnecting';

/** The part of the browser's EventSource this client uses. */
export interface EventSourceLike {
  readonly readyState: number;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent) => void): void;
  close(): void;
}

export interface LiveOptions {
  url: string;
  create(url: string): EventSourceLike;
  /** Applies one event to the model (throws on malformed data). */
  onEvent(type: string, data: string, lastEventId: string): EventOutcome;
  onState(state: LiveState, detail: string): void;
  /**
   * Called when the stream cannot be opened at all (e.g. a server without
   * /api/v1/events): fetch the topology once so the page is not empty.
   */
  fallback?(): Promise<void>;
  /**
   * A stream that delivers no event for this long is taken for dead
   * (the server sends a ping every 15 s): it is closed and reopened.
   * Default 45 s.
   */
  stallMs?: number;
  setTimer?(fn: () => void, ms: number): unknown;
  clearTimer?(t: unknown): void;
  now?(): number;
}

const CLOSED = 2;
export const EVENT_TYPES = ['snapshot', 'change', 'status', 'reset', 'ping'] as const;
export const DEFAULT_STALL_MS = 45000;

export class LiveClient {
  state: LiveState = 'connecting';
  /** Snapshots received (over all connections). */
  snapshots = 0;
  private es: EventSourceLike | null = null;
  private timer: unknown = null;
  private watchdog: unknown = null;
  private lastEvent = 0;
  private backoff = 1000;
  private gotSnapshot = false;
  private stopped = false;
  private readonly o: Required<Pick<LiveOptions, 'setTimer' | 'clearTimer' | 'now' | 'stallMs'>> & LiveOptions;

  constructor(o: LiveOptions) {
    this.o = {
      setTimer: (fn, ms) => setTimeout(fn, ms),
      clearTimer: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
      now: () => Date.now(),
      stallMs: DEFAULT_STALL_MS,
      ...o,
    };
  }

  start(): void {
    this.stopped = false;
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.o.clearTimer(this.timer);
    this.timer = null;
    if (this.watchdog !== null) this.o.clearTimer(this.watchdog);
    this.watchdog = null;
    this.es?.close();
    this.es = null;
  }

  private set(state: LiveState, detail: string): void {
    this.state = state;
    this.o.onState(state, detail);
  }

  private connect(): void {
    this.timer = null;
    if (this.stopped) return;
    this.gotSnapshot = false;
    const es = this.o.create(this.o.url);
    this.es = es;
    this.lastEvent = this.o.now();
    this.armWatchdog(this.o.stallMs);
    for (const type of EVENT_TYPES) {
      es.addEventListener(type, (ev) => {
        if (this.es !== es) return;
        this.lastEvent = this.o.now();
        this.handle(type, ev);
      });
    }
    es.onerror = () => {
      if (this.es !== es) return;
      const opened = this.gotSnapshot;
      this.set('reconnecting', opened ? 'connection lost' : 'cannot open the event stream');
      if (es.readyState === CLOSED) {
        // The browser gave up (HTTP error, wrong content type): retry ourselves.
        this.es = null;
        if (!opened && this.o.fallback) void this.o.fallback().catch(() => undefined);
        this.retry();
      }
      // Otherwise the browser reconnects by itself; the next snapshot says live.
    };
  }

  private armWatchdog(ms: number): void {
    if (this.watchdog === null) this.watchdog = this.o.setTimer(() => this.checkStall(), ms);
  }

  /** Reopens a stream that has been silent for stallMs (no event, not even a ping). */
  private checkStall(): void {
    this.watchdog = null;
    const es = this.es;
    if (this.stopped || !es) return;
    const idle = this.o.now() - this.lastEvent;
    if (idle < this.o.stallMs) {
      this.armWatchdog(this.o.stallMs - idle);
      return;
    }
    es.close();
    this.es = null;
    this.set('reconnecting', `no event or keep-alive for ${Math.round(idle / 1000)} s`);
    this.retry();
  }

  private retry(): void {
    if (this.stopped || this.timer !== null) return;
    const ms = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 30000);
    this.timer = this.o.setTimer(() => this.connect(), ms);
  }

  private handle(type: string, ev: MessageEvent): void {
    let out: EventOutcome;
    try {
      out = this.o.onEvent(type, typeof ev.data === 'string' ? ev.data : '', ev.lastEventId ?? '');
    } catch (e) {
      // A malformed event leaves the model in doubt: start over from a snapshot.
      this.es?.close();
      this.es = null;
      this.set('reconnecting', `bad ${type} event: ${e instanceof Error ? e.message : String(e)}`);
      this.retry();
      return;
    }
    if (out === 'snapshot') {
      this.gotSnapshot = true;
      this.snapshots++;
      this.backoff = 1000;
      this.set('live', `revision ${ev.lastEventId || '?'}`);
    } else if (out === 'reset') {
      // The server closes; reconnect at once rather than after the browser's delay.
      this.es?.close();
      this.es = null;
      this.set('reconnecting', 'the server reset the stream');
      this.backoff = 1000;
      this.timer = this.o.setTimer(() => this.connect(), 100);
    }
  }
}
