/**
 * Markdown via a line scanner (no markdown library is installed, and we only need structure,
 * not HTML): ATX and setext headings drive headingPath, fenced and indented code stay whole
 * as 'code', consecutive list items form one 'list' block, pipe tables one 'table' block.
 * Inline markup is stripped to its visible text.
 */
import type { ParsedBlock, ParsedDocument, ParseLimits } from '../domain/types.js';
import { BlockSink, HeadingTracker, cleanInline, cleanPreformatted, decodeUtf8, stripControls } from './common.js';

const FENCE_OPEN = /^( {0,3})(`{3,}|~{3,})(.*)$/;
// Greedy (.*) and trimming later: a lazy group before [ \t]*$ is quadratic on long lines.
const ATX = /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/;
const SETEXT_H1 = /^ {0,3}=+[ \t]*$/;
const SETEXT_H2 = /^ {0,3}-+[ \t]*$/;
const THEMATIC = /^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$/;
const LIST_ITEM = /^([ \t]*)([-*+]|\d{1,9}[.)])[ \t]+(.*)$/;
const BLOCKQUOTE = /^ {0,3}>[ \t]?/;
const INDENTED_CODE = /^(?: {4}|\t)/;
/** Tested on the trimmed line, so no two whitespace runs can compete (which would backtrack). */
const TABLE_DELIM = /^\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?$/;
const LINK_REF_DEF = /^ {0,3}\[[^\]]{1,999}\]:[ \t]*\S+/;
const BLANK = /^[ \t]*$/;

/** Remove <!-- comments --> with indexOf: linear even for a flood of unclosed openers. */
function stripComments(s: string): string {
  let out = '';
  let from = 0;
  for (;;) {
    const open = s.indexOf('<!--', from);
    if (open < 0) break;
    const close = s.indexOf('-->', open + 4);
    if (close < 0) break; // unclosed: keep the rest as text
    out += s.slice(from, open);
    from = close + 3;
  }
  return from === 0 ? s : out + s.slice(from);
}

/**
 * Visible text of inline markdown. Character classes exclude the opening delimiter (link text
 * cannot contain "[", destinations cannot contain "(" or spaces) and quantifiers are bounded, so
 * a hostile paragraph of unmatched brackets or asterisks stays linear. What does not match
 * (e.g. a URL with parentheses) is simply left as visible text.
 */
export function stripInline(s: string): string {
  return stripComments(s)
    .replace(/!\[([^[\]\n]{0,500})\]\([^()\s]{0,1000}(?:[ \t]+"[^"\n]{0,300}")?\)/g, '$1')
    .replace(/\[([^[\]\n]{1,500})\]\([^()\s]{0,1000}(?:[ \t]+"[^"\n]{0,300}")?\)/g, '$1')
    .replace(/\[([^[\]\n]{1,500})\]\[[^[\]\n]{0,500}\]/g, '$1')
    .replace(/<((?:https?|mailto):[^<>\s]{1,2000})>/g, '$1')
    .replace(/(`{1,3})([^`\n]{1,2000}?)\1/g, '$2')
    .replace(/<\/?[A-Za-z][^<>\n]{0,500}>/g, '')
    .replace(/(\*\*|__)(?=\S)([^\n]{1,1000}?)\1/g, '$2')
    .replace(/(^|[^\w*])\*(?=\S)([^*\n]{1,1000}?)\*(?![\w*])/g, '$1$2')
    .replace(/(^|[^\w])_(?=\S)([^_\n]{1,1000}?)_(?!\w)/g, '$1$2')
    .replace(/~~(?=\S)([^~\n]{1,1000}?)~~/g, '$1')
    .replace(/\\([!-/:-@[-`{-~])/g, '$1');
}

function atxTitle(raw: string | undefined): string {
  // A closing sequence of #s is decoration, not part of the title.
  const t = (raw ?? '').trim().replace(/(?:^|[ \t])#+$/, '');
  return cleanInline(stripInline(t));
}

function tableCells(line: string): string {
  let row = line.trim();
  if (row.startsWith('|')) row = row.slice(1);
  if (row.endsWith('|') && !row.endsWith('\\|')) row = row.slice(0, -1);
  return row
    .split(/(?<!\\)\|/)
    .map((c) => cleanInline(stripInline(c)))
    .join(' | ');
}

/** Lines of YAML front matter at the top of the file, which are metadata, not prose. */
function frontMatterEnd(lines: string[]): number {
  if (lines[0]?.trim() !== '---') return 0;
  const limit = Math.min(lines.length, 500);
  for (let i = 1; i < limit; i++) {
    const l = lines[i]!.trim();
    if (l === '---' || l === '...') return i + 1;
  }
  return 0;
}

export async function parse(bytes: Uint8Array, limits: ParseLimits): Promise<ParsedDocument> {
  const lines = stripControls(decodeUtf8(bytes)).split('\n');
  const sink = new BlockSink(limits);
  const headings = new HeadingTracker();
  let title: string | undefined;

  let para: string[] = [];
  let list: { indent: number; marker: string; text: string }[] = [];
  let listSawBlank = false;
  let table: string[] = [];

  const emit = (kind: ParsedBlock['kind'], text: string) =>
    sink.push({ kind, text, headingPath: headings.path() });

  const flushPara = () => {
    if (para.length > 0) emit('paragraph', cleanInline(stripInline(para.join('\n'))));
    para = [];
  };
  const flushList = () => {
    if (list.length > 0) {
      const base = Math.min(...list.map((it) => it.indent));
      const text = list
        .map((it) => {
          const depth = Math.min(Math.floor((it.indent - base) / 2), 8);
          return `${'  '.repeat(depth)}${it.marker} ${cleanInline(stripInline(it.text))}`;
        })
        .join('\n');
      emit('list', text);
    }
    list = [];
    listSawBlank = false;
  };
  const flushTable = () => {
    if (table.length > 0) emit('table', table.filter((r) => r.replace(/[ |]/g, '').length > 0).join('\n'));
    table = [];
  };
  const flushAll = () => {
    flushPara();
    flushList();
    flushTable();
  };

  let i = frontMatterEnd(lines);
  while (i < lines.length) {
    const line = lines[i]!;

    // Fenced code: everything up to the matching fence (or EOF) is one block, verbatim.
    const fence = FENCE_OPEN.exec(line);
    if (fence && !(fence[2]!.startsWith('`') && fence[3]!.includes('`'))) {
      flushAll();
      const indent = fence[1]!.length;
      const marker = fence[2]!;
      const closing = new RegExp(`^ {0,3}${marker[0] === '`' ? '`' : '~'}{${marker.length},}[ \\t]*$`);
      const dedent = new RegExp(`^ {0,${indent}}`);
      const code: string[] = [];
      i++;
      while (i < lines.length && !closing.test(lines[i]!)) {
        code.push(lines[i]!.replace(dedent, ''));
        i++;
      }
      i++; // skip the closing fence (or step past EOF)
      emit('code', cleanPreformatted(code.join('\n')));
      continue;
    }

    if (BLANK.test(line)) {
      flushPara();
      flushTable();
      if (list.length > 0) listSawBlank = true;
      i++;
      continue;
    }

    const atx = ATX.exec(line);
    if (atx) {
      flushAll();
      const level = atx[1]!.length;
      const text = atxTitle(atx[2]);
      if (text.length > 0) {
        const path = headings.enter(level, text);
        if (level === 1 && title === undefined) title = text;
        sink.push({ kind: 'heading', text, headingPath: path, level });
      }
      i++;
      continue;
    }

    // Setext underline turns the paragraph collected so far into a heading.
    if (para.length > 0 && (SETEXT_H1.test(line) || SETEXT_H2.test(line))) {
      const level = SETEXT_H1.test(line) ? 1 : 2;
      const text = cleanInline(stripInline(para.join(' ')));
      para = [];
      if (text.length > 0) {
        const path = headings.enter(level, text);
        if (level === 1 && title === undefined) title = text;
        sink.push({ kind: 'heading', text, headingPath: path, level });
      }
      i++;
      continue;
    }

    if (THEMATIC.test(line)) {
      flushAll();
      i++;
      continue;
    }

    const item = LIST_ITEM.exec(line);
    if (item && (para.length === 0 || list.length > 0 || item[1]!.length === 0)) {
      flushPara();
      flushTable();
      const indent = item[1]!.replace(/\t/g, '    ').length;
      const marker = /^\d/.test(item[2]!) ? item[2]! : '-';
      list.push({ indent, marker, text: item[3]! });
      listSawBlank = false;
      i++;
      continue;
    }
    if (list.length > 0) {
      // Indented lines continue the last item; so does a lazy line right after it.
      if (/^[ \t]/.test(line) || !listSawBlank) {
        const last = list[list.length - 1]!;
        last.text += ' ' + line.trim();
        i++;
        continue;
      }
      flushList();
    }

    if (LINK_REF_DEF.test(line) && para.length === 0) {
      i++;
      continue;
    }

    // Pipe table: a row followed by a delimiter row starts it; rows continue while they have pipes.
    if (table.length > 0 && line.includes('|')) {
      table.push(tableCells(line));
      i++;
      continue;
    }
    if (line.includes('|') && para.length === 0 && TABLE_DELIM.test((lines[i + 1] ?? '').trim()) && lines[i + 1]!.includes('-')) {
      flushTable();
      table.push(tableCells(line));
      i += 2;
      continue;
    }
    flushTable();

    if (para.length === 0 && INDENTED_CODE.test(line)) {
      const code: string[] = [];
      while (i < lines.length && (INDENTED_CODE.test(lines[i]!) || BLANK.test(lines[i]!))) {
        code.push(lines[i]!.replace(/^(?: {4}|\t)/, ''));
        i++;
      }
      emit('code', cleanPreformatted(code.join('\n')));
      continue;
    }

    // Blockquote markers are decoration; the quoted text is ordinary paragraph text.
    para.push(BLOCKQUOTE.test(line) ? line.replace(/^(?: {0,3}>[ \t]?)+/, '') : line);
    i++;
  }
  flushAll();
  return sink.finish(title !== undefined ? { title } : {});
}
