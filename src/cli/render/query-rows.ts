import type { QueryResult, TenantRows } from '../../lifecycle/query/index.js';

/** The formats `tenantctl query` writes its rows in. */
export const QUERY_FORMATS = ['table', 'json', 'ndjson', 'csv'] as const;
export type QueryFormat = (typeof QUERY_FORMATS)[number];

/**
 * Writes rows as each tenant answers, `tenant` first: nothing of the fleet's is kept but what a
 * format needs to stay consistent (csv's header, the table's column widths).
 */
export interface RowWriter {
  tenant(rows: TenantRows): Promise<void>;
  /** After the last tenant: what closes the output (json's outcomes), if anything. */
  end(result: QueryResult): Promise<void>;
}

/** Writes to stdout, waiting for it to drain when the reader is slower than the fleet. */
export function writeOut(text: string, stream: NodeJS.WritableStream = process.stdout): Promise<void> {
  if (text === '' || stream.write(text)) return Promise.resolve();
  return new Promise((resolve) => stream.once('drain', () => resolve()));
}

/** JSON text of a value: bigints as strings, dates as ISO (JSON's own). */
export function jsonText(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
}

/** A cell as plain text: nothing for null, JSON for objects, ISO for dates, buffers as hex. */
export function cellText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (value instanceof Date) return value.toISOString();
  if (Buffer.isBuffer(value)) return `\\x${value.toString('hex')}`;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  return jsonText(value);
}

/** `tenant` first; a column of the tenant's own named `tenant` comes after it, unchanged. */
function withTenant(slug: string, row: Record<string, unknown>): Record<string, unknown> {
  return { tenant: slug, ...row, ...('tenant' in row ? { tenant: slug } : {}) };
}

export function ndjsonWriter(): RowWriter {
  return {
    tenant: ({ slug, rows }) => writeOut(rows.map((row) => `${jsonText(withTenant(slug, row))}\n`).join('')),
    end: async () => {},
  };
}

/** One JSON document: `{"rows": [...], ...the result}`, the rows written as they come. */
export function jsonWriter(): RowWriter {
  let first = true;
  return {
    async tenant({ slug, rows }) {
      const text = rows.map((row) => jsonText(withTenant(slug, row))).join(',\n');
      if (!text) return;
      await writeOut(`${first ? '{"rows": [\n' : ',\n'}${text}`);
      first = false;
    },
    async end(result) {
      await writeOut(`${first ? '{"rows": [' : '\n'}],\n${jsonText(result).slice(1, -1)}}\n`);
    },
  };
}

function csvField(value: unknown): string {
  const text = cellText(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * RFC 4180 CSV: the header is the first answering tenant's columns; a later tenant's rows are
 * written under it by name (a column it lacks is empty, one the header lacks is dropped, and
 * `warn` says so once).
 */
export function csvWriter(warn: (message: string) => void): RowWriter {
  let header: string[] | undefined;
  let warned = false;
  return {
    async tenant({ slug, columns, rows }) {
      let text = '';
      if (!header) {
        header = columns.filter((c) => c !== 'tenant');
        text += `${['tenant', ...header].map(csvField).join(',')}\r\n`;
      }
      if (!warned && columns.some((c) => c !== 'tenant' && !header!.includes(c))) {
        warned = true;
        warn(`tenantctl: tenant "${slug}" answered other columns than the first tenant: those are left out of the CSV`);
      }
      for (const row of rows) text += `${[slug, ...header.map((c) => row[c])].map(csvField).join(',')}\r\n`;
      await writeOut(text);
    },
    end: async () => {},
  };
}

/**
 * A plain table for a person, streamed: the header and the column widths come from the first
 * tenant that answers with rows (a longer value later simply runs over); values are cut at 60.
 */
export function tableWriter(bold: (s: string) => string): RowWriter {
  let widths: number[] | undefined;
  let header: string[] = [];
  const cut = (s: string) => (s.length > 60 ? `${s.slice(0, 59)}…` : s).replace(/[\r\n\t]/g, ' ');
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths![i]!))
      .join('  ')
      .trimEnd();
  return {
    async tenant({ slug, columns, rows }) {
      if (rows.length === 0) return;
      let text = '';
      if (!widths) {
        header = ['tenant', ...columns.filter((c) => c !== 'tenant')];
        const cells = rows.map((row) => [slug, ...header.slice(1).map((c) => cut(cellText(row[c])))]);
        widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
        text += `${bold(line(header))}\n`;
      }
      for (const row of rows) text += `${line([slug, ...header.slice(1).map((c) => cut(cellText(row[c])))])}\n`;
      await writeOut(text);
    },
    end: async () => {},
  };
}
