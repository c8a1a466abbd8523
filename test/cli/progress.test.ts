import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { progress } from '../../src/cli/progress.js';

/** An output stream that keeps what is written; a terminal or a pipe as `tty` says. */
function output(tty: boolean) {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, callback) {
      text += String(chunk);
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY: tty, columns: 80 });
  return { stream, text: () => text };
}

describe('progress of a long command', () => {
  it('prints plain lines in a pipe: one at the start, at most one a second, one at the end', () => {
    const out = output(false);
    const shown = progress('import', 'records', out.stream);
    shown.listener(0, 1500);
    for (let done = 100; done <= 1500; done += 100) shown.listener(done, 1500);
    shown.stop();
    // Everything above happens within a second: only the first and the last state are printed.
    expect(out.text()).toBe('import: 0/1500 records\nimport: 1500/1500 records\n');
  });

  it('draws a bar in place on a terminal', () => {
    const out = output(true);
    const shown = progress('audit verify', 'entries', out.stream);
    shown.listener(0, 4);
    shown.listener(4, 4);
    shown.stop();
    expect(out.text()).toContain('\x1b');
    expect(out.text()).toMatch(/audit verify \[=+\] 100% \| 4\/4 entries/);
  });

  it('prints nothing for an operation that never reported', () => {
    const out = output(false);
    progress('webhook redeliver', 'messages', out.stream).stop();
    expect(out.text()).toBe('');
  });
});
