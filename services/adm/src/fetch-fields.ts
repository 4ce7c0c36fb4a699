/**
 * doveadm fetch's fields (doveadm-fetch(1)) over one message of an open mailbox. Cheap
 * fields come from the index; hdr/body/text read the message file once per message; the
 * imap.* fields come from the cache, parsed (and cached) on a miss.
 */
import { LoftError } from '@loft/errors';
import { bodyText, decodeHeader, decodedHeaderText, parseMessage, writeImapValue, type ImapValue } from '@loft/mime';
import type { AdmValue } from '@loft/master-protocol';
import type { Mailbox } from '@loft/storage';

const SIMPLE_FIELDS = new Set([
  'user', 'mailbox', 'mailbox-guid', 'seq', 'uid', 'guid', 'flags', 'modseq',
  'hdr', 'body', 'text', 'text.utf8', 'size.physical', 'size.virtual',
  'date.received', 'date.saved', 'date.sent', 'date.received.unixtime', 'date.saved.unixtime', 'date.sent.unixtime',
  'imap.envelope', 'imap.body', 'imap.bodystructure', 'body.snippet', 'body.preview',
]);

/** Throws LOFT_E_ADM_ARGS naming the first field doveadm would not know either. */
export function checkFetchFields(fields: readonly string[]): void {
  if (fields.length === 0) throw new LoftError('LOFT_E_ADM_ARGS', 'fetch needs at least one field (e.g. "uid flags hdr.subject")');
  for (const field of fields) {
    if (SIMPLE_FIELDS.has(field)) continue;
    if (/^hdr\.[!-9;-~]+$/.test(field)) continue;
    throw new LoftError('LOFT_E_ADM_ARGS', `unknown fetch field '${field}'; known: ${[...SIMPLE_FIELDS].join(' ')} hdr.<name>[.utf8]`);
  }
}

/** doveadm prints dates as local "YYYY-MM-DD HH:MM:SS". */
function formatDate(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function bodyStart(raw: Buffer): number {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf < lf)) return crlf + 4;
  return lf >= 0 ? lf + 2 : raw.length;
}

/** RFC822.SIZE with every line ending as CRLF. */
function virtualSize(raw: Buffer): number {
  let bareLf = 0;
  for (let i = raw.indexOf(10); i >= 0; i = raw.indexOf(10, i + 1)) if (i === 0 || raw[i - 1] !== 13) bareLf++;
  return raw.length + bareLf;
}

/** The fields of one message; reads the file at most once. */
export class MessageFields {
  private raw: Buffer | undefined;

  constructor(private readonly user: string, private readonly mailbox: Mailbox, private readonly seq: number, private readonly uid: number) {}

  private async message(): Promise<Buffer> {
    this.raw ??= await this.mailbox.openMessage(this.uid);
    return this.raw;
  }

  private async sentMs(): Promise<number | null> {
    return (await this.mailbox.cachedField(this.uid, 'sentDate')) as number | null;
  }

  async get(field: string): Promise<AdmValue> {
    const { mailbox, uid } = this;
    switch (field) {
      case 'user': return this.user;
      case 'mailbox': return mailbox.name;
      case 'mailbox-guid': return mailbox.guid;
      case 'seq': return String(this.seq);
      case 'uid': return String(uid);
      case 'guid': return mailbox.messageGuid(uid);
      case 'flags': return [...mailbox.flags(uid)].join(' ');
      case 'modseq': return mailbox.modseq(uid).toString();
      case 'size.physical': return String(mailbox.messageSize(uid));
      case 'size.virtual': return String(virtualSize(await this.message()));
      case 'date.received': return formatDate(mailbox.internalDate(uid).getTime());
      case 'date.saved': return formatDate(mailbox.saveDate(uid).getTime());
      case 'date.received.unixtime': return String(Math.floor(mailbox.internalDate(uid).getTime() / 1000));
      case 'date.saved.unixtime': return String(Math.floor(mailbox.saveDate(uid).getTime() / 1000));
      case 'date.sent': {
        const ms = await this.sentMs();
        return ms === null ? '' : formatDate(ms);
      }
      case 'date.sent.unixtime': {
        const ms = await this.sentMs();
        return ms === null ? '' : String(Math.floor(ms / 1000));
      }
      case 'hdr': {
        const raw = await this.message();
        return raw.subarray(0, bodyStart(raw));
      }
      case 'body': {
        const raw = await this.message();
        return raw.subarray(bodyStart(raw));
      }
      case 'text': return this.message();
      case 'text.utf8': {
        const raw = await this.message();
        const root = parseMessage(raw);
        return `${decodedHeaderText(raw, root)}\n${bodyText(raw, root)}`;
      }
      case 'imap.envelope': return writeImapValue((await mailbox.cachedField(uid, 'envelope')) as ImapValue);
      case 'imap.bodystructure': return writeImapValue((await mailbox.cachedField(uid, 'bodystructure')) as ImapValue);
      case 'imap.body': return writeImapValue((await mailbox.cachedField(uid, 'body')) as ImapValue);
      case 'body.snippet':
      case 'body.preview': return String((await mailbox.cachedField(uid, 'preview')) ?? '');
      default: return this.header(field);
    }
  }

  /** hdr.<name>: every value of the field, one per line; hdr.<name>.utf8 decodes RFC 2047 words. */
  private async header(field: string): Promise<AdmValue> {
    const utf8 = field.endsWith('.utf8');
    const name = field.slice('hdr.'.length, utf8 ? -'.utf8'.length : undefined).toLowerCase();
    const values = (await this.mailbox.cachedField(this.uid, `headers:${name}`)) as string[];
    return values.map((v) => (utf8 ? decodeHeader(v) : v)).join('\n');
  }
}
