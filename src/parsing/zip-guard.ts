/**
 * Zip-bomb defence for DOCX, run before mammoth (whose JSZip would inflate everything):
 *   1. read the central directory ourselves (no inflation) and reject archives whose declared
 *      total size or per-entry compression ratio is too large;
 *   2. stream-inflate every entry in small pieces, counting bytes and discarding them, and
 *      reject any entry that inflates beyond its declared size (headers can lie).
 * Memory stays at one small inflate window whatever the archive claims.
 */
import { Inflate } from 'fflate';
import { PermanentError } from '../domain/errors.js';
import type { ParseLimits } from '../domain/types.js';

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  compressedSize: number;
  uncompressedSize: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const MAX_ENTRIES = 10_000;
/** Parts mammoth parses into a tree (document, styles, numbering, relationships …). */
const XML_PART = /\.(xml|rels)$/i;
/** Entries smaller than this cannot hurt whatever their ratio (tiny XML parts compress 50:1). */
const RATIO_MIN_BYTES = 256 * 1024;
/** Compressed bytes pushed per inflate step: bounds one step's output to ~1 MiB (deflate ≤ 1032:1). */
const INFLATE_STEP = 1024;

const invalid = (why: string) => new PermanentError(`invalid DOCX: not a valid zip archive (${why})`, 'invalid_docx');
const bomb = (why: string) => new PermanentError(`DOCX rejected as a zip bomb: ${why}`, 'zip_bomb');

function u64(view: DataView, at: number): number {
  const lo = view.getUint32(at, true);
  const hi = view.getUint32(at + 4, true);
  return hi * 0x1_0000_0000 + lo; // exact below 2^53, which is all any real file reaches
}

function findEocd(view: DataView): number {
  const min = Math.max(0, view.byteLength - 22 - 0xffff);
  for (let p = view.byteLength - 22; p >= min; p--) {
    if (view.getUint32(p, true) === SIG_EOCD) return p;
  }
  throw invalid('no end of central directory record');
}

/** Parse the central directory without inflating anything. */
export function readCentralDirectory(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 22) throw invalid('too short');
  const eocd = findEocd(view);
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);

  if (count === 0xffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== SIG_EOCD64_LOCATOR) throw invalid('bad zip64 locator');
    const e64 = u64(view, loc + 8);
    if (e64 + 56 > bytes.length || view.getUint32(e64, true) !== SIG_EOCD64) throw invalid('bad zip64 record');
    count = u64(view, e64 + 32);
    cdOffset = u64(view, e64 + 48);
  }
  if (count > MAX_ENTRIES) throw bomb(`${count} entries`);

  const entries: ZipEntry[] = [];
  const names = new TextDecoder('utf-8');
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || view.getUint32(p, true) !== SIG_CENTRAL) throw invalid('bad central directory');
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let uncompressedSize = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    const nameEnd = p + 46 + nameLen;
    if (nameEnd + extraLen + commentLen > bytes.length) throw invalid('truncated central directory');
    const name = names.decode(bytes.subarray(p + 46, nameEnd));

    // Zip64 extra field: 64-bit values for whichever 32-bit fields are saturated, in this order.
    if (uncompressedSize === 0xffffffff || compressedSize === 0xffffffff || localHeaderOffset === 0xffffffff) {
      let x = nameEnd;
      const xEnd = nameEnd + extraLen;
      while (x + 4 <= xEnd) {
        const id = view.getUint16(x, true);
        const len = view.getUint16(x + 2, true);
        if (id === 0x0001) {
          let f = x + 4;
          const fEnd = Math.min(f + len, xEnd);
          if (uncompressedSize === 0xffffffff && f + 8 <= fEnd) (uncompressedSize = u64(view, f)), (f += 8);
          if (compressedSize === 0xffffffff && f + 8 <= fEnd) (compressedSize = u64(view, f)), (f += 8);
          if (localHeaderOffset === 0xffffffff && f + 8 <= fEnd) localHeaderOffset = u64(view, f);
          break;
        }
        x += 4 + len;
      }
    }
    entries.push({ name, method, flags, compressedSize, uncompressedSize, localHeaderOffset });
    p = nameEnd + extraLen + commentLen;
  }
  return entries;
}

/** Throw unless the declared sizes are within limits. Cheap: no inflation. */
export function checkDeclaredSizes(entries: ZipEntry[], limits: ParseLimits): void {
  let total = 0;
  let xml = 0;
  for (const e of entries) {
    total += e.uncompressedSize;
    if (total > limits.maxUnzippedBytes) {
      throw bomb(`declared uncompressed size exceeds ${limits.maxUnzippedBytes} bytes`);
    }
    // The declared sizes are held to by verifyActualSizes, so this bound is on real bytes.
    if (XML_PART.test(e.name)) xml += e.uncompressedSize;
    if (xml > limits.maxDocxXmlBytes) {
      throw new PermanentError(
        `DOCX rejected: its XML inflates past ${limits.maxDocxXmlBytes} bytes, more than the parser can hold in memory`,
        'too_large',
      );
    }
    const ratio = e.uncompressedSize / Math.max(1, e.compressedSize);
    if (e.uncompressedSize >= RATIO_MIN_BYTES && ratio > limits.maxZipRatio) {
      throw bomb(`entry ${JSON.stringify(e.name)} has a compression ratio of ${Math.round(ratio)}:1 (limit ${limits.maxZipRatio}:1)`);
    }
  }
}

function entryData(bytes: Uint8Array, view: DataView, e: ZipEntry): Uint8Array {
  const at = e.localHeaderOffset;
  if (at + 30 > bytes.length || view.getUint32(at, true) !== SIG_LOCAL) throw invalid(`bad local header for ${e.name}`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + e.compressedSize;
  if (end > bytes.length) throw invalid(`truncated data for ${e.name}`);
  return bytes.subarray(start, end);
}

const TOO_BIG = Symbol('too big');

/** Inflate each entry, discarding output, and fail any that produces more than it declared. */
export function verifyActualSizes(bytes: Uint8Array, entries: ZipEntry[]): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const e of entries) {
    if (e.name.endsWith('/') && e.uncompressedSize === 0 && e.compressedSize === 0) continue; // directory
    if (e.flags & 0x1) throw new PermanentError('invalid DOCX: the archive is encrypted', 'invalid_docx');
    const data = entryData(bytes, view, e);
    if (e.method === 0) {
      if (data.length !== e.uncompressedSize) throw invalid(`stored entry ${e.name} has the wrong size`);
      continue;
    }
    if (e.method !== 8) throw invalid(`unsupported compression method ${e.method} for ${e.name}`);

    let produced = 0;
    const inflater = new Inflate((chunk) => {
      produced += chunk.length;
      if (produced > e.uncompressedSize) throw TOO_BIG;
    });
    try {
      if (data.length === 0) inflater.push(new Uint8Array(0), true);
      for (let i = 0; i < data.length; i += INFLATE_STEP) {
        inflater.push(data.subarray(i, i + INFLATE_STEP), i + INFLATE_STEP >= data.length);
      }
    } catch (err) {
      if (err === TOO_BIG) throw bomb(`entry ${JSON.stringify(e.name)} inflates beyond its declared ${e.uncompressedSize} bytes`);
      throw invalid(`corrupt data in ${e.name}: ${(err as Error).message}`);
    }
  }
}

/** All checks, in cheap-to-expensive order. Returns the entries for further inspection. */
export function guardZip(bytes: Uint8Array, limits: ParseLimits): ZipEntry[] {
  const entries = readCentralDirectory(bytes);
  checkDeclaredSizes(entries, limits);
  verifyActualSizes(bytes, entries);
  return entries;
}
