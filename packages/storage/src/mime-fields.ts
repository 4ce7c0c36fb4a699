/**
 * The default MessageFieldParser, backed by @loft/mime: ENVELOPE, BODYSTRUCTURE, BODY,
 * sent date, PREVIEW and header values for the cache, and the decoded text SEARCH BODY/TEXT
 * look in. MailUser uses it unless another parser is passed.
 *
 * ENVELOPE and BODYSTRUCTURE may hold Buffers (strings whose bytes are not UTF-8 reach the
 * client unchanged); in the cache's JSON such a value is written as {"$b": "<base64>"}
 * (encodeFieldJson) and turned back into a Buffer when read (decodeFieldJson). The values
 * themselves are only arrays, strings, numbers and null, so the marker cannot be confused
 * with data.
 */
import {
  allHeaderText,
  bodyStructure,
  bodyText,
  envelope,
  parseLeafMessage,
  parseMessage,
  preview,
  readHeaders,
  sentDate,
  unfold,
  type HeaderField,
  type MimePart,
} from '@loft/mime';
import type { CachedFieldName, MessageFieldParser } from './message-fields.js';

/** Fields a FETCH usually asks for together; a miss on one parses and caches all of them. */
export const STRUCTURE_FIELDS: readonly CachedFieldName[] = ['envelope', 'bodystructure', 'body', 'sentDate'];

/**
 * Header fields SEARCH, SORT and THREAD read, in two groups; a miss on one caches its group,
 * from one file read: what SORT (SUBJECT, DATE) and THREAD need, and the address fields.
 */
export const THREAD_FIELDS: readonly CachedFieldName[] = ['subject', 'date', 'message-id', 'references', 'in-reply-to'].map((name): CachedFieldName => `headers:${name}`);
const ADDRESS_FIELDS: readonly CachedFieldName[] = ['from', 'to', 'cc'].map((name): CachedFieldName => `headers:${name}`);
export const QUERY_HEADER_FIELDS: readonly CachedFieldName[] = [...THREAD_FIELDS, ...ADDRESS_FIELDS];

/** Small fields the query engine reads (header values, the sent date), kept decoded in memory once read. */
export function isQueryField(field: CachedFieldName): boolean {
  return field === 'sentDate' || field.startsWith('headers:');
}

/** The fields cached together with `field` when it misses (itself included). */
export function companionFields(field: CachedFieldName): readonly CachedFieldName[] {
  if (STRUCTURE_FIELDS.includes(field)) return STRUCTURE_FIELDS;
  if (THREAD_FIELDS.includes(field)) return THREAD_FIELDS;
  if (ADDRESS_FIELDS.includes(field)) return ADDRESS_FIELDS;
  return [field];
}

/**
 * The MIME tree of the last message parsed, so a miss on several fields of one message
 * (STRUCTURE_FIELDS, or TEXT after BODY) parses it once. Keyed by the Buffer itself.
 */
const treeOf = new WeakMap<Buffer, MimePart>();

/** The message's header fields by lower-cased name, parsed once per Buffer (a miss caches several header fields). */
const fieldsOf = new WeakMap<Buffer, Map<string, HeaderField[]>>();

/** Raw unfolded values of the fields called `name`, as @loft/mime's headerValues gives them. */
function headerValues(message: Buffer, name: string): string[] {
  let byName = fieldsOf.get(message);
  if (!byName) {
    byName = new Map();
    for (const field of readHeaders(message)) {
      const key = field.name.toLowerCase();
      const list = byName.get(key);
      if (list) list.push(field);
      else byName.set(key, [field]);
    }
    fieldsOf.set(message, byName);
  }
  const fields = byName.get(name.toLowerCase());
  return fields === undefined ? [] : fields.map((field) => unfold(field.value.toString('utf8')));
}

function tree(message: Buffer): MimePart {
  let root = treeOf.get(message);
  if (!root) {
    root = parseMessage(message);
    treeOf.set(message, root);
  }
  return root;
}

export const mimeFieldParser: MessageFieldParser = {
  parse(field, message) {
    switch (field) {
      case 'envelope':
        return envelope(message);
      case 'bodystructure':
        return bodyStructure(message, tree(message), true);
      case 'body':
        return bodyStructure(message, tree(message), false);
      case 'sentDate':
        return sentDate(message)?.getTime() ?? null;
      case 'preview':
        return preview(message, tree(message));
      case 'headerText':
        // The raw header block: the header-level parser's answer.
        return undefined;
      default:
        return field.startsWith('headers:') ? headerValues(message, field.slice('headers:'.length)) : undefined;
    }
  },
  bodyText(message) {
    return bodyText(message, searchTree(message));
  },
  decodedHeaderText(message) {
    return allHeaderText(message, searchTree(message));
  },
};

/** The tree BODY and TEXT read: a message without inner parts (most mail) needs no scan for boundaries. */
function searchTree(message: Buffer): MimePart {
  return treeOf.get(message) ?? parseLeafMessage(message) ?? tree(message);
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

function toJsonValue(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { $b: value.toString('base64') };
  if (Array.isArray(value)) return value.map(toJsonValue);
  return value;
}

/** JSON text of a field value; Buffers become {"$b": base64}. */
export function encodeFieldJson(value: unknown): string {
  // Header values (arrays of strings) and numbers need no conversion.
  if (value === null || typeof value !== 'object' || (Array.isArray(value) && value.every((v) => typeof v === 'string'))) return JSON.stringify(value);
  return JSON.stringify(toJsonValue(value));
}

/** The value encodeFieldJson wrote, Buffers restored. */
export function decodeFieldJson(text: string): unknown {
  // A reviver is slow (called for every value): use it only where a Buffer may be.
  if (!text.includes('"$b"')) return JSON.parse(text) as unknown;
  return JSON.parse(text, (_key, value: Json) => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const keys = Object.keys(value);
      if (keys.length === 1 && keys[0] === '$b' && typeof value.$b === 'string') return Buffer.from(value.$b, 'base64');
    }
    return value;
  });
}
