// Hex ↔ bytes for test vectors and fixtures (whitespace in the hex is ignored), shared by every test
// directory; the support files of test/core, test/crypto and test/nts-client re-export it.
export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
