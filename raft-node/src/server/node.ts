import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import type { CancelRequest, CancelResult, Order, OrderBatchResult, OrderResult } from '../../../shared/domain/order';
import type { HaltInfo, MemberInfo, NodeStatus, Position, RiskLimits } from '../../../shared/ledger-contract';
import { TokenVerifier } from '../../../shared/ledger-contract/auth';
import { Chaos } from '../chaos';
import type { InstallStep, NodeConfig } from '../config';
import {
  parseConfChangeEntry,
  Raft,
  type ClusterConfig,
  type Entry,
  type Message,
  type Ready,
  type RestoredState,
  type Snapshot,
  type SnapshotMessage,
} from '../core';
import {
  encodeCommand,
  isCommandError,
  LedgerStateMachine,
  type LedgerApplyResult,
  type LedgerCommand,
} from '../ledger';
import type { NodeLogger } from '../logger';
import {
  checkIdentity,
  checkLedgerSnapshot,
  DataDirLock,
  DataDirRefusedError,
  frameStoreCopy,
  isStoreRef,
  LEDGER_DB_FILE,
  parseDescriptor,
  RaftStorage,
  readIdentity,
  readSnapshotInfo,
  readSnapshotRecords,
  finishStoreInstall,
  restoreStoreFile,
  settleStoreInstall,
  stageStoreInstall,
  SNAPSHOT_RECEIVE_FILE,
  SNAPSHOT_RECEIVE_STORE_FILE,
  SNAPSHOT_TAKE_FILE,
  SqliteOrderStore,
  storeRefRecords,
  writeSnapshotFileAsync,
  settleIdentity,
  writeIdentity,
  type NodeIdentity,
  type SnapshotFileInfo,
} from '../storage';
import { authHeaders, decideEntry, probePeers, type PeerIdentity } from './bootstrap';
import { createBinaryApi, type BinaryApi } from './binary-api';
import { createHttpApi, type JoinRequest, type LedgerNodeApi, type Outcome } from './http-api';
import { MemberBook, parseConfChangeContext, type MemberAddress } from './members';
import { peerKeys } from './peer-auth';
import type { PeerMessage } from './peer-wire';
import { SnapshotReceiver, SnapshotSender, type SnapshotSource } from './snapshot-transfer';
import { Transport } from './transport';
import { sleep } from '../../../shared/util/wait';
import { trace } from '../trace';

/**
 * One Raft ledger node: drives the pure core with a timer and the network, persists what it asks for
 * (one fdatasync per Ready: group commit), sends its messages, applies committed entries to the ledger
 * and answers the HTTP requests waiting on them.
 */

interface JoinAnswer {
  members: MemberInfo[];
  clusterId: string | null;
}

interface PendingProposal {
  term: number;
  resolve(outcome: Outcome<unknown>): void;
}

interface PendingRead {
  index: number | null;
  resolve(outcome: Outcome<number>): void;
}

/** Messages a leader sends that acknowledge nothing of its own disk state. */

function partition<T>(items: T[], pred: (item: T) => boolean): [T[], T[]] {
  const yes: T[] = [];
  const no: T[] = [];
  for (const item of items) (pred(item) ? yes : no).push(item);
  return [yes, no];
}

/** Starts `server` listening; rejects on a listen error (a port in use). */
function listen(server: NetServer, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
}

const PROPOSAL_TIMEOUT_MS = 10_000;
const READ_TIMEOUT_MS = 5_000;
/** How often (in ticks) the leader looks for learners to promote. */
const MEMBERSHIP_CHECK_TICKS = 4;
/**
 * How long applied results wait in memory before their SQLite commit (scheduleStoreFlush). A commit per Ready (one
 * or two orders at low concurrency) rewrote the same few 4 KiB pages hundreds of times a second on every node —
 * 20–68 MB/s of writeback at one client, which made the nodes' fdatasyncs wait and put 4.6 % of writes above 3 ms;
 * 10 ms groups them (docs/ledger.md#the-order-store).
 */
const STORE_FLUSH_DELAY_MS = 10;

export class LedgerNode implements LedgerNodeApi {
  private raft: Raft;
  private readonly storage: RaftStorage;
  private readonly lock: DataDirLock;
  private identity: NodeIdentity;
  /**
   * Whether this node takes part in Raft. False while a node with an empty log waits to bootstrap or to be
   * (re)added, and every Raft message is dropped meanwhile: a wiped node that the cluster still lists as a voter
   * would otherwise grant votes with its empty log (a candidate missing committed entries could win with that vote
   * and overwrite them) and acknowledge a deposed leader's heartbeats as if it had never moved to a later term (a
   * stale read). It opens once this node bootstrapped, or once the leader has committed this incarnation as a
   * learner, after removing the member's old incarnation (addMember).
   */
  private admitted: boolean;
  /** When each peer's last Raft message arrived, and since when we lead: is a member still alive? (addMember) */
  private readonly lastHeard = new Map<string, number>();
  private leaderSince = 0;
  private ledger: LedgerStateMachine;
  private store: SqliteOrderStore;
  /**
   * One background job at a time: a compaction point being taken (takeCompactionPoint), or a copy of the store being
   * made for followers (copyStoreForFollowers); and a compaction point written and waiting for finishSnapshot.
   */
  private snapshotJob: Promise<void> | null = null;
  private writtenSnapshot: { index: number; info: SnapshotFileInfo; startedAt: number } | null = null;
  /**
   * What a follower that needs a snapshot is sent: the saved snapshot file when it holds a state (one installed from
   * a leader, or a data dir of an earlier version), else a copy of this node's store made when first needed and kept
   * while the log still holds the entries after it. Core messages wait in `awaitingCopy` while the copy is made.
   */
  private snapshotSource: SnapshotSource | null = null;
  private readonly awaitingCopy = new Map<string, SnapshotMessage>();
  /** Numbers the copies' files: each has its own name, so removing an old one never races the next one's rename. */
  private copySeq = 0;
  /**
   * The event loop's delays, reset when a snapshot starts and when it is saved: 'compacted the log' logs the longest
   * while it was taken (the snapshot's apply stall) next to the longest between the last snapshot and this one (the
   * same load without a snapshot), so what the snapshot adds is seen apart from what the load does anyway.
   */
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 10 });
  private loopDelayBetweenMs: number | null = null;
  private readonly members = new MemberBook();
  private readonly transport: Transport;
  private readonly snapshotSender: SnapshotSender;
  private readonly snapshotReceiver: SnapshotReceiver;
  private readonly chaos: Chaos;
  private http: Server | null = null;
  private binary: BinaryApi | null = null;
  private tickTimer: NodeJS.Timeout | null = null;

  private role: NodeStatus['role'] = 'follower';
  private leaderId: string | null = null;
  private term = 0;
  private appliedIndex: number;
  private snapshotIndex: number;
  private ticks = 0;

  private readonly proposals = new Map<number, PendingProposal>();
  private readonly reads = new Map<string, PendingRead>();
  private readSeq = 0;
  /** Read contexts must not collide with a previous incarnation's requests still queued at the leader. */
  private readonly readPrefix = `${process.pid}.${randomBytes(4).toString('hex')}`;
  private processing = false;
  private kicked = false;
  private stopping = false;
  private fatal: Error | null = null;

  constructor(
    private readonly cfg: NodeConfig,
    private readonly logger: NodeLogger,
  ) {
    mkdirSync(cfg.dataDir, { recursive: true });
    // The lock comes first: recovery may cut a torn log tail, which must never race another process's writes.
    this.lock = DataDirLock.acquire(cfg.dataDir, {
      onLost: (detail) => this.fail(new Error(`lost the data-dir lock: ${detail}`)),
      onTakeover: (reason, holder) => logger.warn('took over a stale data-dir lock', { reason, holder }),
    });
    try {
      // Checked before the storage opens, so that another node's or cluster's data is not even recovered.
      const existing = readIdentity(cfg.dataDir);
      if (existing) checkIdentity(cfg.dataDir, existing, cfg);
      this.storage = RaftStorage.open(cfg.dataDir, { allowDamagedTruncate: cfg.walAllowTruncate });
      const restored = this.storage.restored;
      const hasState = restored.snapshot !== null || restored.entries.length > 0 || restored.hardState.term > 0;
      const settled = settleIdentity(existing, hasState, cfg);
      this.identity = settled.identity;
      if (settled.changed) writeIdentity(cfg.dataDir, this.identity);
      this.admitted = hasState;
    } catch (err) {
      this.lock.release();
      throw err;
    }
    const restored = this.storage.restored;
    this.logRecovery(restored.recovery);
    this.members.set(cfg.nodeId, { raftAddr: cfg.advertiseAddr, httpUrl: cfg.httpAdvertiseUrl });

    this.store = this.openStore(restored.snapshot);
    this.ledger = new LedgerStateMachine(this.store);
    // The transport does not exist yet: nothing to re-address.
    for (const entry of restored.entries) this.learnAddresses(entry, false);
    this.snapshotIndex = restored.snapshot?.meta.index ?? 0;
    // The store is at or past the snapshot (openStore): the log is replayed from the store's applied index.
    this.appliedIndex = Math.max(this.snapshotIndex, this.ledger.appliedIndex);

    // The log of the data dir that formed the cluster starts under {self}, which it does not record itself (the
    // core ignores this when there is a snapshot; config entries carry the membership after it).
    const bootstrapped = this.identity.origin === 'bootstrap' && this.admitted;
    this.raft = this.newRaft(restored, { voters: bootstrapped ? [cfg.nodeId] : [], learners: [] });
    this.chaos = new Chaos(cfg.chaos, cfg.nodeId);
    this.transport = this.createTransport();
    this.snapshotSender = new SnapshotSender({
      chunkBytes: cfg.snapshotChunkBytes,
      chunksInFlight: cfg.snapshotChunksInFlight,
      clusterId: () => this.clusterId() ?? '',
      send: (m) => this.transport.send([m]),
      logger,
    });
    this.snapshotReceiver = new SnapshotReceiver({
      self: cfg.nodeId,
      receivePath: this.storage.tempPath(SNAPSHOT_RECEIVE_FILE),
      storePath: this.storage.tempPath(SNAPSHOT_RECEIVE_STORE_FILE),
      clusterId: () => this.clusterId(),
      restore: checkLedgerSnapshot,
      send: (m) => this.transport.send([m]),
      deliver: (m) => this.raft.step(m),
      logger,
    });
    logger.info('storage recovered', {
      dataDir: cfg.dataDir,
      snapshotIndex: this.snapshotIndex,
      storeAppliedIndex: this.ledger.appliedIndex,
      entries: restored.entries.length,
      term: restored.hardState.term,
      identity: this.identity,
      admitted: this.admitted,
    });
  }

  /** Says what recovery had to cut from the log: damaged synced data (only when allowed) or a torn tail. */
  private logRecovery(recovery: RaftStorage['restored']['recovery']): void {
    const damaged = recovery.damagedSynced;
    if (damaged) {
      this.logger.error(
        'RAFT_WAL_ALLOW_TRUNCATE: cut damaged synced data from the log; acknowledged entries may be lost',
        {
          file: damaged.file,
          offset: damaged.offset,
          walDamagedBytes: damaged.damagedBytes,
          walDamagedEntries: damaged.intactEntries,
          reason: damaged.message,
        },
      );
    } else if (recovery.droppedTailBytes > 0) {
      this.logger.warn('dropped a torn log tail on recovery', { ...recovery });
    }
  }

  /** The peer transport: learns peers' addresses from their hellos and steps their messages into the core. */
  private createTransport(): Transport {
    return new Transport({
      self: { nodeId: this.cfg.nodeId, raftAddr: this.cfg.advertiseAddr, httpUrl: this.cfg.httpAdvertiseUrl },
      bindHost: this.cfg.bindHost,
      bindPort: this.cfg.bindPort,
      limits: this.cfg.peerLimits,
      keys: peerKeys(
        (this.cfg.peerSecret
          ? [this.cfg.peerSecret, this.cfg.peerSecretPrevious]
          : [this.cfg.authSecret, this.cfg.authSecretPrevious]
        ).filter((x): x is string => !!x),
      ),
      clusterId: () => this.clusterId() ?? '',
      chaos: this.chaos,
      logger: this.logger,
      resolve: (id) => this.members.get(id)?.raftAddr,
      onPeerHello: (hello) => {
        if (this.members.set(hello.nodeId, { raftAddr: hello.raftAddr, httpUrl: hello.httpUrl })) {
          this.transport.readdress(hello.nodeId);
        }
      },
      onMessages: (messages) => {
        if ((this.stopping && this.tickTimer === null) || !this.admitted) return;
        const now = Date.now();
        trace(`recv ${messages.map((m) => m.type).join(',')}`);
        for (const m of messages) {
          this.lastHeard.set(m.from, now);
          if (m.type === 'SnapshotChunk') this.snapshotReceiver.onChunk(m);
          else if (m.type === 'SnapshotAck') this.snapshotSender.onAck(m);
          else this.raft.step(m);
        }
        this.kick();
      },
    });
  }

  private newRaft(restored: Omit<RestoredState, 'config'>, config: ClusterConfig): Raft {
    return new Raft(
      {
        id: this.cfg.nodeId,
        electionTick: this.cfg.electionTicks,
        heartbeatTick: 1,
        maxInflightMsgs: this.cfg.maxInflightMsgs,
        maxEntriesPerAppend: this.cfg.maxEntriesPerAppend,
        checkQuorum: true,
        preVote: true,
        random: Math.random,
      },
      { hardState: restored.hardState, snapshot: restored.snapshot, entries: restored.entries, config },
    );
  }

  async start(): Promise<void> {
    await this.transport.listen();
    const verifier = this.cfg.authSecret
      ? new TokenVerifier([this.cfg.authSecret, this.cfg.authSecretPrevious].filter((x): x is string => !!x))
      : undefined;
    const api = { node: this, verifier, logger: this.logger, limits: this.cfg.httpLimits };
    this.http = createHttpApi({ ...api, binaryAddr: this.cfg.clientAdvertiseAddr ?? null });
    await listen(this.http, this.cfg.httpPort, this.cfg.httpBindHost);
    if (this.cfg.clientPort !== undefined) {
      this.binary = createBinaryApi(api);
      await listen(this.binary.server, this.cfg.clientPort, this.cfg.httpBindHost);
    }
    this.tickTimer = setInterval(() => this.onTick(), this.cfg.heartbeatMs);
    this.loopDelay.enable();
    this.logger.info('node started', {
      raftAddr: this.cfg.advertiseAddr,
      httpUrl: this.cfg.httpAdvertiseUrl,
      initialClusterState: this.cfg.initialClusterState,
      admitted: this.admitted,
      authOpen: !this.cfg.authSecret,
      chaos: this.chaos.enabled ? this.cfg.chaos : undefined,
    });
    this.kick();
    if (!this.admitted) {
      void this.enterCluster();
      return;
    }
    const st = this.raft.status();
    const isMember = st.config.voters.includes(this.cfg.nodeId) || st.config.learners.includes(this.cfg.nodeId);
    if (!isMember && this.cfg.peers.length > 0) {
      this.logger.warn('this node has Raft state but is not in the configuration (removed?): asking to be added');
      void this.joinLoop();
    }
  }

  /** An empty log: bootstrap (only when bootstrap.ts's rule allows it) or join; see bootstrap.ts. */
  private async enterCluster(): Promise<void> {
    if (this.cfg.initialClusterState === 'new') {
      let lastReason = '';
      for (let waitMs = 200; !this.stopping; waitMs = Math.min(waitMs * 2, 3_000)) {
        const self = { nodeId: this.cfg.nodeId, incarnation: this.identity.incarnation, clusterId: this.clusterId() };
        const decision = decideEntry(self, await probePeers(this.cfg.peers, this.cfg.authSecret));
        if (this.stopping) return;
        if (decision.kind === 'bootstrap') return this.formCluster();
        if (decision.kind === 'join') break;
        if (decision.reason !== lastReason) {
          this.logger.warn('not bootstrapping yet: every peer must answer, and none may be in a cluster', {
            reason: decision.reason,
          });
          lastReason = decision.reason;
        }
        await sleep(waitMs);
      }
    }
    this.logger.info('empty data dir: asking the cluster to add this node', { incarnation: this.identity.incarnation });
    await this.joinLoop();
  }

  /** Forms a new one-voter cluster; decided by enterCluster, on an empty log only. */
  private formCluster(): void {
    this.identity = { ...this.identity, origin: 'bootstrap', clusterId: this.clusterId() ?? randomUUID() };
    // Durable before the log's first entry: on restart the log is then read under the one-voter configuration.
    writeIdentity(this.cfg.dataDir, this.identity);
    // Nothing has reached the core yet (every message was dropped, and a core without configuration sends none), so
    // a new core with the configuration {self} is the same as having started with it.
    this.raft = this.newRaft(
      { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [] },
      { voters: [this.cfg.nodeId], learners: [] },
    );
    this.admitted = true;
    this.logger.info('bootstrapped a new cluster', { clusterId: this.identity.clusterId });
    this.kick();
  }

  private clusterId(): string | null {
    return this.identity.clusterId ?? this.cfg.clusterId ?? null;
  }

  // ---- the drive loop ---------------------------------------------------------------------------

  private onTick(): void {
    this.raft.tick();
    this.ticks++;
    if (this.role === 'leader' && this.ticks % MEMBERSHIP_CHECK_TICKS === 0) this.promoteCaughtUpLearners();
    this.kick();
  }

  /**
   * Schedules Ready processing; everything stepped or proposed meanwhile lands in the same batch: every message of a
   * peer's frame and every request of a client's chunk (each is stepped or proposed synchronously in its socket
   * callback), and, while a Ready waits for its fdatasync, everything until that sync ends. On process.nextTick, not
   * setImmediate: an idle node (one client) starts the fdatasync, or answers, right after the callback that brought
   * the work, instead of after the rest of the loop's poll phase (docs/performance.md#where-one-write-goes).
   */
  private kick(): void {
    if (this.kicked || this.fatal) return;
    this.kicked = true;
    process.nextTick(() => {
      trace('kicked');
      this.kicked = false;
      void this.processReady();
    });
  }

  private async processReady(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.raft.hasReady()) {
        const rd = this.raft.ready();
        trace(
          `ready e${rd.entries.length} c${rd.committedEntries.length} now${rd.messagesNow.length} m${rd.messages.length}`,
        );
        this.onSoftState(rd.softState);
        for (const rs of rd.readStates) {
          const read = this.reads.get(rs.context);
          if (read) read.index = rs.index;
        }
        if (rd.snapshot) this.installSnapshot(rd.snapshot);
        if (rd.entries.length > 0) {
          this.storage.append(rd.entries);
          for (const e of rd.entries) this.learnAddresses(e);
        }
        if (rd.hardState) this.storage.setHardState(rd.hardState);
        // Group commit: one fdatasync covers every entry and vote of this Ready, before anything is acknowledged.
        // A change of the commit index alone need not be synced (it is a hint Raft can recompute); it stays
        // buffered until the next sync, as in etcd's MustSync.
        const termOrVoteChanged = this.termOrVoteChanged(rd.hardState); // always: it records what was synced
        const mustSync = rd.entries.length > 0 || termOrVoteChanged;
        const inline = mustSync && !rd.snapshot && this.syncsInline(rd);
        // Committed entries this node made durable in an earlier Ready are applied, and their clients answered,
        // while a background fdatasync runs rather than after it; after an inline one, once the messages are out.
        const firstNew = rd.entries[0]?.index ?? Infinity;
        const [applyNow, applyAfterSync] =
          rd.snapshot || inline ? [[], rd.committedEntries] : partition(rd.committedEntries, (e) => e.index < firstNew);
        const synced = this.persist(rd, mustSync, inline);
        trace('sentNow');
        if (applyNow.length > 0) {
          // The answers go out from promise callbacks while the sync runs in the background.
          for (const entry of applyNow) this.applyEntry(entry);
          this.scheduleStoreFlush();
          trace('appliedNow');
          this.answerReads();
        }
        await synced;
        trace('synced');
        this.send(rd.messages);
        trace('sent');
        for (const entry of applyAfterSync) this.applyEntry(entry);
        this.scheduleStoreFlush();
        trace('applied');
        this.raft.advance();
        trace('advanced');
        this.answerReads();
        await this.maybeCompact();
      }
    } catch (err) {
      this.fail(err as Error);
    } finally {
      this.processing = false;
    }
  }

  /**
   * Writes this Ready's entries and hard state and sends its messagesNow (the leader's appends); resolves once the
   * write is durable. Inline (syncsInline): the appends leave first — thesis §10.2.1, the core counts the leader's
   * own copy only once advance() reports it durable — and the fdatasync runs right here. Otherwise the write happens
   * here and the fdatasync runs on the thread pool: meanwhile the event loop sends, parses requests, proposes (they
   * join the next Ready) and steps messages; the next Ready waits, so one sync is in flight at a time. The appends
   * then leave after the write has started, not before: a write is one pwrite (~20 µs), the followers' path to their
   * own fdatasync is a network hop and a Ready (~0.3 ms), and a leader that starts its fdatasync last is the
   * commit's last vote (bench:raft:trace). Either way the sync starts before any apply: a follower's acknowledgement
   * (and the leader's own vote for the new entries) waits for the disk, not for the state machine.
   */
  private persist(rd: Ready, mustSync: boolean, inline: boolean): Promise<void> {
    if (inline) {
      this.send(rd.messagesNow);
      this.storage.sync();
      trace('appended');
      return Promise.resolve();
    }
    const synced = mustSync ? this.storage.syncInBackground() : Promise.resolve();
    // Handled here too, so that an apply that throws before the caller awaits it does not leave it unhandled.
    synced.catch(() => undefined);
    trace('appended');
    if (rd.messagesNow.length > 0) this.send(rd.messagesNow);
    return synced;
  }

  private storeFlushScheduled = false;

  /**
   * Commits what was applied to the order store (one SQLite transaction) STORE_FLUSH_DELAY_MS after the first entry
   * applied since the last commit, once for everything applied meanwhile (the state machine also commits on its own
   * at 4,096 buffered results). The store is not what makes a write durable — the Raft log is, fsynced on a majority
   * before anything is applied, and the store's commits are not fsynced (synchronous=NORMAL) — so a client may hear
   * its answer before the transaction: a crash in between replays the entries from the log on restart (the store
   * reports the applied index it holds) and recomputes the same results. Reads see the state machine's buffer first,
   * so nothing reads a stale store meanwhile; a snapshot and close() commit first.
   */
  private scheduleStoreFlush(): void {
    if (this.storeFlushScheduled) return;
    this.storeFlushScheduled = true;
    setTimeout(() => {
      this.storeFlushScheduled = false;
      if (this.fatal || this.stopping) return;
      try {
        this.ledger.flush();
      } catch (err) {
        this.fail(err as Error);
      }
    }, STORE_FLUSH_DELAY_MS).unref();
  }

  /** Sends core messages; a Snapshot becomes a chunked transfer of the snapshot file (snapshot-transfer.ts). */
  private send(messages: Message[]): void {
    const [snapshots, rest] = partition(messages, (m) => m.type === 'Snapshot');
    for (const m of snapshots) this.sendSnapshot(m as SnapshotMessage);
    if (rest.length > 0) this.transport.send(rest as PeerMessage[]);
  }

  /**
   * Whether this Ready's fdatasync runs on the event loop's own thread rather than libuv's thread pool. The pool
   * hands the call to another thread and its completion back (two wake-ups, each tens of µs on a VM with two
   * cores shared by four busy processes), which pays only when the loop has other work meanwhile. A follower has
   * none that should go first: its answer waits for the sync, the entries it applies can wait for the answer, and
   * the appends that arrive meanwhile join the next Ready either way. A leader has when other requests are in flight
   * (answers to apply, appends to send, requests to parse), not when this Ready's one entry is all it has — one
   * closed-loop client. Measured, A/B against the thread pool for all (docs/performance.md#inline-fdatasync-session-12).
   */
  private syncsInline(rd: Ready): boolean {
    if (this.role !== 'leader') return true;
    return rd.entries.length <= 1 && this.proposals.size <= 1;
  }

  private lastSynced = { term: -1, vote: null as string | null };

  private termOrVoteChanged(hs: { term: number; vote: string | null } | null): boolean {
    if (!hs || (hs.term === this.lastSynced.term && hs.vote === this.lastSynced.vote)) return false;
    this.lastSynced = { term: hs.term, vote: hs.vote };
    return true;
  }

  private onSoftState(soft: { role: string; leaderId: string | null; term: number }): void {
    const wasLeader = this.role === 'leader';
    const role = soft.role as NodeStatus['role'];
    if (role !== this.role || soft.leaderId !== this.leaderId || soft.term !== this.term) {
      this.logger.info('raft state changed', { role, leaderId: soft.leaderId, term: soft.term });
    }
    this.role = role;
    this.leaderId = soft.leaderId;
    this.term = soft.term;
    if (wasLeader && role !== 'leader') {
      this.snapshotSender.stopAll();
      this.awaitingCopy.clear();
      this.dropStoreCopy();
      // Our proposals may or may not commit under the next leader; say so and let the client read back.
      for (const [index, p] of this.proposals) {
        p.resolve({ kind: 'unavailable', reason: 'leadership lost; the outcome is unknown, read back or retry' });
        this.proposals.delete(index);
      }
    }
    if (!wasLeader && role === 'leader') this.leaderSince = Date.now();
    if (!wasLeader && role === 'leader' && this.chaos.shouldExitOnLeadership()) {
      this.logger.warn('chaos: exiting on becoming leader (CHAOS_EXIT_ON_LEADER)', { term: soft.term });
      process.exit(0);
    }
  }

  /**
   * A snapshot the core accepted from the leader, verified by the receiver before it was stepped. A received store
   * (the leader's store copy, written once on arrival) is installed by two renames around saving the compaction
   * point that stands for it (storage/ledger-snapshot.ts, stageStoreInstall); the older form is saved as it came and
   * the store restored from it. Either way the snapshot is saved before the store is replaced, and a crash between
   * the two is mended when the node starts (openStore).
   */
  private installSnapshot(snapshot: Snapshot): void {
    const received = this.snapshotReceiver.takeVerified(snapshot.data);
    if (!received) throw new Error(`the core installs snapshot ${snapshot.data}, which this node has not received`);
    const dbFile = path.join(this.cfg.dataDir, LEDGER_DB_FILE);
    this.ledger.close();
    if (received.store) {
      stageStoreInstall(received.store, dbFile);
      this.chaosCrashPoint('staged');
      this.storage.saveSnapshot(snapshot, received.file);
      this.chaosCrashPoint('saved');
      finishStoreInstall(dbFile);
      this.store = new SqliteOrderStore(dbFile, this.cfg.storeCacheMiB);
      this.loadMembers(readSnapshotInfo(this.storage.snapshotPath).header.members);
    } else {
      this.storage.saveSnapshot(snapshot, received.file);
      this.store = this.restoreStore(snapshot);
    }
    this.snapshotSource = this.savedSnapshotSource();
    this.ledger = new LedgerStateMachine(this.store);
    this.snapshotIndex = snapshot.meta.index;
    this.appliedIndex = snapshot.meta.index;
    this.logger.info('installed snapshot', {
      index: snapshot.meta.index,
      term: snapshot.meta.term,
      form: received.store ? 'store' : 'records',
    });
  }

  private chaosCrashPoint(step: InstallStep): void {
    if (!this.chaos.shouldCrashInInstall(step)) return;
    this.logger.warn('chaos: killing the process in a store install (CHAOS_EXIT_IN_INSTALL)', { step });
    process.kill(process.pid, 'SIGKILL');
  }

  /**
   * Opens the order store (ledger.db) for the saved snapshot. A store behind a snapshot that holds a state (a crash
   * between saving a received snapshot and replacing the store) is restored from the snapshot file, since the log
   * before the snapshot is gone; otherwise the log is replayed from the store's own applied index. A store behind a
   * compaction point cannot be mended here: it was synced past that point before the log was compacted, so it was
   * lost or rolled back under the node (a restored backup, a disk that dropped synced writes). The member book comes
   * from the snapshot's header either way.
   */
  private openStore(snapshot: Snapshot | null): SqliteOrderStore {
    const dbFile = path.join(this.cfg.dataDir, LEDGER_DB_FILE);
    const settled = settleStoreInstall(dbFile, snapshot?.meta.index);
    if (settled) this.logger.warn(`${settled} the install of a received store that a stop interrupted`);
    const store = new SqliteOrderStore(dbFile, this.cfg.storeCacheMiB);
    if (!snapshot) return store;
    this.snapshotSource = this.savedSnapshotSource();
    const storedIndex = store.load()?.state.appliedIndex ?? 0;
    if (storedIndex >= snapshot.meta.index) {
      this.loadMembers(readSnapshotInfo(this.storage.snapshotPath).header.members);
      return store;
    }
    store.close();
    if (!this.snapshotSource) {
      throw new DataDirRefusedError(
        `${dbFile} is at index ${storedIndex}, behind the log's compaction point ${snapshot.meta.index} (it was ` +
          'synced past it before the log was compacted): the order store was lost or rolled back. Move this ' +
          "node's data dir aside and start it empty to catch up from the leader (docs/ledger.md, 'By hand')",
      );
    }
    this.logger.warn('the order store is behind the snapshot: restoring it from the snapshot file', {
      storedIndex,
      snapshotIndex: snapshot.meta.index,
    });
    return this.restoreStore(snapshot);
  }

  /** The saved snapshot file as something to send, when it holds a state; null for a compaction point. */
  private savedSnapshotSource(): SnapshotSource | null {
    const file = this.storage.snapshotPath;
    if (isStoreRef(readSnapshotRecords(file, () => undefined))) return null;
    const { header, sha256, bytes } = readSnapshotInfo(file);
    const { index, term, config } = header;
    return { path: file, meta: { index, term, config }, sha256, bytes };
  }

  /** Replaces the store with the saved snapshot's (checked against its checksum) and loads its member book. */
  private restoreStore(snapshot: Snapshot): SqliteOrderStore {
    const { sha256 } = parseDescriptor(snapshot.data);
    const dbFile = path.join(this.cfg.dataDir, LEDGER_DB_FILE);
    const records = readSnapshotRecords(this.storage.snapshotPath, (h) => this.loadMembers(h.members), sha256);
    restoreStoreFile(records, dbFile, snapshot.meta.index);
    return new SqliteOrderStore(dbFile, this.cfg.storeCacheMiB);
  }

  private loadMembers(members: Record<string, unknown>): void {
    this.members.load(members as Record<string, MemberAddress>);
    // The snapshot may carry an address this node had before (a replaced task at a new address): ours wins.
    this.members.set(this.cfg.nodeId, { raftAddr: this.cfg.advertiseAddr, httpUrl: this.cfg.httpAdvertiseUrl });
  }

  private applyEntry(entry: Entry): void {
    if (entry.index <= this.appliedIndex) return;
    let result: unknown = null;
    if (entry.type === 'normal') {
      result = this.ledger.apply(entry.data, entry.index);
    } else if (entry.type === 'config') {
      this.ledger.skip(entry.index);
      const cc = parseConfChangeEntry(entry);
      this.learnAddresses(entry);
      if (cc.type === 'remove') {
        if (cc.nodeId === this.cfg.nodeId) this.logger.warn('this node was removed from the cluster');
        else this.transport.forget(cc.nodeId);
      }
      this.logger.info('membership change applied', { change: cc.type, memberId: cc.nodeId, index: entry.index });
    }
    this.appliedIndex = entry.index;
    const pending = this.proposals.get(entry.index);
    if (pending) {
      this.proposals.delete(entry.index);
      pending.resolve(
        pending.term === entry.term
          ? { kind: 'ok', value: result }
          : { kind: 'unavailable', reason: 'the proposal was superseded by a new leader; retry' },
      );
    }
  }

  private learnAddresses(entry: Entry, readdress = true): void {
    if (entry.type !== 'config') return;
    const cc = parseConfChangeEntry(entry);
    const addr = parseConfChangeContext(cc.context);
    if (addr && cc.nodeId !== this.cfg.nodeId && this.members.set(cc.nodeId, addr) && readdress) {
      this.transport.readdress(cc.nodeId);
    }
  }

  private answerReads(): void {
    for (const [ctx, read] of this.reads) {
      if (read.index !== null && read.index <= this.appliedIndex) {
        this.reads.delete(ctx);
        read.resolve({ kind: 'ok', value: read.index });
      }
    }
  }

  /**
   * Compaction and the copies followers are sent run in the background, one job at a time, while entries keep being
   * applied; called between Readies (never during another background sync, which the storage refuses), this starts
   * one when due and finishes a written compaction point. A copy a follower waits for goes first.
   */
  private async maybeCompact(): Promise<void> {
    if (this.writtenSnapshot) {
      // Saving seals raft.log, which must be durable whole: a commit index a Ready left buffered (it needs no sync of
      // its own) is synced here on the thread pool, not by a synchronous fdatasync inside the save — under the other
      // nodes' snapshot writeback that one took 155 ms of the event loop (soak:raft, 1 client).
      if (!this.stopping) await this.storage.syncInBackground();
      return this.finishSnapshot();
    }
    if (this.snapshotJob || this.stopping) return;
    if (this.awaitingCopy.size > 0) {
      this.startSnapshotJob(this.copyStoreForFollowers(Date.now()), 'copying the store for a follower failed');
      return;
    }
    // The first compaction point is taken at once; then once enough entries were applied since the last one, or once
    // the active log segment (entries since about the last one, also held in memory) is big: a few thousand entries
    // of large order batches weigh more than the threshold's worth of single orders.
    // A follower that installed a leader's copy in the older JSON form keeps it as its snapshot file until its next
    // compaction point (a store copy is installed as a compaction point at once); its store already holds that state,
    // so the first entry applied after it is reason enough to take one and free the disk. A leader keeps a copy it
    // saved: it may be sending it.
    const since = this.appliedIndex - this.snapshotIndex;
    const holdsInstalledCopy = this.role !== 'leader' && this.snapshotSource?.path === this.storage.snapshotPath;
    const due =
      since >= this.cfg.snapshotThreshold ||
      (since > 0 && (holdsInstalledCopy || this.storage.logBytes >= this.cfg.snapshotLogMiB * 1024 * 1024)) ||
      (this.snapshotIndex === 0 && this.appliedIndex > 0);
    if (!due) return;
    const index = Math.min(this.ledger.appliedIndex, this.compactionLimit());
    if (index <= this.snapshotIndex) return;
    this.ledger.flush();
    const startedAt = Date.now();
    this.loopDelayBetweenMs = this.loopDelayMaxMs();
    this.startSnapshotJob(this.takeCompactionPoint(index, startedAt), 'taking a snapshot failed; retrying later');
  }

  /**
   * How far a compaction may go. While a follower is being caught up by a copy of the store (its progress in the
   * snapshot state, heard from within two election timeouts), not past the copy's index: once it has installed the
   * copy it continues from the entries after it, which must still be in the log — compacted away, it would need a
   * newer copy, and at a high write rate every copy would be overtaken the same way. etcd keeps a tail of entries
   * after each compaction for the same reason. Bounded: the hold ends once the log since the last compaction holds
   * twice RAFT_SNAPSHOT_LOG_MIB, so a follower that never finishes cannot make the log grow without end.
   */
  private compactionLimit(): number {
    const copy = this.snapshotSource;
    if (!copy || this.role !== 'leader') return Infinity;
    if (this.storage.logBytes >= 2 * this.cfg.snapshotLogMiB * 1024 * 1024) return Infinity;
    const heardSince = Date.now() - 2 * this.cfg.electionTicks * this.cfg.heartbeatMs;
    const catchingUp = Object.entries(this.raft.status().progress ?? {}).some(
      ([id, p]) => p.state === 'snapshot' && (this.lastHeard.get(id) ?? 0) >= heardSince,
    );
    return catchingUp ? copy.meta.index : Infinity;
  }

  private startSnapshotJob(job: Promise<void>, failure: string): void {
    this.snapshotJob = job
      .catch((error: Error) => this.logger.warn(failure, { error: error.message }))
      .finally(() => {
        this.snapshotJob = null;
        this.kick();
      });
  }

  /**
   * A compaction point (etcd's way: the state machine's own store is the snapshot): the store, just flushed to
   * `index` or past it, is synced to disk, and a small snapshot file naming that index (storage/ledger-snapshot.ts)
   * is written for finishSnapshot() to save before the log is compacted up to it. No copy of the state is written:
   * copying a 2.2 GB store and writing it out again on every node at every compaction stalled requests for hundreds
   * of milliseconds (docs/performance.md#snapshots-as-compaction-points-session-10). Followers get a copy only when
   * one needs it (copyStoreForFollowers).
   */
  private async takeCompactionPoint(index: number, startedAt: number): Promise<void> {
    const store = this.store;
    await store.syncToDisk();
    if (this.stopping || store !== this.store || index <= this.snapshotIndex) return;
    const meta = this.raft.snapshotMetaAt(index);
    const info = await writeSnapshotFileAsync(
      this.storage.tempPath(SNAPSHOT_TAKE_FILE),
      { clusterId: this.clusterId(), ...meta, members: this.members.toJSON() },
      storeRefRecords(index),
    );
    this.writtenSnapshot = { index, info, startedAt };
  }

  /**
   * The leader's answer to a follower that needs a snapshot: a consistent copy of the store (a worker thread) at the
   * store's applied index, sent as a snapshot of that index. The snapshot file is never written: its framing is
   * computed over the copy in one read (frameStoreCopy) and the sender reads the copy's bytes through it, so a
   * catch-up writes the store once on the leader, not twice. No compaction runs meanwhile (one job at a time), so the
   * copy's index is still in the log when it is read: the follower installs it and continues with the entries after
   * it, which the log holds while the copy is kept (finishSnapshot).
   */
  private async copyStoreForFollowers(startedAt: number): Promise<void> {
    const copyFile = path.join(this.cfg.dataDir, 'snapshot.store.tmp');
    this.loopDelayMaxMs();
    try {
      const state = await this.store.copyTo(copyFile);
      if (this.stopping || this.role !== 'leader' || state.appliedIndex < this.snapshotIndex) return;
      const meta = this.raft.snapshotMetaAt(state.appliedIndex);
      const framed = await frameStoreCopy(
        copyFile,
        { clusterId: this.clusterId(), ...meta, members: this.members.toJSON() },
        state,
        this.cfg.snapshotChunkBytes,
      );
      if (this.stopping || this.role !== 'leader') return;
      // Renamed rather than reused: a transfer of the previous copy may still be reading that one. Named
      // snapshot.*.tmp, a copy left by a crash is removed when the storage opens.
      const file = path.join(this.cfg.dataDir, `snapshot.send-${++this.copySeq}.tmp`);
      await rename(copyFile, file);
      this.dropStoreCopy();
      const { sha256, bytes } = framed.info;
      this.snapshotSource = { path: file, meta, sha256, bytes, framed };
      this.logger.info('copied the store for followers', {
        index: meta.index,
        bytes,
        tookMs: Date.now() - startedAt,
        maxLoopDelayMs: this.loopDelayMaxMs(),
      });
      for (const m of this.awaitingCopy.values()) {
        if (m.term === this.term) this.snapshotSender.start(m, this.snapshotSource);
      }
    } finally {
      this.awaitingCopy.clear();
      // On the thread pool: unlinking a copy of a large store takes the filesystem a while. Gone already when it
      // became the snapshot source.
      await rm(copyFile, { force: true });
    }
  }

  /** A core Snapshot message: sends the snapshot source, or has a copy of the store made first. */
  private sendSnapshot(m: SnapshotMessage): void {
    const source = this.snapshotSource;
    if (source && source.meta.index >= this.snapshotIndex) {
      this.snapshotSender.start(m, source);
      return;
    }
    this.awaitingCopy.set(m.to, m);
    this.kick();
  }

  /**
   * Forgets a copy of the store made for followers, and removes its file on the thread pool (a transfer still
   * reading it keeps its open descriptor). The saved snapshot file, when that is the source, stays.
   */
  private dropStoreCopy(): void {
    const source = this.snapshotSource;
    if (!source || source.path === this.storage.snapshotPath) return;
    this.snapshotSource = null;
    void rm(source.path, { force: true });
  }

  private finishSnapshot(): void {
    const { index, info, startedAt } = this.writtenSnapshot!;
    this.writtenSnapshot = null;
    // A snapshot installed from the leader meanwhile is newer: this one is dropped (its temp file is overwritten).
    if (index <= this.snapshotIndex || this.stopping) return;
    const saveStarted = performance.now();
    this.raft.compact(index, JSON.stringify({ sha256: info.sha256, bytes: info.bytes }));
    const snapshot = this.raft.latestSnapshot();
    if (!snapshot || snapshot.meta.index !== index) return;
    const compactMs = performance.now() - saveStarted;
    this.storage.saveSnapshot(snapshot, this.storage.tempPath(SNAPSHOT_TAKE_FILE));
    this.snapshotIndex = index;
    // The saved file no longer holds a state; a copy made for followers is kept while the log holds what follows it.
    if (this.snapshotSource?.path === this.storage.snapshotPath) this.snapshotSource = null;
    if (this.snapshotSource && this.snapshotSource.meta.index < index) this.dropStoreCopy();
    this.logger.info('compacted the log', {
      snapshotIndex: index,
      tookMs: Date.now() - startedAt,
      // The synchronous part (the core's compaction, the snapshot's rename, sealing the log segment).
      saveMs: Math.round(performance.now() - saveStarted),
      // Of which the core's compaction (the rest is the storage's: rename, seal, their fsyncs).
      compactMs: Math.round(compactMs),
      // The longest the event loop (and so the apply loop) waited while this snapshot was taken, and between the
      // previous snapshot and this one.
      maxLoopDelayMs: this.loopDelayMaxMs(),
      maxLoopDelayBetweenMs: this.loopDelayBetweenMs,
    });
  }

  /** The longest event-loop delay since the last call (milliseconds; null before the loop was measured). */
  private loopDelayMaxMs(): number | null {
    const max = this.loopDelay.count > 0 ? Math.round(this.loopDelay.max / 1e6) : null;
    this.loopDelay.reset();
    return max;
  }

  private promoteCaughtUpLearners(): void {
    const st = this.raft.status();
    for (const learner of st.config.learners) {
      const match = st.progress?.[learner]?.match ?? 0;
      if (match >= st.commitIndex) {
        const r = this.raft.proposeConfChange({ type: 'promote', nodeId: learner });
        if (r.ok) this.logger.info('promoting caught-up learner', { memberId: learner, match });
        return;
      }
    }
  }

  private fail(err: Error): void {
    this.fatal = err;
    this.logger.error('fatal error in the raft loop; stopping the node so it restarts and recovers', { error: err });
    process.exitCode = 1;
    void this.shutdown('fatal').finally(() => process.exit(1));
  }

  // ---- proposals and reads ----------------------------------------------------------------------

  private leaderUrl(leaderId: string | null = this.leaderId): string | null {
    if (!leaderId) return null;
    return this.members.get(leaderId)?.httpUrl ?? null;
  }

  private async propose<T>(command: LedgerCommand): Promise<Outcome<T>> {
    if (this.stopping) return { kind: 'unavailable', reason: 'node is shutting down' };
    if (this.role !== 'leader') return { kind: 'not-leader', leaderUrl: this.leaderUrl() };
    const o = await this.awaitProposal<LedgerApplyResult>(this.raft.propose(encodeCommand(command)));
    if (o.kind === 'ok' && isCommandError(o.value)) return { kind: 'conflict', reason: o.value.error };
    return o as Outcome<T>;
  }

  private awaitProposal<T>(
    r: { ok: true; index: number; term: number } | { ok: false; reason: string; leaderId: string | null },
  ): Promise<Outcome<T>> {
    if (!r.ok) {
      if (r.leaderId && r.leaderId !== this.cfg.nodeId) {
        return Promise.resolve({ kind: 'not-leader', leaderUrl: this.leaderUrl(r.leaderId) });
      }
      return Promise.resolve({ kind: 'unavailable', reason: r.reason });
    }
    this.kick();
    return new Promise<Outcome<T>>((resolve) => {
      const timer = setTimeout(() => {
        if (this.proposals.get(r.index)?.resolve === done) this.proposals.delete(r.index);
        resolve({ kind: 'unavailable', reason: 'timed out waiting for the commit; the outcome is unknown' });
      }, PROPOSAL_TIMEOUT_MS);
      const done = (o: Outcome<unknown>) => {
        clearTimeout(timer);
        resolve(o as Outcome<T>);
      };
      this.proposals.set(r.index, { term: r.term, resolve: done });
    });
  }

  /** Linearizable read: waits for a ReadIndex confirmed by the leader, then for the apply to reach it. */
  private async linearizable<T>(read: () => T): Promise<Outcome<T>> {
    if (this.stopping) return { kind: 'unavailable', reason: 'node is shutting down' };
    if (!this.leaderId) return { kind: 'not-leader', leaderUrl: null };
    const context = `${this.readPrefix}:${++this.readSeq}`;
    const outcome = await new Promise<Outcome<number>>((resolve) => {
      const timer = setTimeout(() => {
        this.reads.delete(context);
        resolve({ kind: 'unavailable', reason: 'timed out confirming leadership for a linearizable read' });
      }, READ_TIMEOUT_MS);
      this.reads.set(context, {
        index: null,
        resolve: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      });
      this.raft.readIndex(context);
      this.kick();
    });
    if (outcome.kind !== 'ok') return outcome;
    return { kind: 'ok', value: read() };
  }

  // The leader stamps each order entry with its clock (the state machine has none): the results keep it as
  // executedTs, the same on every replica and for every repeat.
  applyOrder(order: Order): Promise<Outcome<OrderResult>> {
    return this.propose<OrderResult>({ type: 'order', order, ts: Date.now() });
  }

  applyOrders(orders: Order[]): Promise<Outcome<OrderBatchResult>> {
    return this.propose<OrderBatchResult>({ type: 'orderBatch', orders, ts: Date.now() });
  }

  cancelOrder(cancel: CancelRequest): Promise<Outcome<CancelResult>> {
    return this.propose<CancelResult>({ type: 'cancel', ...cancel });
  }

  setLimits(limits: Partial<RiskLimits>): Promise<Outcome<RiskLimits>> {
    return this.propose<RiskLimits>({ type: 'setLimits', limits });
  }

  async setHalted(halted: boolean, reason?: string): Promise<Outcome<HaltInfo>> {
    const command = halted ? { type: 'halt' as const, ...(reason ? { reason } : {}) } : { type: 'resume' as const };
    const o = await this.propose<{ halted: boolean; reason: string | null }>(command);
    return o.kind === 'ok' ? { kind: 'ok', value: { halted: o.value.halted, haltReason: o.value.reason } } : o;
  }

  async getOrder(orderId: string): Promise<Outcome<OrderResult>> {
    const o = await this.linearizable(() => this.ledger.getOrder(orderId));
    if (o.kind !== 'ok') return o;
    return o.value ? { kind: 'ok', value: o.value } : { kind: 'not-found' };
  }

  positions(account?: string): Promise<Outcome<Position[]>> {
    return this.linearizable(() => this.ledger.positions(account));
  }

  limits(): Promise<Outcome<RiskLimits & HaltInfo>> {
    return this.linearizable(() => ({
      ...this.ledger.limits,
      halted: this.ledger.halted,
      haltReason: this.ledger.haltReason,
    }));
  }

  /**
   * Adds a node as a learner (it is promoted once caught up). A join from a node id that is already a member, with
   * another incarnation than the one the cluster added, comes from a node that lost its log (a wiped volume, a
   * replaced task, possibly at a new address): its old incarnation is removed first, then the new one is added as
   * a learner, gets a snapshot and is promoted. It never resumes as the old member: the old one's votes and
   * acknowledgements are counted in this cluster's history, and the new one cannot honour them (see `admitted`).
   * The same incarnation again is a retried join: answered as done. Every step is safe to retry.
   */
  async addMember(req: JoinRequest): Promise<Outcome<{ members: MemberInfo[]; clusterId: string | null }>> {
    if (this.role !== 'leader') return { kind: 'not-leader', leaderUrl: this.leaderUrl() };
    const clusterId = this.clusterId();
    if (req.clusterId && clusterId && req.clusterId !== clusterId) {
      return { kind: 'conflict', reason: `this is cluster ${clusterId}, not ${req.clusterId}` };
    }
    const ok = () => ({ kind: 'ok' as const, value: { members: this.memberList(), clusterId } });
    const address = {
      raftAddr: req.raftAddr,
      httpUrl: req.httpUrl,
      ...(req.incarnation ? { incarnation: req.incarnation } : {}),
    };
    const cfg = this.raft.status().config;
    if (cfg.voters.includes(req.nodeId) || cfg.learners.includes(req.nodeId)) {
      const known = this.members.get(req.nodeId)?.incarnation;
      if (!req.incarnation || known === req.incarnation) {
        // A retried join. It may not move the member: whoever holds the token could otherwise redirect a member's
        // log and snapshots to an address of its choosing. A new address comes with a new incarnation (the
        // replace flow below), from a node that starts with an empty data dir.
        const moved = this.addressChange(req.nodeId, address);
        return moved ? { kind: 'conflict', reason: moved } : ok();
      }
      const refused = this.refuseReplacement(req.nodeId);
      if (refused) return { kind: 'conflict', reason: refused };
      this.logger.warn('replacing a member that lost its log', {
        memberId: req.nodeId,
        oldIncarnation: known ?? null,
        incarnation: req.incarnation,
        raftAddr: req.raftAddr,
      });
      const removed = await this.awaitProposal<unknown>(
        this.raft.proposeConfChange({ type: 'remove', nodeId: req.nodeId }),
      );
      if (removed.kind !== 'ok') return removed;
    }
    if (this.members.set(req.nodeId, address)) this.transport.readdress(req.nodeId);
    const r = this.raft.proposeConfChange({ type: 'addLearner', nodeId: req.nodeId, context: JSON.stringify(address) });
    const o = await this.awaitProposal<unknown>(r);
    if (o.kind !== 'ok') return o;
    this.logger.info('added a learner', { memberId: req.nodeId, raftAddr: req.raftAddr, incarnation: req.incarnation });
    return ok();
  }

  /** Why a join of the existing member `nodeId` at `address` is refused (it would move it), or null. */
  private addressChange(nodeId: string, address: { raftAddr: string; httpUrl: string }): string | null {
    const known = this.members.get(nodeId);
    if (!known || (known.raftAddr === address.raftAddr && known.httpUrl === address.httpUrl)) return null;
    return (
      `member ${nodeId} is at ${known.raftAddr} (${known.httpUrl}); moving it to ${address.raftAddr} ` +
      `(${address.httpUrl}) needs the replace flow: start the node with an empty data dir (a new incarnation)`
    );
  }

  /** Why the member `nodeId` may not be replaced now, or null. Replacing a live member would cut it off. */
  private refuseReplacement(nodeId: string): string | null {
    if (nodeId === this.cfg.nodeId) return `node ${nodeId} is this leader, which has its log`;
    const quietMs = Date.now() - Math.max(this.lastHeard.get(nodeId) ?? 0, this.leaderSince);
    const needMs = 2 * this.cfg.electionTicks * this.cfg.heartbeatMs;
    if (quietMs >= needMs) return null;
    return (
      `member ${nodeId} answered ${quietMs} ms ago; its replacement waits until it has been silent for ${needMs} ms ` +
      '(are two processes running with the same RAFT_NODE_ID?)'
    );
  }

  async removeMember(nodeId: string): Promise<Outcome<{ members: MemberInfo[] }>> {
    if (this.role !== 'leader') return { kind: 'not-leader', leaderUrl: this.leaderUrl() };
    const cfg = this.raft.status().config;
    if (!cfg.voters.includes(nodeId) && !cfg.learners.includes(nodeId)) return { kind: 'not-found' };
    const o = await this.awaitProposal<unknown>(this.raft.proposeConfChange({ type: 'remove', nodeId }));
    if (o.kind !== 'ok') return o;
    return { kind: 'ok', value: { members: this.memberList() } };
  }

  private memberList(): MemberInfo[] {
    const { voters, learners } = this.raft.status().config;
    const info = (id: string, voter: boolean): MemberInfo => ({
      id,
      raftAddr: this.members.get(id)?.raftAddr ?? '',
      httpUrl: this.members.get(id)?.httpUrl ?? '',
      voter,
    });
    return [...voters.map((id) => info(id, true)), ...learners.map((id) => info(id, false))].sort((a, b) =>
      a.id < b.id ? -1 : a.id > b.id ? 1 : 0,
    );
  }

  status(): NodeStatus & { authOpen: boolean } {
    const st = this.raft.status();
    return {
      nodeId: this.cfg.nodeId,
      role: this.role === 'follower' && st.config.learners.includes(this.cfg.nodeId) ? 'learner' : this.role,
      term: this.term,
      leaderId: this.leaderId,
      leaderUrl: this.leaderUrl(),
      commitIndex: st.commitIndex,
      appliedIndex: this.appliedIndex,
      lastLogIndex: st.lastIndex,
      snapshotIndex: this.snapshotIndex,
      members: this.memberList(),
      halted: this.ledger.halted,
      haltReason: this.ledger.haltReason,
      authOpen: !this.cfg.authSecret,
    };
  }

  isReady(): boolean {
    return !this.stopping && this.leaderId !== null && this.appliedIndex >= this.raft.status().commitIndex;
  }

  // ---- joining and shutdown ---------------------------------------------------------------------

  /**
   * Asks the cluster (through each peer in turn, following redirects to the leader) to add this incarnation, and
   * opens the Raft gate (`admitted`) once it has. A mismatching cluster id stops the node.
   */
  private async joinLoop(): Promise<void> {
    const body = JSON.stringify({
      nodeId: this.cfg.nodeId,
      raftAddr: this.cfg.advertiseAddr,
      httpUrl: this.cfg.httpAdvertiseUrl,
      incarnation: this.identity.incarnation,
      ...(this.clusterId() ? { clusterId: this.clusterId() } : {}),
    });
    const headers = { 'content-type': 'application/json', ...authHeaders(this.cfg.authSecret) };
    const peers = this.cfg.peers;
    let turn = 0;
    let target = peers[0]!;
    let waitMs = 100;
    while (!this.stopping) {
      try {
        // Redirects are followed by hand: fetch drops the Authorization header on cross-origin redirects.
        const res = await fetch(`${target}/v1/members`, {
          method: 'POST',
          headers,
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(10_000),
        });
        if (res.status === 307) {
          const leader = ((await res.json()) as { leader?: string }).leader;
          target = leader ?? new URL(res.headers.get('location') ?? target).origin;
          continue;
        }
        if (res.status === 200) return this.joined((await res.json()) as JoinAnswer, target);
        const text = await res.text();
        this.logger.warn('join refused; retrying', { via: target, status: res.status, body: text.slice(0, 300) });
      } catch (err) {
        this.logger.warn('join attempt failed; retrying', { via: target, error: (err as Error).message });
      }
      target = peers[++turn % peers.length]!;
      await sleep(waitMs);
      waitMs = Math.min(waitMs * 2, 2_000);
    }
  }

  private joined(answer: JoinAnswer, via: string): void {
    const expected = this.clusterId();
    if (expected && answer.clusterId && answer.clusterId !== expected) {
      this.fail(new Error(`the cluster at ${via} is ${answer.clusterId}, but this node belongs to ${expected}`));
      return;
    }
    if (!this.identity.clusterId && answer.clusterId) {
      this.identity = { ...this.identity, clusterId: answer.clusterId };
      writeIdentity(this.cfg.dataDir, this.identity);
    }
    for (const m of answer.members) {
      if (m.id !== this.cfg.nodeId && m.raftAddr) this.members.set(m.id, { raftAddr: m.raftAddr, httpUrl: m.httpUrl });
    }
    this.admitted = true;
    this.logger.info('joined the cluster as a learner', { via, clusterId: answer.clusterId });
  }

  /** GET /v1/identity: what a probing peer needs to know (bootstrap.ts). */
  identityInfo(): PeerIdentity {
    return {
      nodeId: this.cfg.nodeId,
      clusterId: this.clusterId(),
      incarnation: this.identity.incarnation,
      state: this.admitted ? 'member' : 'uninitialized',
      initialClusterState: this.cfg.initialClusterState,
    };
  }

  /** SIGTERM: a leader hands over to an up-to-date follower first; then stop, flush, sync and close. */
  async shutdown(reason: string): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.logger.info('shutting down', { reason });
    if (this.role === 'leader' && !this.fatal) await this.handOverLeadership();
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.tickTimer = null;
    this.loopDelay.disable();
    await this.binary?.close();
    const http = this.http;
    if (http) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeIdleConnections();
        setTimeout(() => {
          http.closeAllConnections();
          resolve();
        }, 1_000).unref();
      });
    }
    for (const p of this.proposals.values()) p.resolve({ kind: 'unavailable', reason: 'node is shutting down' });
    this.proposals.clear();
    this.snapshotSender.stopAll();
    this.snapshotReceiver.close();
    await this.transport.close();
    // Let a Ready in progress finish its write before the storage closes.
    for (let waited = 0; this.processing && waited < 2_000; waited += 5) {
      await sleep(5);
    }
    if (!this.fatal) {
      this.storage.close();
      this.ledger.close();
    }
    this.lock.release();
    this.logger.info('stopped cleanly');
  }

  private async handOverLeadership(): Promise<void> {
    const st = this.raft.status();
    const candidates = st.config.voters
      .filter((id) => id !== this.cfg.nodeId)
      .map((id) => ({ id, match: st.progress?.[id]?.match ?? 0 }))
      .sort((a, b) => b.match - a.match);
    const target = candidates[0];
    if (!target) return;
    this.logger.info('transferring leadership before exit', { to: target.id });
    this.raft.transferLeadership(target.id);
    this.kick();
    const deadline = Date.now() + this.cfg.shutdownTransferMs;
    while (this.role === 'leader' && Date.now() < deadline) {
      await sleep(10);
    }
    this.logger.info(this.role === 'leader' ? 'leadership transfer timed out' : 'leadership handed over', {
      to: target.id,
      leaderId: this.leaderId,
    });
  }
}
