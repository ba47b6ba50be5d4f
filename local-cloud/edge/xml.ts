import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { XmlNode, XmlText } from '@aws-sdk/xml-builder';

/**
 * A value the XML services (STS, S3, CloudFormation) answer with: a primitive is an element's text, an object its
 * child elements in key order, an array repeats the element under its key (S3's flattened lists); the query
 * services' wrapped lists are written as `{ member: [...] }`, as their wire format has them. undefined is left out.
 */
export type XmlValue = string | number | boolean | Date | undefined | XmlValue[] | { [key: string]: XmlValue };

/** Builds elements with the AWS SDK's own XML builder (it escapes text and attributes). */
function nodes(name: string, value: XmlValue): XmlNode[] {
  if (value === undefined) return [];
  if (Array.isArray(value)) return value.flatMap((v) => nodes(name, v));
  const node = new XmlNode(name);
  if (value instanceof Date) node.addChildNode(new XmlText(value.toISOString()));
  else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) for (const child of nodes(k, v)) node.addChildNode(child);
  } else node.addChildNode(new XmlText(String(value)));
  return [node];
}

/** One XML document: `<root xmlns="…">…</root>` with the declaration AWS sends. */
export function xmlDocument(root: string, xmlns: string | undefined, body: Record<string, XmlValue>): string {
  const [node] = nodes(root, body) as [XmlNode];
  if (xmlns) node.addAttribute('xmlns', xmlns);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${node.toString()}`;
}

/** A query-protocol reply (STS, CloudFormation): `<XResponse><XResult>…</XResult><ResponseMetadata>…`. */
export function queryResponse(action: string, xmlns: string, result: Record<string, XmlValue> | undefined): string {
  return xmlDocument(`${action}Response`, xmlns, {
    ...(result ? { [`${action}Result`]: result } : {}),
    ResponseMetadata: { RequestId: randomUUID() },
  });
}

/** A query-protocol error, as the SDKs and the AWS CLI parse it (Type, Code, Message). */
export function queryError(code: string, message: string, type: 'Sender' | 'Receiver' = 'Sender'): string {
  return xmlDocument('ErrorResponse', 'http://webservices.amazon.com/AWSFault/2005-15-09', {
    Error: { Type: type, Code: code, Message: message },
    RequestId: randomUUID(),
  });
}

export function sendXml(res: ServerResponse, status: number, xml: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': String(Buffer.byteLength(xml)),
    'x-amzn-requestid': randomUUID(),
    ...headers,
  });
  res.end(xml);
}

/** An error a query-protocol service answers with: AWS's code, HTTP status and message. */
export class QueryError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}
