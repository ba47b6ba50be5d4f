import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  commandMessages,
  MAX_COMMANDS_MESSAGE_BYTES,
  MAX_COMMANDS_PER_MESSAGE,
  type OrderCommand,
} from '../../../shared/domain/command';
import { parseCommands } from '../../../shared/domain/execution';
import { MAX_BATCH_ORDERS } from '../../../shared/domain/order';

const command = (n: number, symbol = 'ACME'): OrderCommand => ({
  order: { orderId: `${symbol}:t-${n}:0`, account: 'acct-1', symbol, side: 'BUY', quantity: 1, price: 10 + n },
  tickTs: 1_767_225_600_000 + n,
  commandTs: 1_767_225_600_010 + n,
  correlationId: `c-${n}`,
});

describe('commands-queue messages', () => {
  it('packs each symbol’s commands in order, within the caps, and reads back every command exactly once', () => {
    const commands = fc
      .array(fc.tuple(fc.constantFrom('ACME', 'BETA', 'GAMMA'), fc.nat({ max: 1_000_000 })), { maxLength: 300 })
      .map((picks) => picks.map(([symbol], i) => command(i, symbol)));
    fc.assert(
      fc.property(commands, (all) => {
        const messages = commandMessages(all);
        expect(messages.flatMap((m) => m.indexes).sort((a, b) => a - b)).toEqual(all.map((_, i) => i));
        for (const m of messages) {
          expect(parseCommands(m.body)).toEqual(m.indexes.map((i, part) => ({ ok: true, command: all[i], part })));
          expect(m.indexes.length).toBeLessThanOrEqual(MAX_COMMANDS_PER_MESSAGE);
          expect(Buffer.byteLength(m.body)).toBeLessThanOrEqual(MAX_COMMANDS_MESSAGE_BYTES + 64);
          expect(m.indexes.every((i) => all[i]!.order.symbol === m.group)).toBe(true);
        }
        for (const symbol of new Set(all.map((c) => c.order.symbol))) {
          const sent = messages.filter((m) => m.group === symbol).flatMap((m) => m.indexes);
          expect(sent).toEqual(all.flatMap((c, i) => (c.order.symbol === symbol ? [i] : [])));
        }
      }),
    );
  });

  it('a group’s receive (ten messages) is never more than one ledger batch', () => {
    expect(10 * MAX_COMMANDS_PER_MESSAGE).toBeLessThanOrEqual(MAX_BATCH_ORDERS);
  });

  it('dedup id: the order id for one command, a digest of the order ids for more, the same when packed again', () => {
    const three = [1, 2, 3].map((n) => command(n));
    expect(commandMessages([three[0]!])[0]!.deduplicationId).toBe('ACME:t-1:0');
    const digest = createHash('sha256').update('ACME:t-1:0\nACME:t-2:0\nACME:t-3:0').digest('hex');
    expect(commandMessages(three).map((m) => m.deduplicationId)).toEqual([digest]);
    expect(commandMessages(three.map((c) => ({ ...c })))[0]!.deduplicationId).toBe(digest);
  });

  it('reads a message of the format before packing (one bare command) as a message of one', () => {
    expect(parseCommands(JSON.stringify(command(1)))).toEqual([{ ok: true, command: command(1) }]);
  });

  it('poison: a whole message when it is not a list of commands; one command alone when only it is invalid', () => {
    const whole = (body: string) => parseCommands(body).map((p) => (p.ok ? p : { reason: p.reason, body: p.body }));
    expect(whole('{')).toEqual([{ reason: expect.stringMatching(/^body is not JSON/), body: '{' }]);
    expect(whole('{"commands":{}}')).toEqual([{ reason: 'commands: expected an array', body: '{"commands":{}}' }]);
    expect(whole('{"commands":[],"x":1}')[0]!).toMatchObject({ reason: 'unknown field(s) beside commands: x' });
    expect(whole('{"commands":[]}')[0]!).toMatchObject({ reason: /expected 1 to 50 commands, got 0/ });
    const tooMany = JSON.stringify({ commands: Array.from({ length: 51 }, (_, i) => command(i)) });
    expect(whole(tooMany)).toEqual([{ reason: 'commands: expected 1 to 50 commands, got 51', body: tooMany }]);
    expect(whole('{"order":{"orderId":"x"}}')[0]!).toMatchObject({ reason: /order\.account/ });

    const bad = { ...command(2), order: { ...command(2).order, quantity: -1 } };
    const parts = parseCommands(JSON.stringify({ commands: [command(1), bad, command(3)] }));
    expect(parts).toEqual([
      { ok: true, command: command(1), part: 0 },
      { ok: false, reason: expect.stringMatching(/^command 1: .*quantity/), body: JSON.stringify(bad), part: 1 },
      { ok: true, command: command(3), part: 2 },
    ]);
  });
});
