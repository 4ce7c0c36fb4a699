/**
 * Child process for first-open.test.ts (not a test itself): opens fresh users at the same
 * moment as its siblings. Arguments: the homes, one per round. For round i it waits for the
 * line "GO i" on stdin, then opens the user as an IMAP login does (MailUser.open, SELECT
 * INBOX, LIST), and prints what it saw and everything storage logged:
 *   LOG <level> <json {msg, obj}>   a storage log line of this round
 *   SEEN i <json {inbox, uidValidity, list}>
 *   DONE i
 * Errors are printed as "ERROR i <message>".
 */
import { createInterface } from 'node:readline';
import { MailUser } from './mail-user.js';
import type { StorageLogger } from './storage-logger.js';

const out = (line: string): boolean => process.stdout.write(`${line}\n`);

function capture(level: string) {
  return (obj: object, msg?: string): void => {
    let detail = '';
    try {
      detail = JSON.stringify(obj);
    } catch {
      detail = String(obj);
    }
    out(`LOG ${level} ${JSON.stringify({ msg: msg ?? '', obj: detail })}`);
  };
}

const logger: StorageLogger = { debug: () => undefined, info: capture('info'), warn: capture('warn'), error: capture('error') };

async function round(i: number, home: string): Promise<void> {
  try {
    const user = await MailUser.open({ user: 'fresh', home, logger, settings: { mail_location: process.env.LOFT_STORAGE_TEST_MDBOX ? 'mdbox:~/mdbox' : 'sdbox:~/mail', mail_fsync: 'optimized' } });
    const inbox = await user.openMailbox('INBOX', { recent: true });
    const seen = { inbox: inbox.guid, uidValidity: inbox.uidValidity, list: (await user.listMailboxes('', '*')).map((m) => `${m.name}=${m.guid}`) };
    await inbox.close();
    await user.close();
    out(`SEEN ${i} ${JSON.stringify(seen)}`);
  } catch (err) {
    out(`ERROR ${i} ${err instanceof Error ? err.stack ?? err.message : String(err)}`.replace(/\n/g, ' | '));
  }
  out(`DONE ${i}`);
}

const homes = process.argv.slice(2);
out('READY');
createInterface({ input: process.stdin }).on('line', (line) => {
  const match = /^GO (\d+)$/.exec(line);
  if (!match) return;
  const i = Number(match[1]);
  void round(i, homes[i]!).then(() => {
    if (i === homes.length - 1) process.exit(0);
  });
});
