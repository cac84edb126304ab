/**
 * Parser dispatch by document type.
 *
 * The parsers are imported statically on purpose: worker threads run this under
 * `node --import tsx` in tests, and on Node 20 tsx only hooks `require` in worker threads, not
 * ESM `import()` — a dynamic import of a sibling .ts module fails there. (pdfjs, the one heavy
 * dependency, is still loaded lazily inside pdf.ts; it is plain JS, so that import is fine.)
 */
import type { DocType, ParsedDocument, ParseLimits } from '../domain/types.js';
import { parse as parseCsv } from './csv.js';
import { parse as parseDocx } from './docx.js';
import { parse as parseHtml } from './html.js';
import { parse as parseImage } from './image.js';
import { parse as parseJson } from './json.js';
import { parse as parseMarkdown } from './markdown.js';
import { parse as parsePdf } from './pdf.js';
import { parse as parseText } from './text.js';

export {
  MAX_JSONL_RECORD_BYTES, NotJsonLinesError, parseCsvStream, parseJsonLinesStream, parseTextStream, streamedFormat,
  type BlockEmit, type StreamedFormat,
} from './streamed.js';

type Parser = (bytes: Uint8Array, limits: ParseLimits) => Promise<ParsedDocument>;

const PARSERS: Record<DocType, Parser> = {
  text: parseText,
  markdown: parseMarkdown,
  html: parseHtml,
  pdf: parsePdf,
  docx: parseDocx,
  csv: parseCsv,
  json: parseJson,
  image: parseImage,
};

export async function parseBytes(type: DocType, bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const parse = PARSERS[type];
  if (!parse) throw new TypeError(`no parser for document type ${String(type)}`);
  return parse(bytes, limits);
}
