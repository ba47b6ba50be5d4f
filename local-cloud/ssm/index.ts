import { z } from 'zod';
import { JsonServiceError, parseInput, type JsonService } from '../edge/json-service';
import { StateFile } from '../state-file';
import { LOCAL_ACCOUNT } from '../sts';

export const SSM_TARGET_PREFIX = 'AmazonSSM';

interface Parameter {
  Name: string;
  Type: 'String' | 'StringList' | 'SecureString';
  Value: string;
  Version: number;
  LastModifiedDate: number;
  DataType: string;
}

/** An SSM error in the JSON 1.1 shape (`__type` + message). */
export class SsmError extends JsonServiceError {}

/** The error code AWS answers a malformed request with. */
const INVALID_INPUT = 'ValidationException';

const NAME = z
  .string()
  .min(1)
  .max(2048)
  .regex(/^[a-zA-Z0-9_.\-/]+$/, 'a parameter name is letters, digits and _.-/');
const PutInput = z.object({
  Name: NAME,
  Value: z.string().min(1).max(4096),
  Type: z.enum(['String', 'StringList', 'SecureString']).optional(),
  Overwrite: z.boolean().optional(),
  DataType: z.string().optional(),
});
const NameInput = z.object({ Name: NAME, WithDecryption: z.boolean().optional() });

/**
 * Parameter Store for what the CDK needs of it: the bootstrap stack writes /cdk-bootstrap/<qualifier>/version
 * (through CloudFormation) and every CDK stack's BootstrapVersion parameter reads it back. Kept in
 * `<dataDir>/ssm.json`. SecureString values are stored as given: nothing here is encrypted (docs/local-cloud.md).
 */
export class SsmParameterStore implements JsonService {
  readonly targetPrefix = SSM_TARGET_PREFIX;
  readonly maxRequestBytes = 64 * 1024;

  private readonly file: StateFile<Record<string, Parameter>>;
  private readonly params: Map<string, Parameter>;

  constructor(path: string | undefined) {
    this.file = new StateFile(path, () => ({}));
    this.params = new Map(Object.entries(this.file.load()));
  }

  get(name: string): Parameter | undefined {
    return this.params.get(name);
  }

  put(input: z.infer<typeof PutInput>): Parameter {
    const old = this.params.get(input.Name);
    if (old && !input.Overwrite) {
      throw new SsmError(
        'ParameterAlreadyExists',
        `The parameter already exists. To overwrite this value, set the overwrite option in the request to true.`,
      );
    }
    const type = input.Type ?? old?.Type;
    if (!type)
      throw new SsmError('ValidationException', `parameter ${input.Name}: Type is required for a new parameter`);
    const p: Parameter = {
      Name: input.Name,
      Type: type,
      Value: input.Value,
      Version: (old?.Version ?? 0) + 1,
      LastModifiedDate: Date.now() / 1000,
      DataType: input.DataType ?? 'text',
    };
    this.params.set(p.Name, p);
    this.file.save(Object.fromEntries(this.params));
    return p;
  }

  delete(name: string): void {
    if (!this.params.delete(name)) throw notFound(name);
    this.file.save(Object.fromEntries(this.params));
  }

  /** One JSON 1.1 action; returns the reply body. */
  handle(action: string, body: unknown, region: string): unknown {
    switch (action) {
      case 'GetParameter': {
        const { Name } = parseInput(NameInput, body, INVALID_INPUT);
        const p = this.params.get(Name);
        if (!p) throw notFound(Name);
        return {
          Parameter: {
            ...p,
            ARN: `arn:aws:ssm:${region}:${LOCAL_ACCOUNT}:parameter${Name.startsWith('/') ? '' : '/'}${Name}`,
          },
        };
      }
      case 'PutParameter': {
        const p = this.put(parseInput(PutInput, body, INVALID_INPUT));
        return { Version: p.Version, Tier: 'Standard' };
      }
      case 'DeleteParameter':
        this.delete(parseInput(NameInput, body, INVALID_INPUT).Name);
        return {};
      default:
        throw new SsmError(
          'InvalidAction',
          `SSM action ${action} is not emulated locally (GetParameter, PutParameter, DeleteParameter are)`,
        );
    }
  }
}

function notFound(name: string): SsmError {
  return new SsmError('ParameterNotFound', `Parameter ${name} not found.`);
}
