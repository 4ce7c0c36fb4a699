/**
 * Envelope addresses of MAIL FROM and RCPT TO (RFC 5321 paths), their ESMTP parameters,
 * and the +detail split (recipient_delimiter).
 */
export interface EnvelopePath {
  /** The address between < and >, as sent (may be empty for MAIL FROM:<>). */
  address: string;
  /** ESMTP parameters, names upper-cased; a parameter without `=` has value ''. */
  params: Map<string, string>;
}

/** Parses `FROM:<addr> P=V …` / `TO:<addr> …`; undefined when the syntax is wrong. */
export function parsePath(keyword: 'FROM' | 'TO', args: string): EnvelopePath | undefined {
  const match = new RegExp(`^${keyword}:\\s*<((?:"(?:[^"\\\\]|\\\\.)*"|[^<>"\\s])*)>(.*)$`, 'i').exec(args);
  if (!match) return undefined;
  const params = new Map<string, string>();
  for (const word of (match[2] ?? '').trim().split(/\s+/).filter(Boolean)) {
    const eq = word.indexOf('=');
    params.set((eq < 0 ? word : word.slice(0, eq)).toUpperCase(), eq < 0 ? '' : word.slice(eq + 1));
  }
  return { address: match[1] ?? '', params };
}

export interface Recipient {
  /** The address as the MTA gave it (Delivered-To). */
  address: string;
  /** What userdb is asked for: the address without its detail. */
  lookupName: string;
  /** The part after the delimiter, '' when there is none. */
  detail: string;
}

/** Splits `user+detail@domain` at the first of `delimiters`; an empty delimiter set disables it. */
export function splitRecipient(address: string, delimiters: string): Recipient {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const domain = at < 0 ? '' : address.slice(at);
  let cut = -1;
  for (const ch of delimiters) {
    const index = local.indexOf(ch);
    if (index > 0 && (cut < 0 || index < cut)) cut = index;
  }
  if (cut < 0) return { address, lookupName: address, detail: '' };
  return { address, lookupName: local.slice(0, cut) + domain, detail: local.slice(cut + 1) };
}
