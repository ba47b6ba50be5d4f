/**
 * The node layer's address book: where each member's Raft transport and HTTP API live. The core only
 * knows node ids; addresses travel in a ConfChange's context (when a node is added) and in snapshot data,
 * and are also learned from authenticated peer handshakes.
 */

export interface MemberAddress {
  raftAddr: string;
  httpUrl: string;
  /**
   * The incarnation (see storage/identity.ts) the cluster added this member with, from the addLearner entry;
   * absent for the bootstrap member and for members added before incarnations existed.
   */
  incarnation?: string;
}

export type ConfChangeContext = MemberAddress;

export class MemberBook {
  private readonly book = new Map<string, MemberAddress>();

  /** Records an address; an address without an incarnation (a peer handshake) keeps the one recorded. */
  set(nodeId: string, address: MemberAddress): boolean {
    const prev = this.book.get(nodeId);
    const incarnation = address.incarnation ?? prev?.incarnation;
    this.book.set(nodeId, {
      raftAddr: address.raftAddr,
      httpUrl: address.httpUrl,
      ...(incarnation ? { incarnation } : {}),
    });
    return prev === undefined || prev.raftAddr !== address.raftAddr || prev.httpUrl !== address.httpUrl;
  }

  get(nodeId: string): MemberAddress | undefined {
    return this.book.get(nodeId);
  }

  delete(nodeId: string): void {
    this.book.delete(nodeId);
  }

  toJSON(): Record<string, MemberAddress> {
    return Object.fromEntries(this.book);
  }

  load(entries: Record<string, MemberAddress>): void {
    for (const [id, addr] of Object.entries(entries)) this.book.set(id, addr);
  }
}

/** Reads the address out of a ConfChange context; undefined when absent or malformed. */
export function parseConfChangeContext(context: string | undefined): ConfChangeContext | undefined {
  if (!context) return undefined;
  try {
    const v = JSON.parse(context) as Partial<ConfChangeContext>;
    if (typeof v.raftAddr === 'string' && typeof v.httpUrl === 'string') {
      const incarnation = typeof v.incarnation === 'string' ? { incarnation: v.incarnation } : {};
      return { raftAddr: v.raftAddr, httpUrl: v.httpUrl, ...incarnation };
    }
  } catch {
    // A context we did not write: no address to learn.
  }
  return undefined;
}
