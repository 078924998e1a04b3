// A simulated NTP server: its own clock (offset from true time, drift), stratum, leap indicator and
// root distance, answering mode-3 requests with mode-4 responses built by the real packet codec
// (TockCore.buildHeader), so the client code under test parses exactly what a real server sends.
// A falseticker is just a server whose offset is wrong.
import { Mode, ParseResult, type NtpTimestamp, type TockCore } from "../../ts/core/api.js";
import { addSeconds } from "../../ts/clock/clock.js";

export interface SimServerOptions {
  name: string;
  /** Server clock − true time at the start (s): non-zero makes a falseticker (or a biased source). */
  offset?: number;
  /** Server clock frequency error (ppm), so its offset grows as offset + drift·t. */
  driftPpm?: number;
  stratum?: number;
  /** Seconds the server spends between receive and transmit. */
  processing?: number;
  rootDelay?: number;
  rootDispersion?: number;
  /** log2 s. */
  precision?: number;
  /** Reference id the server advertises (u32). */
  refid?: number;
  /** Leap indicator the server announces at true time t (s since start); default: 0 always. */
  leap?: (t: number) => number;
  /** Change the offset at true time `at` (s) by `by` (s): a server that goes bad mid-run. */
  offsetJumps?: { at: number; by: number }[];
}

export class SimServer {
  readonly name: string;
  readonly options: SimServerOptions;
  answered = 0;

  constructor(options: SimServerOptions) {
    this.name = options.name;
    this.options = options;
  }

  /** Server clock − true time at true time t (s since start). */
  clockError(t: number): number {
    const o = this.options;
    let error = (o.offset ?? 0) + ((o.driftPpm ?? 0) * 1e-6) * t;
    for (const jump of o.offsetJumps ?? []) if (t >= jump.at) error += jump.by;
    return error;
  }

  /**
   * The response to `request` received at true time `t` (trueNtp = true time then as NTP), or null
   * when the request is not a valid mode-3 packet (a real server drops those too).
   */
  respond(core: TockCore, request: Uint8Array, t: number, trueNtp: (t: number) => NtpTimestamp): { bytes: Uint8Array; processing: number } | null {
    const parsed = core.parsePacket(request);
    if (parsed.result !== ParseResult.Ok || parsed.header === undefined || parsed.header.mode !== Mode.Client) return null;
    const o = this.options;
    const processing = o.processing ?? 20e-6;
    const receive = addSeconds(trueNtp(t), this.clockError(t));
    const transmit = addSeconds(trueNtp(t + processing), this.clockError(t + processing));
    this.answered++;
    const bytes = core.buildHeader({
      leap: o.leap?.(t) ?? 0,
      version: 4,
      mode: Mode.Server,
      stratum: o.stratum ?? 1,
      poll: parsed.header.poll,
      precision: o.precision ?? -20,
      rootDelay: o.rootDelay ?? 0,
      rootDispersion: o.rootDispersion ?? 0.0001,
      referenceId: o.refid ?? 0x47505300, // "GPS\0"
      referenceTime: addSeconds(receive, -1),
      originTime: parsed.header.transmitTime,
      receiveTime: receive,
      transmitTime: transmit,
    });
    return { bytes, processing };
  }
}
