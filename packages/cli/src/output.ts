/** `-f table|tab|json`, as doveadm's formatters: the same rows, three shapes. */
export type OutputFormat = 'table' | 'tab' | 'json';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'tab', 'json'];

export type Row = Record<string, string | number | boolean | null | undefined>;

export function formatRows(rows: readonly Row[], columns: readonly string[], format: OutputFormat): string {
  if (format === 'json') return JSON.stringify(rows, null, 2) + '\n';
  const cells = rows.map((row) => columns.map((c) => cell(row[c])));
  if (format === 'tab') return [columns.join('\t'), ...cells.map((r) => r.join('\t'))].join('\n') + '\n';
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]): string => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line([...columns]), ...cells.map(line)].join('\n') + '\n';
}

function cell(value: Row[string]): string {
  if (value === null || value === undefined) return '-';
  return String(value);
}

/** `3h12m`, `41s`: uptimes read at a glance. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d${h}h`;
  if (h > 0) return `${h}h${m}m`;
  if (m > 0) return `${m}m${s % 60}s`;
  return `${s}s`;
}
