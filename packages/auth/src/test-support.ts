/** Test support: temp dirs and a uid/gid resolver that needs no system users. Not part of the package's API. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { LoftError } from '@loft/errors';
import type { IdResolver } from './auth-types.js';

/** A fresh directory removed when the test ends, pass or fail. */
export async function tempDir(t: TestContext, prefix = 'loft-auth-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Resolves numbers and the names given; other names fail as getent would. */
export function fakeIds(names: Readonly<Record<string, number>>): IdResolver {
  const resolve = async (text: string): Promise<number> => {
    if (/^\d+$/.test(text)) return Number(text);
    if (Object.hasOwn(names, text)) return names[text];
    throw new LoftError('LOFT_E_AUTH_DRIVER', `getent: no such user or group '${text}'`);
  };
  return { uid: resolve, gid: resolve };
}

/** Warnings a driver reported, for assertions. */
export function collectWarnings(): { warnings: string[]; warn: (message: string) => void } {
  const warnings: string[] = [];
  return { warnings, warn: (message) => warnings.push(message) };
}
