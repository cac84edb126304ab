/**
 * Builders for sample documents, made at test time so the repo holds no binary fixtures.
 * Other test suites import these: keep the signatures stable.
 */
import { constants as zlibConstants, crc32 as zlibCrc32, deflateRawSync } from 'node:zlib';
import { zipSync, strToU8 } from 'fflate';
import { PDFDocument, PDFName, PDFString, StandardFonts } from 'pdf-lib';

const enc = new TextEncoder();
export const utf8 = (s: string): Uint8Array => enc.encode(s);

// ---------------------------------------------------------------------------------------------
// PDF

export interface MakePdfOptions {
  title?: string;
  fontSize?: number;
}

/**
 * A real PDF: `pages[i]` is the list of paragraphs on page i+1, drawn with Helvetica. Long
 * paragraphs wrap onto several lines; paragraphs are separated by an extra blank line.
 */
export async function makePdf(pages: string[][], opts: MakePdfOptions = {}): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  if (opts.title !== undefined) doc.setTitle(opts.title);
  const font = await doc.embedFont(StandardFonts.Helvetica);
  const size = opts.fontSize ?? 12;
  const lineHeight = size * 1.25;
  for (const paragraphs of pages) {
    const page = doc.addPage([595, 842]); // A4 in points
    let y = 842 - 72;
    for (const para of paragraphs) {
      const lines = wrap(para, (s) => font.widthOfTextAtSize(s, size), 595 - 144);
      for (const line of lines) {
        page.drawText(line, { x: 72, y, size, font });
        y -= lineHeight;
      }
      y -= lineHeight; // blank line between paragraphs
    }
  }
  return doc.save();
}

function wrap(text: string, width: (s: string) => number, max: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const candidate = line === '' ? word : `${line} ${word}`;
    if (line !== '' && width(candidate) > max) {
      out.push(line);
      line = word;
    } else {
      line = candidate;
    }
  }
  if (line !== '') out.push(line);
  return out;
}

/** Starts like a PDF but the rest is garbage: pdfjs must reject it, not hang. */
export function makeCorruptPdf(): Uint8Array {
  const junk = Array.from({ length: 400 }, (_, i) => String.fromCharCode(33 + ((i * 7919) % 90))).join('');
  return utf8(`%PDF-1.7\n%\u00e2\u00e3\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R\n${junk}\nstartxref\n999999\n%%EOF\n`);
}

/** The first `fraction` of a real PDF: no xref table, no trailer, objects cut mid-stream. */
export async function makeTruncatedPdf(fraction = 0.5): Promise<Uint8Array> {
  const full = await makePdf([['Truncated document first page.'], ['Second page text.']]);
  return full.slice(0, Math.floor(full.length * fraction));
}

// ---------------------------------------------------------------------------------------------
// DOCX

export interface DocxParagraph {
  style?: 'Heading1' | 'Heading2';
  text: string;
}

const xmlEscape = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const W_NS = 'http://schemas.openxmlformats.org/wordprocessingml/2006/main';

/** The OOXML parts of a minimal, valid DOCX (what Word itself needs, not just mammoth). */
export function docxParts(paragraphs: DocxParagraph[]): Record<string, Uint8Array> {
  const body = paragraphs
    .map((p) => {
      const pPr = p.style ? `<w:pPr><w:pStyle w:val="${p.style}"/></w:pPr>` : '';
      return `<w:p>${pPr}<w:r><w:t xml:space="preserve">${xmlEscape(p.text)}</w:t></w:r></w:p>`;
    })
    .join('');
  return {
    '[Content_Types].xml': strToU8(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>' +
        '<Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
        '<Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/>' +
        '</Types>',
    ),
    '_rels/.rels': strToU8(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/>' +
        '</Relationships>',
    ),
    'word/_rels/document.xml.rels': strToU8(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>' +
        '</Relationships>',
    ),
    'word/styles.xml': strToU8(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
        `<w:styles xmlns:w="${W_NS}">` +
        '<w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style>' +
        '<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style>' +
        '<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:basedOn w:val="Normal"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>' +
        '</w:styles>',
    ),
    'word/document.xml': strToU8(
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
        `<w:document xmlns:w="${W_NS}"><w:body>${body}<w:sectPr/></w:body></w:document>`,
    ),
  };
}

/** A real DOCX that mammoth (and Word) can read. */
export function makeDocx(paragraphs: DocxParagraph[]): Uint8Array {
  return zipSync(docxParts(paragraphs), { level: 6 });
}

/**
 * Raw deflate of `repeat` copies of `chunk`, without ever holding the inflated data: the chunk
 * is compressed once with a sync flush (so its blocks end byte-aligned and are non-final),
 * repeated, and closed with an empty final block (fixed Huffman, just end-of-block: 03 00).
 */
function deflateRepeated(chunk: Uint8Array, repeat: number): { data: Uint8Array; crc: number; size: number } {
  const piece = deflateRawSync(chunk, { level: 9, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const parts: Uint8Array[] = [];
  let crc = 0;
  for (let i = 0; i < repeat; i++) {
    parts.push(piece);
    crc = zlibCrc32(chunk, crc);
  }
  parts.push(new Uint8Array([0x03, 0x00]));
  return { data: concat(parts), crc, size: chunk.length * repeat };
}

function deflatedEntries(parts: Record<string, Uint8Array>): RawZipEntry[] {
  return Object.entries(parts).map(([name, data]) => ({
    name,
    method: 8,
    data: deflateRawSync(data),
    crc: zlibCrc32(data),
    uncompressedSize: data.length,
  }));
}

/**
 * A valid DOCX plus `word/media/zeros.bin`: `megabytes` MiB of zeros (~1000:1 deflated,
 * honest headers). Making it never allocates the inflated size.
 */
export function makeZipBombDocx(megabytes = 200): Uint8Array {
  const entries = deflatedEntries(docxParts([{ text: 'Looks innocent.' }]));
  const bomb = deflateRepeated(new Uint8Array(1024 * 1024), megabytes);
  entries.push({ name: 'word/media/zeros.bin', method: 8, data: bomb.data, crc: bomb.crc, uncompressedSize: bomb.size });
  return rawZip(entries);
}

/**
 * A DOCX whose word/document.xml *claims* (in both local and central headers) to be 4 KiB but
 * actually inflates to `megabytes` MiB of spaces. Defeats any check that trusts declared sizes.
 */
export function makeLyingZipBombDocx(megabytes = 64): Uint8Array {
  const entries = deflatedEntries(docxParts([{ text: 'Nothing to see here.' }]));
  const bomb = deflateRepeated(new Uint8Array(1024 * 1024).fill(0x20), megabytes);
  const doc = entries.find((e) => e.name === 'word/document.xml')!;
  Object.assign(doc, { data: bomb.data, crc: bomb.crc, uncompressedSize: 4096 });
  return rawZip(entries);
}

export interface RawZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  /** Already compressed with `method`. */
  data: Uint8Array;
  crc: number;
  /** What the headers declare; may be a lie. */
  uncompressedSize: number;
}

/** Assemble a zip by hand, trusting the caller's headers (lets tests write lying archives). */
export function rawZip(entries: RawZipEntry[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = strToU8(e.name);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, e.method, true);
    lv.setUint32(14, e.crc >>> 0, true);
    lv.setUint32(18, e.data.length, true);
    lv.setUint32(22, e.uncompressedSize, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);

    const cd = new Uint8Array(46 + name.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, e.method, true);
    cv.setUint32(16, e.crc >>> 0, true);
    cv.setUint32(20, e.data.length, true);
    cv.setUint32(24, e.uncompressedSize, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    cd.set(name, 46);

    chunks.push(local, e.data);
    central.push(cd);
    offset += local.length + e.data.length;
  }
  const cdBytes = concat(central);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdBytes.length, true);
  ev.setUint32(16, offset, true);
  return concat([...chunks, cdBytes, eocd]);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Misc

export function makeEmptyFile(): Uint8Array {
  return new Uint8Array(0);
}

/** The first bytes of a real PNG (signature + IHDR), e.g. to name it `.pdf`. */
export function makePng(): Uint8Array {
  return new Uint8Array([
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
  ]);
}

/** Latin-1 "café" etc.: not valid UTF-8. */
export function makeInvalidUtf8(): Uint8Array {
  return new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x20, 0x61, 0x75, 0x20, 0x6c, 0x61, 0x69, 0x74, 0x0a, 0xff, 0xfe]);
}

export const HTML_WITH_SCRIPT = `<!DOCTYPE html>
<html><head><title>Solar Guide</title>
<style>body { color: red; } .secret { display: none }</style>
<script>var tracking = "SHOULD_NOT_APPEAR"; document.write('<p>nope</p>');</script>
</head>
<body>
<noscript>Enable JavaScript SHOULD_NOT_APPEAR</noscript>
<h1>Solar Panels</h1>
<p>Solar panels convert <b>sunlight</b> into electricity &amp; heat.</p>
<h2>Installation</h2>
<p>Mount the panels facing south.</p>
<ul><li>Check the roof angle.</li><li>Use stainless bolts.</li></ul>
<h2>Maintenance</h2>
<table><tr><th>Task</th><th>Interval</th></tr><tr><td>Clean glass</td><td>Monthly</td></tr></table>
<pre>inverter --status
  ok</pre>
<template><p>SHOULD_NOT_APPEAR template</p></template>
</body></html>`;

export const MARKDOWN_NESTED = `---
title: front matter SHOULD_NOT_APPEAR
---
# Guide

Intro paragraph with a [link](https://example.com) and **bold** text.

## Setup

Install the *tool* first.

### Linux

Use the package manager.

\`\`\`bash
# not a heading
apt-get install tool

echo done
\`\`\`

- first item
- second item
  - nested item

Usage
-----

Run \`tool --help\`.

| Flag | Meaning |
|------|---------|
| -v   | verbose |

# Appendix

Final words.
`;

export const CSV_SAMPLE = `name,age,city
Alice,30,Paris
Bob,25,"Berlin, Germany"
Carol,,Rome
`;

export const JSON_SAMPLE = JSON.stringify({
  title: 'Inventory',
  owner: { name: 'Dana', email: 'dana@example.com' },
  items: [
    { sku: 'A-1', qty: 3, tags: ['red', 'small'] },
    { sku: 'B-2', qty: 0, active: false },
  ],
});

export const JSONL_SAMPLE = `{"id": 1, "text": "first record"}
{"id": 2, "text": "second record", "meta": {"lang": "en"}}

{"id": 3, "text": "third record"}
`;

/**
 * A PDF whose text layer is Chinese (or any BMP text): each page's paragraphs are drawn, one
 * line per paragraph, with the non-embedded CJK font STSong-Light through the predefined CMap
 * UniGB-UCS2-H (UCS-2 codes), as Chinese office software writes them. No font file is needed:
 * readers map the codes back to Unicode with the predefined CMaps, which is what text
 * extraction must get right.
 */
export async function makeCjkPdf(pages: string[][]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const ctx = doc.context;
  const descendant = ctx.register(
    ctx.obj({
      Type: 'Font',
      Subtype: 'CIDFontType0',
      BaseFont: 'STSong-Light',
      CIDSystemInfo: { Registry: PDFString.of('Adobe'), Ordering: PDFString.of('GB1'), Supplement: 4 },
      FontDescriptor: ctx.register(
        ctx.obj({ Type: 'FontDescriptor', FontName: 'STSong-Light', Flags: 6, FontBBox: [-25, -254, 1000, 880], ItalicAngle: 0, Ascent: 880, Descent: -120, CapHeight: 880, StemV: 93 }),
      ),
      DW: 1000,
    }),
  );
  const font = ctx.register(
    ctx.obj({ Type: 'Font', Subtype: 'Type0', BaseFont: 'STSong-Light', Encoding: 'UniGB-UCS2-H', DescendantFonts: [descendant] }),
  );
  const hex = (s: string) =>
    Array.from(s)
      .map((ch) => ch.charCodeAt(0).toString(16).padStart(4, '0'))
      .join('');
  for (const paragraphs of pages) {
    const page = doc.addPage([595, 842]);
    page.node.setFontDictionary(PDFName.of('F1'), font);
    let y = 842 - 72;
    const ops = paragraphs.map((p) => {
      const line = `BT /F1 12 Tf 72 ${y} Td <${hex(p)}> Tj ET`;
      y -= 30;
      return line;
    });
    page.node.addContentStream(ctx.register(ctx.flateStream(ops.join('\n'))));
  }
  return doc.save();
}

/**
 * A valid DOCX whose word/document.xml is `megabytes` MiB of ordinary paragraphs (varied words,
 * ~4:1 deflated: within every ratio limit), as a hostile tenant would send to balloon mammoth.
 * Built from one deflated chunk repeated, so making it is cheap.
 */
export function makeBalloonDocx(megabytes = 80): Uint8Array {
  const words = ['otter', 'river', 'stone', 'kelp', 'tide', 'shell', 'harbour', 'current', '水獭', '河流'];
  let text = '';
  for (let i = 0; text.length < 1024 * 1024 - 200; i++) text += `<w:p><w:r><w:t>${words[i % 10]} ${i} ${words[(i * 7) % 10]}</w:t></w:r></w:p>`;
  const pieces = [
    utf8(`<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="${W_NS}"><w:body>`),
    ...Array.from({ length: megabytes }, () => utf8(text)),
    utf8('<w:sectPr/></w:body></w:document>'),
  ];
  const chunk = deflateRawSync(pieces[1]!, { level: 1, finishFlush: zlibConstants.Z_SYNC_FLUSH });
  const parts: Uint8Array[] = [];
  let crc = 0;
  let size = 0;
  pieces.forEach((p, i) => {
    parts.push(i === 0 || i === pieces.length - 1 ? deflateRawSync(p, { finishFlush: zlibConstants.Z_SYNC_FLUSH }) : chunk);
    crc = zlibCrc32(p, crc);
    size += p.length;
  });
  parts.push(new Uint8Array([0x03, 0x00]));
  const entries = deflatedEntries(docxParts([{ text: 'placeholder' }])).filter((e) => e.name !== 'word/document.xml');
  entries.push({ name: 'word/document.xml', method: 8, data: concat(parts), crc, uncompressedSize: size });
  return rawZip(entries);
}
