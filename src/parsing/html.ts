/**
 * HTML: visible text only, via htmlparser2's streaming Parser (no DOM is built, so deeply
 * nested or huge documents cost no more than their text). h1–h6 drive headingPath; block
 * elements end the current block; pre → 'code', li → 'list', each table → one 'table' block
 * with one "cell | cell" line per row. Also used for mammoth's DOCX output.
 */
import { Parser } from 'htmlparser2';
import type { ParsedBlock, ParsedDocument, ParseLimits } from '../domain/types.js';
import { BlockSink, HeadingTracker, cleanInline, cleanPreformatted, decodeUtf8, stripControls } from './common.js';

/** Elements whose content is never shown as text (head is handled too; its <title> is kept aside). */
const SKIP = new Set([
  'script', 'style', 'noscript', 'template', 'head', 'svg', 'math',
  'iframe', 'object', 'embed', 'canvas', 'select', 'textarea', 'datalist',
]);

/** Elements that start/end a block of text. */
const BLOCK = new Set([
  'address', 'article', 'aside', 'blockquote', 'body', 'caption', 'dd', 'details', 'dialog', 'div',
  'dl', 'dt', 'fieldset', 'figcaption', 'figure', 'footer', 'form', 'header', 'hgroup', 'hr', 'html',
  'legend', 'main', 'menu', 'nav', 'ol', 'p', 'section', 'summary', 'ul',
]);

const HEADING = /^h([1-6])$/;

/**
 * Elements open at once beyond which further ones are flattened. htmlparser2 keeps its open
 * elements in an array it `unshift`s and searches on every tag, so a million nested `<div>`s
 * cost quadratic time (11 MB: minutes). Real pages nest a few dozen deep.
 */
export const MAX_HTML_DEPTH = 256;

/**
 * The Parser with a depth cap: an element that would open past MAX_HTML_DEPTH is reported as a
 * void element (opened and closed at once, never pushed), so the parser's stack, and with it
 * the cost of every tag, stays bounded; its text is still read. End tags are matched as usual.
 */
class DepthCappedParser extends Parser {
  private closing = false;

  protected override isVoidElement(name: string): boolean {
    if (super.isVoidElement(name)) return true;
    // `stack` is private in the typings; it is the parser's list of open elements.
    return !this.closing && (this as unknown as { stack: string[] }).stack.length >= MAX_HTML_DEPTH;
  }

  override onclosetag(start: number, endIndex: number): void {
    this.closing = true;
    try {
      super.onclosetag(start, endIndex);
    } finally {
      this.closing = false;
    }
  }
}

export function parseHtml(html: string, limits: ParseLimits): ParsedDocument {
  const sink = new BlockSink(limits);
  const headings = new HeadingTracker();

  let skipDepth = 0;
  let inHead = false;
  let inTitle = false;
  let titleText = '';
  let title: string | undefined;

  let buf: string[] = [];
  let headingLevel = 0;
  let preDepth = 0;
  let liDepth = 0;

  // Only the outermost table is laid out in rows; nested tables flow into their cell's text.
  let tableDepth = 0;
  let rows: string[] = [];
  let row: string[] = [];
  let cell: string[] | null = null;

  const push = (block: ParsedBlock) => sink.push(block);

  const flushBlock = () => {
    if (headingLevel > 0) return; // a <div> inside <h2> does not split the heading
    const raw = buf.join('');
    buf = [];
    if (preDepth > 0) {
      push({ kind: 'code', text: cleanPreformatted(raw), headingPath: headings.path() });
    } else {
      push({ kind: liDepth > 0 ? 'list' : 'paragraph', text: cleanInline(raw), headingPath: headings.path() });
    }
  };

  const endCell = () => {
    if (cell !== null) {
      const text = cleanInline(cell.join(''));
      if (text.length > 0) row.push(text);
      cell = null;
    }
  };
  const endRow = () => {
    endCell();
    if (row.length > 0) rows.push(row.join(' | '));
    row = [];
  };

  const parser = new DepthCappedParser(
    {
      onopentag(name) {
        // <title> counts only at top level or directly in <head>, not inside <svg> and the like.
        if (name === 'title' && (skipDepth === 0 || (skipDepth === 1 && inHead))) {
          inTitle = true;
          titleText = '';
          return;
        }
        if (SKIP.has(name)) {
          if (name === 'head' && skipDepth === 0) inHead = true;
          skipDepth++;
          return;
        }
        if (skipDepth > 0) return;

        if (tableDepth > 0) {
          if (name === 'table') tableDepth++;
          else if (tableDepth === 1 && (name === 'td' || name === 'th')) {
            endCell();
            cell = [];
          } else if (tableDepth === 1 && name === 'tr') endRow();
          else cell?.push(' '); // block or inline boundary inside a cell: keep words apart
          return;
        }

        const h = HEADING.exec(name);
        if (h) {
          flushBlock();
          if (headingLevel === 0) headingLevel = Number(h[1]);
        } else if (name === 'pre') {
          flushBlock();
          preDepth++;
        } else if (name === 'li') {
          flushBlock();
          liDepth++;
        } else if (name === 'table') {
          flushBlock();
          tableDepth = 1;
          rows = [];
          row = [];
          cell = null;
        } else if (name === 'br') {
          buf.push('\n');
        } else if (BLOCK.has(name)) {
          flushBlock();
        }
      },

      ontext(data) {
        if (inTitle) {
          titleText += data;
          return;
        }
        if (skipDepth > 0) return;
        if (tableDepth > 0) {
          // Text between cells (e.g. a caption) still belongs to the table.
          if (cell === null) cell = [];
          cell.push(data);
          return;
        }
        buf.push(data);
      },

      onclosetag(name) {
        if (name === 'title' && inTitle) {
          inTitle = false;
          const t = cleanInline(titleText);
          if (title === undefined && t.length > 0) title = t;
          return;
        }
        if (SKIP.has(name)) {
          if (skipDepth > 0) skipDepth--;
          if (name === 'head' && skipDepth === 0) inHead = false;
          return;
        }
        if (skipDepth > 0) return;

        if (tableDepth > 0) {
          if (name === 'table') {
            tableDepth--;
            if (tableDepth === 0) {
              endRow();
              push({ kind: 'table', text: rows.join('\n'), headingPath: headings.path() });
              rows = [];
            }
          } else if (tableDepth === 1 && (name === 'td' || name === 'th')) endCell();
          else if (tableDepth === 1 && name === 'tr') endRow();
          else cell?.push(' ');
          return;
        }

        const h = HEADING.exec(name);
        if (h && headingLevel === Number(h[1])) {
          const text = cleanInline(buf.join(''));
          buf = [];
          const level = headingLevel;
          headingLevel = 0;
          if (text.length > 0) push({ kind: 'heading', text, headingPath: headings.enter(level, text), level });
        } else if (name === 'pre') {
          flushBlock();
          preDepth = Math.max(0, preDepth - 1);
        } else if (name === 'li') {
          flushBlock();
          liDepth = Math.max(0, liDepth - 1);
        } else if (BLOCK.has(name)) {
          flushBlock();
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: false },
  );

  parser.write(stripControls(html));
  parser.end();
  if (tableDepth > 0) {
    endRow();
    push({ kind: 'table', text: rows.join('\n'), headingPath: headings.path() });
  }
  headingLevel = 0;
  flushBlock();
  return sink.finish(title !== undefined ? { title } : {});
}

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  return parseHtml(decodeUtf8(bytes), limits);
}
