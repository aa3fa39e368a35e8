/**
 * The library parts that the hand-written stand-ins of deploy/esbuild-plugins.cjs
 * (lambda-substitutes) replace, put back for the bench's comparisons: an esbuild plugin that,
 * run ahead of the deploy's plugins, resolves or loads the library's own module where the deploy
 * would put the stand-in. The bundle is otherwise built exactly as deployed.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Plugin } from 'esbuild';

const requireFrom = (dir: string) => createRequire(`${dir}/`);

/** A package path the deploy resolves to a stand-in (SUBSTITUTES), resolved to the package's own file instead. */
export function libraryModule(specifier: string): Plugin {
  const filter = new RegExp(`^${specifier.replace(/[/\\^$.*+?()[\]{}|-]/g, '\\$&')}$`);
  return {
    name: `library:${specifier}`,
    setup(build) {
      build.onResolve({ filter }, (args) => ({ path: requireFrom(args.resolveDir).resolve(args.path) }));
    },
  };
}

/** A file inside a package that the deploy loads as a stand-in (FILE_SUBSTITUTES), loaded as it is. */
export function libraryFile(file: string): Plugin {
  const path = new RegExp(`[\\\\/]node_modules[\\\\/]${file.split('/').map((part) => part.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&')).join('[\\\\/]')}$`);
  return {
    name: `library:${file}`,
    setup(build) {
      build.onLoad({ filter: path }, (args) => ({ contents: readFileSync(args.path, 'utf8'), loader: 'js', resolveDir: dirname(args.path) }));
    },
  };
}
