/**
 * SQS query protocol ↔ JSON protocol, for clients that still send form-encoded `Action=...` requests
 * (AWS CLI before the SQS JSON switch, e.g. Debian bookworm's awscli 2.9) while fauxqs speaks JSON
 * only. Hand-written because no maintained package converts between the two; it covers the actions
 * the AWS CLI is used for here, and names the supported ones for any other.
 */

export const SQS_QUERY_ACTIONS = [
  'CreateQueue',
  'DeleteQueue',
  'ListQueues',
  'GetQueueUrl',
  'GetQueueAttributes',
  'SetQueueAttributes',
  'SendMessage',
  'ReceiveMessage',
  'DeleteMessage',
  'ChangeMessageVisibility',
  'PurgeQueue',
] as const;
export type SqsQueryAction = (typeof SQS_QUERY_ACTIONS)[number];

export class SqsQueryError extends Error {}

const INTEGER_PARAMS = new Set([
  'DelaySeconds',
  'MaxNumberOfMessages',
  'VisibilityTimeout',
  'WaitTimeSeconds',
  'MaxResults',
]);
/** Flattened lists: `AttributeName.1=All` → `AttributeNames: ['All']`. */
const LIST_PARAMS: Record<string, string> = {
  AttributeName: 'AttributeNames',
  MessageAttributeName: 'MessageAttributeNames',
  MessageSystemAttributeName: 'MessageSystemAttributeNames',
};
/** Flattened maps: `Attribute.1.Name=X&Attribute.1.Value=Y` → `Attributes: { X: Y }`. */
const MAP_PARAMS: Record<string, { json: string; key: string; value: string }> = {
  Attribute: { json: 'Attributes', key: 'Name', value: 'Value' },
  Tag: { json: 'tags', key: 'Key', value: 'Value' },
  MessageAttribute: { json: 'MessageAttributes', key: 'Name', value: 'Value' },
  MessageSystemAttribute: { json: 'MessageSystemAttributes', key: 'Name', value: 'Value' },
};

function isSupported(action: string): action is SqsQueryAction {
  return (SQS_QUERY_ACTIONS as readonly string[]).includes(action);
}

/** Form parameters → the JSON-protocol action and input. */
export function queryToJson(params: URLSearchParams): { action: SqsQueryAction; input: Record<string, unknown> } {
  const action = params.get('Action');
  if (!action) throw new SqsQueryError('the query-protocol request has no Action parameter');
  if (!isSupported(action)) {
    throw new SqsQueryError(
      `the edge translates only these SQS query-protocol actions: ${SQS_QUERY_ACTIONS.join(', ')}; got ${action} (JSON-protocol clients can use every action fauxqs has)`,
    );
  }
  const input: Record<string, unknown> = {};
  const lists = new Map<string, Map<number, string>>();
  const maps = new Map<string, Map<number, Record<string, string>>>();
  for (const [name, value] of params) {
    if (name === 'Action' || name === 'Version') continue;
    const indexed = /^([A-Za-z]+)\.(\d+)(?:\.(.+))?$/.exec(name);
    if (indexed) {
      const [, base, index, rest] = indexed as unknown as [string, string, string, string | undefined];
      if (rest === undefined && LIST_PARAMS[base]) {
        if (!lists.has(base)) lists.set(base, new Map());
        lists.get(base)?.set(Number(index), value);
        continue;
      }
      if (rest !== undefined && MAP_PARAMS[base]) {
        if (!maps.has(base)) maps.set(base, new Map());
        const entries = maps.get(base) as Map<number, Record<string, string>>;
        const entry = entries.get(Number(index)) ?? {};
        entry[rest] = value;
        entries.set(Number(index), entry);
        continue;
      }
      throw new SqsQueryError(`${action}: unsupported parameter ${name}`);
    }
    input[name] = INTEGER_PARAMS.has(name) ? toInteger(name, value) : value;
  }
  for (const [base, entries] of lists) {
    input[LIST_PARAMS[base] as string] = [...entries.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
  }
  for (const [base, entries] of maps) {
    const spec = MAP_PARAMS[base] as { json: string; key: string; value: string };
    const out: Record<string, unknown> = {};
    for (const [, entry] of [...entries.entries()].sort(([a], [b]) => a - b)) {
      const key = entry[spec.key];
      if (key === undefined) throw new SqsQueryError(`${action}: ${base}.N.${spec.key} is missing`);
      out[key] =
        base === 'MessageAttribute' || base === 'MessageSystemAttribute' ? attributeValue(entry) : entry[spec.value];
    }
    input[spec.json] = out;
  }
  return { action, input };
}

function toInteger(name: string, value: string): number {
  if (!/^-?\d+$/.test(value)) throw new SqsQueryError(`${name} must be an integer, got '${value}'`);
  return Number(value);
}

/** `Value.DataType`, `Value.StringValue`, `Value.BinaryValue` → a MessageAttributeValue. */
function attributeValue(entry: Record<string, string>): Record<string, string> {
  const value: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry)) if (k.startsWith('Value.')) value[k.slice('Value.'.length)] = v;
  return value;
}

const XMLNS = 'http://queue.amazonaws.com/doc/2012-11-05/';
/** JSON member → its flattened query element, and for maps the entry's key and value element names. */
const FLATTENED: Record<string, { element: string; key?: string; value?: string }> = {
  QueueUrls: { element: 'QueueUrl' },
  Messages: { element: 'Message' },
  Attributes: { element: 'Attribute', key: 'Name', value: 'Value' },
  MessageAttributes: { element: 'MessageAttribute', key: 'Name', value: 'Value' },
  Tags: { element: 'Tag', key: 'Key', value: 'Value' },
  StringListValues: { element: 'StringListValue' },
  BinaryListValues: { element: 'BinaryListValue' },
};

export function escapeXml(text: string): string {
  return text.replace(/[&<>"'\r]/g, (c) =>
    c === '&'
      ? '&amp;'
      : c === '<'
        ? '&lt;'
        : c === '>'
          ? '&gt;'
          : c === '"'
            ? '&quot;'
            : c === "'"
              ? '&apos;'
              : '&#xD;',
  );
}

function element(name: string, value: unknown): string {
  const spec = FLATTENED[name];
  if (spec && Array.isArray(value)) return value.map((item) => element(spec.element, item)).join('');
  if (spec?.key && value !== null && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>)
      .map(
        ([k, v]) =>
          `<${spec.element}>${element(spec.key as string, k)}${element(spec.value as string, v)}</${spec.element}>`,
      )
      .join('');
  }
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') {
    const inner = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => element(k, v))
      .join('');
    return `<${name}>${inner}</${name}>`;
  }
  return `<${name}>${escapeXml(String(value))}</${name}>`;
}

/** A JSON-protocol result → the query-protocol XML document AWS would send. */
export function jsonToQueryXml(action: SqsQueryAction, output: Record<string, unknown>, requestId: string): string {
  const members = Object.entries(output)
    .map(([k, v]) => element(k, v))
    .join('');
  return (
    `<?xml version="1.0"?><${action}Response xmlns="${XMLNS}"><${action}Result>${members}</${action}Result>` +
    `<ResponseMetadata><RequestId>${escapeXml(requestId)}</RequestId></ResponseMetadata></${action}Response>`
  );
}

/**
 * SQS's query error codes as SQS gives them. fauxqs prefixes every code with `AWS.SimpleQueueService.`, which
 * SQS does only for its own errors (NonExistentQueue, BatchRequestTooLong, …); the common parameter errors carry
 * none (`<Code>InvalidParameterValue</Code>` for an oversized message), and the SDK names its exception after
 * this code. Only codes known to be unprefixed are rewritten.
 */
const UNPREFIXED_QUERY_CODES = new Set(['InvalidParameterValue', 'MissingParameter']);

export function sqsQueryErrorHeader(header: string): string {
  const [code = '', fault] = header.split(';');
  const bare = code.replace(/^AWS\.SimpleQueueService\./, '');
  return UNPREFIXED_QUERY_CODES.has(bare) ? [bare, fault].filter((p) => p !== undefined).join(';') : header;
}

/**
 * A JSON-protocol error → a query-protocol ErrorResponse. The legacy code and fault come from
 * `x-amzn-query-error` (`AWS.SimpleQueueService.NonExistentQueue;Sender`) when present.
 */
export function jsonErrorToQueryXml(body: unknown, queryErrorHeader: string | undefined, requestId: string): string {
  const record = (body !== null && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const jsonType = typeof record.__type === 'string' ? (record.__type.split('#').pop() as string) : 'InternalError';
  const message = typeof record.message === 'string' ? record.message : String(record.Message ?? '');
  const [code, fault] = queryErrorHeader ? sqsQueryErrorHeader(queryErrorHeader).split(';') : [jsonType, 'Sender'];
  return (
    `<?xml version="1.0"?><ErrorResponse xmlns="${XMLNS}"><Error><Type>${escapeXml(fault ?? 'Sender')}</Type>` +
    `<Code>${escapeXml(code ?? jsonType)}</Code><Message>${escapeXml(message)}</Message><Detail/></Error>` +
    `<RequestId>${escapeXml(requestId)}</RequestId></ErrorResponse>`
  );
}
