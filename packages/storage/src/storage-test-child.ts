/**
 * Child process for the crash and concurrency tests (not a test itself). Modes:
 *   save-loop HOME FSYNC PREFIX     save messages forever, print "ACK <uid> <tag>" after each
 *   save-n HOME N PREFIX            save N messages, print "ACK <uid> <tag>", then "DONE"
 *   flag-loop HOME N KEYWORD        add KEYWORD to every message, one at a time, N rounds, "DONE"
 *   watch HOME                      print "READY", then "CHANGED <count>" on each change
 */
import { TINY_TUNING, openUser, testMessage } from './storage-test-support.js';
import type { MailFsync } from './settings.js';

async function main(): Promise<void> {
  const [mode, home, arg, extra] = process.argv.slice(2);
  if (!mode || !home) throw new Error('usage: MODE HOME ...');
  const fsync = mode === 'save-loop' ? (arg as MailFsync) : 'optimized';
  // LOFT_STORAGE_TEST_TINY=1 makes checkpoints and log rotations frequent.
  // LOFT_STORAGE_TEST_MDBOX=1 uses mdbox:~/mdbox instead of sdbox:~/mail.
  const location = process.env.LOFT_STORAGE_TEST_MDBOX ? { mail_location: 'mdbox:~/mdbox' } : {};
  const user = await openUser(home, { mail_fsync: fsync, ...location }, process.env.LOFT_STORAGE_TEST_TINY ? TINY_TUNING : undefined);
  const inbox = await user.openMailbox('INBOX');
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  switch (mode) {
    case 'save-loop':
      for (let i = 0; ; i++) {
        const tag = `${extra}-${i}`;
        const { uid } = await inbox.save(testMessage(tag, 200 + (i % 7) * 1000), { flags: i % 2 ? ['\\Seen'] : [] });
        out(`ACK ${uid} ${tag}`);
      }
    case 'save-n':
      for (let i = 0; i < Number(arg); i++) {
        const tag = `${extra}-${i}`;
        const { uid } = await inbox.save(testMessage(tag));
        out(`ACK ${uid} ${tag}`);
      }
      out('DONE');
      break;
    case 'flag-loop':
      for (let round = 0; round < Number(arg); round++) {
        await inbox.refresh();
        for (const uid of inbox.uids()) await inbox.updateFlags([uid], { op: 'add', flags: [`${extra}${round}`] });
      }
      out('DONE');
      break;
    case 'watch': {
      inbox.watch(() => {
        void inbox.refresh().then(() => out(`CHANGED ${inbox.messageCount}`));
      });
      out('READY');
      setInterval(() => undefined, 1 << 30); // stay alive until killed
      return;
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  await user.close();
}

main().catch((err: unknown) => {
  process.stderr.write(`storage-test-child: ${String(err)}\n`);
  process.exit(1);
});
