/** The MIME tree of a message, as byte offsets into the raw message. */

export interface ContentType {
  /** Lower-cased; `text` when the header is missing or unparsable. */
  type: string;
  /** Lower-cased; `plain` when the header is missing or unparsable. */
  subtype: string;
  /** Lower-cased names; RFC 2231 continuations joined and charsets decoded to UTF-8. */
  params: Record<string, string>;
}

export interface Disposition {
  /** Lower-cased disposition type (`inline`, `attachment`, …). */
  value: string;
  params: Record<string, string>;
}

export interface MimePart {
  /** Offset of the part's first header byte. */
  headerStart: number;
  /** Offset of the part's first body byte (just past the blank line, or == end). */
  bodyStart: number;
  /** Offset just past the body; the line end before a boundary belongs to the boundary. */
  end: number;
  contentType: ContentType;
  disposition?: Disposition;
  /** Lower-cased Content-Transfer-Encoding; `7bit` when missing. */
  transferEncoding: string;
  id?: string;
  description?: string;
  md5?: string;
  language?: string[];
  location?: string;
  /** Number of LF characters in the body. */
  lines: number;
  /** Multipart children, in order; empty for leaves. */
  parts: MimePart[];
  /** The embedded message of a message/rfc822 (or message/global) part. */
  message?: MimePart;
  /**
   * IMAP part number: '' for the root, '1', '1.2'… An embedded message carries the number
   * of its message/rfc822 part ('1' for a top-level one), and its multipart children
   * continue from it.
   */
  partNumber: string;
}
