// A second opinion on TOML syntax errors. smol-toml reports an unterminated single-line string
// ("a = \"x" + newline) as "only letter, numbers, dashes and underscores are allowed in keys" at the
// end of a later line, which sends the reader to the wrong place. This scan finds the opening quote
// of the first string that runs into a line end, so the error can point there instead.


/** Offset of the opening quote of the first unterminated single-line string, if any. O(n). */
export function findUnterminatedString(text: string): number | undefined {
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "#") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    if (c !== '"' && c !== "'") {
      i++;
      continue;
    }
    const triple = c.repeat(3);
    if (text.startsWith(triple, i)) {
      const end = findClose(text, i + 3, triple, c === '"');
      if (end < 0) return i;
      i = end + 3;
      while (text[i] === c) i++; // up to two quotes may belong to the content
      continue;
    }
    const start = i++;
    for (;;) {
      if (i >= text.length || text[i] === "\n" || text[i] === "\r") return start;
      if (c === '"' && text[i] === "\\") i += 2;
      else if (text[i++] === c) break;
    }
  }
  return undefined;
}

function findClose(text: string, from: number, triple: string, escapes: boolean): number {
  for (let i = from; i < text.length; i++) {
    if (escapes && text[i] === "\\") i++;
    else if (text.startsWith(triple, i)) return i;
  }
  return -1;
}
