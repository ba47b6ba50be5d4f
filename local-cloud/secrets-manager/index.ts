import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { JsonServiceError, parseInput, type JsonService } from '../edge/json-service';

export const SECRETS_MANAGER_TARGET_PREFIX = 'secretsmanager';
const ACCOUNT = '000000000000';

/** A Secrets Manager error in the JSON 1.1 shape, with AWS's codes. */
export class SecretsManagerError extends JsonServiceError {}

interface Version {
  id: string;
  value: string;
  stages: Set<string>;
  created: number;
}

interface Secret {
  arn: string;
  name: string;
  description?: string;
  created: number;
  changed: number;
  versions: Version[];
}

/** The error code AWS answers a malformed request with. */
const INVALID_INPUT = 'InvalidParameterException';

const NAME = z
  .string()
  .min(1)
  .max(512)
  .regex(/^[a-zA-Z0-9/_+=.@-]+$/, 'a secret name is letters, digits and /_+=.@-');
const VALUE = z.string().min(1).max(65_536);
const TOKEN = z.string().min(32).max(64).optional();
const ID = z.string().min(1).max(2048);
const Create = z.object({
  Name: NAME,
  SecretString: VALUE.optional(),
  Description: z.string().max(2048).optional(),
  ClientRequestToken: TOKEN,
});
const Put = z.object({ SecretId: ID, SecretString: VALUE, ClientRequestToken: TOKEN });
const Get = z.object({
  SecretId: ID,
  VersionId: z.string().optional(),
  VersionStage: z.string().optional(),
});
const Describe = z.object({ SecretId: ID });
const Delete = z.object({
  SecretId: ID,
  ForceDeleteWithoutRecovery: z.boolean().optional(),
  RecoveryWindowInDays: z.number().int().min(7).max(30).optional(),
});

/**
 * Secrets Manager for what the stacks use of it: the functions read their scoped ledger key (RAFT_CLIENT_KEY_ARN),
 * the deploy-time issuer reads the root secret and writes those keys, and a rotation leaves the old value under
 * AWSPREVIOUS. Versions and stages behave as on AWS: PutSecretValue moves AWSCURRENT to the new version and
 * AWSPREVIOUS to the old one; the same ClientRequestToken with the same value is an idempotent retry.
 * Kept in memory only — the embedded cloud never writes a secret to disk (docs/local-cloud.md).
 */
export class SecretsManagerStore implements JsonService {
  readonly targetPrefix = SECRETS_MANAGER_TARGET_PREFIX;
  readonly maxRequestBytes = 128 * 1024;

  private readonly secrets = new Map<string, Secret>();

  /** One JSON 1.1 action; returns the reply body. */
  handle(action: string, body: unknown, region: string): unknown {
    switch (action) {
      case 'CreateSecret':
        return this.create(parseInput(Create, body, INVALID_INPUT), region);
      case 'PutSecretValue':
        return this.put(parseInput(Put, body, INVALID_INPUT));
      case 'GetSecretValue':
        return this.get(parseInput(Get, body, INVALID_INPUT));
      case 'DescribeSecret':
        return this.describe(this.find(parseInput(Describe, body, INVALID_INPUT).SecretId));
      case 'DeleteSecret':
        return this.delete(parseInput(Delete, body, INVALID_INPUT));
      case 'ListSecrets':
        return { SecretList: [...this.secrets.values()].map((s) => this.describe(s)) };
      default:
        throw new SecretsManagerError(
          'InvalidRequestException',
          `Secrets Manager action ${action} is not emulated locally (${ACTIONS.join(', ')} are)`,
        );
    }
  }

  private create(input: z.infer<typeof Create>, region: string) {
    if (this.secrets.has(input.Name)) {
      throw new SecretsManagerError(
        'ResourceExistsException',
        `The operation failed because the secret ${input.Name} already exists.`,
      );
    }
    const now = Date.now() / 1000;
    const arn = `arn:aws:secretsmanager:${region}:${ACCOUNT}:secret:${input.Name}-${randomBytes(3).toString('hex')}`;
    const secret: Secret = {
      arn,
      name: input.Name,
      description: input.Description,
      created: now,
      changed: now,
      versions: [],
    };
    this.secrets.set(input.Name, secret);
    const version =
      input.SecretString === undefined
        ? undefined
        : this.addVersion(secret, input.SecretString, input.ClientRequestToken);
    return { ARN: arn, Name: input.Name, ...(version ? { VersionId: version.id } : {}) };
  }

  private put(input: z.infer<typeof Put>) {
    const secret = this.find(input.SecretId);
    const same = input.ClientRequestToken && secret.versions.find((v) => v.id === input.ClientRequestToken);
    if (same) {
      // AWS: a retried request with the same token is idempotent only when the value is the same too.
      if (same.value !== input.SecretString) {
        throw new SecretsManagerError(
          'ResourceExistsException',
          `A version with ID ${same.id} already exists with a different value.`,
        );
      }
      return { ARN: secret.arn, Name: secret.name, VersionId: same.id, VersionStages: [...same.stages] };
    }
    const version = this.addVersion(secret, input.SecretString, input.ClientRequestToken);
    return { ARN: secret.arn, Name: secret.name, VersionId: version.id, VersionStages: [...version.stages] };
  }

  private addVersion(secret: Secret, value: string, token: string | undefined): Version {
    for (const v of secret.versions) v.stages.delete('AWSPREVIOUS');
    const current = secret.versions.find((v) => v.stages.delete('AWSCURRENT'));
    current?.stages.add('AWSPREVIOUS');
    const version: Version = {
      id: token ?? randomUUID(),
      value,
      stages: new Set(['AWSCURRENT']),
      created: Date.now() / 1000,
    };
    // Versions with no stage left are dropped, as AWS eventually does; the history kept is current + previous.
    secret.versions = [...secret.versions.filter((v) => v.stages.size > 0), version];
    secret.changed = version.created;
    return version;
  }

  private get(input: z.infer<typeof Get>) {
    const secret = this.find(input.SecretId);
    const stage = input.VersionStage ?? (input.VersionId ? undefined : 'AWSCURRENT');
    const version = secret.versions.find(
      (v) => (input.VersionId ? v.id === input.VersionId : true) && (!stage || v.stages.has(stage)),
    );
    if (!version) {
      throw new SecretsManagerError(
        'ResourceNotFoundException',
        `Secrets Manager can't find the specified secret value for ${input.VersionId ? `VersionId: ${input.VersionId}` : `staging label: ${stage}`}`,
      );
    }
    return {
      ARN: secret.arn,
      Name: secret.name,
      VersionId: version.id,
      SecretString: version.value,
      VersionStages: [...version.stages],
      CreatedDate: version.created,
    };
  }

  private describe(secret: Secret) {
    return {
      ARN: secret.arn,
      Name: secret.name,
      ...(secret.description ? { Description: secret.description } : {}),
      CreatedDate: secret.created,
      LastChangedDate: secret.changed,
      VersionIdsToStages: Object.fromEntries(secret.versions.map((v) => [v.id, [...v.stages]])),
    };
  }

  private delete(input: z.infer<typeof Delete>) {
    const secret = this.find(input.SecretId);
    // Deleted at once whatever the recovery window: the embedded cloud keeps nothing to recover (docs/local-cloud.md).
    this.secrets.delete(secret.name);
    return { ARN: secret.arn, Name: secret.name, DeletionDate: Date.now() / 1000 };
  }

  /** By name or by full ARN, as AWS accepts either. */
  private find(id: string): Secret {
    const secret = this.secrets.get(id) ?? [...this.secrets.values()].find((s) => s.arn === id);
    if (!secret)
      throw new SecretsManagerError('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    return secret;
  }
}

export const ACTIONS = [
  'CreateSecret',
  'PutSecretValue',
  'GetSecretValue',
  'DescribeSecret',
  'DeleteSecret',
  'ListSecrets',
];
