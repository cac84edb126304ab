import type { Lang } from '../text/language.js';

/**
 * What ragd tells people in words, in each language it speaks (see src/text/language.ts for how
 * the language is chosen). Error `code`s never change with the language: clients branch on codes,
 * people read messages.
 */

export interface Notices {
  /** `pending_documents` > 0: results may miss documents still being indexed. */
  pending(n: number): string;
  /** The first words of an extractive answer, so nobody mistakes it for a model's. */
  extractiveLabel: string;
  /** The same, when a configured model is down and the answer falls back to extraction. */
  fallbackLabel: string;
  /** The extractive answer when no retrieved passage shares a term with the question. */
  noPassage: string;
  /** The notice that goes with a fallback answer. */
  modelUnavailable(why: string): string;
  /** Hybrid answered by full text alone: the vector ranking could not run. */
  vectorSkipped(why: VectorSkip): string;
}

/**
 * Why a hybrid search ran without its vector side: the store has no vector index (`detail` is the
 * store's own English reason, kept for operators), or the KB's embedder cannot be reached.
 */
export type VectorSkip = { kind: 'no_vector_index'; detail: string } | { kind: 'embedder_unreachable'; embedder: string };

const EN: Notices = {
  pending: (n) =>
    n === 1
      ? '1 document of this knowledge base is still being indexed and is not searchable yet; results may be incomplete.'
      : `${n} documents of this knowledge base are still being indexed and are not searchable yet; results may be incomplete.`,
  extractiveLabel: 'Extractive answer (no language model configured):',
  fallbackLabel: 'Extractive answer (the language model is unavailable):',
  noPassage: 'No passage in the knowledge base matches the question.',
  modelUnavailable: (why) => `The language model is unavailable (${why}); this answer is extractive.`,
  vectorSkipped: (why) =>
    why.kind === 'no_vector_index'
      ? `vector search skipped: ${why.detail}`
      : `vector search skipped: the knowledge base was built with embedder ${why.embedder}`,
};

const ZH: Notices = {
  pending: (n) => `本知识库还有 ${n} 个文档正在建立索引，暂时无法检索，结果可能不完整。`,
  extractiveLabel: '摘录式回答（未配置语言模型）：',
  fallbackLabel: '摘录式回答（语言模型暂不可用）：',
  noPassage: '知识库中没有与该问题相符的段落。',
  modelUnavailable: (why) => `语言模型暂不可用（${why}），本回答为摘录式回答。`,
  vectorSkipped: (why) =>
    why.kind === 'no_vector_index'
      ? '已跳过向量检索，仅按全文检索作答（此部署的存储没有可用的向量索引）。'
      : `已跳过向量检索，仅按全文检索作答（本知识库由嵌入模型 ${why.embedder} 建立，当前无法使用该模型）。`,
};

export const notices = (lang: Lang): Notices => (lang === 'zh' ? ZH : EN);

/**
 * Chinese for every error code a client can receive. The English message carries specifics
 * (a field name, a limit, an id); the Chinese one states the error and keeps the specifics in
 * parentheses, so nothing a client needs is lost in translation.
 */
const ZH_ERRORS: Record<string, string> = {
  invalid_request: '请求无效',
  invalid_json: '请求体不是有效的 JSON',
  invalid_utf8: '请求体不是有效的 UTF-8',
  invalid_multipart: 'multipart 请求体格式错误',
  invalid_metadata: '元数据无效',
  query_too_long: '问题太长',
  no_files: '没有上传文件',
  empty_file: '文件为空',
  not_found: '未找到',
  unauthorized: '未授权',
  forbidden: '无权访问',
  conflict: '冲突',
  kb_exists: '知识库已存在',
  kb_protected: '默认知识库不能删除',
  tenant_exists: '租户已存在',
  tenant_protected: '默认租户不能删除',
  tenant_busy: '租户正忙',
  embedder_mismatch: '嵌入模型不匹配',
  too_large: '内容太大',
  headers_too_large: '请求头太大',
  too_much_text: '文本太多',
  unsupported_media_type: '不支持的内容类型',
  unprocessable: '无法处理该文件',
  rate_limited: '请求太频繁',
  too_many_queries: '同时进行的查询太多',
  too_many_streams: '同时打开的流太多',
  document_quota_exceeded: '文档数量超出配额',
  storage_quota_exceeded: '存储空间超出配额',
  overloaded: '服务器繁忙，请稍后重试',
  shutting_down: '服务器正在关闭，请稍后重试',
  request_timeout: '请求超时',
  not_ready: '服务尚未就绪',
  client_closed: '客户端已断开',
  provider_key_unreadable: '无法读取该租户的模型服务密钥',
  invalid_cursor: '分页游标无效',
  api_key_required: '更换服务地址时需要重新提供 API 密钥',
  invalid_provider_url: '模型服务地址无效',
  provider_url_not_allowed: '不允许访问该模型服务地址',
  not_failed: '该文档没有失败，无需重试',
  unsupported_type: '不支持的文件类型',
  type_mismatch: '文件内容与扩展名不符',
  corrupt_image: '图片已损坏，无法读取',
  image_too_large: '图片太大',
  insufficient_storage: '磁盘空间不足',
  forbidden_host: '不允许的主机名（Host）',
  forbidden_origin: '不允许的跨站请求来源（Origin）',
  model_not_found: '找不到该模型（知识库）',
  unsupported_parameter: '不支持的参数',
  vector_search_unavailable: '向量检索不可用',
  provider_error: '模型服务返回了错误',
  provider_timeout: '模型服务超时',
  provider_unavailable: '模型服务暂不可用',
  internal: '服务器内部错误',
};

/** The error message for `code` in `lang`; the English one as given when there is no translation. */
export function errorMessage(code: string, english: string, lang: Lang): string {
  if (lang === 'en') return english;
  const zh = ZH_ERRORS[code];
  if (zh === undefined) return english;
  return code === 'internal' ? zh : `${zh}（${english}）`;
}
