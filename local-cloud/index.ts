/**
 * The local cloud's one entry point: start it, find its endpoints, stop it — and the few parts the operator
 * tools use on their own (the Raft cluster launcher, the recorded queues, the status screen's numbers).
 *
 *   const cloud = await startLocalCloud({ dataDir: '.data', log: console.log });
 *   cloud.info.endpoint;   // the edge: give it to SDK clients as AWS_ENDPOINT_URL
 *   cloud.info.raftUrls;   // the Raft nodes' client API
 *   await cloud.stop();
 */
export {
  startEmbeddedStack as startLocalCloud,
  embeddedContext,
  stackInfoFile,
  STACK_NAME,
  type EmbeddedStack as LocalCloud,
  type EmbeddedStackOptions as LocalCloudOptions,
  type StackInfo,
} from './stack';
export { RaftCluster, startRaftCluster, type RaftClusterNode, type RaftClusterOptions } from './raft-cluster';
export { drainQueueInto, readRecords, recordFiles, type RecordedMessage } from './records';
export { percentile, renderStatus, StatusTracker, statusLine, type StatusSnapshot } from './status';
export { synthesize } from './deploy/synth';
export { describeQueued, drainQueues } from './drain';
