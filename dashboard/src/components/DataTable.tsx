// Every table of the dashboard: columns say what a row shows, the table
// spells the markup once and scrolls sideways in its own box when it is
// wider than the screen, so the page never does.

import type { ReactNode } from 'react';
import { Empty } from './common';

/** One column: its heading and what it shows for a row. */
export interface Column<T> {
  head: string;
  cell: (row: T) => ReactNode;
}

/** Attributes a row may carry: a class, and `data-*` values tests and styles select rows by. */
export type RowAttributes = { className?: string } & { [data: `data-${string}`]: string | number | undefined };

export function DataTable<T>({
  label,
  columns,
  rows,
  rowKey,
  rowAttributes,
  empty,
}: {
  /** The table's accessible name. */
  label?: string;
  columns: readonly Column<T>[];
  rows: readonly T[];
  rowKey: (row: T, index: number) => string | number;
  rowAttributes?: (row: T, index: number) => RowAttributes;
  /** Said instead of the table when there is no row; without it an empty table shows its headings. */
  empty?: ReactNode;
}) {
  if (rows.length === 0 && empty !== undefined) return <Empty>{empty}</Empty>;
  return (
    <div className="table-scroll">
      <table aria-label={label}>
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th key={i}>{c.head}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={rowKey(row, i)} {...rowAttributes?.(row, i)}>
              {columns.map((c, j) => (
                <td key={j}>{c.cell(row)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
