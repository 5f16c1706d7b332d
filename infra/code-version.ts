/**
 * The version of the code that produced an artifact: package version plus git commit
 * when available. Part of every step-cache key and every model's lineage.
 */
import { execFileSync } from 'node:child_process';
import { PROJECT_ROOT } from './config';
import packageJson from '../package.json';

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: PROJECT_ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
  } catch {
    return undefined; // not a git checkout (e.g. a container image): the package version alone
  }
}

export const CODE_VERSION = process.env.STORELOOP_CODE_VERSION ?? [packageJson.version, gitCommit()].filter(Boolean).join('+');
