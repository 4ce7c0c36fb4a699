/**
 * Helpers for the adm tests: a loftd with userdb users alice and bob (homes owned by their
 * uids) and its built-in adm service, and loftadm mail commands with their output parsed.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { execFile } from 'node:child_process';
import { LOFTADM, freePort, loginConf, startLoftd, type CommandResult, type Loftd } from './harness.js';

export interface AdmLoftd {
  loftd: Loftd;
  dir: string;
  home(user: string): string;
}

export async function startAdmLoftd(t: TestContext, extra = ''): Promise<AdmLoftd> {
  const dir = fs.mkdtempSync(path.join(fs.realpathSync('/tmp'), 'loft-adm-'));
  fs.chmodSync(dir, 0o755);
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const loftd = await startLoftd(t, loginConf(dir, port, { extra }), { ready: ['auth', 'adm'] });
  return { loftd, dir, home: (user) => path.join(dir, 'home', user) };
}

/** loftadm with standard input (for save). */
export function adm(loftd: Loftd, args: string[], input?: string | Buffer): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [LOFTADM, '--base-dir', loftd.baseDir, ...args], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

/** A command that must succeed; its JSON output parsed. */
export async function admJson(loftd: Loftd, args: string[], input?: string | Buffer): Promise<Array<Record<string, string>>> {
  const result = await adm(loftd, ['-f', 'json', ...args], input);
  if (result.code !== 0) throw new Error(`loftadm ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
  return JSON.parse(result.stdout) as Array<Record<string, string>>;
}

export function message(subject: string, body = 'Hello.\r\n', from = 'Carol <carol@example.com>'): string {
  return `From: ${from}\r\nTo: alice@example.com\r\nSubject: ${subject}\r\nDate: Mon, 2 Jan 2023 10:00:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.com>\r\n\r\n${body}`;
}
