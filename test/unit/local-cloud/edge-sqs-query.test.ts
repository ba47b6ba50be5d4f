import {
  escapeXml,
  jsonErrorToQueryXml,
  jsonToQueryXml,
  queryToJson,
  SqsQueryError,
} from '../../../local-cloud/edge/sqs-query';

describe('SQS query → JSON requests', () => {
  it('turns flattened lists, maps and message attributes into JSON members', () => {
    const params = new URLSearchParams({
      Action: 'SendMessage',
      Version: '2012-11-05',
      QueueUrl: 'http://127.0.0.1:4566/000000000000/q',
      MessageBody: 'hello',
      DelaySeconds: '5',
      'MessageAttribute.2.Name': 'b',
      'MessageAttribute.2.Value.DataType': 'Number',
      'MessageAttribute.2.Value.StringValue': '7',
      'MessageAttribute.1.Name': 'a',
      'MessageAttribute.1.Value.DataType': 'String',
      'MessageAttribute.1.Value.StringValue': 'x',
    });
    expect(queryToJson(params)).toEqual({
      action: 'SendMessage',
      input: {
        QueueUrl: 'http://127.0.0.1:4566/000000000000/q',
        MessageBody: 'hello',
        DelaySeconds: 5,
        MessageAttributes: { a: { DataType: 'String', StringValue: 'x' }, b: { DataType: 'Number', StringValue: '7' } },
      },
    });
    expect(
      queryToJson(
        new URLSearchParams(
          'Action=CreateQueue&QueueName=q.fifo&Attribute.1.Name=FifoQueue&Attribute.1.Value=true&Tag.1.Key=team&Tag.1.Value=x',
        ),
      ).input,
    ).toEqual({ QueueName: 'q.fifo', Attributes: { FifoQueue: 'true' }, tags: { team: 'x' } });
    expect(
      queryToJson(
        new URLSearchParams('Action=ReceiveMessage&QueueUrl=u&AttributeName.2=B&AttributeName.1=A&WaitTimeSeconds=1'),
      ).input,
    ).toEqual({ QueueUrl: 'u', AttributeNames: ['A', 'B'], WaitTimeSeconds: 1 });
  });

  it('rejects what it cannot translate with a clear error', () => {
    expect(() => queryToJson(new URLSearchParams('QueueName=x'))).toThrow(/no Action parameter/);
    expect(() => queryToJson(new URLSearchParams('Action=AddPermission'))).toThrow(SqsQueryError);
    expect(() => queryToJson(new URLSearchParams('Action=ReceiveMessage&WaitTimeSeconds=soon'))).toThrow(
      /WaitTimeSeconds must be an integer/,
    );
    expect(() => queryToJson(new URLSearchParams('Action=SendMessage&Entry.1=x'))).toThrow(
      /unsupported parameter Entry.1/,
    );
  });
});

describe('JSON → SQS query XML responses', () => {
  it('flattens lists and maps as the query protocol does, escaping text', () => {
    const xml = jsonToQueryXml(
      'ReceiveMessage',
      {
        Messages: [
          {
            MessageId: 'm1',
            Body: '<a & "b">\r',
            Attributes: { SentTimestamp: '1' },
            MessageAttributes: { k: { DataType: 'String', StringValue: 'v' } },
          },
        ],
      },
      'req-1',
    );
    expect(xml).toBe(
      '<?xml version="1.0"?><ReceiveMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/"><ReceiveMessageResult>' +
        '<Message><MessageId>m1</MessageId><Body>&lt;a &amp; &quot;b&quot;&gt;&#xD;</Body>' +
        '<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>' +
        '<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>' +
        '</Message></ReceiveMessageResult><ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></ReceiveMessageResponse>',
    );
    expect(jsonToQueryXml('ListQueues', { QueueUrls: ['u1', 'u2'] }, 'r')).toContain(
      '<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl></ListQueuesResult>',
    );
    expect(jsonToQueryXml('DeleteMessage', {}, 'r')).toContain('<DeleteMessageResult></DeleteMessageResult>');
  });

  it('maps JSON errors to query error codes', () => {
    expect(
      jsonErrorToQueryXml(
        { __type: 'com.amazonaws.sqs#QueueDoesNotExist', message: 'gone' },
        'AWS.SimpleQueueService.NonExistentQueue;Sender',
        'r',
      ),
    ).toContain(
      '<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>gone</Message>',
    );
    expect(
      jsonErrorToQueryXml({ __type: 'com.amazonaws.sqs#InvalidAddress', message: 'bad' }, undefined, 'r'),
    ).toContain('<Code>InvalidAddress</Code>');
    expect(escapeXml("'")).toBe('&apos;');
  });
});
