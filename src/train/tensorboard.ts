// Training curves as TensorBoard event files (--report-to tensorboard), as TRL's report_to and
// mlx-lm's --report-to write them: <out>/tensorboard/events.out.tfevents.<time>.<host>.<pid>.giftjs,
// TFRecord framing (length, masked CRC-32C of the length, an Event protobuf, masked CRC-32C of it)
// holding a file_version event, then one scalar Summary per value and step. The protobuf fields are
// written by hand (five of them), so no TensorFlow or protobuf package is needed.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { reportingFsErrors } from '../io/fs_errors.js';

/** CRC-32C (Castagnoli), reflected, as TFRecord frames records. */
const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC32C_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotated right by 15 bits plus a constant. */
function maskedCrc(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** Protobuf's base-128 varint of a non-negative integer. */
function varint(n: number): number[] {
  const out: number[] = [];
  let v = BigInt(n);
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

const key = (field: number, wire: number) => varint((field << 3) | wire);
const lengthDelimited = (field: number, bytes: Uint8Array | number[]) => [...key(field, 2), ...varint(bytes.length), ...bytes];

function double(x: number): number[] {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, x, true);
  return [...b];
}

function float(x: number): number[] {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setFloat32(0, x, true);
  return [...b];
}

/** Event { wall_time = 1 (double); step = 2 (int64); file_version = 3 (string) | summary = 5 (Summary) }. */
function event(wallTime: number, step: number, body: number[]): Uint8Array {
  return Uint8Array.from([...key(1, 1), ...double(wallTime), ...key(2, 0), ...varint(step), ...body]);
}

/** Summary { value = 1: Value { tag = 1 (string); simple_value = 2 (float) } }, one value. */
function scalarSummary(tag: string, value: number): number[] {
  const v = [...lengthDelimited(1, new TextEncoder().encode(tag)), ...key(2, 5), ...float(value)];
  return lengthDelimited(5, lengthDelimited(1, v));
}

function record(data: Uint8Array): Uint8Array {
  const header = new Uint8Array(12);
  const view = new DataView(header.buffer);
  view.setBigUint64(0, BigInt(data.length), true);
  view.setUint32(8, maskedCrc(header.subarray(0, 8)), true);
  const footer = new Uint8Array(4);
  new DataView(footer.buffer).setUint32(0, maskedCrc(data), true);
  const out = new Uint8Array(12 + data.length + 4);
  out.set(header);
  out.set(data, 12);
  out.set(footer, 12 + data.length);
  return out;
}

export class TensorBoardWriter {
  readonly path: string;

  /** Starts a new event file in `dir` (made if needed); a resumed run adds a file, as TensorBoard expects. */
  constructor(dir: string) {
    const now = Date.now() / 1000;
    this.path = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname().replace(/[^A-Za-z0-9._-]/g, '_')}.${process.pid}.giftjs`);
    reportingFsErrors(dir, () => mkdirSync(dir, { recursive: true }));
    const version = event(now, 0, lengthDelimited(3, new TextEncoder().encode('brain.Event:2')));
    reportingFsErrors(this.path, () => writeFileSync(this.path, record(version)));
  }

  /** One scalar at a step, appended (each write reaches the file: a killed run keeps its curve). */
  scalar(tag: string, value: number, step: number): void {
    const data = record(event(Date.now() / 1000, step, scalarSummary(tag, value)));
    reportingFsErrors(this.path, () => appendFileSync(this.path, data));
  }
}
