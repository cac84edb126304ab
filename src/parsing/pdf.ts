/**
 * PDF: the text layer of each page via pdfjs-dist's legacy (Node) build, laid out into lines
 * (hasEOL / baseline changes) and paragraphs (vertical gaps, font-size changes). Every block
 * carries its 1-based page. pdfjs runs with its in-thread "fake worker" and never fetches:
 * the data is passed in memory and only predefined CMaps are read, from the local package.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PermanentError, isPermanent } from '../domain/errors.js';
import type { ParsedDocument, ParseLimits } from '../domain/types.js';
import { BlockSink, cleanInline } from './common.js';

type PdfJs = typeof import('pdfjs-dist/legacy/build/pdf.mjs');

/** The subset of pdfjs' TextItem we use (marked-content items lack `str`). */
export interface PdfTextItem {
  str: string;
  transform: number[];
  width: number;
  height: number;
  hasEOL: boolean;
}

let pdfjsPromise: Promise<PdfJs> | undefined;

// The minified files of the same legacy build: identical API, no sourceMappingURL. Under tsx
// (tests) the unminified pair costs ~4 s and ~500 MB per thread to load because of the 8 MB of
// source maps; compiled, both load in ~0.3 s. Specifiers are variables so TypeScript does not
// look for declarations of the .min files (the types come from pdf.mjs above).
const PDFJS_MAIN: string = 'pdfjs-dist/legacy/build/pdf.min.mjs';
const PDFJS_WORKER: string = 'pdfjs-dist/legacy/build/pdf.worker.min.mjs';

/**
 * Load pdfjs once per thread, lazily (most documents are not PDFs). Registering the worker
 * module on globalThis.pdfjsWorker makes pdfjs use it directly as its in-thread fake worker
 * instead of `import()`-ing "./pdf.worker.mjs" by relative URL at first use.
 */
export function loadPdfJs(): Promise<PdfJs> {
  pdfjsPromise ??= (async () => {
    const worker = (await import(PDFJS_WORKER)) as { WorkerMessageHandler?: unknown };
    const g = globalThis as { pdfjsWorker?: unknown };
    g.pdfjsWorker ??= worker;
    return (await import(PDFJS_MAIN)) as PdfJs;
  })();
  return pdfjsPromise;
}

let cmapDir: string | undefined;
/** Local directory of pdfjs' predefined CMaps (needed to map CJK fonts to Unicode). */
function cMapUrl(): string | undefined {
  if (cmapDir === undefined) {
    try {
      const pkg = createRequire(import.meta.url).resolve('pdfjs-dist/package.json');
      cmapDir = join(dirname(pkg), 'cmaps') + '/';
    } catch {
      cmapDir = '';
    }
  }
  return cmapDir === '' ? undefined : cmapDir;
}

interface Line {
  text: string;
  y: number;
  h: number;
}

/** Group a page's text items into lines: a line ends at hasEOL or when the baseline moves. */
function toLines(items: PdfTextItem[]): Line[] {
  const lines: Line[] = [];
  let text = '';
  let y = 0;
  let h = 0;
  let xEnd = 0;
  let open = false;
  const end = () => {
    if (open && text.trim().length > 0) lines.push({ text, y, h });
    text = '';
    open = false;
  };
  for (const item of items) {
    const ix = Number(item.transform[4] ?? 0);
    const iy = Number(item.transform[5] ?? 0);
    const ih = Math.abs(item.height) || Math.abs(Number(item.transform[3] ?? 0)) || 1;
    if (item.str.length > 0) {
      if (open && Math.abs(iy - y) > Math.max(h, ih) * 0.5) end();
      if (open) {
        // Items are often split mid-line (kerning, font changes); a visible horizontal gap
        // between them means a word space that the PDF did not encode as a character.
        const gap = ix - xEnd;
        if (gap > ih * 0.15 && !/\s$/.test(text) && !/^\s/.test(item.str)) text += ' ';
        text += item.str;
        h = Math.max(h, ih);
      } else {
        text = item.str;
        y = iy;
        h = ih;
        open = true;
      }
      xEnd = ix + item.width;
    }
    if (item.hasEOL) end();
  }
  end();
  return lines;
}

/**
 * Group lines into paragraphs: a vertical gap clearly larger than the page's usual line step,
 * a jump upwards (new column) or a change of font size (headings) starts a new paragraph.
 */
export function layoutPage(items: PdfTextItem[]): string[] {
  const lines = toLines(items);
  if (lines.length === 0) return [];
  const gaps: number[] = [];
  for (let i = 1; i < lines.length; i++) {
    const g = lines[i - 1]!.y - lines[i]!.y;
    if (g > 0) gaps.push(g);
  }
  gaps.sort((a, b) => a - b);
  const medianGap = gaps.length > 0 ? gaps[Math.floor((gaps.length - 1) / 2)]! : Infinity;

  const paragraphs: string[] = [];
  let current = lines[0]!.text.trim();
  for (let i = 1; i < lines.length; i++) {
    const prev = lines[i - 1]!;
    const line = lines[i]!;
    const gap = prev.y - line.y;
    const step = Math.min(medianGap, Math.max(prev.h, line.h) * 1.5);
    const sizeChanged = Math.abs(prev.h - line.h) > Math.max(prev.h, line.h) * 0.2;
    if (gap <= 0 || gap > step * 1.3 || sizeChanged) {
      paragraphs.push(current);
      current = line.text.trim();
    } else if (/\p{Ll}-$/u.test(current) && /^\p{Ll}/u.test(line.text.trim())) {
      current = current.slice(0, -1) + line.text.trim(); // re-join a word hyphenated at the line end
    } else {
      current += ' ' + line.text.trim();
    }
  }
  paragraphs.push(current);
  return paragraphs.map(cleanInline).filter((p) => p.length > 0);
}

function pdfError(err: unknown): Error {
  if (isPermanent(err)) return err as Error;
  const e = err as { name?: string; message?: string };
  const message = String(e?.message ?? err).replace(/\.$/, '');
  if (e?.name === 'PasswordException') {
    return new PermanentError('PDF is encrypted (password-protected)', 'encrypted_pdf');
  }
  // pdfjs failures are deterministic functions of the bytes: retrying cannot help.
  return new PermanentError(`corrupt PDF: ${message}`, 'corrupt_pdf');
}

/**
 * A page with fewer visible characters than this in its text layer counts as having none: scans
 * often carry a stray page number or a scanner's stamp as text.
 */
const SCANNED_PAGE_MAX_CHARS = 20;

function textChars(paragraphs: string[]): number {
  let n = 0;
  for (const p of paragraphs) n += p.replace(/\s+/g, '').length;
  return n;
}

/** Whether the page paints an image (a scan is one image, or a few strips of one). */
async function paintsImage(pdfjs: PdfJs, page: { getOperatorList(): Promise<{ fnArray: number[] }> }): Promise<boolean> {
  const ops = pdfjs.OPS as Record<string, number>;
  const painters = new Set(['paintImageXObject', 'paintInlineImageXObject', 'paintImageMaskXObject', 'paintImageXObjectRepeat', 'paintInlineImageXObjectGroup'].map((k) => ops[k]));
  const { fnArray } = await page.getOperatorList();
  return fnArray.some((fn) => painters.has(fn));
}

/** pdf.js options for untrusted bytes: no eval, nothing fetched, no system fonts; CMaps from the local package. */
export function safePdfOptions(data: Uint8Array) {
  const cmaps = cMapUrl();
  return {
    data,
    useSystemFonts: false,
    disableFontFace: true,
    isEvalSupported: false,
    isOffscreenCanvasSupported: false,
    isImageDecoderSupported: false,
    useWorkerFetch: false,
    disableAutoFetch: true,
    disableStream: true,
    disableRange: true,
    enableXfa: false,
    stopAtErrors: false,
    verbosity: 0,
    ...(cmaps !== undefined ? { cMapUrl: cmaps, cMapPacked: true } : {}),
  };
}

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const pdfjs = await loadPdfJs();
  // pdfjs may keep (or transfer) the buffer it is given; hand it a private copy as a plain
  // Uint8Array (it warns about Buffer instances).
  const data = new Uint8Array(bytes);
  const task = pdfjs.getDocument(safePdfOptions(data));
  try {
    const doc = await task.promise;
    if (doc.numPages > limits.maxPdfPages) {
      throw new PermanentError(
        `PDF has ${doc.numPages} pages, more than the limit of ${limits.maxPdfPages}`,
        'too_many_pages',
      );
    }
    let title: string | undefined;
    try {
      const meta = await doc.getMetadata();
      const t = (meta.info as { Title?: unknown } | undefined)?.Title;
      if (typeof t === 'string') title = cleanInline(t) || undefined;
    } catch {
      // Broken metadata does not make the text unusable.
    }
    const sink = new BlockSink(limits);
    const scannedPages: number[] = [];
    for (let n = 1; n <= doc.numPages; n++) {
      const page = await doc.getPage(n);
      const content = await page.getTextContent();
      const items = content.items.filter((it): it is PdfTextItem & typeof it => 'str' in it);
      const paragraphs = layoutPage(items);
      for (const text of paragraphs) {
        sink.push({ kind: 'paragraph', text, headingPath: [], page: n });
      }
      if (textChars(paragraphs) < SCANNED_PAGE_MAX_CHARS && (await paintsImage(pdfjs, page))) scannedPages.push(n);
      page.cleanup();
    }
    const extra: { pages: number; title?: string } = { pages: doc.numPages };
    if (title !== undefined) extra.title = title;
    if (scannedPages.length === 0) return sink.finish(extra);
    // A scan has no text layer, and that is no failure: its text comes from the `ocr` stage.
    let parsed: ParsedDocument;
    try {
      parsed = sink.finish(extra);
    } catch (err) {
      if ((err as { code?: string }).code !== 'no_text') throw err;
      parsed = { blocks: [], ...extra };
    }
    return { ...parsed, scannedPages };
  } catch (err) {
    throw pdfError(err);
  } finally {
    await task.destroy().catch(() => undefined);
  }
}
