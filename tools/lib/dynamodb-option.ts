import { z } from 'zod';
import { DYNAMODB_FLAVOURS, type DynamoDbFlavour } from '../../local-cloud/emulators/dynamodb';

/**
 * `--dynamodb dynamodb-local|dynalite` for the commands that start a stack (npm start, bench, chaos): which emulator serves
 * DynamoDB. Absent, the stack keeps the one its data dir holds, else DynamoDB Local when a JDK is present
 * (local-cloud/emulators/dynamodb.ts, chooseDynamoDbFlavour).
 */
export const dynamodbUsage = (column: number): string =>
  [
    `  --dynamodb NAME`.padEnd(column) + `${DYNAMODB_FLAVOURS.join(' or ')}: the DynamoDB emulator (default: the one`,
    ' '.repeat(column) + 'the data dir holds, else dynamodb-local when java and javac are present, else dynalite)',
  ].join('\n');

export const DYNAMODB_OPTION = { dynamodb: { type: 'string' } } as const;

export const dynamodbSchema = z.enum(DYNAMODB_FLAVOURS).optional();

/** The stack option for the flavour asked for (none: the default choice). */
export const dynamodbOption = (flavour: DynamoDbFlavour | undefined): { dynamodb?: DynamoDbFlavour } =>
  flavour ? { dynamodb: flavour } : {};
