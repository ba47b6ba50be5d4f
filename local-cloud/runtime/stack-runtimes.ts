import type { PolledMessage } from './sqs-poller-client';
import type { Deployment } from '../deploy/deploy';
import { startLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from './index';

export interface StackRuntimesOptions extends Omit<LocalRuntimeOptions, 'checkpointFile' | 'onSqsReceive'> {
  /** Where a stack's Kinesis mappings keep their checkpoints (they survive a redeploy). */
  checkpointFile: (stackName: string) => string | undefined;
  /**
   * Values that replace these variables wherever a function has them (the embedded cloud's own Raft nodes); a
   * function gets the deployed value and returns the local one.
   */
  environmentOverrides?: Record<string, string | ((deployed: string) => string)>;
  onSqsReceive?: (deployment: Deployment, queueUrl: string, messages: PolledMessage[]) => void;
}

/**
 * The local Lambda runtime of every CloudFormation stack: CloudFormation tells it when a deploy finished (a new
 * deployment) or a delete starts (none), and it stops the stack's old functions, mappings and schedules and starts
 * the new ones — so an update's new code runs from the next invocation on, and a Kinesis mapping goes on from its
 * checkpoint. Changes are applied one at a time, in order.
 */
export class StackRuntimes {
  private readonly stacks = new Map<string, { deployment: Deployment; runtime: LocalRuntime }>();
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly opts: StackRuntimesOptions) {}

  apply(stackName: string, deployment: Deployment | undefined): Promise<void> {
    const next = this.chain.then(() => this.replace(stackName, deployment));
    this.chain = next.catch(() => undefined);
    return next;
  }

  get(stackName: string): { deployment: Deployment; runtime: LocalRuntime } | undefined {
    return this.stacks.get(stackName);
  }

  async stop(): Promise<void> {
    await this.chain;
    const all = [...this.stacks.values()];
    this.stacks.clear();
    await Promise.all(all.map((s) => s.runtime.stop()));
  }

  private async replace(stackName: string, deployment: Deployment | undefined): Promise<void> {
    const old = this.stacks.get(stackName);
    this.stacks.delete(stackName);
    await old?.runtime.stop();
    if (!deployment) return;
    const overridden = this.withOverrides(deployment);
    const { checkpointFile, onSqsReceive, environmentOverrides: _overrides, ...rest } = this.opts;
    const file = checkpointFile(stackName);
    const runtime = await startLocalRuntime(overridden, {
      ...rest,
      ...(file ? { checkpointFile: file } : {}),
      ...(onSqsReceive ? { onSqsReceive: (url: string, m: PolledMessage[]) => onSqsReceive(overridden, url, m) } : {}),
    });
    this.stacks.set(stackName, { deployment: overridden, runtime });
  }

  private withOverrides(deployment: Deployment): Deployment {
    const overrides = this.opts.environmentOverrides ?? {};
    const functions = Object.fromEntries(
      Object.entries(deployment.functions).map(([id, f]) => {
        const environment = { ...f.environment };
        for (const [k, v] of Object.entries(overrides)) {
          const deployed = environment[k];
          if (deployed !== undefined) environment[k] = typeof v === 'function' ? v(deployed) : v;
        }
        return [id, { ...f, environment }];
      }),
    );
    return { ...deployment, functions };
  }
}
