/**
 * Plain text: paragraphs are separated by blank lines. Line breaks inside a paragraph are
 * usually hard wrapping, so they collapse to spaces (keeps sentences whole for the chunker).
 */
import type { ParsedDocument, ParseLimits } from '../domain/types.js';
import { BlockSink, cleanInline, decodeUtf8, stripControls } from './common.js';

/** A blank line (spaces and tabs allowed) between paragraphs. */
export const PARAGRAPH_BREAK = /\n[ \t]*\n/g;

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const text = stripControls(decodeUtf8(bytes));
  const sink = new BlockSink(limits);
  for (const para of text.split(PARAGRAPH_BREAK)) {
    sink.push({ kind: 'paragraph', text: cleanInline(para), headingPath: [] });
  }
  return sink.finish();
}
