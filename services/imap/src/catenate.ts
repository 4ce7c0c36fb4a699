/**
 * CATENATE (RFC 4469): APPEND of a message made of literal TEXT parts and URL parts that
 * point at messages (or sections of them) this user already has, as relative or absolute
 * IMAP URLs (RFC 5092): `/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.MIME`.
 */
import { isLoftError } from '@loft/errors';
import { decodeMailboxName, parseBodySection, type CatenatePart } from '@loft/imap-proto';
import { parseMessage, section } from '@loft/mime';
import { no } from './command-failure.js';
import { normalizeInbox, utf8Enabled, type SessionContext } from './session-context.js';

const URL_PATTERN = /^(?:imap:\/\/[^/]*)?\/([^;/]*(?:\/[^;/]+)*?)(?:;UIDVALIDITY=(\d+))?\/;UID=(\d+)(?:\/;SECTION=([^/]*))?(?:\/;PARTIAL=(\d+)(?:\.(\d+))?)?$/i;

/** The message the parts make, at most `limit` bytes (else NO [TOOBIG]). */
export async function catenate(ctx: SessionContext, parts: readonly CatenatePart[], limit: number): Promise<Buffer> {
  const out: Buffer[] = [];
  let size = 0;
  for (const part of parts) {
    const bytes = part.type === 'text' ? part.data : await urlContent(ctx, part.url);
    size += bytes.length;
    if (size > limit) throw no(`Message is larger than imap_append_limit (${limit} bytes)`, 'TOOBIG');
    out.push(bytes);
  }
  return Buffer.concat(out, size);
}

async function urlContent(ctx: SessionContext, url: string): Promise<Buffer> {
  const badUrl = (): Error => no(`Invalid or unknown URL ${url.slice(0, 200)}`, `BADURL ${url.replace(/[\]\r\n]/g, '').slice(0, 200)}`);
  const m = URL_PATTERN.exec(url);
  if (m === null) throw badUrl();
  let name: string;
  try {
    const decoded = decodeURIComponent(m[1]!);
    name = normalizeInbox(utf8Enabled(ctx) ? decoded : decodeMailboxName(decoded));
  } catch {
    throw badUrl();
  }
  const uid = Number(m[3]);
  const selected = ctx.selected?.name === name ? ctx.selected.mailbox : undefined;
  let mailbox;
  try {
    mailbox = selected ?? (await ctx.user.openMailbox(name, { readOnly: true, logger: ctx.storageLog }));
  } catch (err) {
    if (isLoftError(err)) throw badUrl();
    throw err;
  }
  try {
    if (m[2] !== undefined && Number(m[2]) !== mailbox.uidValidity) throw badUrl();
    if (mailbox.seqOfUid(uid) === 0 || mailbox.isExpunged(uid)) throw badUrl();
    const raw = await mailbox.openMessage(uid);
    let bytes = raw;
    if (m[4] !== undefined && m[4] !== '') {
      let spec;
      try {
        spec = parseBodySection(decodeURIComponent(m[4]));
      } catch {
        throw badUrl();
      }
      bytes = section(raw, parseMessage(raw), { part: spec.part, ...(spec.text ? { text: spec.text } : {}), ...(spec.fields ? { fields: spec.fields } : {}) });
    }
    if (m[5] !== undefined) {
      const offset = Number(m[5]);
      bytes = bytes.subarray(Math.min(offset, bytes.length), m[6] === undefined ? bytes.length : Math.min(offset + Number(m[6]), bytes.length));
    }
    return bytes;
  } finally {
    if (selected === undefined) await mailbox.close();
  }
}
