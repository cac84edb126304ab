import { AppError, notFound } from '../domain/errors.js';
import type { OcrMode, Scope } from '../domain/types.js';
import type { BlobStore } from '../ports/blob-store.js';
import type { KbRecord, KbState, Store } from '../ports/store.js';
import { cleanLabel } from './display-name.js';
import { stagePrefix } from './pipeline/stage-files.js';

export const DEFAULT_KB = 'default';

const unknownKb = (scope: Scope) => notFound(`knowledge base "${scope.kbId}"`);

/** Knowledge bases: create, list, delete. `default` always exists and cannot be deleted. */
export class KbService {
  constructor(
    private readonly store: Store,
    private readonly blobs: BlobStore,
    /** The embedder a tenant's new KBs are built with (its own provider's, else the server's). */
    private readonly embedderOf: (tenantId: string) => Promise<{ id: string; dim: number }>,
    private readonly onDocumentsRemoved: (ids: string[]) => void = () => {},
  ) {}

  async create(tenantId: string, input: { id: string; name?: string; ocr?: OcrMode }): Promise<KbRecord> {
    const embedder = await this.embedderOf(tenantId);
    try {
      return await this.store.createKb(tenantId, {
        id: input.id,
        name: (input.name !== undefined ? cleanLabel(input.name) : '') || input.id,
        embedder: embedder.id,
        embedDim: embedder.dim,
        ...(input.ocr ? { ocr: input.ocr } : {}),
      });
    } catch (err) {
      if ((err as { code?: string }).code === 'kb_exists') {
        throw new AppError(409, 'kb_exists', `knowledge base "${input.id}" already exists`);
      }
      throw err;
    }
  }

  list(tenantId: string): Promise<KbRecord[]> {
    return this.store.listKbs(tenantId);
  }

  async get(scope: Scope): Promise<KbRecord> {
    const kb = await this.store.getKb(scope);
    if (!kb) throw unknownKb(scope);
    return kb;
  }

  /** The KB with its count of documents still being ingested, read together; 404 for an unknown KB. */
  async state(scope: Scope): Promise<KbState> {
    const state = await this.store.kbState(scope);
    if (!state) throw unknownKb(scope);
    return state;
  }

  async delete(scope: Scope): Promise<void> {
    if (scope.kbId === DEFAULT_KB) {
      throw new AppError(409, 'kb_protected', 'the default knowledge base cannot be deleted');
    }
    if (!(await this.remove(scope))) throw unknownKb(scope);
  }

  /** Every KB of the tenant, `default` included: the first half of deleting a tenant. */
  async deleteAllOf(tenantId: string): Promise<void> {
    for (const kb of await this.store.listKbs(tenantId)) await this.remove({ tenantId, kbId: kb.id });
  }

  private async remove(scope: Scope): Promise<boolean> {
    const removed = await this.store.deleteKb(scope);
    if (!removed) return false;
    this.onDocumentsRemoved(removed.documentIds);
    await Promise.all([
      ...removed.blobKeys.map((k) => this.blobs.delete(k)),
      ...removed.documentIds.map((id) => this.blobs.deletePrefix(stagePrefix(scope, id))),
    ]);
    return true;
  }
}
