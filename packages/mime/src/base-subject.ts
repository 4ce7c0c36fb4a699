/** RFC 5256 §2.1 base subject, used by SORT SUBJECT and THREAD. */
import { decodeHeader } from './charset.js';

export interface BaseSubject {
  base: string;
  /** Whether a Re:/Fw:/Fwd:, "(fwd)" or "[fwd: …]" was removed (REFERENCES step 5). */
  isReplyOrForward: boolean;
}

// subj-trailer = "(fwd)" / WSP
const TRAILER = /(?:\(fwd\)| )$/i;
// subj-leader = (*subj-blob subj-refwd) / WSP; subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"
const REFWD = /^(?:\[[^[\]]*\] *)*(?:re|fwd?) *(?:\[[^[\]]*\] *)?:/i;
const BLOB = /^\[[^[\]]*\] */;

/** The base subject of a raw (RFC 2047-encoded) Subject value, and whether it was a reply. */
export function baseSubjectInfo(subject: string): BaseSubject {
  // (1) decode, tabs and continuations to spaces, runs of spaces to one
  let s = decodeHeader(subject).replace(/[\t\r\n]/g, ' ').replace(/ {2,}/g, ' ');
  let reply = false;
  for (;;) {
    // (2) trailing "(fwd)" and whitespace
    while (TRAILER.test(s)) {
      if (s.endsWith(')')) reply = true;
      s = s.slice(0, s.endsWith(')') ? -5 : -1);
    }
    // (3)-(5) leaders and blobs
    for (let changed = true; changed; ) {
      changed = false;
      if (s.startsWith(' ')) {
        s = s.slice(1);
        changed = true;
        continue;
      }
      const refwd = REFWD.exec(s);
      if (refwd) {
        s = s.slice(refwd[0].length);
        reply = true;
        changed = true;
        continue;
      }
      const blob = BLOB.exec(s);
      if (blob && blob[0].length < s.length) {
        s = s.slice(blob[0].length);
        changed = true;
      }
    }
    // (6) [fwd: … ]
    if (s.length >= 6 && s.slice(0, 5).toLowerCase() === '[fwd:' && s.endsWith(']')) {
      s = s.slice(5, -1);
      reply = true;
      continue;
    }
    return { base: s, isReplyOrForward: reply };
  }
}

/** RFC 5256 §2.1 base subject: decoded, Re:/Fwd:/[blob]/(fwd) removed, spaces normalised. */
export function baseSubject(subject: string): string {
  return baseSubjectInfo(subject).base;
}
