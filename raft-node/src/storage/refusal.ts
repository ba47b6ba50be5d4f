/**
 * The node refuses to start on this data dir (held by another process, or belonging to another cluster or node).
 * main.ts prints the message as one line and exits with code 2, as for a bad configuration: restarting the same
 * process cannot help, an operator must act.
 */
export class DataDirRefusedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataDirRefusedError';
  }
}
