/**
 * Scenario 7: the admission webhook over HTTPS (its own self-signed certificate). Peak
 * AdmissionReviews per second (autocannon, closed loop) and latency at a fixed rate (open loop).
 * Each review is a Deployment's pod CREATE that gets the sidecar injected (a JSON patch back).
 */
import { sidemeshCommand } from '../lib/sidemesh.ts';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { autocannon, LOADGEN_CPU, openLoop, SUBJECT_CPU } from '../lib/loadgen.ts';
import { tempDir } from '../lib/peers.ts';
import { freePort, start, waitForPort, type Child } from '../lib/proc.ts';
import { check, medianFigures, unavailable } from '../lib/results.ts';
import { cpuOf, errMessage, peakRssOf, type Ctx, type Scenario, type ScenarioOutput } from './context.ts';

const root = join(import.meta.dirname, '..', '..');
const CONNECTIONS = 10;
const RATE = 1000;
/** A Node.js HTTPS server that answers without any webhook work: the floor, for reference. */
const ECHO = 'Node.js HTTPS echo (reference)';

/** A pod CREATE from a ReplicaSet controller, as the API server sends it (managedFields left out). */
function review(): unknown {
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: '2b8e3c1a-5f7d-4f0e-9c71-3f1d2a6b9e40',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      name: '',
      namespace: 'shop',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: {
        kind: 'Pod',
        apiVersion: 'v1',
        metadata: {
          generateName: 'web-7d9f8b6c4-',
          namespace: 'shop',
          labels: { 'app.kubernetes.io/name': 'web', 'pod-template-hash': '7d9f8b6c4' },
          ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-7d9f8b6c4', uid: 'c0b4a1c2-0f3e-4a8e-b1d5-2e8f9a6b7c31', controller: true, blockOwnerDeletion: true }],
        },
        spec: {
          containers: [
            {
              name: 'web',
              image: 'registry.example/web:1.4.2',
              ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
              env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'DB_HOST', value: 'db' }],
              resources: { requests: { cpu: '100m', memory: '128Mi' } },
              readinessProbe: { httpGet: { path: '/ready', port: 8080 } },
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'File',
              imagePullPolicy: 'IfNotPresent',
            },
          ],
          restartPolicy: 'Always',
          terminationGracePeriodSeconds: 30,
          dnsPolicy: 'ClusterFirst',
          serviceAccountName: 'default',
          securityContext: {},
          schedulerName: 'default-scheduler',
          enableServiceLinks: true,
        },
        status: {},
      },
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

export const admission: Scenario = {
  id: 'admission',
  title: 'Admission webhook over HTTPS',
  async run(ctx: Ctx): Promise<ScenarioOutput> {
    const durationS = ctx.quick ? 2 : 4;
    const setup = [
      `\`sidemesh admission --self-signed\` (TLS with its own in-memory CA), pinned to CPU ${SUBJECT_CPU}; load pinned to CPU ${LOADGEN_CPU}; each request a Deployment pod CREATE that gets injected`,
      `peak: autocannon ${CONNECTIONS} connections (keep-alive TLS), ${durationS} s; fixed rate: open-loop ${RATE}/s over ${CONNECTIONS} connections, ${durationS} s after 1 s warm-up; ${ctx.repeats} repeats, median`,
      `"${ECHO}" (bench/lib/https-echo.ts): the same TLS set-up, pinned the same way, reads each review and answers with one of the webhook's own responses, byte for byte, without looking at the review; measured at the same fixed rate right after each of the webhook's runs. What is left of the webhook's p99 above it is the webhook's own doing`,
    ];
    const columns = [
      { id: 'rps', label: 'peak reviews/s', digits: 0 },
      { id: 'peakP99Ms', label: 'p99 ms at peak', digits: 0 },
      { id: 'p50Us', label: `p50 µs at ${RATE}/s`, digits: 0 },
      { id: 'p99Us', label: `p99 µs at ${RATE}/s`, digits: 0 },
      { id: 'serviceP99Us', label: 'p99 µs from actual send', digits: 0 },
      { id: 'sendLateP99Us', label: 'generator late p99 µs', digits: 0 },
      { id: 'handledWithin500UsPct', label: `% handled ≤ 0.5 ms at ${RATE}/s (webhook's histogram)`, digits: 2 },
      { id: 'cpuPer1k', label: 'CPU s / 1000 reviews', digits: 3 },
      { id: 'rssMiB', label: 'peak RSS MiB', digits: 1 },
      { id: 'errors', label: 'errors', digits: 0 },
    ];
    if (!existsSync(join(root, 'admission/main.ts'))) {
      return { setup, columns, rows: [unavailable('sidemesh admission', 'admission/main.ts not built yet')], checks: [], notes: [] };
    }
    let child: Child | undefined;
    let echo: Child | undefined;
    try {
      const dir = tempDir('admission');
      const body = join(dir, 'review.json');
      writeFileSync(body, JSON.stringify(review()));
      const port = await freePort();
      const metricsPort = await freePort();
      child = start(
        'admission',
        process.execPath,
        [...sidemeshCommand('discover'), 'admission', '--self-signed', '--host', '127.0.0.1', '--port', String(port), '--metrics-port', String(metricsPort), '--ca-bundle-sync', 'false', '--log-level', 'warn'],
        { cpus: SUBJECT_CPU, env: { LOG_LEVEL: 'warn' } },
      );
      await waitForPort('127.0.0.1', port, 20_000, child);
      const url = `https://127.0.0.1:${port}/mutate`;
      const m = { name: 'admission', pids: [child.pid], children: [child] };
      await autocannon(url, CONNECTIONS, 1, { bodyFile: body });
      // The reference is optional: without it the webhook's own figures still stand.
      let echoUrl: string | undefined;
      let echoProblem = '';
      try {
        const answerFile = join(dir, 'response.json');
        writeFileSync(answerFile, await post(url, body));
        const echoPort = await freePort();
        echo = start('https-echo', process.execPath, [join(root, 'bench/lib/https-echo.ts'), String(echoPort), answerFile], { cpus: SUBJECT_CPU });
        await waitForPort('127.0.0.1', echoPort, 20_000, echo);
        const u = `https://127.0.0.1:${echoPort}/mutate`;
        await autocannon(u, CONNECTIONS, 1, { bodyFile: body });
        echoUrl = u;
      } catch (e) {
        echoProblem = errMessage(e);
      }
      const fixedRate = { rate: RATE, connections: CONNECTIONS, durationS, warmupS: 1, method: 'POST', bodyFile: body, headers: ['content-type: application/json'] };
      const echoRuns: Record<string, number>[] = [];
      const runs: Record<string, number>[] = [];
      for (let r = 0; r < ctx.repeats; r++) {
        ctx.log(`admission: run ${r + 1}/${ctx.repeats}`);
        const cpu0 = cpuOf(m);
        const peak = await autocannon(url, CONNECTIONS, durationS, { bodyFile: body });
        const cpu = cpuOf(m) - cpu0;
        const before = await handledBuckets(metricsPort);
        const fixed = await openLoop(url, fixedRate);
        const after = await handledBuckets(metricsPort);
        runs.push({
          rps: peak.rps,
          peakP99Ms: peak.latencyP99Ms,
          p50Us: fixed.latencyUs.p50,
          p99Us: fixed.latencyUs.p99,
          serviceP99Us: fixed.serviceUs.p99,
          sendLateP99Us: fixed.sendLatenessUs.p99,
          handledWithin500UsPct: (100 * (after.within500Us - before.within500Us)) / Math.max(1, after.all - before.all),
          cpuPer1k: cpu / (peak.requests / 1000),
          rssMiB: peakRssOf(m),
          errors: peak.errors + peak.non2xx + fixed.errors + fixed.non2xx,
        });
        if (echoUrl === undefined) continue;
        const floor = await openLoop(echoUrl, fixedRate);
        echoRuns.push({
          p50Us: floor.latencyUs.p50,
          p99Us: floor.latencyUs.p99,
          serviceP99Us: floor.serviceUs.p99,
          sendLateP99Us: floor.sendLatenessUs.p99,
          errors: floor.errors + floor.non2xx,
        });
      }
      const figures = medianFigures(runs);
      return {
        setup,
        columns,
        rows: [
          { subject: 'sidemesh admission', available: true, figures, runs },
          echoUrl !== undefined ? { subject: ECHO, available: true, figures: medianFigures(echoRuns), runs: echoRuns } : unavailable(ECHO, `did not start: ${echoProblem}`),
        ],
        checks: [
          check(
            {
              id: 'admission-rps',
              label: 'admission reviews/s',
              target: 2000,
              op: '>=',
              unit: '/s',
              why: 'A rollout or a node drain creates hundreds of pods at once and every one waits on the webhook; one replica must absorb that without the API server timing out (its default webhook timeout is 10 s).',
            },
            figures.rps,
          ),
          check(
            {
              id: 'admission-p99',
              label: `admission p99 at ${RATE}/s`,
              target: 5,
              op: '<=',
              unit: 'ms',
              why: 'The webhook is on the critical path of every pod creation: a few milliseconds is invisible, tens add up across a rollout.',
            },
            figures.p99Us / 1000,
          ),
        ],
        notes: [
          'At the fixed rate, latency counts from when each review was due; "from actual send" leaves out the time a review waited for a free connection or a late generator. A large gap between the two means queueing (the webhook or the machine fell behind), not slow reviews.',
          '"handled ≤ 0.5 ms" is read from the webhook\'s own `sidemesh_admission_duration_seconds` (end of the request body to the response) over the fixed-rate run: the share of reviews whose decoding, injection and patch took under half a millisecond. What the client sees beyond that is TLS, the sockets, the webhook\'s event loop and GC, and the generator itself.',
        ],
      };
    } catch (e) {
      return { setup, columns, rows: [unavailable('sidemesh admission', errMessage(e))], checks: [], notes: [] };
    } finally {
      await child?.stop();
      await echo?.stop();
    }
  },
};

/** Cumulative count of reviews the webhook handled within 0.5 ms, and of all, from its /metrics. */
async function handledBuckets(metricsPort: number): Promise<{ within500Us: number; all: number }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let within500Us = 0;
  let all = 0;
  for (const line of text.split('\n')) {
    const m = /^sidemesh_admission_duration_seconds_bucket\{.*le="([^"]+)".*\} (\d+)$/.exec(line);
    if (m === null) continue;
    if (m[1] === '0.0005') within500Us += Number(m[2]);
    else if (m[1] === '+Inf') all += Number(m[2]);
  }
  return { within500Us, all };
}

/** One review through the webhook: its response body (the echo answers with these bytes). */
function post(url: string, bodyFile: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`webhook answered ${res.statusCode}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(readFileSync(bodyFile));
  });
}
