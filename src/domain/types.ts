/**
 * Domain vocabulary shared by every layer. Nothing here does I/O.
 */

/** Every row, file, job, cache key and event is scoped to a tenant and a knowledge base. */
export interface Scope {
  tenantId: string;
  kbId: string;
}

/** The document formats ragd can parse. The value is also the parser's name. */
export type DocType = 'text' | 'markdown' | 'html' | 'pdf' | 'docx' | 'csv' | 'json' | 'image';

export const SUPPORTED_TYPES: readonly DocType[] = ['text', 'markdown', 'html', 'pdf', 'docx', 'csv', 'json', 'image'];

/** The file extensions accepted for each type (used in 415 messages and sniffing). */
export const EXTENSIONS: Readonly<Record<DocType, readonly string[]>> = {
  text: ['.txt', '.text', '.log'],
  markdown: ['.md', '.markdown'],
  html: ['.html', '.htm'],
  pdf: ['.pdf'],
  docx: ['.docx'],
  csv: ['.csv'],
  json: ['.json', '.jsonl', '.ndjson'],
  /** Scans and photos: their text comes from OCR (the `ocr` stage). */
  image: ['.png', '.jpg', '.jpeg', '.tif', '.tiff', '.webp', '.bmp'],
};

export type PipelineStage = 'parse' | 'ocr' | 'chunk' | 'embed' | 'index';
export const STAGES: readonly PipelineStage[] = ['parse', 'ocr', 'chunk', 'embed', 'index'];

export type DocumentStatus = 'queued' | 'parsing' | 'recognizing' | 'chunking' | 'embedding' | 'indexing' | 'ready' | 'failed';

/**
 * When a document is OCR'd: `auto` reads image files and the PDF pages that have (almost) no text
 * layer but paint an image; `force` reads every page; `off` never OCRs.
 */
export type OcrMode = 'off' | 'auto' | 'force';
export const OCR_MODES: readonly OcrMode[] = ['off', 'auto', 'force'];

/** What a document records about its OCR: the mode it was uploaded with, and what was read how. */
export interface DocumentOcr {
  mode: OcrMode;
  /** The engine that read the pages (e.g. `paddle`, `vision:qwen2.5-vl`), once any page was OCR'd. */
  engine?: string;
  /** 1-based pages whose text came from OCR. */
  pages?: number[];
}
export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type TaskKind = 'ingest' | 'retrieve';

/** The document status shown while a stage is running. */
export const STAGE_STATUS: Readonly<Record<PipelineStage, DocumentStatus>> = {
  parse: 'parsing',
  ocr: 'recognizing',
  chunk: 'chunking',
  embed: 'embedding',
  index: 'indexing',
};

/** One structural unit a parser found: a heading, a paragraph, a table row block … */
export interface ParsedBlock {
  kind: 'heading' | 'paragraph' | 'list' | 'table' | 'code';
  text: string;
  /** Titles of the enclosing sections, outermost first (a heading's own path includes itself). */
  headingPath: string[];
  /** 1-based page number, for paged formats (PDF). */
  page?: number;
  /** Heading level 1-6, for kind === 'heading'. */
  level?: number;
}

export interface ParsedDocument {
  blocks: ParsedBlock[];
  /** Number of pages, for paged formats. */
  pages?: number;
  title?: string;
  /** Pages (1-based) with (almost) no text layer that paint an image: OCR'd in `auto` mode. */
  scannedPages?: number[];
  /** Set by the `ocr` stage: the engine, and each OCR'd page's confidence (0-1), by page number. */
  ocr?: { engine: string; confidence: Record<number, number> };
}

/** A chunk as the chunker produces it, before it has an id or a vector. */
export interface ChunkDraft {
  ordinal: number;
  text: string;
  tokenCount: number;
  headingPath: string[];
  /** First page the chunk's text comes from, or null when the format has no pages. */
  page: number | null;
  /** The OCR engine's confidence (0-1) when the chunk's text was read from an image; else absent. */
  ocrConfidence?: number;
}

export interface ChunkingOptions {
  /** Target chunk size in tokens (cl100k/o200k BPE via gpt-tokenizer). */
  chunkTokens: number;
  /** Tokens repeated from the end of one chunk at the start of the next. */
  overlapTokens: number;
}

/** Limits that protect the parsers from hostile input. */
export interface ParseLimits {
  /** Largest total uncompressed size of a DOCX (zip) archive. */
  maxUnzippedBytes: number;
  /** Largest uncompressed/compressed ratio of any zip entry. */
  maxZipRatio: number;
  /** Most pages read from a PDF; more fails the document. */
  maxPdfPages: number;
  /** Most characters of extracted text. */
  maxTextChars: number;
  /**
   * Largest total uncompressed size of a DOCX's XML parts: mammoth builds a tree many times
   * their size, so these are bounded well below the archive's total (media is never parsed).
   */
  maxDocxXmlBytes: number;
}

export interface DocumentView {
  id: string;
  kb: string;
  name: string;
  type: DocType;
  status: DocumentStatus;
  stage: PipelineStage | null;
  progress: { done: number; total: number };
  error: string | null;
  chunks: number;
  bytes: number;
  content_hash: string;
  metadata: Record<string, unknown>;
  /** The OCR mode, and which pages were OCR'd with which engine. */
  ocr: DocumentOcr;
  task_id: string;
  created_at: string;
  updated_at: string;
}

export interface TaskView {
  id: string;
  kind: TaskKind;
  kb: string;
  status: TaskStatus;
  stage: PipelineStage | null;
  progress: { done: number; total: number };
  error: string | null;
  document_id: string | null;
  result: unknown;
  created_at: string;
  updated_at: string;
  /** Monotonic per task: lets SSE skip events older than the snapshot it sent first. */
  version: number;
}

/** What the event bus carries: every task state change. */
export interface TaskEvent {
  tenantId: string;
  kbId: string;
  task: TaskView;
}
