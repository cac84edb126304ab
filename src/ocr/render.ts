/**
 * Turns one page of a document into a PNG for an OCR engine: a PDF page rendered by pdf.js onto
 * an @napi-rs/canvas (0.1.x: the 1.x line crashes rendering on Node 20 here), or an image file
 * decoded and re-encoded. Both check the page's pixel count BEFORE decoding or painting, so a
 * decompression bomb or a poster-sized page fails with a clear error instead of eating memory.
 * Runs in an OCR worker thread, never on the event loop.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { PermanentError, isPermanent } from '../domain/errors.js';
import { loadPdfJs, safePdfOptions } from '../parsing/pdf.js';

export interface RenderLimits {
  /** Rendering resolution for PDF pages (72 = the page's own size in points). */
  dpi: number;
  /** Largest page, in pixels (width × height), rendered or decoded. */
  maxPixels: number;
}

export interface RenderedPage {
  png: Uint8Array;
  width: number;
  height: number;
}

const require = createRequire(import.meta.url);

function tooLarge(width: number, height: number, limits: RenderLimits, what: string): PermanentError {
  return new PermanentError(
    `${what} is ${width}×${height} = ${width * height} pixels, more than the OCR limit of ${limits.maxPixels} (RAGD_OCR_MAX_PIXELS)`,
    'image_too_large',
  );
}

/** BMP is the one supported format sharp (libvips) cannot decode: its header is read here, Skia decodes it. */
function bmpSize(bytes: Uint8Array): { width: number; height: number } | null {
  if (bytes.length < 26 || bytes[0] !== 0x42 || bytes[1] !== 0x4d) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: Math.abs(view.getInt32(18, true)), height: Math.abs(view.getInt32(22, true)) };
}

export async function renderImage(bytes: Uint8Array, limits: RenderLimits): Promise<RenderedPage> {
  try {
    const bmp = bmpSize(bytes);
    if (bmp) {
      if (bmp.width * bmp.height > limits.maxPixels) throw tooLarge(bmp.width, bmp.height, limits, 'the image');
      const { loadImage, createCanvas } = await import('@napi-rs/canvas');
      const img = await loadImage(Buffer.from(bytes));
      const canvas = createCanvas(img.width, img.height);
      const ctx = canvas.getContext('2d');
      ctx.fillStyle = '#ffffff';
      ctx.fillRect(0, 0, img.width, img.height);
      ctx.drawImage(img, 0, 0);
      return { png: canvas.toBuffer('image/png'), width: img.width, height: img.height };
    }
    const sharp = (await import('sharp')).default;
    // limitInputPixels is checked against the header, before any pixel is decoded.
    const meta = await sharp(bytes, { limitInputPixels: false }).metadata();
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if (width * height > limits.maxPixels) throw tooLarge(width, height, limits, 'the image');
    const { data, info } = await sharp(bytes, { limitInputPixels: limits.maxPixels, failOn: 'error' })
      .rotate() // photos: honour the EXIF orientation
      .flatten({ background: '#ffffff' })
      .png({ compressionLevel: 1 })
      .toBuffer({ resolveWithObject: true });
    return { png: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (err) {
    if (isPermanent(err)) throw err;
    // Decoding is a deterministic function of the bytes: retrying cannot help.
    throw new PermanentError(`corrupt or unreadable image: ${String((err as Error)?.message ?? err).replace(/\.$/, '')}`, 'corrupt_image');
  }
}

let standardFonts: string | undefined;
function standardFontDataUrl(): string {
  standardFonts ??= join(dirname(require.resolve('pdfjs-dist/package.json')), 'standard_fonts') + '/';
  return standardFonts;
}

type LoadingTask = ReturnType<Awaited<ReturnType<typeof loadPdfJs>>['getDocument']>;

/**
 * The PDF the thread rendered last, kept open: a scan's pages come one task at a time, and
 * reading and parsing a 100 MB file for each of its 200 pages would cost more than the OCR.
 * A different file closes it.
 */
let open: { key: string; task: LoadingTask } | null = null;

async function openPdf(key: string, load: () => Uint8Array): Promise<LoadingTask> {
  if (open?.key === key) return open.task;
  await closePdf();
  const pdfjs = await loadPdfJs();
  const task = pdfjs.getDocument({ ...safePdfOptions(new Uint8Array(load())), standardFontDataUrl: standardFontDataUrl() });
  open = { key, task };
  return task;
}

export async function closePdf(): Promise<void> {
  const task = open?.task;
  open = null;
  await task?.destroy().catch(() => undefined);
}

/**
 * Renders page `pageNumber` (1-based) of the PDF at `limits.dpi`, white background. `key` names
 * the file (its path): the same key means the same bytes, which `load` reads only when needed.
 */
export async function renderPdfPage(key: string, load: () => Uint8Array, pageNumber: number, limits: RenderLimits): Promise<RenderedPage> {
  try {
    const doc = await (await openPdf(key, load)).promise;
    if (pageNumber < 1 || pageNumber > doc.numPages) throw new PermanentError(`the PDF has no page ${pageNumber}`, 'corrupt_pdf');
    const page = await doc.getPage(pageNumber);
    const viewport = page.getViewport({ scale: limits.dpi / 72 });
    const width = Math.ceil(viewport.width);
    const height = Math.ceil(viewport.height);
    if (width * height > limits.maxPixels) throw tooLarge(width, height, limits, `page ${pageNumber} at ${limits.dpi} dpi`);
    const { createCanvas } = await import('@napi-rs/canvas');
    const canvas = createCanvas(width, height);
    const ctx = canvas.getContext('2d');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, width, height);
    await page.render({ canvas: canvas as never, canvasContext: ctx as never, viewport }).promise;
    page.cleanup();
    return { png: canvas.toBuffer('image/png'), width, height };
  } catch (err) {
    if (isPermanent(err)) throw err;
    await closePdf(); // a broken document is not kept
    throw new PermanentError(`page ${pageNumber} could not be rendered: ${String((err as Error)?.message ?? err)}`, 'corrupt_pdf');
  }
}
