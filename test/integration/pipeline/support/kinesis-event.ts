import type { _Record } from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';

/** Records read from a real stream, shaped as the Kinesis event source mapping delivers them (base64 data). */
export function kinesisEvent(streamName: string, records: { shardId: string; record: _Record }[]): KinesisStreamEvent {
  return { Records: records.map(({ shardId, record }) => kinesisRecord(streamName, shardId, record)) };
}

export function kinesisRecord(streamName: string, shardId: string, record: _Record): KinesisStreamRecord {
  return {
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.SequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::123456789012:role/process-role',
    awsRegion: 'us-east-1',
    eventSourceARN: `arn:aws:kinesis:us-east-1:123456789012:stream/${streamName}`,
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.PartitionKey as string,
      sequenceNumber: record.SequenceNumber as string,
      data: Buffer.from(record.Data as Uint8Array).toString('base64'),
      approximateArrivalTimestamp: (record.ApproximateArrivalTimestamp ?? new Date()).getTime() / 1000,
    },
  };
}
