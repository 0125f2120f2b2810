import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { DataTable, type Column } from './DataTable';

type Row = { name: string; n: number };
const COLUMNS: Column<Row>[] = [
  { head: 'name', cell: (r) => <code>{r.name}</code> },
  { head: 'n', cell: (r) => r.n },
];
const ROWS: Row[] = [
  { name: 'a', n: 1 },
  { name: 'b', n: 2 },
];

describe('DataTable', () => {
  it('is the markup the pages wrote by hand: a named table in its scroll box, a heading per column, a cell per column and row', () => {
    const html = renderToStaticMarkup(
      <DataTable label="Things" columns={COLUMNS} rows={ROWS} rowKey={(r) => r.name} rowAttributes={(r, i) => ({ 'data-thing': r.name, className: i === 1 ? 'current' : '' })} />,
    );
    expect(html).toBe(
      '<div class="table-scroll"><table aria-label="Things">' +
        '<thead><tr><th>name</th><th>n</th></tr></thead>' +
        '<tbody><tr data-thing="a" class=""><td><code>a</code></td><td>1</td></tr>' +
        '<tr data-thing="b" class="current"><td><code>b</code></td><td>2</td></tr></tbody>' +
        '</table></div>',
    );
  });

  it('says `empty` instead of a table without rows, and shows the headings when there is nothing to say', () => {
    expect(renderToStaticMarkup(<DataTable columns={COLUMNS} rows={[]} rowKey={(r) => r.name} empty="Nothing yet." />)).toBe(
      '<p class="empty">Nothing yet.</p>',
    );
    expect(renderToStaticMarkup(<DataTable columns={COLUMNS} rows={[]} rowKey={(r) => r.name} />)).toBe(
      '<div class="table-scroll"><table><thead><tr><th>name</th><th>n</th></tr></thead><tbody></tbody></table></div>',
    );
  });
});
