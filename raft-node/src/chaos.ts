import type { ChaosSettings, InstallStep } from './config';

/**
 * Fault injection for tests and demos, applied by the transport to outgoing inter-node messages.
 * Off unless CHAOS_ENABLED. When a target node is set, only messages to or from that node are affected
 * (every node runs with the same settings, so filtering outgoing traffic covers both directions).
 */

export type ChaosVerdict = { action: 'send' } | { action: 'drop' } | { action: 'delay'; ms: number };

/** mulberry32: small, fast, seedable; chaos runs must be reproducible from CHAOS_SEED. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Chaos {
  private readonly random: () => number;

  constructor(
    private readonly settings: ChaosSettings,
    private readonly selfId: string,
  ) {
    this.random = seededRandom(settings.seed);
  }

  get enabled(): boolean {
    return this.settings.enabled;
  }

  /** Decides the fate of one message from this node to `to`. */
  judge(to: string): ChaosVerdict {
    const s = this.settings;
    if (!s.enabled) return { action: 'send' };
    if (s.targetNodeId !== undefined && s.targetNodeId !== to && s.targetNodeId !== this.selfId) {
      return { action: 'send' };
    }
    if (s.dropPct > 0 && this.random() * 100 < s.dropPct) return { action: 'drop' };
    if (s.delayMaxMs > 0) {
      const ms = s.delayMinMs + Math.floor(this.random() * (s.delayMaxMs - s.delayMinMs + 1));
      if (ms > 0) return { action: 'delay', ms };
    }
    return { action: 'send' };
  }

  /** CHAOS_EXIT_ON_LEADER: the process exits the moment it wins an election, to exercise failover. */
  shouldExitOnLeadership(): boolean {
    return this.settings.enabled && this.settings.exitOnLeader;
  }

  /**
   * CHAOS_EXIT_IN_INSTALL: whether the process should die abruptly (SIGKILL: no handler runs, nothing is flushed) at
   * this step of installing a received store, leaving the disk as a crash there would.
   */
  shouldCrashInInstall(step: InstallStep): boolean {
    return this.settings.enabled && this.settings.exitInInstall === step;
  }
}
