/**
 * Static checks of the deployment files (issue 19): the compose file and every Kubernetes manifest
 * validate against their schemas, the Dockerfile names files that exist, the rendered nginx config
 * passes `nginx -t` (and proxies to a live ragd), and every metric the dashboard, the alert rules
 * and the KEDA triggers query is one a live ragd exports.
 *
 * Never skipped: nginx missing is a failure (`.ci/run` installs Debian's nginx).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Ajv } from 'ajv';
import { parser as promqlParser } from '@prometheus-io/lezer-promql';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { COMPOSE_ARGS, renderFromArgs } from '../../deploy/render-nginx.js';
import pino from 'pino';
import { startWorker } from '../../src/app/worker.js';
import type { RunningServer } from '../../src/app/server.js';
import { workerRoles } from '../../src/cli/worker.js';
import { flagsToEnv, loadConfig } from '../../src/config/config.js';
import { STAGES } from '../../src/domain/types.js';
import { DEFAULT_TIMING } from '../../src/http/app.js';
import { openKbSocket } from '../support/kb-socket.js';
import { assertNginxInstalled, NGINX, nginxDir, renderLocalNginx, startNginx, type RunningNginx } from '../support/nginx.js';
import { tempDatabase } from '../support/postgres.js';
import { deleteKeys, REDIS_URL, testPrefix, testRedis } from '../support/redis.js';
import { freePort, readSse, REPO_ROOT, startTestServer, uploadText, waitFor, type TestServer } from '../support/server.js';

/**
 * Metrics the deployment files may query although no node started here exports them (a feature
 * that needs an engine this machine lacks). Empty: every name is checked against the /metrics of
 * an embedded server, a cluster API node and a cluster worker.
 */
const NOT_EXPORTED_HERE: readonly string[] = [];

const deployPath = (...p: string[]) => join(REPO_ROOT, 'deploy', ...p);
const read = (p: string) => readFileSync(join(REPO_ROOT, p), 'utf8');

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = Record<string, any>;

// ---------------------------------------------------------------------------------------------
// Compose

/** Compose's variable interpolation with an empty environment: `${X:-default}` → default, `${X}` → ''. */
function interpolate(value: Json): Json {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g, (_m, _name, op: string | undefined, arg: string | undefined) => {
      if (op === ':-' || op === '-') return arg ?? '';
      if (op === ':?' || op === '?') throw new Error(`compose would refuse to start without \${${_name}}: ${arg}`);
      return '';
    });
  }
  if (Array.isArray(value)) return value.map(interpolate);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]));
  return value;
}

function loadCompose(): Obj {
  // `<<` merge keys, as Docker Compose resolves them.
  return interpolate(parseYaml(readFileSync(deployPath('docker-compose.yml'), 'utf8'), { merge: true }) as Json) as Obj;
}

/** The compose-spec JSON schema, as shipped (current) by the dclint package. */
function composeValidator() {
  const pkg = createRequire(import.meta.url).resolve('dclint/package.json');
  // Its $schema names draft-07 by an https:// URL that Ajv registers as http://; it is draft-07.
  const { $schema: _draft07, ...schema } = JSON.parse(readFileSync(join(dirname(pkg), 'schemas', 'compose.schema.json'), 'utf8')) as Obj;
  return new Ajv({ strict: false, allErrors: true }).compile(schema);
}

/** What a `worker …` command runs, parsed as `ragd worker` parses it; null for another command. */
function workerStages(args: readonly string[]): { stages: string[]; queryJobs: boolean } | null {
  if (args[0] !== 'worker') return null;
  const { env, switches } = flagsToEnv(args.slice(1), ['query-jobs']);
  const roles = workerRoles({ ...(env.RAGD_STAGES !== undefined ? { stages: env.RAGD_STAGES } : {}), queryJobs: switches.has('query-jobs') });
  assert.ok(typeof roles !== 'string', `${args.join(' ')}: ${String(roles)}`);
  return { stages: [...roles.stages], queryJobs: roles.queryJobs };
}

/** Every pipeline stage is consumed by some worker kind, and query jobs too: nothing waits forever. */
function assertEveryStageHasAWorker(commands: readonly (readonly string[])[], where: string): void {
  const workers = commands.map(workerStages).filter((w) => w !== null);
  assert.ok(workers.length >= 2, `${where}: CPU and model workers are separate`);
  for (const stage of STAGES) assert.ok(workers.some((w) => w.stages.includes(stage)), `${where}: no worker runs the ${stage} stage`);
  assert.ok(workers.some((w) => w.queryJobs), `${where}: no worker takes /retrieve query jobs (--query-jobs)`);
}

describe('deploy/docker-compose.yml', () => {
  const compose = loadCompose();
  const services = compose.services as Record<string, Obj>;
  const ragdServices = Object.entries(services).filter(([, s]) => s.image === 'ragd:local');

  test('validates against the compose-spec JSON schema', () => {
    const validate = composeValidator();
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
    // The schema has teeth: a misspelt condition or an unknown service key is refused.
    const broken = structuredClone(compose);
    broken.services['api-1'].depends_on.migrate.condition = 'service_completed';
    assert.equal(validate(broken), false);
    const unknownKey = structuredClone(compose);
    unknownKey.services['api-1'].stop_grace = '30s';
    assert.equal(validate(unknownKey), false);
  });

  test('every depends_on names a service, every volume is declared, every bind mount exists', () => {
    const volumes = new Set(Object.keys(compose.volumes ?? {}));
    for (const [name, s] of Object.entries(services)) {
      const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
      for (const d of deps) assert.ok(services[d], `${name} depends on unknown service ${d}`);
      for (const v of (s.volumes ?? []) as string[]) {
        const source = v.split(':')[0]!;
        if (source.startsWith('.')) assert.ok(existsSync(deployPath(source)), `${name} mounts ${source}, which does not exist`);
        else assert.ok(volumes.has(source), `${name} mounts undeclared volume ${source}`);
      }
    }
  });

  test('roles: nginx over two API nodes, split workers, a one-shot migrate the others wait for', () => {
    const commands = ragdServices.map(([, s]) => s.command as string[]);
    assert.equal(commands.filter((c) => c[0] === 'serve').length, 2, 'two API replicas');
    assertEveryStageHasAWorker(commands, 'compose');
    const migrate = Object.entries(services).find(([, s]) => s.command?.[0] === 'migrate');
    assert.ok(migrate, 'a migrate service');
    for (const [name, s] of ragdServices) {
      if (name === migrate[0]) continue;
      assert.equal(s.depends_on?.[migrate[0]]?.condition, 'service_completed_successfully', `${name} waits for the migration`);
      assert.equal(s.depends_on?.postgres?.condition, 'service_healthy', `${name} waits for PostgreSQL`);
      assert.equal(s.depends_on?.redis?.condition, 'service_healthy', `${name} waits for Redis`);
      assert.deepEqual(s.healthcheck?.test, ['CMD', 'node', 'deploy/healthcheck.mjs', '/readyz'], `${name} is healthy once ready`);
      // Cluster mode needs both URLs; the blob directory is one volume shared by every node.
      assert.ok(s.environment.RAGD_DATABASE_URL && s.environment.RAGD_REDIS_URL, `${name} runs in cluster mode`);
      assert.ok((s.volumes as string[]).includes(`blobs:${s.environment.RAGD_BLOB_DIR}`), `${name} mounts the shared blobs volume at RAGD_BLOB_DIR`);
      const graceMs = parseDurationMs(s.stop_grace_period);
      assert.ok(graceMs > Number(s.environment.RAGD_SHUTDOWN_TIMEOUT_MS), `${name}: stop_grace_period exceeds RAGD_SHUTDOWN_TIMEOUT_MS`);
    }
    const nginxDeps = services.nginx!.depends_on as Obj;
    for (const [name, s] of ragdServices) {
      if (s.command[0] === 'serve') assert.equal(nginxDeps[name]?.condition, 'service_healthy', `nginx waits for ${name}`);
    }
    assert.deepEqual(
      renderFromArgs(COMPOSE_ARGS, {}).text.match(/server (\S+) /g)?.map((m) => m.split(' ')[1]!.split(':')[0]),
      ragdServices.filter(([, s]) => s.command[0] === 'serve').map(([name]) => name),
      'nginx.conf proxies to exactly the API services',
    );
  });

  test('PostgreSQL has pgvector; the queue Redis keeps every key and an append-only file', () => {
    assert.match(services.postgres!.image, /^pgvector\/pgvector:pg1[6-9]/);
    const redis = services.redis!.command as string[];
    assert.equal(redis[redis.indexOf('--maxmemory-policy') + 1], 'noeviction');
    assert.equal(redis[redis.indexOf('--appendonly') + 1], 'yes');
    // No cache Redis: ragd's caches live in each process (no setting in src/config names one).
    assert.ok(!('cacheRedisUrl' in loadConfig({})), 'a cache Redis setting exists now: add its service');
  });
});

function parseDurationMs(d: string | number | undefined): number {
  assert.ok(d !== undefined, 'a duration is set');
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of String(d).matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}

// ---------------------------------------------------------------------------------------------
// Kubernetes

interface Manifest {
  file: string;
  doc: Obj;
}

function loadManifests(): Manifest[] {
  const dir = deployPath('k8s');
  const out: Manifest[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml').sort()) {
    for (const d of parseAllDocuments(readFileSync(join(dir, file), 'utf8'))) {
      assert.equal(d.errors.length, 0, `${file}: ${d.errors.map((e) => e.message).join('; ')}`);
      const doc = d.toJS() as Obj | null;
      if (doc) out.push({ file, doc });
    }
  }
  return out;
}

/** The kubernetes-models class of a manifest's apiVersion and kind. */
async function modelOf(apiVersion: string, kind: string): Promise<new (data: Obj) => { validate(): void }> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const spec = group === 'keda.sh' ? `@kubernetes-models/keda/keda.sh/${version}/${kind}` : group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
  const mod = (await import(spec)) as Obj;
  const Model = mod[kind] ?? mod.default;
  assert.ok(Model, `no model for ${apiVersion} ${kind}`);
  return Model;
}

function containerEnv(c: Obj, configMap: Obj): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) if (from.configMapRef) Object.assign(env, configMap.data);
  for (const e of c.env ?? []) env[e.name] = e.value;
  return env;
}

describe('deploy/k8s', () => {
  const manifests = loadManifests();
  const byKind = (kind: string) => manifests.filter((m) => m.doc.kind === kind).map((m) => m.doc);
  const configMap = byKind('ConfigMap').find((c) => c.metadata.name === 'ragd-config')!;
  const deployments = byKind('Deployment');

  test('every manifest validates against its Kubernetes (or KEDA) schema', async () => {
    assert.ok(manifests.length >= 10);
    for (const { file, doc } of manifests) {
      const Model = await modelOf(doc.apiVersion, doc.kind);
      assert.doesNotThrow(() => new Model(doc).validate(), `${file}: ${doc.kind} ${doc.metadata?.name}`);
    }
  });

  test('the validation is real: a broken Deployment is refused', async () => {
    const Model = await modelOf('apps/v1', 'Deployment');
    const broken = structuredClone(deployments[0]!);
    broken.spec.replicas = 'two';
    assert.throws(() => new Model(broken).validate());
  });

  test('kustomization.yaml lists every manifest file', () => {
    const k = parseYaml(readFileSync(deployPath('k8s', 'kustomization.yaml'), 'utf8')) as Obj;
    assert.deepEqual([...k.resources].sort(), [...new Set(manifests.map((m) => m.file))].sort());
  });

  test('Deployments: probes, resources, grace period beyond the shutdown timeout, shared blobs, a PDB', () => {
    const pvc = byKind('PersistentVolumeClaim').find((p) => p.spec.accessModes.includes('ReadWriteMany'));
    assert.ok(pvc, 'a ReadWriteMany claim for RAGD_BLOB_DIR');
    const pdbs = byKind('PodDisruptionBudget');
    for (const d of deployments) {
      const name = d.metadata.name as string;
      const pod = d.spec.template.spec as Obj;
      const c = pod.containers[0] as Obj;
      const env = containerEnv(c, configMap);
      assert.equal(c.readinessProbe?.httpGet?.path, '/readyz', `${name} readiness`);
      assert.equal(c.livenessProbe?.httpGet?.path, '/healthz', `${name} liveness`);
      assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory, `${name} resource requests`);
      const preStopMs = Number(c.lifecycle?.preStop?.exec?.command?.[1] ?? 0) * 1000;
      assert.ok(pod.terminationGracePeriodSeconds * 1000 > Number(env.RAGD_SHUTDOWN_TIMEOUT_MS) + preStopMs, `${name}: terminationGracePeriodSeconds exceeds RAGD_SHUTDOWN_TIMEOUT_MS (+ preStop)`);
      const blobs = pod.volumes.find((v: Obj) => v.persistentVolumeClaim?.claimName === pvc.metadata.name);
      assert.ok(blobs, `${name} mounts the blobs claim`);
      assert.ok(c.volumeMounts.some((m: Obj) => m.name === blobs.name && m.mountPath === env.RAGD_BLOB_DIR), `${name} mounts it at RAGD_BLOB_DIR`);
      const labels = d.spec.template.metadata.labels as Record<string, string>;
      assert.ok(
        pdbs.some((p) => Object.entries(p.spec.selector.matchLabels as Record<string, string>).every(([k, v]) => labels[k] === v)),
        `${name} has a PodDisruptionBudget`,
      );
    }
    assertEveryStageHasAWorker(deployments.map((d) => d.spec.template.spec.containers[0].args as string[]), 'k8s');
    const job = byKind('Job').find((j) => j.spec.template.spec.containers[0].args[0] === 'migrate');
    assert.ok(job, 'a migration Job');
  });

  test('KEDA scales each worker kind on waiting AND prioritized jobs of its own stages', () => {
    const scaled = byKind('ScaledObject');
    for (const d of deployments) {
      const w = workerStages(d.spec.template.spec.containers[0].args);
      if (!w) continue;
      const so = scaled.find((s) => s.spec.scaleTargetRef.name === d.metadata.name);
      assert.ok(so, `${d.metadata.name} has a ScaledObject`);
      const query = so.spec.triggers[0].metadata.query as string;
      assert.equal(so.spec.triggers[0].type, 'prometheus');
      const stages = /stage=~"([^"]+)"/.exec(query)?.[1]?.split('|').sort();
      // Its stage queues (query jobs have no depth gauge yet).
      assert.deepEqual(stages, [...w.stages].sort(), `${d.metadata.name}: the trigger counts its own queues`);
      assert.deepEqual(/state=~"([^"]+)"/.exec(query)?.[1]?.split('|').sort(), ['prioritized', 'waiting']);
    }
  });

  test('the Ingress streams (no buffering), outwaits the pings and takes the largest upload', () => {
    const ingress = byKind('Ingress')[0]!;
    const a = ingress.metadata.annotations as Record<string, string>;
    assert.equal(a['nginx.ingress.kubernetes.io/proxy-buffering'], 'off');
    assert.ok(Number(a['nginx.ingress.kubernetes.io/proxy-read-timeout']) * 1000 > Math.max(DEFAULT_TIMING.ssePingMs, DEFAULT_TIMING.wsPingMs) * 2);
    const body = /^(\d+)m$/.exec(a['nginx.ingress.kubernetes.io/proxy-body-size']!);
    assert.ok(body && Number(body[1]) * 1024 * 1024 >= Number(configMap.data.RAGD_MAX_UPLOAD_BYTES), 'proxy-body-size covers RAGD_MAX_UPLOAD_BYTES');
  });
});

// ---------------------------------------------------------------------------------------------
// Dockerfile

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions by stage (comments dropped, `\` continuations joined). */
function dockerStages(): { name: string; instructions: Instruction[] }[] {
  const text = read('Dockerfile').replace(/\\\n/g, ' ');
  const stages: { name: string; instructions: Instruction[] }[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(t)!;
    if (op!.toUpperCase() === 'FROM') stages.push({ name: / AS (\S+)/i.exec(args!)?.[1] ?? String(stages.length), instructions: [] });
    stages.at(-1)?.instructions.push({ op: op!.toUpperCase(), args: args! });
  }
  return stages;
}

describe('Dockerfile', () => {
  const stages = dockerStages();
  const runtime = stages.at(-1)!;
  const one = (op: string) => runtime.instructions.filter((i) => i.op === op).at(-1)?.args;
  /** Runtime-stage paths that come from the build context (not from another stage). */
  const copiedFromContext = runtime.instructions.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from')).map((i) => i.args.split(/\s+/)[0]!);

  test('multi-stage; the runtime stage runs as a non-root user', () => {
    assert.ok(stages.length >= 2);
    const user = one('USER');
    assert.ok(user && !/^(root|0)(:|$)/.test(user), `USER ${user}`);
    assert.ok(runtime.instructions.some((i) => i.op === 'COPY' && i.args.startsWith('--from=build') && /node_modules/.test(i.args)));
    assert.ok(stages[0]!.instructions.some((i) => i.op === 'RUN' && /npm prune --omit=dev/.test(i.args)), 'production dependencies only');
  });

  test('the entry point is node with the launcher\'s flags on bin/ragd.js, which exists and is copied in', () => {
    const entry = JSON.parse(one('ENTRYPOINT')!) as string[];
    assert.equal(entry[0], 'node');
    const script = entry.at(-1)!;
    assert.equal(script, 'bin/ragd.js');
    assert.ok(existsSync(join(REPO_ROOT, script)));
    assert.ok(copiedFromContext.some((src) => script.startsWith(src.replace(/\/?$/, '/')) || src === script));
    const shebang = read('bin/ragd.js').split('\n', 1)[0]!.replace(/^#!\/usr\/bin\/env -S node\s*/, '').split(/\s+/).filter(Boolean);
    assert.deepEqual(entry.slice(1, -1), shebang, 'the same Node flags as bin/ragd.js');
    assert.deepEqual(JSON.parse(one('CMD')!), ['serve']);
  });

  test('the health check runs a file that exists and is copied in', () => {
    const hc = one('HEALTHCHECK')!;
    const cmd = JSON.parse(/CMD\s+(\[.*\])/.exec(hc)![1]!) as string[];
    assert.equal(cmd[0], 'node');
    assert.ok(existsSync(join(REPO_ROOT, cmd[1]!)), cmd[1]);
    assert.ok(copiedFromContext.includes(cmd[1]!));
    assert.equal(cmd[2], '/healthz');
  });

  test('everything copied from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const stage of stages) {
      for (const i of stage.instructions.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
        for (const src of i.args.split(/\s+/).slice(0, -1)) {
          assert.ok(existsSync(join(REPO_ROOT, src)), `COPY ${src}: missing`);
          assert.ok(!ignored.includes(src) && !ignored.includes(src.replace(/\/$/, '')), `COPY ${src}: excluded by .dockerignore`);
        }
      }
    }
    // The build installs with the project's .npmrc (onnxruntime-node-install=skip) and builds the console.
    assert.ok(stages[0]!.instructions.some((i) => i.op === 'COPY' && i.args.split(/\s+/).includes('.npmrc')));
    assert.match(read('.npmrc'), /onnxruntime-node-install=skip/);
    assert.match((JSON.parse(read('package.json')) as Obj).scripts.prepare, /console:build/);
    assert.ok(runtime.instructions.some((i) => i.op === 'COPY' && /console\/dist/.test(i.args)), 'the runtime serves the built console');
  });
});

// ---------------------------------------------------------------------------------------------
// nginx

describe('nginx config', () => {
  let dir: string;
  before(async () => {
    assertNginxInstalled();
    dir = await nginxDir();
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const render = (upstreams: string[], listen: string) => renderLocalNginx(dir, upstreams, listen);

  test('deploy/nginx.conf is the template rendered for the compose services', () => {
    assert.equal(read('deploy/nginx.conf'), renderFromArgs(COMPOSE_ARGS, {}).text, 'run: npx tsx deploy/render-nginx.ts ' + COMPOSE_ARGS.join(' '));
  });

  test('limits agree with ragd: body size, read timeout beyond the pings, keep-alive below ragd\'s', () => {
    const text = render(['127.0.0.1:1'], '127.0.0.1:2');
    const config = loadConfig({});
    assert.ok(Number(/client_max_body_size (\d+);/.exec(text)![1]) >= config.maxUploadBytes);
    const readSec = Number(/proxy_read_timeout (\d+)s;/.exec(text)![1]);
    assert.ok(readSec * 1000 > 2 * Math.max(DEFAULT_TIMING.ssePingMs, DEFAULT_TIMING.wsPingMs));
    assert.ok(Number(/keepalive_timeout (\d+)s;/.exec(text)![1]) * 1000 < config.httpLimits.keepAliveTimeoutMs);
    for (const needed of ['least_conn;', 'proxy_buffering off;', 'proxy_set_header Upgrade $http_upgrade;', 'proxy_set_header X-Request-Id $ragd_request_id;', 'proxy_next_upstream ']) {
      assert.ok(text.includes(needed), needed);
    }
    assert.throws(() => render([], '8080'), /upstream/);
    assert.throws(() => render(['a;b:1'], '8080'), /host:port/);
  });

  test('the rendered config passes nginx -t', async () => {
    const file = join(dir, 'test.conf');
    writeFileSync(file, render(['127.0.0.1:18081', '127.0.0.1:18082'], `127.0.0.1:${await freePort()}`));
    const r = spawnSync(NGINX, ['-t', '-e', 'stderr', '-c', file, '-p', dir], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /test is successful/);
  });

  describe('in front of a live ragd', () => {
    let server: TestServer;
    let nginx: RunningNginx;
    let url: string;
    before(async () => {
      server = await startTestServer();
      // The first upstream is dead: nginx must take the request to the live node.
      nginx = await startNginx([`127.0.0.1:${await freePort()}`, new URL(server.url).host], { dir });
      url = nginx.url;
    });
    after(async () => {
      await nginx?.close();
      await server?.close();
    });

    test('requests reach the live node past a dead one, with the caller\'s X-Request-Id', async () => {
      for (let i = 0; i < 6; i++) {
        const res = await fetch(`${url}/readyz`, { headers: { 'x-request-id': `deploy-test-${i}` } });
        assert.equal(res.status, 200);
        assert.equal(res.headers.get('x-request-id'), `deploy-test-${i}`);
      }
      const generated = await fetch(`${url}/healthz`);
      assert.match(generated.headers.get('x-request-id') ?? '', /^[0-9a-f]{32}$/, 'nginx generates one when the caller sends none');
      assert.equal((await fetch(`${url}/metrics`)).status, 404, '/metrics is not published at the edge');
    });

    test('a KB\'s WebSocket and a task\'s SSE stream pass through nginx', async () => {
      const socket = await openKbSocket(url, 'default', {});
      assert.ok(socket.ws, `the upgrade went through (status ${socket.status}, close ${socket.closeCode})`);
      try {
        const up = await uploadText(url, 'default', 'through-nginx.md', '# Proxy\nThis document was uploaded through nginx.');
        const res = await fetch(`${url}/v1/tasks/${up.task_id}/events`, { signal: AbortSignal.timeout(60_000) });
        assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
        const events: { event: string; data: any }[] = [];
        for await (const e of readSse(res.body!)) events.push({ event: e.event, data: JSON.parse(e.data) });
        assert.equal(events.at(-1)?.event, 'end');
        assert.equal(events.filter((e) => e.event === 'task').at(-1)?.data.status, 'succeeded');
        await waitFor(() => socket.messages.some((m) => m.type !== 'hello' && JSON.stringify(m).includes(up.id)), { what: 'the document on the KB socket' });
      } finally {
        socket.ws.close();
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Prometheus

describe('deploy/prometheus', () => {
  test('prometheus.yml loads the alert rules and scrapes every ragd service of the compose file', () => {
    const prom = parseYaml(read('deploy/prometheus/prometheus.yml')) as Obj;
    for (const f of prom.rule_files as string[]) assert.ok(existsSync(deployPath('prometheus', f)), f);
    const job = (prom.scrape_configs as Obj[]).find((j) => j.job_name === 'ragd')!;
    const scraped = (job.dns_sd_configs as Obj[]).flatMap((d) => d.names as string[]).sort();
    const services = loadCompose().services as Record<string, Obj>;
    const serving = Object.entries(services).filter(([, s]) => s.image === 'ragd:local' && s.command[0] !== 'migrate').map(([name]) => name).sort();
    assert.deepEqual(scraped, serving);
    assert.ok((job.dns_sd_configs as Obj[]).every((d) => d.port === 8080));
  });

  test('every alert rule has a name, a severity and a summary', () => {
    const alerts = parseYaml(read('deploy/prometheus/alerts.yml')) as Obj;
    const rules = (alerts.groups as Obj[]).flatMap((g) => g.rules as Obj[]);
    for (const needed of ['RagdQueueStuck', 'RagdProviderBreakerOpen', 'RagdEventLoopLag']) assert.ok(rules.some((r) => r.alert === needed), needed);
    for (const r of rules) {
      assert.match(r.alert, /^Ragd[A-Za-z]+$/);
      assert.ok(['warning', 'critical'].includes(r.labels?.severity), `${r.alert} severity`);
      assert.ok(r.annotations?.summary, `${r.alert} summary`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Health check script and metric names, against a live ragd

/**
 * The metric names a cluster API node and a cluster worker export, each started in this process
 * on a database of its own and a Redis prefix of its own (both removed afterwards).
 */
async function clusterExports(): Promise<Set<string>> {
  const db = await tempDatabase();
  const prefix = testPrefix('deploy-metrics');
  const blobs = await mkdtemp(join(tmpdir(), 'ragd-blobs-'));
  const cluster = { RAGD_DATABASE_URL: db.url, RAGD_REDIS_URL: REDIS_URL, RAGD_REDIS_PREFIX: prefix, RAGD_BLOB_DIR: blobs };
  let api: TestServer | null = null;
  let worker: RunningServer | null = null;
  const dataDir = await mkdtemp(join(tmpdir(), 'ragd-worker-'));
  try {
    api = await startTestServer(cluster);
    const config = loadConfig({ RAGD_HOST: '127.0.0.1', RAGD_PORT: '0', RAGD_WORKERS: '1', RAGD_DATA_DIR: dataDir, ...cluster });
    worker = await startWorker(config, pino({ level: 'silent' }), { stages: [...STAGES], queryJobs: true });
    const names = await exportedNames(api.url);
    for (const name of await exportedNames(worker.url)) names.add(name);
    assert.ok(names.has('ragd_pipeline_queue_jobs'), 'a cluster node exports the queue depth');
    return names;
  } finally {
    await worker?.close();
    await api?.close();
    const redis = await testRedis();
    await deleteKeys(redis, prefix).finally(() => redis.quit());
    await db.drop();
    await rm(blobs, { recursive: true, force: true });
    await rm(dataDir, { recursive: true, force: true });
  }
}

/**
 * The metric names a PromQL expression selects, parsed with Prometheus's own grammar, and the
 * offset of its first syntax error (null: none). Grafana's `$__rate_interval` is replaced as
 * Grafana would before sending the query.
 */
function promqlMetrics(expr: string): { names: string[]; errorAt: number | null } {
  const text = expr.replace(/\$__rate_interval/g, '5m');
  const names: string[] = [];
  let errorAt: number | null = null;
  promqlParser.parse(text).iterate({
    enter(node) {
      if (node.type.isError) errorAt ??= node.from;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') names.push(text.slice(node.from, node.to));
    },
  });
  return { names, errorAt };
}

test('the PromQL check finds names and refuses broken queries', () => {
  assert.deepEqual(promqlMetrics('sum by (le) (rate(a_bucket{x="1"}[$__rate_interval])) / b').names, ['a_bucket', 'b']);
  assert.notEqual(promqlMetrics('sum(rate(a[5m])').errorAt, null);
});

/** Every metric name a /metrics exposition offers (a histogram's family and its series names). */
async function exportedNames(url: string): Promise<Set<string>> {
  const res = await fetch(`${url}/metrics`);
  assert.equal(res.status, 200, `${url}/metrics`);
  const names = new Set<string>();
  for (const line of (await res.text()).split('\n')) {
    const typed = /^# TYPE (\S+) (\S+)/.exec(line);
    if (typed) {
      names.add(typed[1]!);
      if (typed[2] === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(typed[1] + suffix);
    } else if (line && !line.startsWith('#')) names.add(/^[^{\s]+/.exec(line)![0]);
  }
  return names;
}

describe('against a live ragd', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server?.close();
  });

  /** The script's exit code; spawned asynchronously, since the server answers from this process. */
  const healthcheck = (port: string, path?: string) =>
    new Promise<number | null>((resolveCode, reject) => {
      const child = spawn(process.execPath, [deployPath('healthcheck.mjs'), ...(path ? [path] : [])], { env: { ...process.env, RAGD_PORT: port }, stdio: 'ignore' });
      const guard = setTimeout(() => child.kill('SIGKILL'), 15_000);
      child.once('error', reject);
      child.once('exit', (code) => {
        clearTimeout(guard);
        resolveCode(code);
      });
    });

  test('deploy/healthcheck.mjs: 0 when ragd answers, 1 when nothing listens', async () => {
    const port = new URL(server.url).port;
    assert.equal(await healthcheck(port), 0);
    assert.equal(await healthcheck(port, '/readyz'), 0);
    assert.equal(await healthcheck(port, '/no-such-path'), 1);
    assert.equal(await healthcheck(String(await freePort())), 1);
  });

  test('every metric the dashboard, the alert rules and the KEDA triggers query is exported', async () => {
    // What an embedded server, a cluster API node and a cluster worker export, together: the
    // dashboard spans every role (queue depth, for one, comes from the cluster queue).
    const exported = await exportedNames(server.url);
    for (const name of await clusterExports()) exported.add(name);

    const queries: { where: string; expr: string }[] = [];
    const dashboard = JSON.parse(read('deploy/grafana/ragd.json')) as Obj;
    for (const p of dashboard.panels as Obj[]) for (const t of p.targets ?? []) queries.push({ where: `dashboard "${p.title}"`, expr: t.expr });
    // A variable's `label_values(<selector>, <label>)` is Grafana's; its selector is PromQL.
    for (const v of dashboard.templating.list as Obj[]) {
      if (v.definition) queries.push({ where: `dashboard variable ${v.name}`, expr: /^label_values\((.+),\s*\w+\)$/.exec(v.definition)?.[1] ?? v.definition });
    }
    const alerts = parseYaml(read('deploy/prometheus/alerts.yml')) as Obj;
    for (const g of alerts.groups) for (const r of g.rules) queries.push({ where: `alert ${r.alert}`, expr: r.expr });
    for (const m of loadManifests().filter((x) => x.doc.kind === 'ScaledObject')) {
      for (const t of m.doc.spec.triggers) queries.push({ where: `ScaledObject ${m.doc.metadata.name}`, expr: t.metadata.query });
    }
    assert.ok(queries.length > 25);

    const used = new Set<string>();
    for (const { where, expr } of queries) {
      const { names, errorAt } = promqlMetrics(expr);
      assert.equal(errorAt, null, `${where}: PromQL syntax error at ${errorAt}: ${expr}`);
      assert.ok(names.length > 0, `${where}: queries no metric: ${expr}`);
      for (const name of names) {
        // `up` is Prometheus's own: whether the scrape answered.
        if (name === 'up') continue;
        used.add(name);
        if (NOT_EXPORTED_HERE.includes(name)) continue;
        assert.ok(exported.has(name), `${where} queries ${name}, which ragd does not export`);
      }
    }
    for (const name of NOT_EXPORTED_HERE) {
      assert.ok(used.has(name), `${name} is allow-listed but no longer queried: drop it from the list`);
      assert.ok(!exported.has(name), `${name} is exported now: drop it from the list`);
    }
  });
});
