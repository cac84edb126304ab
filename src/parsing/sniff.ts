/**
 * Decide a document's type from its name AND its first bytes, so a file cannot smuggle one
 * format past the parser of another (a PNG named .pdf, a PDF named .txt).
 */
import { EXTENSIONS, SUPPORTED_TYPES, type DocType } from '../domain/types.js';

export type SniffResult =
  | { ok: true; type: DocType }
  | { ok: false; code: 'unsupported_type' | 'type_mismatch'; message: string };

const PDF_MAGIC = [0x25, 0x50, 0x44, 0x46, 0x2d]; // %PDF-
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // PK\x03\x04
/** PDF readers accept the header anywhere in the first KiB (some generators prepend junk). */
const PDF_HEADER_WINDOW = 1024;

function startsWith(head: Uint8Array, magic: number[], at = 0): boolean {
  if (head.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[at + i] !== magic[i]) return false;
  return true;
}

/** The image formats ragd OCRs, by their signatures; a decoder sniffs which one it is again. */
const IMAGE_MAGIC: readonly (readonly [number[], number?])[] = [
  [[0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]], // PNG
  [[0xff, 0xd8, 0xff]], // JPEG
  [[0x49, 0x49, 0x2a, 0x00]], // TIFF, little-endian
  [[0x4d, 0x4d, 0x00, 0x2a]], // TIFF, big-endian
  [[0x57, 0x45, 0x42, 0x50], 8], // WebP: RIFF....WEBP
  [[0x42, 0x4d]], // BMP
];

export function isImage(head: Uint8Array): boolean {
  return IMAGE_MAGIC.some(([magic, at]) => startsWith(head, magic, at ?? 0) && (at === undefined || startsWith(head, [0x52, 0x49, 0x46, 0x46])));
}

function hasPdfHeader(head: Uint8Array): boolean {
  const end = Math.min(head.length - PDF_MAGIC.length, PDF_HEADER_WINDOW);
  for (let i = 0; i <= end; i++) if (startsWith(head, PDF_MAGIC, i)) return true;
  return false;
}

/** Lower-cased extension including the dot, or '' (a leading dot is a hidden file, not an extension). */
export function extensionOf(filename: string): string {
  const base = filename.slice(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

const BY_EXTENSION = new Map<string, DocType>(
  SUPPORTED_TYPES.flatMap((t) => EXTENSIONS[t].map((ext) => [ext, t] as [string, DocType])),
);

export const SUPPORTED_EXTENSIONS: readonly string[] = [...BY_EXTENSION.keys()];

/**
 * Heuristic "is this text?": no NUL bytes, and few control characters other than the usual
 * whitespace and ESC. Valid UTF-8 is left to the parser, which gives a precise error.
 */
export function isProbablyText(head: Uint8Array): boolean {
  let controls = 0;
  for (const b of head) {
    if (b === 0) return false;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c && b !== 0x1b) controls++;
  }
  return controls <= Math.max(1, head.length * 0.02);
}

export function sniffType(filename: string, head: Uint8Array): SniffResult {
  const ext = extensionOf(filename);
  const isPdf = startsWith(head, PDF_MAGIC);
  const isZip = startsWith(head, ZIP_MAGIC);
  const shown = JSON.stringify(filename);

  let type = BY_EXTENSION.get(ext);
  if (type === undefined) {
    // No extension at all: plain text (including extension-less JSON) is accepted as text.
    if (ext === '' && !isPdf && !isZip && isProbablyText(head)) return { ok: true, type: 'text' };
    return {
      ok: false,
      code: 'unsupported_type',
      message: `${shown}: unsupported file type${ext ? ` ${ext}` : ''}; supported extensions: ${SUPPORTED_EXTENSIONS.join(', ')}`,
    };
  }

  const mismatch = (what: string): SniffResult => ({
    ok: false,
    code: 'type_mismatch',
    message: `${shown} is named ${ext} but ${what}`,
  });

  switch (type) {
    case 'pdf':
      return hasPdfHeader(head) ? { ok: true, type } : mismatch('its content is not a PDF');
    case 'docx':
      return isZip ? { ok: true, type } : mismatch('its content is not a DOCX (zip) archive');
    case 'image':
      return isImage(head) ? { ok: true, type } : mismatch('its content is not a PNG, JPEG, TIFF, WebP or BMP image');
    default:
      if (isPdf) return mismatch('its content is a PDF');
      if (isZip) return mismatch('its content is a zip archive');
      if (!isProbablyText(head)) return mismatch('its content is binary, not text');
      return { ok: true, type };
  }
}
