/**
 * Keeps the deployment files honest with the code, since docker cannot run on the CI machine:
 * docker/docker-compose.yml and docker/Dockerfile set only variables our apps read and run only entry files
 * `nest build` produces; the README's configuration table lists exactly the variables the apps read; and
 * docs/events.md documents every event type at its current schema version.
 */
import { SESSION_EVENT_READ_VERSIONS, SESSION_EVENT_WRITE_VERSIONS } from '@session-engine/session-domain';
import { load, YAML11_SCHEMA } from 'js-yaml';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as semver from 'semver';
import { parseConfig, type ConfigError } from '../apps/session-api/src/config/config';

const ROOT = path.resolve(__dirname, '..');
const read = (file: string): string => fs.readFileSync(path.join(ROOT, file), 'utf8');

/** Variables set by the platform rather than read by our code (Node and its libraries read them). */
const PLATFORM_VARIABLES: Record<string, string> = {
  NODE_ENV: 'read by Express and other libraries; production turns off development behaviour',
};

function sourceFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory())
      return entry.name === 'testing' || entry.name === 'bench' ? [] : sourceFiles(full);
    return /\.ts$/.test(entry.name) && !/\.(spec|int-spec|e2e-spec)\.ts$/.test(entry.name) ? [full] : [];
  });
}

const ENV_READ = /\b(?:process\.)?env\??\.([A-Z][A-Z0-9_]*)\b|\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g;
const RELATIVE_IMPORT = /\bfrom '(\.{1,2}\/[^']+)'/g;

/**
 * Environment variables read by the production sources under `dir` (tests and test helpers excluded), and by
 * the sources of other apps they import (the replay CLI reads the store settings through the projector's
 * config module).
 */
export function variablesReadUnder(...dirs: string[]): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const pending = dirs.flatMap((dir) => sourceFiles(path.join(ROOT, dir)));
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (seen.has(file)) continue;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const match of text.matchAll(ENV_READ)) names.add(match[1] ?? match[2]!);
    for (const [, target] of text.matchAll(RELATIVE_IMPORT)) {
      const imported = `${path.resolve(path.dirname(file), target!)}.ts`;
      if (imported.startsWith(path.join(ROOT, 'apps')) && fs.existsSync(imported)) pending.push(imported);
    }
  }
  return names;
}

const nestCli = JSON.parse(read('nest-cli.json')) as {
  projects: Record<string, { type: string; root: string; entryFile: string }>;
};
const APPS = Object.entries(nestCli.projects)
  .filter(([, project]) => project.type === 'application')
  .map(([name]) => name);
const readByApp = new Map(APPS.map((app) => [app, variablesReadUnder(`apps/${app}/src`)]));
const readByAnyApp = variablesReadUnder('apps', 'libs');

/** `dist/apps/<app>/apps/<app>/src/main.js` → the app, when nest-cli.json builds that file from a source that exists. */
function appOfEntryFile(file: string): string | undefined {
  const match = /^dist\/apps\/([\w-]+)\/(.+)\.js$/.exec(file);
  if (!match) return undefined;
  const [, app, entry] = match;
  const project = nestCli.projects[app!];
  if (!project || project.type !== 'application' || project.entryFile !== entry) return undefined;
  return fs.existsSync(path.join(ROOT, `${entry}.ts`)) ? app : undefined;
}

interface ComposeService {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null> | string[];
  healthcheck?: { test?: string[] | string; disable?: boolean };
  depends_on?: Record<string, { condition?: string }> | string[];
  profiles?: string[];
  deploy?: { replicas?: number };
}
// YAML 1.1, as compose reads it: the `<<: *app-image` merge keys are resolved.
const compose = load(read('docker/docker-compose.yml'), { schema: YAML11_SCHEMA }) as {
  services: Record<string, ComposeService>;
};
const dockerfile = read('docker/Dockerfile');
const dockerfileCmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? 'null') as string[] | null;

const ourServices = Object.entries(compose.services).filter(
  ([, service]) => service.build !== undefined || service.image?.startsWith('session-engine'),
);
const argv = (value: string[] | string | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value : value.split(/\s+/);
const environmentOf = (service: ComposeService): Record<string, string> =>
  Array.isArray(service.environment)
    ? Object.fromEntries(service.environment.map((line) => line.split(/=(.*)/s).slice(0, 2)))
    : Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]));
/** The process a service runs: its entrypoint (or command) starts with `node <entry file>`, else the image's CMD. */
function entryFileOf(service: ComposeService): string | undefined {
  const line = service.entrypoint !== undefined ? argv(service.entrypoint) : argv(service.command);
  const words = line.length > 0 ? line : (dockerfileCmd ?? []);
  return words[0] === 'node' ? words[1] : undefined;
}

describe('docker/docker-compose.yml', () => {
  it('runs our image for the API and the projector', () => {
    expect(ourServices.map(([name]) => name)).toEqual(expect.arrayContaining(['api', 'projector']));
  });

  it.each(ourServices)(
    'runs %s from an entry file that nest build produces from existing sources',
    (_, service) => {
      const file = entryFileOf(service);
      expect(file).toBeDefined();
      expect(appOfEntryFile(file!)).toBeDefined();
    },
  );

  it.each(ourServices)('sets for %s only variables that its app reads', (_, service) => {
    const app = appOfEntryFile(entryFileOf(service)!)!;
    const unread = Object.keys(environmentOf(service)).filter(
      (name) => !readByApp.get(app)!.has(name) && !(name in PLATFORM_VARIABLES),
    );
    expect(unread).toEqual([]);
  });

  it('keeps the projector out of the API replicas and runs exactly one projector', () => {
    expect(environmentOf(compose.services.api!).PROJECTOR_IN_PROCESS).toBe('false');
    expect(compose.services.projector!.deploy?.replicas ?? 1).toBe(1);
  });

  it('points our services at the compose EventStoreDB with an esdb:// string and at PostgreSQL', () => {
    for (const [, service] of ourServices) {
      const env = environmentOf(service);
      expect(env.EVENTSTORE_CONNECTION_STRING).toMatch(/^esdb:\/\/eventstore:2113\?tls=false$/);
      expect(env.DATABASE_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
    }
  });

  it.each(Object.entries(compose.services))(
    'gives %s a health check and waits for healthy dependencies',
    (_, service) => {
      const tools = service.profiles?.includes('tools') ?? false;
      if (!tools) expect(service.healthcheck?.test).toBeDefined();
      const dependencies = service.depends_on ?? {};
      expect(Array.isArray(dependencies)).toBe(false);
      for (const dependency of Object.values(dependencies as Record<string, { condition?: string }>)) {
        expect(dependency.condition).toBe('service_healthy');
      }
    },
  );

  it('probes our services with the health script the image contains', () => {
    for (const [, service] of ourServices) {
      const test = argv(service.healthcheck?.test);
      if (service.healthcheck?.disable) continue;
      expect(test.slice(0, 3)).toEqual(['CMD', 'node', 'docker/healthcheck.js']);
    }
    expect(dockerfile).toMatch(/^COPY docker\/healthcheck\.js \.\/docker\/healthcheck\.js$/m);
  });
});

describe('docker/Dockerfile', () => {
  it('builds and runs on an official bookworm-slim node image of a supported major that engines accepts (one glibc for better-sqlite3)', () => {
    const major = Number(/^ARG NODE_IMAGE=node:(\d+)-bookworm-slim$/m.exec(dockerfile)?.[1]);
    // Node.js 20 reached its end of life on 2026-04-30; 22 is supported to 2027-04-30.
    expect(major).toBeGreaterThanOrEqual(22);
    const engines = (JSON.parse(read('package.json')) as { engines: { node: string } }).engines.node;
    // node:<major>-bookworm-slim follows the newest release of that major.
    const accepts = semver.satisfies(`${major}.1000.0`, engines);
    expect({ engines, major, accepts }).toEqual({ engines, major, accepts: true });
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(new Set(froms)).toEqual(new Set(['${NODE_IMAGE}']));
  });

  it('runs compiled JavaScript as the node user with production dependencies only', () => {
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toMatch(/^ENV NODE_ENV=production$/m);
    expect(dockerfileCmd).not.toBeNull();
    expect(appOfEntryFile(dockerfileCmd![1]!)).toBe('session-api');
    expect(dockerfile).not.toMatch(/ts-node|tools\/register/);
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n?\s*CMD \["node", "docker\/healthcheck\.js"\]/m);
  });

  it("ships the project's license with the code (MIT asks for its notice in every copy)", () => {
    const license = (JSON.parse(read('package.json')) as { license: string }).license;
    expect({ license, text: read('LICENSE').split('\n')[0] }).toEqual({
      license: 'MIT',
      text: 'MIT License',
    });
    const copied = [...dockerfile.matchAll(/^COPY --from=build (.+) \.\/$/gm)].flatMap((m) =>
      m[1]!.split(' '),
    );
    expect(copied).toContain('/app/LICENSE');
  });

  it("removes the base image's package managers from the runtime stage, which runs only node", () => {
    // The runtime stage, its continued lines joined.
    const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM ')).replace(/\\\n\s*/g, ' ');
    const removed = /^RUN rm -rf (.+?)(?: &&|$)/m.exec(runtime)?.[1]?.split(' ') ?? [];
    expect(removed).toEqual(
      expect.arrayContaining([
        '/usr/local/lib/node_modules',
        '/usr/local/bin/npm',
        '/usr/local/bin/npx',
        '/usr/local/bin/corepack',
        '/usr/local/bin/yarn',
        '/opt/yarn-v*',
      ]),
    );
    const runs = runtime
      .split('\n')
      .filter((line) => /^(RUN|CMD|ENTRYPOINT|HEALTHCHECK)\b/.test(line))
      .map((line) => line.replace(/\/(?:usr\/local|opt)\/\S+/g, ''));
    expect(runs.filter((line) => /\b(npm|npx|yarn|yarnpkg|corepack)\b/.test(line))).toEqual([]);
  });

  it('sets only variables the apps or the platform read', () => {
    const set = [...dockerfile.matchAll(/^ENV (\w+)=/gm)].map((m) => m[1]!);
    expect(set.filter((name) => !readByAnyApp.has(name) && !(name in PLATFORM_VARIABLES))).toEqual([]);
  });

  it('exists for every npm script a deployment document names', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    const named = [...read('docs/operations.md').matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((m) => m[1]!);
    expect(named.filter((name) => !(name in scripts))).toEqual([]);
  });
});

describe('README configuration table', () => {
  const readme = read('README.md');
  const section = readme.slice(
    readme.indexOf('## Configuration'),
    readme.indexOf('\n## ', readme.indexOf('## Configuration') + 1),
  );
  const listed = new Set([...section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm)].map((m) => m[1]!));

  it('lists every variable the apps read', () => {
    expect([...readByAnyApp].filter((name) => !listed.has(name)).sort()).toEqual([]);
  });

  it('lists nothing the apps do not read', () => {
    expect([...listed].filter((name) => !readByAnyApp.has(name)).sort()).toEqual([]);
  });

  it.each([
    'PORT',
    'EVENTSTORE_CALL_TIMEOUT_MS',
    'HTTP_KEEP_ALIVE_TIMEOUT_MS',
    'EMBEDDED_EVENTSTORE_SCAVENGE_INTERVAL_MS',
    'EMBEDDED_EVENTSTORE_GROUP_COMMIT_WINDOW_MS',
    'READ_MODEL_QUERY_TIMEOUT_MS',
    'SESSION_CACHE_MB',
    'PROJECTOR_BATCH_SIZE',
    'PROJECTOR_BATCH_DELAY_MS',
    'PROJECTOR_STALL_AFTER_MS',
    'PROJECTOR_SLOW_COMMIT_MS',
  ])('given a bad %s, then its row states the range the message gives', (name) => {
    let message = '';
    try {
      parseConfig({ [name]: 'x' }, ROOT);
    } catch (error) {
      message = (error as ConfigError).problems.join('\n');
    }
    const range = /\((\d+)\.\.(\d+)|from (\d+) to (\d+)/.exec(message);
    expect(range).not.toBeNull();
    const [min, max] = range!.slice(1).filter((bound) => bound !== undefined);
    const row = section.split('\n').find((line) => line.startsWith(`| \`${name}\``));
    expect(row).toContain(`${min}–${max}`);
  });
});

describe('docs/events.md', () => {
  const events = read('docs/events.md');

  it.each(Object.entries(SESSION_EVENT_READ_VERSIONS))(
    'documents %s at the version read, v%i, and the version written when it is lower',
    (type, read) => {
      const write = SESSION_EVENT_WRITE_VERSIONS[type as keyof typeof SESSION_EVENT_WRITE_VERSIONS];
      const written = write < read ? ` \\(written as v${write}\\)` : '';
      // The type's row alone, so that a failure shows the row rather than the whole document.
      const row = events.split('\n').find((line) => new RegExp(`^\\|\\s*\`${type}\`\\s*\\|`).test(line));
      expect(row).toMatch(new RegExp(`^\\|\\s*\`${type}\`\\s*\\|\\s*v${read}${written}\\s*\\|`));
    },
  );
});
