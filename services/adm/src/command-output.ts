/** A command's output as the worker sends it: a header, then rows of doveadm's field values. */
import { ADM_VALUE_PART_BYTES, type AdmChunk, type AdmValue } from '@loft/master-protocol';

export type Emit = (chunk: AdmChunk) => Promise<void>;

/** Rows out, with values too large for one frame cut into `append` parts. */
export class Output {
  constructor(private readonly emit: Emit) {}

  header(columns: string[]): Promise<void> {
    return this.emit({ kind: 'header', columns });
  }

  async row(values: AdmValue[]): Promise<void> {
    const rest: Array<[number, Uint8Array]> = [];
    const first = values.map((cell, column) => {
      // A long text (text.utf8 of a big message) is cut as bytes, like the raw fields.
      const value = typeof cell === 'string' && cell.length > ADM_VALUE_PART_BYTES / 4 ? Buffer.from(cell) : cell;
      if (typeof value === 'string' || value.byteLength <= ADM_VALUE_PART_BYTES) return value;
      for (let at = ADM_VALUE_PART_BYTES; at < value.byteLength; at += ADM_VALUE_PART_BYTES) rest.push([column, value.subarray(at, at + ADM_VALUE_PART_BYTES)]);
      return value.subarray(0, ADM_VALUE_PART_BYTES);
    });
    await this.emit({ kind: 'row', values: first });
    for (const [column, data] of rest) await this.emit({ kind: 'append', column, data });
  }
}
