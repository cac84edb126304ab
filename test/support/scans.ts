import { existsSync } from 'node:fs';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import { PDFDocument, StandardFonts } from 'pdf-lib';

/**
 * Scans made by the tests themselves: known text, English or Chinese, drawn onto a white image
 * (PNG, or JPEG) or into an image-only PDF page, the way a scanner would deliver it. Chinese needs
 * a CJK font: .ci/run installs Debian's fonts-wqy-zenhei when it is missing.
 */
const CJK_FONTS = ['/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc', '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc'];
let family: string | null = null;

function font(): string {
  if (family) return family;
  const path = CJK_FONTS.find((p) => existsSync(p));
  if (!path) throw new Error(`no CJK font found (${CJK_FONTS.join(', ')}): apt-get install fonts-wqy-zenhei`);
  GlobalFonts.registerFromPath(path, 'ScanFont');
  return (family = 'ScanFont');
}

/** Lines of text on white, `px` high each, as PNG (default) or JPEG bytes. */
export function scanImage(lines: string[], opts: { width?: number; px?: number; format?: 'png' | 'jpeg' } = {}): Uint8Array {
  const px = opts.px ?? 32;
  const width = opts.width ?? 900;
  const height = Math.round(px * 1.8 * lines.length + px * 2);
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = '#000000';
  ctx.font = `${px}px ${font()}`;
  lines.forEach((line, i) => ctx.fillText(line, px, px * 1.6 + i * px * 1.8));
  return opts.format === 'jpeg' ? canvas.toBuffer('image/jpeg', 92) : canvas.toBuffer('image/png');
}

/** A PDF whose pages are either real text (a text layer) or a scan (one image, no text). */
export async function scanPdf(pages: ({ text: string } | { scan: string[] })[]): Promise<Uint8Array> {
  const pdf = await PDFDocument.create();
  const helvetica = await pdf.embedFont(StandardFonts.Helvetica);
  for (const p of pages) {
    if ('text' in p) {
      const page = pdf.addPage([420, 200]);
      page.drawText(p.text, { x: 20, y: 150, size: 12, font: helvetica });
    } else {
      // 900 px wide on a 420 pt page: ~150 dpi, what an office scanner delivers.
      const png = await pdf.embedPng(scanImage(p.scan));
      const page = pdf.addPage([420, (420 * png.height) / png.width]);
      page.drawImage(png, { x: 0, y: 0, width: 420, height: (420 * png.height) / png.width });
    }
  }
  return pdf.save();
}
