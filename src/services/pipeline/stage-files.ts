import type { Scope } from '../../domain/types.js';

/**
 * Blob keys of a document's intermediate stage outputs. Each stage reads the previous stage's
 * file and writes its own, atomically, so a retry starts from the last finished stage.
 */
export const stagePrefix = (scope: Scope, documentId: string) => `stages/${scope.tenantId}/${documentId}`;

export const stageKeys = (scope: Scope, documentId: string) => {
  const prefix = stagePrefix(scope, documentId);
  return {
    parsed: `${prefix}/parsed.json`,
    /** The parsed document with its OCR'd pages merged in; chunking reads it when it exists. */
    ocred: `${prefix}/ocred.json`,
    /** One finished page of the `ocr` stage (its lines), so a rerun redoes only the pages not done. */
    ocrPage: (page: number) => `${prefix}/ocr/page-${page}.json`,
    ocrImage: (page: number) => `${prefix}/ocr/page-${page}.png`,
    chunks: `${prefix}/chunks.json`,
    vectors: `${prefix}/vectors.f32`,
  };
};

/** Where an upload's bytes are kept: by content hash, inside its tenant and KB. */
export const sourceKey = (scope: Scope, contentHash: string) => `sources/${scope.tenantId}/${scope.kbId}/${contentHash}`;
