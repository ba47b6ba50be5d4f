/**
 * One way for every operator command (tools/*.ts, raft-node/src/main.ts) to read its arguments and to
 * end. Arguments: node:util parseArgs, then a zod schema. Endings:
 *   --help / -h           usage on stdout, exit 0
 *   a bad flag or value   one line naming it, then the usage, on stderr; exit 2
 *   a CommandError        its message as one line on stderr; its exit code
 *   anything else thrown  one line on stderr, exit 1; the stack only with DEBUG=1
 * and `runCommand` stops the command cleanly (its `signal` aborts) on SIGINT, SIGTERM, SIGHUP, its
 * stdout closing (EPIPE: `| head`, or `| tee` killed by the same Ctrl-C) and its parent going away.
 * Lives in shared/ because the Raft node (bundled from raft-node/ and shared/ only) uses it too.
 */
import { constants } from 'node:os';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { z } from 'zod';
import { watchOwnParent } from './parent-watch';

type Options = NonNullable<ParseArgsConfig['options']>;

/** How the command was called is wrong: exit 2, one line, then the usage. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A failure the command explains in its message (no stack trace): exit with `exitCode`. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** --help was given: the runner prints the usage and exits 0. */
export class HelpRequested extends Error {
  override name = 'HelpRequested';
}

export interface CommandSpec<S extends z.ZodType> {
  /** As the user types it, for messages: `npm start`, `npm run chaos`. */
  name: string;
  /** The whole usage text (without a trailing newline). */
  usage: string;
  /** parseArgs options; --help/-h is added. String options carry their defaults as strings, zod converts. */
  options: Options;
  /** Names of the positional arguments, in order (more than these is an error). */
  positionals?: readonly string[];
  /** Validates `{ ...flags, [positional name]: value }`; its issue paths name the flag or positional. */
  schema: S;
}

export interface Command<S extends z.ZodType> extends CommandSpec<S> {
  /** Parses and validates; throws HelpRequested or UsageError (one line naming the flag). */
  parse(argv: string[]): z.output<S>;
}

export function defineCommand<S extends z.ZodType>(spec: CommandSpec<S>): Command<S> {
  const names = spec.positionals ?? [];
  return {
    ...spec,
    parse(argv) {
      let parsed: { values: Record<string, unknown>; positionals: string[] };
      try {
        parsed = parseArgs({
          args: argv,
          allowPositionals: names.length > 0,
          options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
        });
      } catch (err) {
        // Node's messages name the flag; their first sentence is the point ("Unknown option '--x'").
        throw new UsageError((err as Error).message.split(/\.\s|\n/)[0] ?? String(err));
      }
      if (parsed.values.help) throw new HelpRequested();
      if (parsed.positionals.length > names.length)
        throw new UsageError(`unexpected argument '${parsed.positionals[names.length]}'`);
      const input: Record<string, unknown> = { ...parsed.values };
      names.forEach((name, i) => (input[name] = parsed.positionals[i]));
      const result = spec.schema.safeParse(input);
      if (result.success) return result.data;
      const problems = result.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? '');
        const given = input[key];
        const label = names.includes(key) ? `<${key}>` : `--${key}`;
        return `${label}${typeof given === 'string' ? ` '${given}'` : ''}: ${issue.message}`;
      });
      throw new UsageError(problems.join('; '));
    },
  };
}

/**
 * Reads settings from environment variables with a zod schema; a bad one is a UsageError naming the
 * variable. An empty variable counts as unset, as the AWS SDK treats it.
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.output<S> {
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== ''));
  const parsed = schema.safeParse(set);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new UsageError(`environment variable ${String(issue?.path[0])}: ${issue?.message}`);
}

export interface CommandContext {
  argv: string[];
  /** Aborts (reason: a short text) when the command should stop; main then cleans up and returns. */
  signal: AbortSignal;
}

export interface RunOptions {
  /**
   * How long main may take to clean up and return after a stop request before the process exits
   * anyway. 0 (the default): main does not watch `signal`, the process exits at once. Either way our
   * children stop too: they watch this process (parent-watch.ts).
   */
  stopGraceMs?: number;
  /**
   * Stop when this process is reparented (its parent, e.g. npm's `sh -c`, died without passing a signal
   * on). Default true; off for a service that may be started by a shell that then exits.
   */
  watchOwnParent?: boolean;
  /**
   * On an uncaught exception: 'stop' (default) stops like a signal does, so main cleans up; 'exit'
   * exits at once (crash-only, for a process whose state the exception may have left unknown).
   */
  onCrash?: 'stop' | 'exit';
  argv?: string[];
}

/** The shell's convention: 128 + the signal's number; 0 when the reader of our output went away. */
function stopExitCode(why: string): number {
  const signo = (constants.signals as Record<string, number | undefined>)[why];
  if (signo !== undefined) return 128 + signo;
  return why === 'output closed' ? 0 : 1;
}

/**
 * Runs `main` as the process's command and ends the process: with main's exit code (default 0), or
 * as the table at the top says. A second stop request (Ctrl-C twice) exits at once.
 */
export function runCommand(
  command: Pick<CommandSpec<z.ZodType>, 'name' | 'usage'>,
  main: (ctx: CommandContext) => Promise<number | void>,
  opts: RunOptions = {},
): void {
  const abort = new AbortController();
  const graceMs = opts.stopGraceMs ?? 0;
  let failedCode: number | undefined;
  let stoppedAt = 0;
  const stop = (why: string, code = stopExitCode(why)) => {
    if (abort.signal.aborted) {
      // A wrapper (tsx, npm) may relay the terminal's one Ctrl-C a moment after the terminal sent it.
      if (Date.now() - stoppedAt < 500) return;
      process.stderr.write(`${command.name}: ${why} again: exiting now\n`);
      process.exit(failedCode ?? code);
    }
    stoppedAt = Date.now();
    abort.abort(why);
    if (graceMs === 0) process.exit(failedCode ?? code);
    // main got its chance to clean up; a hung cleanup must not keep the process alive.
    setTimeout(() => process.exit(failedCode ?? code), graceMs).unref();
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(signal));
  let outputClosed = false;
  const onOutputError = (err: NodeJS.ErrnoException) => {
    // Whoever read our output is gone (`| head`, or `| tee` killed by the same Ctrl-C): stop quietly;
    // nothing more can be shown. Later write errors are expected and ignored.
    if (outputClosed) return;
    outputClosed = true;
    stop(err.code === 'EPIPE' ? 'output closed' : `output: ${err.message}`);
  };
  process.stdout.on('error', onOutputError);
  process.stderr.on('error', onOutputError);
  if (opts.watchOwnParent ?? true) watchOwnParent((why) => stop(why));
  const fail = (err: unknown) => {
    failedCode = report(command, err);
    if (abort.signal.aborted || opts.onCrash === 'exit') process.exit(failedCode);
    stop('failed', failedCode);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  main({ argv: opts.argv ?? process.argv.slice(2), signal: abort.signal }).then(
    (code) => process.exit(failedCode ?? code ?? 0),
    (err: unknown) => process.exit(report(command, err)),
  );
}

/** Writes what went wrong (one line, plus the usage for a usage error) and returns the exit code. */
function report(command: Pick<CommandSpec<z.ZodType>, 'name' | 'usage'>, err: unknown): number {
  if (err instanceof HelpRequested) {
    process.stdout.write(`${command.usage}\n`);
    return 0;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`${command.name}: ${err.message}\n${command.usage}\n`);
    return 2;
  }
  const message = err instanceof Error ? err.message : String(err);
  const line = message.split('\n')[0] ?? message;
  if (err instanceof CommandError) {
    process.stderr.write(`${command.name}: ${message}\n`);
    return err.exitCode;
  }
  const debug = process.env.DEBUG === '1' || process.env.DEBUG === 'true';
  process.stderr.write(
    debug && err instanceof Error && err.stack
      ? `${command.name} failed: ${err.stack}\n`
      : `${command.name} failed: ${line}${line !== message ? ' (…)' : ''} (DEBUG=1 shows the stack)\n`,
  );
  return 1;
}
