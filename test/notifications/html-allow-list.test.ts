import { describe, expect, it } from 'vitest';
import { sanitizeHtml } from '../../src/notifications/html-allow-list.js';
import { signUnsubscribe, verifyUnsubscribe } from '../../src/notifications/unsubscribe-token.js';

describe('the HTML allow list', () => {
  it('keeps the allowed elements without attributes, and https links only', () => {
    expect(sanitizeHtml('<p class="x" style="color:red">Hi <b>you</b></p>')).toBe('<p>Hi <b>you</b></p>');
    expect(sanitizeHtml('<a href="https://a.test/?x=1&amp;y=2" onclick="x()">go</a>')).toBe(
      '<a href="https://a.test/?x=1&amp;y=2">go</a>',
    );
    expect(sanitizeHtml('<a href="javascript:alert(1)">x</a>')).toBe('<a>x</a>');
    expect(sanitizeHtml('<a href="http://a.test/">x</a>')).toBe('<a>x</a>');
  });

  it('drops what could break out of the template or load anything', () => {
    expect(sanitizeHtml('a</div></body><div>b')).toBe('ab');
    expect(sanitizeHtml('<script>alert(1)</script>ok<style>p{}</style>')).toBe('ok');
    expect(sanitizeHtml('<img src="https://t.test/p.png">x<!-- hidden -->')).toBe('x');
    expect(sanitizeHtml('<p><strong>open')).toBe('<p><strong>open</strong></p>');
    expect(sanitizeHtml('1 < 2 & 3 > 2 &amp; "q"')).toBe('1 &lt; 2 &amp; 3 &gt; 2 &amp; &quot;q&quot;');
    expect(sanitizeHtml('<p>a</li></p>')).toBe('<p>a</p>');
  });
});

describe('unsubscribe tokens', () => {
  it('verify with their key only, and not after any change', () => {
    const key = Buffer.alloc(32, 1);
    const token = signUnsubscribe(key, { accountId: 'acc-1', appKey: 'com.vendor.app' });
    expect(verifyUnsubscribe(key, token)).toEqual({ accountId: 'acc-1', appKey: 'com.vendor.app' });
    expect(verifyUnsubscribe(Buffer.alloc(32, 2), token)).toBeUndefined();
    const other = signUnsubscribe(key, { accountId: 'acc-2', appKey: 'com.vendor.app' });
    expect(verifyUnsubscribe(key, `${other.split('.')[0]}.${token.split('.')[1]}`)).toBeUndefined();
    expect(verifyUnsubscribe(key, 'garbage')).toBeUndefined();
  });
});
