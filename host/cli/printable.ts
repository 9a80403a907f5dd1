// Text from a device (firmware version, token, ERROR detail, log lines) or from files reaches the
// operator's terminal. A terminal obeys control characters — ESC sequences can rewrite the screen,
// retitle the window or fake earlier output — so the CLI escapes them before printing anything.

// C0 controls, DEL, C1 controls (U+0080..U+009F, CSI among them), and the Unicode line separators and
// bidirectional overrides that can reorder what is shown.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const CONTROL_BUT_NEWLINE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escape(c: string): string {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/** One field of untrusted text for a line of output: every control character escaped (\x1b, \n…). */
export function printable(text: string): string {
  return text.replace(CONTROL, escape);
}

/** Whole output text: line breaks kept, every other control character escaped. */
export function printableLines(text: string): string {
  return text.replace(CONTROL_BUT_NEWLINE, escape);
}

/**
 * JSON text (from JSON.stringify, so a raw line break is only ever layout) with the characters that
 * JSON.stringify leaves raw inside strings (DEL, C1, separators, bidi) as \u escapes: still the same JSON.
 */
export function printableJson(json: string): string {
  return json.replace(CONTROL_BUT_NEWLINE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
