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
