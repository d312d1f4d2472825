import { randomUUID } from 'node:crypto';
import {
  CONTROL_VERSION,
  decodeControl,
  encodeControl,
  type ControlBody,
  type ControlMessage,
} from './control.js';
import type { Controller } from './controller.js';
import type { NodeInfo } from './handlers.js';
import type { Logger } from './logger.js';
import type { NodeMetrics } from './metrics.js';

/** What the cluster layer needs from its node. */
export interface ClusterHost {
  readonly uid: string;
  readonly logger: Logger;
  /** Counts control messages sent and received (optional). */
  readonly metrics?: NodeMetrics;
  /** This node's figures now. */
  localInfo(): NodeInfo;
  /** Applies a user operation (subscribe, unsubscribe, disconnect, refresh, session) locally. */
  applyControl(msg: ControlMessage): void;
  /** This node's answer to a survey op; rejects for unknown ops. */
  answerSurvey(op: string): Promise<unknown>;
}

interface PendingSurvey {
  expected: Set<string>;
  results: unknown[];
  done: () => void;
}

/**
 * The node's view of the cluster over a `Controller`: heartbeats with node figures (a node not
 * heard from for 3 intervals is dropped), fan-out of user operations to other nodes, and surveys
 * (a request every other live node answers, collected until all answered or a timeout).
 */
export class NodeCluster {
  private readonly nodes = new Map<string, { info: NodeInfo; seenAt: number }>();
  private readonly surveys = new Map<string, PendingSurvey>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly host: ClusterHost,
    private readonly controller: Controller,
    /** Heartbeat period (ms). */
    readonly interval: number,
    /** How long (ms) a survey waits for replies. */
    readonly surveyTimeout: number,
  ) {}

  async run(): Promise<void> {
    await this.controller.run({ nodeId: this.host.uid, onControl: (d) => this.onControl(d) });
    this.heartbeat();
    this.timer = setInterval(() => this.heartbeat(), this.interval);
    this.timer.unref();
  }

  /** Announces leaving, stops heartbeats and closes the controller. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const s of this.surveys.values()) s.done();
    await this.publish({ type: 'leave' }).catch(() => undefined);
    await this.controller.close();
  }

  /** Figures of every live node, this one first. */
  liveNodes(): NodeInfo[] {
    const out = [this.host.localInfo()];
    const horizon = Date.now() - 3 * this.interval;
    for (const [uid, n] of this.nodes) {
      if (n.seenAt < horizon) this.nodes.delete(uid);
      else out.push(n.info);
    }
    return out;
  }

  /** Sends a control message to every other node (or only to `to`). */
  publish(body: ControlBody, to?: string): Promise<void> {
    const msg = { v: CONTROL_VERSION, from: this.host.uid, ...body } as ControlMessage;
    if (to !== undefined) msg.to = to;
    this.host.metrics?.brokerSent('control');
    return this.controller.publishControl(encodeControl(msg), to);
  }

  /** Asks every other live node; resolves with the replies that came within the timeout. */
  survey(op: string): Promise<unknown[]> {
    const expected = new Set(
      this.liveNodes()
        .slice(1)
        .map((n) => n.uid),
    );
    if (expected.size === 0 || this.closed) return Promise.resolve([]);
    const id = randomUUID();
    return new Promise((resolve) => {
      const results: unknown[] = [];
      const timer = setTimeout(() => {
        this.host.logger.warn({ op, missing: [...expected] }, 'survey timed out');
        finish();
      }, this.surveyTimeout);
      const finish = (): void => {
        clearTimeout(timer);
        this.surveys.delete(id);
        resolve(results);
      };
      this.surveys.set(id, { expected, results, done: finish });
      this.publish({ type: 'survey', id, op }).catch((err: unknown) => {
        this.host.logger.error({ err, op }, 'survey publish failed');
        finish();
      });
    });
  }

  private heartbeat(to?: string): void {
    if (this.closed) return;
    this.publish({ type: 'node', info: this.host.localInfo() }, to).catch((err: unknown) =>
      this.host.logger.warn({ err }, 'node info publish failed'),
    );
  }

  private onControl(data: Uint8Array): void {
    this.host.metrics?.brokerReceived('control');
    const msg = decodeControl(data);
    if (msg === undefined) {
      this.host.logger.debug({}, 'undecodable control message dropped');
      return;
    }
    if (msg.from === this.host.uid || (msg.to !== undefined && msg.to !== this.host.uid)) return;
    switch (msg.type) {
      case 'node': {
        const known = this.nodes.has(msg.from);
        this.nodes.set(msg.from, { info: msg.info, seenAt: Date.now() });
        // A newcomer learns about this node at once instead of after a full interval.
        if (!known) this.heartbeat(msg.from);
        return;
      }
      case 'leave':
        this.nodes.delete(msg.from);
        return;
      case 'survey':
        this.host
          .answerSurvey(msg.op)
          .then((result) => this.publish({ type: 'survey_reply', id: msg.id, result }, msg.from))
          .catch((err: unknown) => this.host.logger.warn({ err, op: msg.op }, 'survey answer failed'));
        return;
      case 'survey_reply': {
        const s = this.surveys.get(msg.id);
        if (s === undefined || !s.expected.delete(msg.from)) return;
        s.results.push(msg.result);
        if (s.expected.size === 0) s.done();
        return;
      }
      default:
        this.host.applyControl(msg);
    }
  }
}
