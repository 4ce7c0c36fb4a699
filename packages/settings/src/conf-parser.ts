/**
 * Conf files → a tree of settings and sections, following `!include` and `<file` values.
 * No schema is involved: validate-tree.ts decides what the names mean. The parser never
 * throws on bad input; it records an error and carries on with the next line.
 */
import { resolve } from 'node:path';
import { confError, type OrderedConfError, type OrderedLocation } from './conf-error.js';
import { baseDirOf, includeTargets, isMissingFileError, readErrorText, STDIN_PATH, type ConfSource } from './conf-include.js';
import { lexLine, type ConfLine, type RawValue } from './conf-lexer.js';

/** Deeper include nesting than this is taken for a mistake, as in Dovecot. */
const MAX_INCLUDE_DEPTH = 20;

export interface ConfSettingNode extends OrderedLocation {
  kind: 'setting';
  key: string;
  value: string;
  /** The `<path` as written, when the value was read from that file. */
  valueFile?: string;
}

export interface ConfSectionNode extends OrderedLocation {
  kind: 'section';
  /** `service`, `inet_listener`, `protocol`… */
  sectionType: string;
  /** Words after the type: the instance name, or a filter's values. */
  args: string[];
  children: ConfNode[];
}

export type ConfNode = ConfSettingNode | ConfSectionNode;

export interface ParsedConf {
  /** The main file as errors name it: absolute, or /dev/stdin. */
  root: string;
  nodes: ConfNode[];
  /** Every file read, includes and `<file` values too, in reading order. */
  files: string[];
  errors: OrderedConfError[];
}

export function parseConf(path: string, source: ConfSource): ParsedConf {
  const file = path === STDIN_PATH ? path : resolve(path);
  const parser = new ConfParser(source);
  const nodes: ConfNode[] = [];
  const text = parser.read(file, { file, line: 0, order: 0 }, 'config file');
  if (text !== undefined) parser.parseFile(file, text, nodes, [file]);
  return { root: file, nodes, files: parser.files, errors: parser.errors };
}

/** State of one file being parsed: sections opened in it must be closed in it. */
interface FileState {
  file: string;
  open: ConfSectionNode[];
  top: ConfNode[];
  /** Files including this one, outermost first, this one last. */
  chain: string[];
}

class ConfParser {
  readonly files: string[] = [];
  readonly errors: OrderedConfError[] = [];
  private order = 0;

  constructor(private readonly source: ConfSource) {}

  /** A file's text, recording it in `files`; undefined (and an error) if it cannot be read. */
  read(path: string, at: OrderedLocation, what: string, optional = false): string | undefined {
    try {
      const text = this.source.readFile(path);
      if (!this.files.includes(path)) this.files.push(path);
      return text;
    } catch (err) {
      if (!(optional && isMissingFileError(err))) this.fail(at, 'LOFT_E_CONF_INCLUDE', `cannot read ${what} '${path}': ${readErrorText(err)}`);
      return undefined;
    }
  }

  parseFile(file: string, text: string, into: ConfNode[], chain: string[]): void {
    const state: FileState = { file, open: [], top: into, chain };
    text.split(/\r?\n/).forEach((line, i) => {
      this.parseLine(lexLine(line), { file, line: i + 1, order: ++this.order }, state);
    });
    for (const section of state.open) this.fail(section, 'LOFT_E_CONF_SYNTAX', `section '${section.sectionType}' is not closed (missing '}')`);
  }

  private parseLine(token: ConfLine, at: OrderedLocation, state: FileState): void {
    const into = state.open.at(-1)?.children ?? state.top;
    switch (token.type) {
      case 'skip':
        return;
      case 'error':
        return this.fail(at, 'LOFT_E_CONF_SYNTAX', token.message);
      case 'close':
        if (state.open.pop() === undefined) this.fail(at, 'LOFT_E_CONF_SYNTAX', "'}' without a section to close");
        return;
      case 'setting':
        return this.addSetting(token.key, token.value, at, into);
      case 'open':
        return this.openSection(token, at, state, into);
      case 'include':
        return this.include(token.path, token.optional, at, state, into);
    }
  }

  private addSetting(key: string, raw: RawValue, at: OrderedLocation, into: ConfNode[]): void {
    if (raw.kind === 'text') {
      into.push({ kind: 'setting', key, value: raw.text, ...at });
      return;
    }
    const path = resolve(baseDirOf(at.file), raw.path);
    const text = this.read(path, at, `file for ${key}`);
    // The file's trailing newline is not part of the value (a one-line password file).
    if (text !== undefined) into.push({ kind: 'setting', key, value: text.replace(/\r?\n$/, ''), valueFile: raw.path, ...at });
  }

  private openSection(token: Extract<ConfLine, { type: 'open' }>, at: OrderedLocation, state: FileState, into: ConfNode[]): void {
    const section: ConfSectionNode = { kind: 'section', sectionType: token.sectionType, args: token.args, children: [], ...at };
    into.push(section);
    if (token.inline === undefined) state.open.push(section);
    else for (const { key, value } of token.inline) this.addSetting(key, value, at, section.children);
  }

  private include(pattern: string, optional: boolean, at: OrderedLocation, state: FileState, into: ConfNode[]): void {
    const targets = includeTargets(pattern, baseDirOf(state.file), this.source);
    if (!Array.isArray(targets)) return this.fail(at, 'LOFT_E_CONF_INCLUDE', targets.error);
    for (const target of targets) {
      if (state.chain.includes(target)) {
        this.fail(at, 'LOFT_E_CONF_INCLUDE', `include cycle: ${[...state.chain, target].join(' -> ')}`);
      } else if (state.chain.length > MAX_INCLUDE_DEPTH) {
        this.fail(at, 'LOFT_E_CONF_INCLUDE', `'${target}': includes nested deeper than ${MAX_INCLUDE_DEPTH} levels`);
      } else {
        const text = this.read(target, at, 'include file', optional);
        if (text !== undefined) this.parseFile(target, text, into, [...state.chain, target]);
      }
    }
  }

  private fail(at: OrderedLocation, code: OrderedConfError['code'], message: string): void {
    this.errors.push(confError(at, code, message));
  }
}
