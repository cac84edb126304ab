/**
 * Images (PNG, JPEG, TIFF, WebP, BMP) have no text of their own: they parse to one page that
 * needs OCR. Decoding (and its pixel limit) is the `ocr` stage's, in the OCR pool.
 */
import type { ParsedDocument, ParseLimits } from '../domain/types.js';

export async function parse(_bytes: Uint8Array, _limits: ParseLimits): Promise<ParsedDocument> {
  return { blocks: [], pages: 1, scannedPages: [1] };
}
