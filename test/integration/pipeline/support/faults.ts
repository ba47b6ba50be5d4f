/**
 * Fault injection on real SDK clients: a middleware that makes chosen calls fail before they leave the client,
 * as a network error or a crashed container would. The calls that are not chosen go to the real emulator.
 */
interface MiddlewareClient {
  middlewareStack: {
    add(middleware: unknown, options: { step: 'initialize'; name: string; override?: boolean }): void;
    remove(name: string): boolean;
  };
}

export class InjectedFault extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InjectedFault';
  }
}

/** Fails every call whose command name and input satisfy `shouldFail`, until the returned function is called. */
export function injectFault(
  client: MiddlewareClient,
  shouldFail: (commandName: string, input: Record<string, unknown>) => boolean,
): () => void {
  const name = `injected-fault-${Math.random().toString(36).slice(2)}`;
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) =>
      async (args: { input: Record<string, unknown> }) => {
        if (shouldFail(context.commandName ?? '', args.input)) {
          throw new InjectedFault(`injected fault in ${context.commandName}`);
        }
        return next(args);
      },
    { step: 'initialize', name },
  );
  return () => {
    client.middlewareStack.remove(name);
  };
}

/**
 * SendMessageBatch answering some entries as Failed (SQS does so per entry, e.g. InternalError): the chosen entries
 * are taken out of the request before it leaves the client — the rest go to the real queue — and reported back in
 * `Failed`. A mock of the response, because no emulator refuses single entries on demand.
 */
export function refuseBatchEntries(
  client: MiddlewareClient,
  shouldRefuse: (entry: { Id: string; MessageGroupId?: string }) => boolean,
): () => void {
  const name = `refused-entries-${Math.random().toString(36).slice(2)}`;
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<{ output: Record<string, unknown> }>, context: { commandName?: string }) =>
      async (args: { input: { Entries?: { Id: string; MessageGroupId?: string }[] } }) => {
        const entries = args.input.Entries;
        if (context.commandName !== 'SendMessageBatchCommand' || !entries) return next(args);
        // Asked once per entry, so that a predicate may count.
        const refused = entries.filter(shouldRefuse);
        const kept = entries.filter((e) => !refused.includes(e));
        const failed = refused.map((e) => ({
          Id: e.Id,
          Code: 'InternalError',
          SenderFault: false,
          Message: 'refused',
        }));
        // SQS rejects a batch without entries; all refused means no call at all.
        if (kept.length === 0) return { output: { Successful: [], Failed: failed } };
        const result = await next({ ...args, input: { ...args.input, Entries: kept } });
        const output = result.output as { Failed?: unknown[] };
        return { ...result, output: { ...output, Failed: [...(output.Failed ?? []), ...failed] } };
      },
    { step: 'initialize', name },
  );
  return () => {
    client.middlewareStack.remove(name);
  };
}

/**
 * A container that dies part-way: once `kill()` is called (or a crash point fires), every later call through
 * any adapter wired to this switch fails, as it would after the process was killed — including the cleanup
 * Powertools attempts on error, so a claim taken before the crash stays IN_PROGRESS like after a real crash.
 */
export class CrashSwitch {
  dead = false;

  guard(what: string): void {
    if (this.dead) throw new InjectedFault(`container crashed; ${what} never ran`);
  }

  kill(after: string): never {
    this.dead = true;
    throw new InjectedFault(`container crashed right after ${after}`);
  }

  /**
   * Wires a real SDK client: all calls fail once dead; `crashAfter` names a command whose success kills it —
   * `Name#n`: its n-th success on this client (a step that makes the same call as an earlier one).
   */
  wire(client: MiddlewareClient, crashAfter?: string): void {
    const [name, nth = '1'] = (crashAfter ?? '').split('#');
    let succeeded = 0;
    client.middlewareStack.add(
      (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
        this.guard(context.commandName ?? 'a call');
        const output = await next(args);
        if (crashAfter !== undefined && context.commandName === name && ++succeeded === Number(nth))
          this.kill(crashAfter);
        return output;
      },
      { step: 'initialize', name: `crash-switch-${Math.random().toString(36).slice(2)}` },
    );
  }
}

/** Records the name of every command sent through a real SDK client (calls still go to the emulator). */
export function recordCalls(client: MiddlewareClient): string[] {
  const calls: string[] = [];
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      calls.push(context.commandName ?? '?');
      return next(args);
    },
    { step: 'initialize', name: `call-recorder-${Math.random().toString(36).slice(2)}` },
  );
  return calls;
}

/**
 * The ambiguous failure: the chosen call reaches the emulator and takes effect, then its response is lost (the
 * caller sees an error and retries). Fires once per `arm()`.
 */
export function loseNextResponse(client: MiddlewareClient, commandName: string): { arm(): void } {
  let armed = false;
  client.middlewareStack.add(
    (next: (args: unknown) => Promise<unknown>, context: { commandName?: string }) => async (args: unknown) => {
      const output = await next(args);
      if (armed && context.commandName === commandName) {
        armed = false;
        throw new InjectedFault(`response of ${commandName} lost after it took effect`);
      }
      return output;
    },
    { step: 'initialize', name: `lose-response-${Math.random().toString(36).slice(2)}` },
  );
  return {
    arm: () => {
      armed = true;
    },
  };
}
