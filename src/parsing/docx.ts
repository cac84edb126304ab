/**
 * DOCX: guard the zip first (see zip-guard.ts), then let mammoth turn the document into
 * semantic HTML (Heading N styles → <hN>) and reuse the HTML parser so headings survive.
 */
import mammoth from 'mammoth';
import { PermanentError, isPermanent } from '../domain/errors.js';
import type { ParsedDocument, ParseLimits } from '../domain/types.js';
import { parseHtml } from './html.js';
import { guardZip } from './zip-guard.js';

/** Images carry no text; skipping them avoids base64-encoding every picture into the HTML. */
const dropImages = mammoth.images.imgElement(async () => ({ src: '' }));

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const entries = guardZip(bytes, limits);
  if (!entries.some((e) => e.name === 'word/document.xml')) {
    throw new PermanentError('invalid DOCX: word/document.xml is missing', 'invalid_docx');
  }

  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      { convertImage: dropImages, externalFileAccess: false },
    );
    html = result.value;
  } catch (err) {
    if (isPermanent(err)) throw err;
    // mammoth's failures (bad XML, missing parts) are properties of the file.
    throw new PermanentError(`invalid DOCX: ${(err as Error).message}`, 'invalid_docx');
  }
  return parseHtml(html, limits);
}
