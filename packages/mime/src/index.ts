/**
 * @loft/mime: message parsing for FETCH, SEARCH, SORT and THREAD. Everything works on the
 * raw message Buffer and byte offsets into it, so no byte is ever lost or rewritten.
 */
export type { MimePart, ContentType, Disposition } from './mime-part.js';
export { parseMessage, parseLeafMessage, MAX_PART_DEPTH, MAX_PART_COUNT } from './parse-message.js';
export { readHeaders, headerValues, unfold, type HeaderField } from './header.js';
export { decodeHeader, decodeCharset, knownCharset } from './charset.js';
export { parseAddresses, type ImapAddress } from './address.js';
export { envelope, type ImapEnvelope, type EnvelopeAddress } from './envelope.js';
export { bodyStructure, type BodyStructure, type BodyStructureOptions } from './body-structure.js';
export { writeImapValue, type ImapValue, type ImapNString } from './imap-value.js';
export { section, findPart, type SectionSpec, type SectionText } from './section.js';
export { decodedBody, knownTransferEncoding, bodyText, decodedHeaderText, allHeaderText, preview, htmlToText } from './body-text.js';
export { baseSubject, baseSubjectInfo, type BaseSubject } from './base-subject.js';
export { sentDate, parseDate, type MessageDate } from './date.js';
export { messageIds } from './message-id.js';
