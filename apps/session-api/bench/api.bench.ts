/**
 * `npm run bench:api`: the built API (`nest build session-api`, what docker/Dockerfile runs) with the embedded
 * event store in its process (SQLite synchronous=FULL), configured as `npm start` configures it, loaded by
 * autocannon. BENCH_SOURCES=1 runs the TypeScript sources instead (through tools/register.js). Prints the
 * machine, then req/s and p50/p99 latency for session creates (3 items), AddCartItems over 1,000 existing
 * sessions (without and with an Idempotency-Key), keyed closes of the sessions the creates made (so only with
 * them), GET of a session (from 32 connections, which share store reads) and of 1,000 different ones, GET of
 * a session with 1,000 events (from 32 connections and from one), and a no-op endpoint for the ratio. Targets (2 cores): AddCartItems ≥ 2,000/s with p99 ≤ 50 ms; GET of a 1,000-event
 * session ≤ 10 ms p50.
 */
import autocannon from 'autocannon';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';

const KEY = 'bench-integration-key';
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const ROOT = path.resolve(__dirname, '../../..');
/** Where `nest build session-api` puts the API's entry (nest-cli.json, apps/session-api/tsconfig.app.json). */
const BUILT_ENTRY = 'dist/apps/session-api/apps/session-api/src/main.js';

async function main(): Promise<void> {
  const cpus = os.cpus();
  console.log(
    `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} cores (available parallelism ${os.availableParallelism()}), ` +
      `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, node ${process.version}, ${os.platform()} ${os.release()}, ` +
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' / ')}`,
  );
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'session-api-bench-'));
  // The API runs in its own process (embedded store inside), so autocannon does not share its event loop.
  const port = 30_000 + Math.floor(Math.random() * 20_000);
  // BENCH_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to the API process, for profiling.
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const entry = process.env.BENCH_SOURCES
    ? ['-r', './tools/register.js', 'apps/session-api/src/main.ts']
    : [BUILT_ENTRY];
  if (!process.env.BENCH_SOURCES && !fs.existsSync(path.join(ROOT, BUILT_ENTRY)))
    throw new Error(`${BUILT_ENTRY} is missing: run \`npx nest build session-api\` (npm run bench:api does)`);
  console.log(`API: ${entry.join(' ')}`);
  const server = spawn(process.execPath, [...nodeArgs, ...entry], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      EMBEDDED_EVENTSTORE_PORT: '0',
      DATA_DIR: dataDir,
      INTEGRATION_API_KEYS: `${KEY}=1`,
      MANAGEMENT_API_KEYS: 'bench-management-key=*',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let attempt = 0; ; attempt++) {
    const ready = await fetch(`${base}/health/ready`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (attempt > 100) throw new Error('the API did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const headers = { authorization: `ApiKey-v1 ${KEY}`, 'content-type': 'application/json' };
  const threeItems = JSON.stringify({
    customerSession: {
      profileId: '',
      cartItems: [
        { sku: 'A', quantity: 1, price: 19.99 },
        { sku: 'B', quantity: 2, price: 5.5 },
        { sku: 'C', quantity: 3, price: 0.1 },
      ],
    },
  });
  const oneItem = JSON.stringify({ cartItems: [{ sku: 'X', quantity: 1, price: 1.25 }] });

  const send = async (method: string, url: string, body?: string) => {
    const response = await fetch(`${base}${url}`, { method, headers, body });
    if (response.status !== 200)
      throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  };
  const inBatches = async (count: number, work: (i: number) => Promise<void>, batch = 50) => {
    for (let start = 0; start < count; start += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, count - start) }, (_, k) => work(start + k)));
    }
  };

  // CPU time of the API process (all its threads) per request: unlike req/s it hardly depends on what else
  // runs on the box. Linux only (/proc); elsewhere it reads as 0.
  // The main thread alone (/proc/<pid>/task/<pid>): the HTTP event loop, without the store's and the
  // projector's worker threads — what bounds req/s when the other threads have a core to run on.
  const cpuMs = (file = `/proc/${server.pid}/stat`): number => {
    try {
      const fields = fs.readFileSync(file, 'utf8').split(') ')[1]!.split(' ');
      return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
    } catch {
      return 0;
    }
  };
  const mainThreadCpuMs = () => cpuMs(`/proc/${server.pid}/task/${server.pid}/stat`);
  const results: {
    name: string;
    rps: number;
    p50: number;
    p99: number;
    cpuPerRequest: number;
    mainCpuPerRequest: number;
    errors: number;
    non2xx: number;
  }[] = [];
  // BENCH_ONLY=<text>: run only the scenarios whose name contains it (the no-op always runs), e.g. for a profile.
  const only = process.env.BENCH_ONLY;
  // Each scenario starts once the projector thread has committed what the ones before it wrote (the set-up's
  // 2,000 events, the creates' ~15,000), so a scenario's figures are its own: otherwise the first seconds of
  // AddCartItems shared the cores with the projection of the creates before it. The wait is printed.
  const settle = async () => {
    const started = Date.now();
    for (;;) {
      const text = await fetch(`${base}/metrics`).then(
        (response) => response.text(),
        () => '',
      );
      const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
      if (gauge('projector_caught_up') === 1 && gauge('projector_lag_events') === 0) break;
      if (Date.now() - started > 120_000) throw new Error('the projector did not catch up within 120 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return Date.now() - started;
  };
  const run = async (name: string, options: autocannon.Options) => {
    if (only && !name.includes(only) && !name.startsWith('no-op')) return;
    const settledIn = await settle();
    if (settledIn >= 100)
      console.log(`(waited ${settledIn} ms for the projector to commit the writes before)`);
    const cpuBefore = cpuMs();
    const mainCpuBefore = mainThreadCpuMs();
    const result = await autocannon({ connections: CONNECTIONS, duration: DURATION, ...options });
    const cpuPerRequest = (cpuMs() - cpuBefore) / Math.max(1, result.requests.total);
    const mainCpuPerRequest = (mainThreadCpuMs() - mainCpuBefore) / Math.max(1, result.requests.total);
    results.push({
      name,
      rps: Math.round(result.requests.average),
      p50: result.latency.p50,
      p99: result.latency.p99,
      cpuPerRequest,
      mainCpuPerRequest,
      errors: result.errors,
      non2xx: result.non2xx,
    });
    console.log(
      `${name}: ${Math.round(result.requests.average)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, API CPU ${cpuPerRequest.toFixed(2)} ms/req (main thread ${mainCpuPerRequest.toFixed(2)}) (${result.non2xx} non-2xx, ${result.errors} errors)`,
    );
  };

  console.log('setting up: 1,000 sessions, and one session with 1,000 events');
  await inBatches(1000, (i) => send('PUT', `/v2/customer_sessions/bench-add-${i}`, threeItems));
  await send('PUT', '/v2/customer_sessions/bench-big', JSON.stringify({ customerSession: {} }));
  // 999 updates after the create: 1,000 events, each switching the coupon codes (a small cart, many events).
  for (let i = 0; i < 999; i++) {
    await send(
      'PUT',
      '/v2/customer_sessions/bench-big',
      JSON.stringify({ customerSession: { couponCodes: [`C${i}`] } }),
    );
  }

  await run('no-op GET /health/live', { url: `${base}/health/live` });

  let created = 0;
  await run('create session with 3 items (PUT)', {
    url: base,
    requests: [
      {
        method: 'PUT',
        headers,
        body: threeItems,
        setupRequest: (request) => ({ ...request, path: `/v2/customer_sessions/bench-new-${created++}` }),
      },
    ],
  });

  // AddCartItems round the 1,000 sessions; `keyed`: each request with its own Idempotency-Key, as a checkout that
  // retries safely sends it, which costs a look-up of the key's record (a store read) besides: an AddCartItems of no
  // items changes nothing and leaves such a record.
  const addCartItems = (name: string, keyed: boolean) => {
    let sent = 0;
    return run(name, {
      url: base,
      requests: [
        {
          method: 'POST',
          headers,
          body: oneItem,
          setupRequest: (request) => {
            const n = sent++;
            return {
              ...request,
              path: `/v2/customer_sessions/bench-add-${n % 1000}/cart_items`,
              ...(keyed ? { headers: { ...request.headers, 'idempotency-key': `bench-key-${n}` } } : {}),
            };
          },
        },
      ],
    });
  };
  await addCartItems('AddCartItems on 1,000 sessions (POST cart_items)', false);
  await addCartItems('AddCartItems with an Idempotency-Key (POST cart_items)', true);

  // Each session the creates made closed once, with its own Idempotency-Key: a keyed command that cannot change
  // nothing, so no record is looked up for it. As many requests as there are such sessions.
  let closed = 0;
  if (created > 0)
    await run('close with an Idempotency-Key (POST close)', {
      url: base,
      amount: created,
      requests: [
        {
          method: 'POST',
          headers: { authorization: headers.authorization },
          setupRequest: (request) => {
            const n = closed++;
            return {
              ...request,
              path: `/v2/customer_sessions/bench-new-${n}/close`,
              headers: { ...request.headers, 'idempotency-key': `bench-close-${n}` },
            };
          },
        },
      ],
    });

  await run('GET session', { url: `${base}/v2/customer_sessions/bench-add-1`, headers });
  // The same GET round the 1,000 sessions, as checkouts read their own: concurrent GETs of one session share
  // one store read (the scenario above, 32 connections on one session), GETs of different sessions each make
  // their own (read-your-writes: every GET reads past the cached revision).
  let read = 0;
  await run('GET of 1,000 different sessions', {
    url: base,
    requests: [
      {
        method: 'GET',
        headers,
        setupRequest: (request) => ({ ...request, path: `/v2/customer_sessions/bench-add-${read++ % 1000}` }),
      },
    ],
  });
  await run('GET session with 1,000 events', { url: `${base}/v2/customer_sessions/bench-big`, headers });
  // The same GET from one connection: what one read of a long session costs, without the queueing of 32
  // connections on a saturated box (there p50 ≈ 32 ÷ req/s, whatever the endpoint).
  await run('GET session with 1,000 events, 1 connection', {
    url: `${base}/v2/customer_sessions/bench-big`,
    headers,
    connections: 1,
  });

  const noop = results[0]!.rps;
  if (only) {
    for (const r of results)
      console.log(
        `${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.cpuPerRequest.toFixed(2)} | ${r.mainCpuPerRequest.toFixed(2)}`,
      );
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    fs.rmSync(dataDir, { recursive: true, force: true });
    return;
  }
  console.log(
    `\nload average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')} (1/5/15 min; other work on the box skews req/s and latency, less so CPU ms/req)`,
  );
  console.log('scenario | req/s | p50 ms | p99 ms | API CPU ms/req | main thread CPU ms/req | vs no-op');
  for (const r of results)
    console.log(
      `${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.cpuPerRequest.toFixed(2)} | ${r.mainCpuPerRequest.toFixed(2)} | ${(r.rps / noop).toFixed(2)}`,
    );
  const add = results.find((r) => r.name.startsWith('AddCartItems'))!;
  const big = results.find((r) => r.name.endsWith('1,000 events'))!;
  const bigAlone = results.find((r) => r.name.endsWith('1,000 events, 1 connection'))!;
  console.log(
    `\ntargets: AddCartItems ≥ 2000/s: ${add.rps >= 2000 ? 'met' : 'MISSED'} (${add.rps}); p99 ≤ 50 ms: ${add.p99 <= 50 ? 'met' : 'MISSED'} (${add.p99}); ` +
      `GET 1,000-event session p50 ≤ 10 ms: ${big.p50 <= 10 ? 'met' : 'MISSED'} (${big.p50} at ${CONNECTIONS} connections, ` +
      `${bigAlone.p50} from 1 connection)`,
  );

  server.kill('SIGTERM');
  await new Promise((resolve) => server.once('exit', resolve));
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
