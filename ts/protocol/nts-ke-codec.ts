/**
 * NTS-KE record codec (RFC 8915 §4), sans-IO, shared by the KE client and the KE server: typed
 * records, the streaming bounded decoder and the encoder. Whole messages (builders, §4 checks,
 * §5.1 key-export context) are in nts-ke-messages.ts; nts-ke-records.ts re-exports both.
 *
 * Wire format of one record (RFC 8915 Figure 2):
 *
 *   |C| Record Type (15 bits) | Body Length (16 bits) | Body (Body Length octets)
 *
 * Unlike an NTP extension field, Body Length counts only the body. A message is a sequence of
 * records ending with exactly one End of Message record (type 0), which makes it self-delimiting
 * over the TLS stream: {@link KeRecordDecoder} takes bytes as they arrive and stops there.
 *
 * Every byte handed to the decoder is hostile: every length is checked before use, totals are
 * bounded (bytes and record count), and every failure comes back as a {@link KeDecodeError} value —
 * the decoder never throws. The encoder, whose input is our own typed values, throws RangeError on
 * values that cannot be represented (a programming error, not a wire condition).
 */

/** Record type numbers (RFC 8915 §4.1, IANA "NTS Key Establishment Record Types"). */
export const KeRecordType = {
  EndOfMessage: 0,
  NextProtocol: 1,
  Error: 2,
  Warning: 3,
  AeadAlgorithm: 4,
  NewCookie: 5,
  Server: 6,
  Port: 7,
} as const;

/** Protocol ID of NTPv4 in the NTS Next Protocols registry (RFC 8915 §7.7). */
export const NTS_PROTOCOL_NTPV4 = 0;

/** Error codes of the Error record (RFC 8915 §4.1.3). */
export const KeErrorCode = {
  UnrecognizedCritical: 0,
  BadRequest: 1,
  InternalServerError: 2,
} as const;

/** IANA AEAD ids NTS implementations use (RFC 5116 registry; 15 is mandatory, RFC 8915 §4.1.5). */
export const AEAD_AES_SIV_CMAC_256 = 15;
export const AEAD_AES_SIV_CMAC_384 = 16;
export const AEAD_AES_SIV_CMAC_512 = 17;
export const AEAD_AES_128_GCM_SIV = 30;

/** The typed form of one record. `critical` is the C bit as received (or to be sent). */
export type KeRecord =
  | { readonly type: 'end-of-message'; readonly critical: boolean }
  | { readonly type: 'next-protocol'; readonly critical: boolean; readonly protocols: readonly number[] }
  | { readonly type: 'error'; readonly critical: boolean; readonly code: number }
  | { readonly type: 'warning'; readonly critical: boolean; readonly code: number }
  | { readonly type: 'aead-algorithm'; readonly critical: boolean; readonly algorithms: readonly number[] }
  | { readonly type: 'new-cookie'; readonly critical: boolean; readonly cookie: Uint8Array }
  | { readonly type: 'server'; readonly critical: boolean; readonly host: string }
  | { readonly type: 'port'; readonly critical: boolean; readonly port: number }
  /** A record of a type this memo does not define, with C = 0 (ignored per §4; kept for logging). */
  | { readonly type: 'unknown'; readonly critical: false; readonly recordType: number; readonly body: Uint8Array };

export type KeDecodeErrorKind =
  /** The stream ended (peer closed) before End of Message. */
  | 'truncated'
  /** More bytes than the configured limit arrived before End of Message. */
  | 'too-large'
  /** More records than the configured limit arrived before End of Message. */
  | 'too-many-records'
  /** A record of an unknown type with the critical bit set (§4: MUST treat it as an error). */
  | 'unknown-critical'
  /** A known record whose body has the wrong shape (length, characters). */
  | 'malformed'
  /** The decoder was fed after it had already finished or failed. */
  | 'finished';

export interface KeDecodeError {
  readonly kind: KeDecodeErrorKind;
  readonly detail: string;
  /** The record type involved, when the error is about one record. */
  readonly recordType?: number;
}

export interface KeDecodeLimits {
  /** Largest message accepted, in bytes (RFC 8915 §4: clients SHOULD accept at least 65536). */
  readonly maxBytes: number;
  /** Most records accepted in one message, End of Message included. */
  readonly maxRecords: number;
}

/** Client side: responses up to 64 KiB (§4 SHOULD); the record count bounds per-record overhead. */
export const RESPONSE_LIMITS: KeDecodeLimits = { maxBytes: 65536, maxRecords: 1024 };
/** Server side: §4 says servers MUST accept requests of at least 1024 octets; we allow 4 KiB. */
export const REQUEST_LIMITS: KeDecodeLimits = { maxBytes: 4096, maxRecords: 128 };

export type KeDecodeProgress =
  | { readonly state: 'need-more' }
  | {
      readonly state: 'done';
      readonly records: readonly KeRecord[];
      /** Bytes after End of Message in the last chunk (a well-behaved peer sends none). */
      readonly trailingBytes: number;
    }
  | { readonly state: 'error'; readonly error: KeDecodeError };

const RECORD_HEADER_BYTES = 4;
const MAX_BODY_BYTES = 0xffff;
/** Server Negotiation carries an IPv4/IPv6 literal or an FQDN (§4.1.7): 253 chars + a final dot. */
const MAX_SERVER_NAME_BYTES = 254;

/**
 * Streaming decoder for one NTS-KE message. Feed it TLS application data as it arrives with
 * {@link push}; call {@link end} when the peer closes. It answers `need-more` until End of Message,
 * then `done` with the typed records; after `done` or `error` it stays finished.
 *
 * Memory: it buffers at most `limits.maxBytes` (the bound is checked before copying a chunk).
 */
export class KeRecordDecoder {
  private readonly limits: KeDecodeLimits;
  private buffer: Uint8Array;
  private buffered = 0;
  private parsedUpTo = 0;
  private readonly records: KeRecord[] = [];
  private outcome: KeDecodeProgress = { state: 'need-more' };

  constructor(limits: KeDecodeLimits = RESPONSE_LIMITS) {
    this.limits = limits;
    this.buffer = new Uint8Array(Math.min(1024, Math.max(0, limits.maxBytes)));
  }

  /** The outcome so far (`need-more` until the message completes or fails). */
  get progress(): KeDecodeProgress {
    return this.outcome;
  }

  /** Total bytes accepted so far. */
  get bytesReceived(): number {
    return this.buffered;
  }

  push(chunk: Uint8Array): KeDecodeProgress {
    if (this.outcome.state !== 'need-more') {
      // Bytes after a finished message: report them on 'done' (trailing data), keep errors.
      if (this.outcome.state === 'done' && chunk.length > 0) {
        this.outcome = { ...this.outcome, trailingBytes: this.outcome.trailingBytes + chunk.length };
      }
      return this.outcome;
    }
    // Only the bytes up to the limit are ever buffered; anything beyond it before End of Message
    // is an error. Take what fits, parse, and decide.
    const room = this.limits.maxBytes - this.buffered;
    const take = Math.min(room, chunk.length);
    this.append(chunk.subarray(0, take));
    this.parseAvailable();
    // parseAvailable() may have changed the outcome (TypeScript's narrowing cannot see that).
    const state = (this.outcome as KeDecodeProgress).state;
    if (state === 'done') {
      const leftover = this.buffered - this.parsedUpTo + (chunk.length - take);
      this.outcome = { state: 'done', records: this.records, trailingBytes: leftover };
    } else if (state === 'need-more' && chunk.length > take) {
      this.fail('too-large', `message exceeds ${this.limits.maxBytes} bytes before End of Message`);
    } else if (state === 'need-more' && this.buffered >= this.limits.maxBytes) {
      this.fail('too-large', `message reached ${this.limits.maxBytes} bytes without End of Message`);
    }
    return this.outcome;
  }

  /** The peer closed the stream: a message without End of Message is truncated. */
  end(): KeDecodeProgress {
    if (this.outcome.state === 'need-more') {
      this.fail('truncated', `stream ended after ${this.buffered} bytes without End of Message`);
    }
    return this.outcome;
  }

  private append(bytes: Uint8Array): void {
    const needed = this.buffered + bytes.length;
    if (needed > this.buffer.length) {
      let size = Math.max(this.buffer.length * 2, 64);
      while (size < needed) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.limits.maxBytes));
      grown.set(this.buffer.subarray(0, this.buffered));
      this.buffer = grown;
    }
    this.buffer.set(bytes, this.buffered);
    this.buffered = needed;
  }

  private parseAvailable(): void {
    while (this.outcome.state === 'need-more') {
      const available = this.buffered - this.parsedUpTo;
      if (available < RECORD_HEADER_BYTES) return;
      const at = this.parsedUpTo;
      const b = this.buffer;
      const critical = (b[at]! & 0x80) !== 0;
      const recordType = ((b[at]! & 0x7f) << 8) | b[at + 1]!;
      const bodyLength = (b[at + 2]! << 8) | b[at + 3]!;
      if (RECORD_HEADER_BYTES + bodyLength > this.limits.maxBytes - at) {
        this.fail('too-large', `record type ${recordType} of ${bodyLength} bytes exceeds the message limit`, recordType);
        return;
      }
      if (available < RECORD_HEADER_BYTES + bodyLength) return;
      if (this.records.length >= this.limits.maxRecords) {
        this.fail('too-many-records', `more than ${this.limits.maxRecords} records`);
        return;
      }
      // Copy the body out so records do not alias the (growable, reused) buffer.
      const body = b.slice(at + RECORD_HEADER_BYTES, at + RECORD_HEADER_BYTES + bodyLength);
      this.parsedUpTo = at + RECORD_HEADER_BYTES + bodyLength;
      const decoded = decodeRecord(critical, recordType, body);
      if ('kind' in decoded) {
        this.outcome = { state: 'error', error: decoded };
        return;
      }
      this.records.push(decoded);
      if (decoded.type === 'end-of-message') {
        this.outcome = { state: 'done', records: this.records, trailingBytes: 0 };
      }
    }
  }

  private fail(kind: KeDecodeErrorKind, detail: string, recordType?: number): void {
    this.outcome = {
      state: 'error',
      error: recordType === undefined ? { kind, detail } : { kind, detail, recordType },
    };
  }
}

/** Decode a complete message held in one buffer (a convenience over the streaming decoder). */
export function decodeKeMessage(bytes: Uint8Array, limits: KeDecodeLimits = RESPONSE_LIMITS): KeDecodeProgress {
  const decoder = new KeRecordDecoder(limits);
  const progress = decoder.push(bytes);
  return progress.state === 'need-more' ? decoder.end() : progress;
}

/** Interpret one record body. Returns the typed record or an error value; never throws. */
export function decodeRecord(critical: boolean, recordType: number, body: Uint8Array): KeRecord | KeDecodeError {
  const malformed = (detail: string): KeDecodeError => ({ kind: 'malformed', detail, recordType });
  switch (recordType) {
    case KeRecordType.EndOfMessage:
      // §4.1.1 says C MUST be set; real servers differ on C bits (the 2019 Go server sends Next
      // Protocol without it), so C of known records is reported, not enforced.
      if (body.length !== 0) return malformed(`End of Message with a ${body.length}-byte body`);
      return { type: 'end-of-message', critical };
    case KeRecordType.NextProtocol: {
      const protocols = decodeU16List(body);
      if (protocols === null) return malformed(`Next Protocol body of odd length ${body.length}`);
      return { type: 'next-protocol', critical, protocols };
    }
    case KeRecordType.Error:
    case KeRecordType.Warning: {
      if (body.length !== 2) return malformed(`${recordType === 2 ? 'Error' : 'Warning'} body of ${body.length} bytes, not 2`);
      const code = (body[0]! << 8) | body[1]!;
      return recordType === KeRecordType.Error ? { type: 'error', critical, code } : { type: 'warning', critical, code };
    }
    case KeRecordType.AeadAlgorithm: {
      const algorithms = decodeU16List(body);
      if (algorithms === null) return malformed(`AEAD Algorithm body of odd length ${body.length}`);
      return { type: 'aead-algorithm', critical, algorithms };
    }
    case KeRecordType.NewCookie:
      // §4.1.6: opaque; an empty cookie cannot be sent in an NTS Cookie EF that a server accepts.
      if (body.length === 0) return malformed('empty New Cookie');
      return { type: 'new-cookie', critical, cookie: body };
    case KeRecordType.Server: {
      const host = decodeServerName(body);
      if (host === null) return malformed('Server Negotiation is not a printable ASCII host of 1..254 bytes');
      return { type: 'server', critical, host };
    }
    case KeRecordType.Port:
      if (body.length !== 2) return malformed(`Port Negotiation body of ${body.length} bytes, not 2`);
      return { type: 'port', critical, port: (body[0]! << 8) | body[1]! };
    default:
      if (critical) {
        return { kind: 'unknown-critical', detail: `unrecognized critical record type ${recordType}`, recordType };
      }
      return { type: 'unknown', critical: false, recordType, body };
  }
}

function decodeU16List(body: Uint8Array): number[] | null {
  if (body.length % 2 !== 0) return null;
  const values: number[] = [];
  for (let i = 0; i < body.length; i += 2) values.push((body[i]! << 8) | body[i + 1]!);
  return values;
}

/**
 * §4.1.7: an IPv4 dotted quad, an IPv6 text address (no zone id) or an FQDN in A-label form — all
 * printable ASCII without spaces. We accept exactly that character class; whether the string is a
 * valid address or name is the resolver's decision, not the codec's.
 */
function decodeServerName(body: Uint8Array): string | null {
  if (body.length === 0 || body.length > MAX_SERVER_NAME_BYTES) return null;
  let host = '';
  for (const byte of body) {
    if (byte < 0x21 || byte > 0x7e) return null;
    host += String.fromCharCode(byte);
  }
  return host;
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/** Encode records, in order, into one message. Throws RangeError on unrepresentable values. */
export function encodeKeRecords(records: readonly KeRecord[]): Uint8Array {
  const parts = records.map(encodeRecord);
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function encodeRecord(record: KeRecord): Uint8Array {
  switch (record.type) {
    case 'end-of-message':
      return frame(KeRecordType.EndOfMessage, record.critical, new Uint8Array(0));
    case 'next-protocol':
      return frame(KeRecordType.NextProtocol, record.critical, encodeU16List(record.protocols));
    case 'error':
      return frame(KeRecordType.Error, record.critical, encodeU16List([record.code]));
    case 'warning':
      return frame(KeRecordType.Warning, record.critical, encodeU16List([record.code]));
    case 'aead-algorithm':
      return frame(KeRecordType.AeadAlgorithm, record.critical, encodeU16List(record.algorithms));
    case 'new-cookie':
      return frame(KeRecordType.NewCookie, record.critical, record.cookie);
    case 'server': {
      const body = new Uint8Array(record.host.length);
      for (let i = 0; i < record.host.length; i++) body[i] = record.host.charCodeAt(i);
      if (decodeServerName(body) === null) {
        throw new RangeError(`Server Negotiation host must be 1..254 printable ASCII characters: ${JSON.stringify(record.host)}`);
      }
      return frame(KeRecordType.Server, record.critical, body);
    }
    case 'port':
      return frame(KeRecordType.Port, record.critical, encodeU16List([record.port]));
    case 'unknown':
      return frame(record.recordType, false, record.body);
  }
}

function frame(recordType: number, critical: boolean, body: Uint8Array): Uint8Array {
  if (!Number.isInteger(recordType) || recordType < 0 || recordType > 0x7fff) {
    throw new RangeError(`record type ${recordType} is not a 15-bit integer`);
  }
  if (body.length > MAX_BODY_BYTES) throw new RangeError(`record body of ${body.length} bytes exceeds 65535`);
  const out = new Uint8Array(RECORD_HEADER_BYTES + body.length);
  out[0] = (critical ? 0x80 : 0) | (recordType >> 8);
  out[1] = recordType & 0xff;
  out[2] = body.length >> 8;
  out[3] = body.length & 0xff;
  out.set(body, RECORD_HEADER_BYTES);
  return out;
}

function encodeU16List(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((value, i) => {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff) throw new RangeError(`${value} is not a u16`);
    out[2 * i] = value >> 8;
    out[2 * i + 1] = value & 0xff;
  });
  return out;
}
