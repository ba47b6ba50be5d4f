import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { decodeCommand, encodeCommand } from '../raft-node/src/ledger';
import { decodePeerFrame, encodePeerFrame, FrameKind, type PeerMessage } from '../raft-node/src/server/peer-wire';
import { defineCommand, runCommand, type CommandContext } from '../shared/process/cli';

/**
 * `npm run bench:peer-wire`: the CPU one Append (one entry) and its AppendResp cost to encode and
 * decode, in the binary peer protocol (raft-node/src/server/peer-wire.ts) against the JSON frames it replaced
 * (stringify, Buffer, toString, parse, as the transport did), and what decoding the entry's command costs each node
 * when it applies it (the command stays JSON inside the entry: ledger/commands.ts). One process, no sockets: the
 * codecs alone. A script, not a test: it prints figures and asserts nothing.
 */

const command = defineCommand({
  name: 'npm run bench:peer-wire',
  usage: `usage: npm run bench:peer-wire
Prints µs per Append + AppendResp encoded and decoded, JSON frames vs the binary peer protocol, for an entry of
1 order and one of 500 (a full batch), and µs to decode and check the entry's command at apply.`,
  options: {},
  schema: z.object({}),
});

const order = (i: number) => ({
  orderId: `order-${i}`,
  account: 'acct-1',
  symbol: 'AAPL',
  side: 'BUY' as const,
  quantity: 1,
  price: 100,
});

function usPerRound(rounds: number, round: () => void): number {
  for (let i = 0; i < rounds / 10; i++) round(); // warm-up: let V8 optimize both paths alike
  const t0 = performance.now();
  for (let i = 0; i < rounds; i++) round();
  return ((performance.now() - t0) * 1000) / rounds;
}

async function main({ argv }: CommandContext): Promise<void> {
  command.parse(argv);
  for (const orders of [1, 500]) {
    const data =
      orders === 1
        ? encodeCommand({ type: 'order', order: order(0) })
        : encodeCommand({ type: 'orderBatch', orders: Array.from({ length: orders }, (_, i) => order(i)) });
    const append: PeerMessage = {
      type: 'Append',
      from: 'n1',
      to: 'n2',
      term: 3,
      prevIndex: 100,
      prevTerm: 3,
      commit: 99,
      entries: [{ index: 101, term: 3, type: 'normal', data }],
    };
    const resp: PeerMessage = {
      type: 'AppendResp',
      from: 'n2',
      to: 'n1',
      term: 3,
      index: 101,
      reject: false,
      rejectHint: 0,
      conflictTerm: 0,
    };
    const rounds = orders === 1 ? 200_000 : 5_000;
    const viaJson = (m: PeerMessage) => JSON.parse(Buffer.from(JSON.stringify([m])).toString('utf8')) as unknown;
    const viaBinary = (m: PeerMessage) =>
      decodePeerFrame(encodePeerFrame({ kind: FrameKind.MESSAGES, from: m.from, to: m.to, messages: [m] }).subarray(4));
    const json = usPerRound(rounds, () => (viaJson(append), viaJson(resp)));
    const binary = usPerRound(rounds, () => (viaBinary(append), viaBinary(resp)));
    const apply = usPerRound(rounds, () => decodeCommand(data));
    console.log(
      `entry of ${orders} order(s), ${data.length} bytes: JSON ${json.toFixed(1)} µs, binary ${binary.toFixed(1)} µs ` +
        `per Append + AppendResp (encode + decode); its command decoded and checked at apply ${apply.toFixed(1)} µs`,
    );
  }
}

if (require.main === module) runCommand(command, main);
