/**
 * What the authenticated session advertises: exactly the extensions implemented here, so a
 * client never relies on one that does not work (a CAPABILITY that lies breaks clients).
 */

const CAPABILITY_LIST = [
  'IMAP4rev1',
  'IMAP4rev2',
  'SASL-IR',
  'LITERAL+',
  'ID',
  'ENABLE',
  'IDLE',
  'NOTIFY',
  'NAMESPACE',
  'UNSELECT',
  'UIDPLUS',
  'MOVE',
  'CHILDREN',
  'LIST-EXTENDED',
  'LIST-STATUS',
  'SPECIAL-USE',
  'CONDSTORE',
  'QRESYNC',
  'ESEARCH',
  'ESORT',
  'CONTEXT=SEARCH',
  'CONTEXT=SORT',
  'SEARCHRES',
  'WITHIN',
  'SORT',
  'SORT=DISPLAY',
  'THREAD=REFERENCES',
  'THREAD=REFS',
  'THREAD=ORDEREDSUBJECT',
  'THREAD=X-REFERENCES2',
  'MULTIAPPEND',
  'CATENATE',
  'BINARY',
  'STATUS=SIZE',
  'SAVEDATE',
  'PREVIEW',
  'UTF8=ACCEPT',
  'I18NLEVEL=1',
];

/** The post-login CAPABILITY line's words; `APPENDLIMIT=n` carries imap_append_limit; QUOTA when the user has one. */
export function capabilities(appendLimitBytes: number, quota = false): string {
  return [...CAPABILITY_LIST, ...(quota ? ['QUOTA'] : []), `APPENDLIMIT=${appendLimitBytes}`].join(' ');
}

/** ENABLE-able capabilities (RFC 5161), upper-cased. */
export const ENABLEABLE = new Set(['CONDSTORE', 'QRESYNC', 'UTF8=ACCEPT', 'IMAP4REV2']);

/** How ENABLED names a capability (its advertised spelling). */
export function enabledName(upper: string): string {
  return upper === 'IMAP4REV2' ? 'IMAP4rev2' : upper;
}
