import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { PROJECT_ROOT } from '../../infra/config';

const K8S = path.join(PROJECT_ROOT, 'infra', 'k8s');

interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  [field: string]: unknown;
}

interface ValidatingModel {
  validate(): void;
}

/** kubernetes-models' export namespace for an apiVersion: `apps/v1` -> apps.v1, `v1` -> v1, `autoscaling/v2` -> autoscaling.v2. */
function modelFor(models: Record<string, Record<string, unknown>>, { apiVersion, kind }: Resource): new (value: Resource) => ValidatingModel {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : [undefined, apiVersion];
  const groupKey = group?.replace(/\.([a-z])/g, (_m, c: string) => c.toUpperCase());
  const namespace = (group ? (models[groupKey!] as Record<string, Record<string, unknown>> | undefined)?.[version] : models[version]) as Record<string, unknown> | undefined;
  const model = namespace?.[kind];
  assert.ok(model, `no schema for ${apiVersion} ${kind}`);
  return model as new (value: Resource) => ValidatingModel;
}

function resources(): { file: string; resource: Resource }[] {
  const kustomization = parseAllDocuments(readFileSync(path.join(K8S, 'kustomization.yaml'), 'utf8'))[0].toJS() as { resources: string[] };
  return kustomization.resources.flatMap((file) =>
    parseAllDocuments(readFileSync(path.join(K8S, file), 'utf8')).map((doc) => {
      assert.deepEqual(doc.errors, [], file);
      return { file, resource: doc.toJS() as Resource };
    }),
  );
}

type Container = { name: string; image: string; command: string[]; envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[]; readinessProbe?: { httpGet: { path: string } }; resources?: { limits?: Record<string, unknown> } };
const containersOf = (r: Resource) => ((r.spec as { template?: { spec: { containers: Container[] } } }).template?.spec.containers ?? []);

describe('deploy manifests (infra/k8s)', () => {
  it('every resource of the kustomization validates against the Kubernetes schemas (kubernetes-models, offline)', async () => {
    // ESM-only package: imported at run time; its module map is walked by apiVersion below.
    const models = (await import('kubernetes-models' as string)) as Record<string, Record<string, unknown>>;
    const all = resources();
    assert.ok(all.length >= 8, `${all.length} resources`);
    for (const { file, resource } of all) {
      const Model = modelFor(models, resource);
      assert.doesNotThrow(() => new Model(resource).validate(), `${file}: ${resource.kind} ${resource.metadata.name}`);
    }
  });

  it('runs each process with the project\'s own scripts, the shared config and secret, and the GPU and readiness the roles need', () => {
    const all = resources().map((r) => r.resource);
    const named = (kind: string, name: string) => all.find((r) => r.kind === kind && r.metadata.name === name);
    const scripts = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    const configMaps = new Set(all.filter((r) => r.kind === 'ConfigMap').map((r) => r.metadata.name));
    const secrets = new Set(all.filter((r) => r.kind === 'Secret').map((r) => r.metadata.name));
    for (const deployment of all.filter((r) => r.kind === 'Deployment')) {
      for (const container of containersOf(deployment)) {
        assert.equal(container.command[0], 'npm');
        assert.ok(scripts[container.command[2]], `${deployment.metadata.name} runs npm script ${container.command[2]}`);
        for (const source of container.envFrom ?? []) {
          if (source.configMapRef) assert.ok(configMaps.has(source.configMapRef.name), source.configMapRef.name);
          if (source.secretRef) assert.ok(secrets.has(source.secretRef.name), source.secretRef.name);
        }
      }
    }
    const [training] = containersOf(named('Deployment', 'training-worker')!);
    assert.equal(training.resources?.limits?.['nvidia.com/gpu'], 1);
    const serving = all.filter((r) => r.kind === 'Deployment' && r.metadata.name.startsWith('serving-'));
    assert.ok(serving.length >= 1);
    for (const deployment of serving) {
      assert.equal(containersOf(deployment)[0].readinessProbe?.httpGet.path, '/ready');
      assert.ok(named('Service', deployment.metadata.name), `a Service for ${deployment.metadata.name}`);
      const hpa = named('HorizontalPodAutoscaler', deployment.metadata.name) as { spec: { scaleTargetRef: { name: string } } } | undefined;
      assert.equal(hpa?.spec.scaleTargetRef.name, deployment.metadata.name);
    }
  });

  it('builds the image with the project\'s offline native install and starts an npm script that exists', () => {
    const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    const scripts = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')).scripts as Record<string, string>;
    assert.match(dockerfile, /bash infra\/native-tf\/install\.sh/);
    assert.match(dockerfile, /npm ci/);
    const cmd = /^CMD \[(.*)\]$/m.exec(dockerfile)?.[1];
    assert.ok(cmd, 'a CMD');
    assert.ok(scripts[(JSON.parse(`[${cmd}]`) as string[])[2]], cmd);
  });
});
