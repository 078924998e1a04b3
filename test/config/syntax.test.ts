import { describe, expect, it } from "vitest";
import { checkConfig, formatIssue } from "../../ts/config/index.js";
import { findUnterminatedString } from "../../ts/config/syntax.js";

describe("unterminated string finder", () => {
  it("finds the opening quote of a string that runs into a line end", () => {
    expect(findUnterminatedString('a = "x\nb = 1\n')).toBe(4);
    expect(findUnterminatedString("a = 'x")).toBe(4);
    expect(findUnterminatedString('a = """never closed\n')).toBe(4);
  });
  it("ignores complete strings of every kind, escapes and quotes in comments", () => {
    expect(findUnterminatedString('a = "q\\"uote"\nb = \'lit\'\n# don\'t "\nc = """\nmulti\n""""\nd = \'\'\'x\ny\'\'\'\n')).toBeUndefined();
  });
  it("turns smol-toml's misleading message into one at the string", () => {
    const [error] = checkConfig('[daemon]\nuser = "ntp\ngroup = "ntp"\n', "s.toml").errors;
    expect(formatIssue(error!)).toBe(
      's.toml:2:8: TOML syntax error: unterminated string (a quoted string must close on the same line; use """ for multi-line strings); allowed: TOML 1.0 (https://toml.io)',
    );
  });
  it("leaves other syntax errors to smol-toml", () => {
    const [error] = checkConfig("a = [1, 2\n", "s.toml").errors;
    expect(formatIssue(error!)).toBe("s.toml:1:9: TOML syntax error: cannot find end of structure; allowed: TOML 1.0 (https://toml.io)");
  });
});
