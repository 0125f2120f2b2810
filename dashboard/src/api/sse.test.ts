import { describe, expect, it } from 'vitest';
import { SseParser } from './sse';
import { parseEvent } from './events';
import { errorMessage } from './client';

describe('SseParser', () => {
  it('splits events across chunks, joins data lines, skips comments', () => {
    const p = new SseParser();
    expect(p.push('event: snap')).toEqual([]);
    expect(p.push('shot\ndata: {"a":\ndata: 1}\n')).toEqual([]);
    expect(p.push('\n: keep-alive\n\ndata: x\n\n')).toEqual([
      { event: 'snapshot', data: '{"a":\n1}' },
      { event: 'message', data: 'x' },
    ]);
  });

  it('accepts CRLF, even split between chunks', () => {
    const p = new SseParser();
    expect(p.push('event: device\r')).toEqual([]);
    expect(p.push('\ndata: 1\r\n\r\n')).toEqual([{ event: 'device', data: '1' }]);
  });

  it('knows the contract’s event kinds and ignores others', () => {
    expect(parseEvent('lagged', '{"missed":3}')).toBe('lagged');
    expect(parseEvent('future-kind', '{}')).toBeNull();
    expect(parseEvent('deleted', '{"kind":"device","name":"a"}')).toEqual({ type: 'deleted', data: { kind: 'device', name: 'a' } });
    const sample = { device: 'd', app: 'thermostat', revision: 2, metric: 'temp_c', tMs: 5, value: 21.5 };
    expect(parseEvent('telemetry', JSON.stringify(sample))).toEqual({ type: 'telemetry', data: sample });
  });
});

describe('errorMessage', () => {
  it('prefers the server’s error field', () => {
    expect(errorMessage(400, '{"error":"spec.strategy.steps: steps must increase"}', 'PUT /x')).toBe(
      'spec.strategy.steps: steps must increase',
    );
  });
  it('names the request and the status otherwise', () => {
    expect(errorMessage(502, '<html>bad gateway</html>', 'GET /devices')).toBe(
      'GET /devices: the platform is not reachable (HTTP 502)',
    );
    expect(errorMessage(500, 'boom', 'GET /x')).toBe('GET /x: boom (HTTP 500)');
  });
});
