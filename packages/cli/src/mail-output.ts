/**
 * doveadm's formatters for the mail commands' streamed rows: table (padded columns, buffered
 * to size them), tab (a header line, then tab-separated rows), flow (`name=value …` per row),
 * pager (`name: value` lines, messages separated by a form feed; doveadm fetch's default)
 * and json (an array of objects whose values are strings, as doveadm prints them).
 * Message bytes (hdr, body, text) are written unchanged except in json and table, where they
 * become UTF-8 text.
 */
import type { AdmValue } from '@loft/master-protocol';

export const MAIL_OUTPUT_FORMATS = ['table', 'tab', 'json', 'flow', 'pager'] as const;
export type MailOutputFormat = (typeof MAIL_OUTPUT_FORMATS)[number];

export interface RowSink {
  header(columns: string[]): void;
  row(values: AdmValue[]): void;
  /** All rows are in: flush what was held back. */
  end(): void;
}

type Write = (data: string | Uint8Array) => void;

function text(value: AdmValue): string {
  return typeof value === 'string' ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('utf8');
}

function endsWithNewline(value: AdmValue): boolean {
  return value.length > 0 && (typeof value === 'string' ? value.endsWith('\n') : value[value.length - 1] === 10);
}

export function createRowSink(format: MailOutputFormat, write: Write): RowSink {
  let columns: string[] = [];
  switch (format) {
    case 'json': {
      let count = 0;
      return {
        header: (c) => { columns = c; },
        row: (values) => {
          const object = Object.fromEntries(columns.map((c, i) => [c, text(values[i] ?? '')]));
          write(`${count++ === 0 ? '[\n' : ',\n'}  ${JSON.stringify(object)}`);
        },
        end: () => write(count === 0 ? '[]\n' : '\n]\n'),
      };
    }
    case 'tab':
      return {
        header: (c) => {
          columns = c;
          if (c.length > 0) write(`${c.join('\t')}\n`);
        },
        row: (values) => {
          values.forEach((v, i) => {
            if (i > 0) write('\t');
            write(v);
          });
          write('\n');
        },
        end: () => undefined,
      };
    case 'flow':
      return {
        header: (c) => { columns = c; },
        row: (values) => {
          values.forEach((v, i) => {
            write(`${i > 0 ? ' ' : ''}${columns[i] ?? ''}=`);
            write(v);
          });
          write('\n');
        },
        end: () => undefined,
      };
    case 'pager': {
      let count = 0;
      return {
        header: (c) => { columns = c; },
        row: (values) => {
          if (count++ > 0) write('\f\n');
          values.forEach((v, i) => {
            const multiline = typeof v === 'string' ? v.includes('\n') : v.includes(10);
            write(`${columns[i] ?? ''}:${multiline ? '\n' : ' '}`);
            write(v);
            if (!endsWithNewline(v)) write('\n');
          });
        },
        end: () => undefined,
      };
    }
    case 'table': {
      const rows: string[][] = [];
      return {
        header: (c) => { columns = c; },
        row: (values) => { rows.push(values.map(text)); },
        end: () => {
          if (columns.length === 0) return;
          const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
          const line = (cells: string[]): string => cells.map((v, i) => v.padEnd(widths[i]!)).join(' ').trimEnd();
          write(`${[line(columns), ...rows.map(line)].join('\n')}\n`);
        },
      };
    }
  }
}
