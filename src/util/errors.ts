/**
 * A mistake the user can fix (bad flag, missing file, malformed model). The CLI prints its
 * message as one line and exits with code 2; anything else is an internal error and shows
 * its stack.
 */
export class UserError extends Error {
  override readonly name = "UserError";
}

/** Parses a comma-separated list of integers ("1,2,3"), naming the flag on error. */
export function parseIntList(text: string, flag: string): number[] {
  const parts = text.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new UserError(`${flag} needs at least one integer, e.g. ${flag} 1,2,3`);
  return parts.map((p) => {
    if (!/^-?\d+$/.test(p)) throw new UserError(`${flag}: "${p}" is not an integer (expected e.g. ${flag} 1,2,3)`);
    return Number(p);
  });
}

export function parseNumberOption(text: string, flag: string, opts: { min?: number; max?: number; integer?: boolean } = {}): number {
  const v = Number(text);
  if (text.trim() === "" || !Number.isFinite(v)) throw new UserError(`${flag}: "${text}" is not a number`);
  if (opts.integer && !Number.isInteger(v)) throw new UserError(`${flag}: "${text}" must be an integer`);
  if (opts.min !== undefined && v < opts.min) throw new UserError(`${flag}: ${v} is below the minimum ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) throw new UserError(`${flag}: ${v} is above the maximum ${opts.max}`);
  return v;
}

/**
 * `s` (text that came from a file: a tensor name, a JSON value, a metadata key) as a quoted,
 * escaped string that is safe to print on a terminal inside a one-line message: control
 * characters (C0, DEL, C1: newlines, ESC sequences), line/paragraph separators and bidi
 * overrides become \n, \t or \uXXXX escapes, quotes and backslashes are escaped, and very long
 * text is shortened in the middle.
 */
export function quoteForTerminal(s: string, maxChars = 200): string {
  const text = s.length > maxChars ? `${s.slice(0, maxChars - 40)}…${s.slice(-30)}` : s;
  let out = '"';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (isUnsafeCodePoint(c)) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return out + '"';
}

/** C0/C1 controls, DEL, line/paragraph separators, bidi embeddings/overrides/isolates, BOM. */
function isUnsafeCodePoint(c: number): boolean {
  return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c === 0xfeff;
}

/** A message reduced to one printable line: any unsafe character left in it is escaped. */
export function oneLine(message: string): string {
  let out = "";
  for (const ch of message.trim()) {
    const c = ch.codePointAt(0)!;
    if (ch === "\n") out += "\\n";
    else if (isUnsafeCodePoint(c)) out += `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return out;
}
