/**
 * What package.json promises about the installed tree, read from the committed lockfile (what `npm ci`
 * installs, in the image as on a developer's machine): the Node.js versions `engines` accepts are ones every
 * locked package accepts, and the install script that reports installs to a third party (@scarf/scarf) is told
 * not to.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as semver from 'semver';

const ROOT = path.resolve(__dirname, '..');

interface LockedPackage {
  version?: string;
  dev?: boolean;
  engines?: { node?: string } | string[];
}

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
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
