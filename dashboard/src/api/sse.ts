// Server-sent events over fetch. EventSource cannot send an Authorization
// header nor tell a 401 from a network error; fetch can, so the dashboard
// reads the stream itself and shows the server's reason when it refuses.

export interface SseMessage {
  event: string;
  data: string;
}

/** Incremental parser of the `text/event-stream` format (WHATWG HTML §9.2). */
export class SseParser {
  private buf = '';
  private event = '';
  private data: string[] = [];

  /** Feeds decoded text; returns the messages it completed. */
  push(chunk: string): SseMessage[] {
    this.buf += chunk;
    const out: SseMessage[] = [];
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (!m) break;
      // A lone '\r' at the end may be the first half of "\r\n": wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line, out);
    }
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.data.length > 0) out.push({ event: this.event || 'message', data: this.data.join('\n') });
      this.event = '';
      this.data = [];
      return;
    }
    if (line.startsWith(':')) return; // comment (keep-alive)
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    // `id` and `retry` are not used: a reconnect gets a fresh snapshot instead.
  }
}
