/**
 * What package.json promises about the installed tree, read from the committed lockfile (what `npm ci`
 * installs, in the image as on a developer's machine): the Node.js versions `engines` accepts are ones every
 * locked package accepts, and the install script that reports installs to a third party (@scarf/scarf) is told
 * not to.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { builtinModules } from 'node:module';
import * as path from 'node:path';
import * as semver from 'semver';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');

interface LockedPackage {
  version?: string;
  dev?: boolean;
  engines?: { node?: string } | string[];
}

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  scarfSettings?: { enabled?: boolean };
};
const locked = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockedPackage>;
  }
).packages;

describe('package.json', () => {
  it('accepts only Node.js versions that every locked package accepts (npm ci warns EBADENGINE on the others)', () => {
    const ours = manifest.engines.node;
    const narrower = Object.entries(locked).flatMap(([where, pkg]) => {
      const theirs = pkg.engines && !Array.isArray(pkg.engines) ? pkg.engines.node : undefined;
      if (where === '' || theirs === undefined) return [];
      return semver.subset(ours, theirs, { includePrerelease: false })
        ? []
        : [
            `${where.replace(/^.*node_modules\//, '')}@${pkg.version} (${pkg.dev ? 'dev' : 'shipped'}): ${theirs}`,
          ];
    });
    expect({ engines: ours, narrower }).toEqual({ engines: ours, narrower: [] });
  });

  it('accepts the Node.js 20 line the CI runs and a current LTS line', () => {
    expect(semver.satisfies('20.19.0', manifest.engines.node)).toBe(true);
    expect(semver.satisfies('22.13.0', manifest.engines.node)).toBe(true);
  });

  it('declines the install-time analytics of @scarf/scarf, whose postinstall the npm 10 of the node images runs', () => {
    // swagger-ui-dist depends on @scarf/scarf, whose postinstall posts the dependency tree to scarf.sh. npm 11's
    // allowScripts keeps it from running; the npm 10 of the node:20/22 images ignores allowScripts and runs it,
    // so the image build would report home. scarfSettings.enabled=false makes it stop before it sends anything.
    const inTree = Object.keys(locked).some((where) => where.endsWith('node_modules/@scarf/scarf'));
    expect({ inTree, enabled: manifest.scarfSettings?.enabled }).toEqual({
      inTree,
      enabled: inTree ? false : undefined,
    });
  });
});

/** The packages a file imports or requires by name (not relative paths, Node's built-ins or our own aliases). */
function packagesImportedBy(file: string): string[] {
  // TypeScript's own scan: import and export declarations, require() and import() calls — not text in strings.
  const { importedFiles } = ts.preProcessFile(fs.readFileSync(path.join(ROOT, file), 'utf8'), true, true);
  return importedFiles
    .map((imported) => imported.fileName)
    .filter((name) => !name.startsWith('.') && !name.startsWith('/'))
    .filter((name) => !name.startsWith('node:') && !builtinModules.includes(name.split('/')[0]!))
    .filter((name) => !name.startsWith('@session-engine/'))
    .map((name) => (name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0]!));
}

describe('imports', () => {
  const files = execFileSync('git', ['ls-files', '*.ts', '*.js'], { cwd: ROOT, encoding: 'utf8' })
    .split('\n')
    .filter((file) => file !== '');
  /** Code that ships and runs in production: not specs, test helpers, benchmarks or tools. */
  const shipped = (file: string) =>
    /^(apps|libs)\//.test(file) &&
    !/\.(spec|int-spec|e2e-spec)\.ts$/.test(file) &&
    !/\/(testing|bench|test)\//.test(file);

  it('name only packages package.json declares: a package reached through another is not ours to rely on', () => {
    const declared = new Set([
      ...Object.keys(manifest.dependencies),
      ...Object.keys(manifest.devDependencies),
    ]);
    const undeclared = files.flatMap((file) =>
      packagesImportedBy(file)
        .filter((name) => !declared.has(name))
        .map((name) => `${file}: ${name}`),
    );
    expect(undeclared).toEqual([]);
  });

  it('in shipped code name only dependencies (the production install has no devDependency)', () => {
    const dependencies = new Set(Object.keys(manifest.dependencies));
    const devOnly = files.filter(shipped).flatMap((file) =>
      packagesImportedBy(file)
        .filter((name) => !dependencies.has(name))
        .map((name) => `${file}: ${name}`),
    );
    expect(devOnly).toEqual([]);
  });
});
