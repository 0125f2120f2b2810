import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import type { Aggregate } from '../api/types';
import { summary, TelemetryChart } from './TelemetryChart';

const T = 1_700_000_000_000;
const one = (s: number, v: number): Aggregate => ({ tMs: T + s * 1000, min: v, mean: v, max: v, count: 1 });

function render(items: Aggregate[], latest: Aggregate | null, bounds: { value: number; label: string }[] = []) {
  return renderToStaticMarkup(
    <TelemetryChart label="temp_c on dev-0" metric="temp_c" windowName="5 min" fromMs={T} toMs={T + 300_000} items={items} latest={latest} bounds={bounds} />,
  );
}

describe('TelemetryChart', () => {
  it('is a named figure whose latest value is text, whose picture is summarised, with the values as a table', () => {
    const html = render([one(0, 21.5), one(1, 31.5)], one(1, 31.5));
    expect(html).toContain('<figure class="chart telemetry" aria-label="temp_c on dev-0" data-metric="temp_c">');
    expect(html).toContain('<span class="latest" data-value="31.5">31.5</span>');
    expect(html).toContain('role="img" aria-label="temp_c over the last 5 min: 2 values from 21.5 to 31.5; latest 31.5"');
    expect(html).toContain('<table aria-label="temp_c on dev-0: values">');
    // A line, and no band: single values have no spread.
    expect(html).toContain('<polyline');
    expect(html).not.toContain('<polygon');
  });

  it('draws a band where a column summarises several values, and says the range of the latest', () => {
    const k: Aggregate = { tMs: T + 1000, min: 20, mean: 22, max: 25, count: 3 };
    const html = render([one(0, 21), k], k);
    expect(html).toContain('<polygon');
    expect(html).toContain('mean 22 (20 to 25)');
  });

  it('says when there is nothing, and draws a gate only where it falls on the scale', () => {
    const empty = render([], null, [{ value: 80, label: 'temp_c < 80' }]);
    expect(empty).toContain('no value yet');
    expect(empty).toContain('No values in this window.');
    expect(summary('temp_c', '5 min', [], null)).toBe('temp_c: no values in the last 5 min');
    expect(empty).not.toContain('class="bound"');
    const near = render([one(0, 70), one(1, 90)], one(1, 90), [{ value: 80, label: 'temp_c < 80' }]);
    expect(near).toContain('class="bound"');
    expect(near).toContain('gate temp_c &lt; 80');
  });
});
