import { AppError } from './errors.js';

/** What a tenant may store: documents across its KBs and their total bytes (null = no limit). */
export interface StorageQuota {
  maxDocuments: number | null;
  maxStoredBytes: number | null;
}

export interface StorageUsage {
  documents: number;
  bytes: number;
}

/**
 * The refusal for storing `adding` more on top of `usage`, or null when it fits. Too many
 * documents is 429 (the request is fine, the tenant is at its allowance); too many bytes is 413
 * (this upload is too large for what is left).
 */
export function quotaRefusal(usage: StorageUsage, quota: StorageQuota, adding: StorageUsage): AppError | null {
  if (quota.maxDocuments !== null && usage.documents + adding.documents > quota.maxDocuments) {
    return new AppError(
      429,
      'document_quota_exceeded',
      `document limit reached: this tenant stores ${usage.documents} of its ${quota.maxDocuments} documents; delete some before uploading more`,
    );
  }
  if (quota.maxStoredBytes !== null && usage.bytes + adding.bytes > quota.maxStoredBytes) {
    const left = Math.max(0, quota.maxStoredBytes - usage.bytes);
    return new AppError(
      413,
      'storage_quota_exceeded',
      `storage quota exceeded: this tenant may store ${quota.maxStoredBytes} bytes and has ${left} left; this upload needs more`,
    );
  }
  return null;
}
