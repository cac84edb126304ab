/**
 * Domain vocabulary shared by every layer. Nothing here does I/O.
 */

/** Every row, file, job, cache key and event is scoped to a tenant and a knowledge base. */
export interface Scope {
  tenantId: string;
  kbId: string;
}

/** The document formats ragd can parse. The value is also the parser's name. */
export type DocType = 'text' | 'markdown' | 'html' | 'pdf' | 'docx' | 'csv' | 'json';

export const SUPPORTED_TYPES: readonly DocType[] = ['text', 'markdown', 'html', 'pdf', 'docx', 'csv', 'json'];

/** The file extensions accepted for each type (used in 415 messages and sniffing). */
export const EXTENSIONS: Readonly<Record<DocType, readonly string[]>> = {
  text: ['.txt', '.text', '.log'],
  markdown: ['.md', '.markdown'],
  html: ['.html', '.htm'],
  pdf: ['.pdf'],
  docx: ['.docx'],
  csv: ['.csv'],
  json: ['.json', '.jsonl'],
};

export type PipelineStage = 'parse' | 'chunk' | 'embed' | 'index';
export const STAGES: readonly PipelineStage[] = ['parse', 'chunk', 'embed', 'index'];

export type DocumentStatus = 'queued' | 'parsing' | 'chunking' | 'embedding' | 'indexing' | 'ready' | 'failed';
export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed';
export type TaskKind = 'ingest' | 'retrieve';

/** The document status shown while a stage is running. */
export const STAGE_STATUS: Readonly<Record<PipelineStage, DocumentStatus>> = {
  parse: 'parsing',
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
}

/** A chunk as the chunker produces it, before it has an id or a vector. */
export interface ChunkDraft {
  ordinal: number;
  text: string;
  tokenCount: number;
  headingPath: string[];
  /** First page the chunk's text comes from, or null when the format has no pages. */
  page: number | null;
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
