import multipart, { type MultipartFile, type MultipartValue } from '@fastify/multipart';
import type { SwaggerTransform } from '@fastify/swagger';
import type { FastifyRequest } from 'fastify';
import sjson from 'secure-json-parse';
import type { Config } from '../../config/config.js';
import { AppError, badRequest, insufficientStorage, isDiskFull } from '../../domain/errors.js';
import type { OcrMode, Scope } from '../../domain/types.js';
import { Type } from '@sinclair/typebox';
import type { DocumentService, UploadedDocument } from '../../services/document-service.js';
import type { RoutePlugin } from '../app.js';
import { PartialUploadError } from '../plugins/errors.js';
import { MAX_METADATA_BYTES } from '../../services/metadata-guard.js';
// The `metadata` form field is capped at MAX_METADATA_BYTES (busboy truncates at `fieldSize`; a truncated field is refused).
import {
  DEFAULT_LIST_LIMIT,
  DocumentListResponse,
  DocumentParams,
  DocumentViewSchema,
  errorResponses,
  KbParams,
  NoContent,
  ListDocumentsQuery,
  UploadResponse,
  UploadTextBody,
  OcrModeSchema,
} from '../schemas.js';

function tooLarge(config: Config): AppError {
  return new AppError(413, 'too_large', `file is larger than the upload limit of ${config.maxUploadBytes} bytes`);
}

/** The `metadata` form field: a JSON object, sent as text or with a JSON content type. */
function parseMetadataField(part: MultipartValue): Record<string, unknown> {
  if (part.valueTruncated) {
    throw new AppError(413, 'too_large', `the metadata field is larger than ${MAX_METADATA_BYTES} bytes`);
  }
  let value: unknown = part.value;
  if (typeof value === 'string') {
    try {
      value = sjson.parse(value, null, { protoAction: 'error', constructorAction: 'error' });
    } catch {
      throw badRequest('the metadata field is not valid JSON', 'invalid_json');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest('the metadata field must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * Errors of the multipart parser itself (no boundary, a part cut short, a malformed header) are
 * the client's: they become 400, except @fastify/multipart's own coded errors (limits → 413),
 * which the error handler maps.
 */
function multipartFailure(err: unknown): unknown {
  if (err instanceof AppError) return err;
  // Writing the upload failed on our side: the client's body was fine.
  if (isDiskFull(err)) return insufficientStorage();
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('FST_')) return err;
  return new AppError(400, 'invalid_multipart', 'the multipart body is malformed');
}

function clientGone(request: FastifyRequest): boolean {
  return request.raw.aborted || request.raw.socket?.destroyed === true;
}

async function uploadFile(
  request: FastifyRequest,
  documents: DocumentService,
  config: Config,
  scope: Scope,
  part: MultipartFile,
  metadata: Record<string, unknown> | undefined,
  ocr: OcrMode | undefined,
): Promise<UploadedDocument> {
  const file = part.file;
  // busboy does not fail an oversized file: it truncates it and ends the stream normally, so the
  // service would store the first maxUploadBytes bytes as if they were the whole file. Failing
  // the stream makes the service's pipeline reject instead. busboy parses ahead of us, so the
  // limit may already have been hit before this part reached us: check, then listen (same tick).
  if (file.truncated) {
    file.resume();
    throw tooLarge(config);
  }
  file.once('limit', () => file.destroy(tooLarge(config)));
  let streamError: unknown = null;
  file.on('error', (err) => {
    streamError ??= err;
  });

  const input: { filename: string; stream: NodeJS.ReadableStream; metadata?: Record<string, unknown>; ocr?: OcrMode } = {
    // User input, passed as-is: the service turns it into a safe display name. Never a path.
    filename: part.filename ?? '',
    stream: file,
  };
  if (metadata !== undefined) input.metadata = metadata;
  if (ocr !== undefined) input.ocr = ocr;

  let uploaded: UploadedDocument;
  try {
    uploaded = await documents.uploadStream(scope, input);
  } catch (err) {
    if (file.truncated) throw tooLarge(config);
    if (err instanceof AppError) throw err;
    // The body broke off mid-file (malformed part, client hung up): the client's failure, not a
    // 500 worth an error log. The service's own failures (disk full …) still fall through.
    if (streamError !== null || clientGone(request)) throw multipartFailure(err);
    throw err;
  }
  // Cannot happen while the 'limit' handler above destroys the stream; kept so that a service
  // that ignores stream errors still cannot report a truncated file as a success.
  if (file.truncated) throw tooLarge(config);
  return uploaded;
}

/**
 * Streams every `file` part to the service, one after another: a part is fully on disk before
 * the next one is read from the socket, so memory stays flat whatever the request size.
 * A `metadata` field applies to the files after it (send it first to apply it to all).
 *
 * Partial failure: when file N fails (413, 415 …) after files 1..N-1 were accepted, those
 * documents already exist and are queued. Rolling them back would race the pipeline and turn
 * one bad file into a lost batch, so instead the request fails with file N's error and the body
 * lists the accepted documents in `error.accepted`: nothing is silently lost, and the client
 * can retry just the rest.
 */
async function uploadParts(
  request: FastifyRequest,
  documents: DocumentService,
  config: Config,
  scope: Scope,
  ocr: OcrMode | undefined,
): Promise<UploadedDocument[]> {
  const accepted: UploadedDocument[] = [];
  let metadata: Record<string, unknown> | undefined;
  const parts = request.parts();
  try {
    for (;;) {
      let step: IteratorResult<MultipartFile | MultipartValue>;
      try {
        step = await parts.next();
      } catch (err) {
        throw multipartFailure(err);
      }
      if (step.done) break;
      const part = step.value;

      if (part.type === 'field') {
        if (part.fieldname === 'metadata') {
          metadata = parseMetadataField(part);
          continue;
        }
        if (part.fieldname === 'file') {
          throw badRequest('the "file" part must be a file upload (with a filename)');
        }
        throw badRequest(`unexpected form field "${part.fieldname.slice(0, 100)}": only "file" and "metadata" are accepted`);
      }
      if (part.fieldname !== 'file') {
        throw badRequest(`unexpected file field "${part.fieldname.slice(0, 100)}": send files in the "file" field`);
      }
      accepted.push(await uploadFile(request, documents, config, scope, part, metadata, ocr));
    }
  } catch (err) {
    if (accepted.length > 0) throw new PartialUploadError(err, accepted);
    throw err;
  } finally {
    // Ends the generator early on error; the rest of the body is discarded with the request.
    await parts.return?.(undefined).catch(() => {});
  }
  if (accepted.length === 0) {
    throw badRequest('no files: send at least one multipart part named "file"', 'no_files');
  }
  return accepted;
}

/**
 * The upload's multipart form, for /openapi.json only: Fastify never sees a multipart body (the
 * handler streams it part by part), so it cannot be in the validated schema.
 */
const documentMultipart: SwaggerTransform = ({ schema, url }) => {
  const body = schema.body as { content: Record<string, unknown> };
  const form = {
    type: 'object',
    properties: {
      file: { type: 'array', items: { type: 'string', format: 'binary' }, description: 'one or more files' },
      metadata: { type: 'string', description: 'a JSON object applied to the files after it' },
    },
    required: ['file'],
  };
  return { url, schema: { ...schema, body: { content: { 'multipart/form-data': { schema: form }, ...body.content } } } };
};

export const documentRoutes: RoutePlugin = async (app, { config, services }) => {
  const { documents } = services;

  // Scoped to this plugin: only the document routes accept multipart bodies.
  await app.register(multipart, {
    limits: {
      fileSize: config.maxUploadBytes,
      files: config.maxFilesPerRequest,
      fields: 20,
      fieldSize: MAX_METADATA_BYTES,
      parts: config.maxFilesPerRequest + 20,
      headerPairs: 200,
    },
    throwFileSizeLimit: true,
  });

  app.post<{ Params: KbParams; Body: UploadTextBody | undefined; Querystring: { ocr?: OcrMode } }>(
    '/v1/kbs/:kb/documents',
    {
      config: { admission: 'upload', swaggerTransform: documentMultipart },
      schema: {
        tags: ['documents'],
        summary: 'Upload documents (multipart `file` parts, or JSON text); 202 at once, the pipeline goes on',
        params: KbParams,
        querystring: Type.Object({ ocr: Type.Optional(OcrModeSchema) }, { description: "ocr: this upload's OCR mode (default: the KB's)" }),
        // Validated only for JSON bodies; multipart bodies are checked part by part below.
        body: { content: { 'application/json': { schema: UploadTextBody } } },
        response: { 202: UploadResponse, ...errorResponses },
      },
    },
    async (request, reply) => {
      const scope: Scope = { tenantId: request.tenantId, kbId: request.params.kb };
      let uploaded: UploadedDocument[];
      if (request.isMultipart()) {
        uploaded = await uploadParts(request, documents, config, scope, request.query.ocr);
      } else {
        const body = request.body;
        // Only the JSON body was validated by the schema; any other parsed type is refused here.
        if (request.mediaType !== undefined && request.mediaType !== 'application/json') {
          throw new AppError(415, 'unsupported_media_type', 'send multipart/form-data or application/json');
        }
        if (body === undefined) {
          throw badRequest('expected a multipart/form-data upload or a JSON body {name, text, metadata?}');
        }
        const input: { name: string; text: string; metadata?: Record<string, unknown> } = {
          name: body.name,
          text: body.text,
        };
        if (body.metadata !== undefined) input.metadata = body.metadata;
        uploaded = [await documents.uploadText(scope, input)];
      }
      return reply.code(202).send({ documents: uploaded });
    },
  );

  app.get<{ Params: KbParams; Querystring: ListDocumentsQuery }>(
    '/v1/kbs/:kb/documents',
    { schema: { tags: ['documents'], summary: 'List documents', params: KbParams, querystring: ListDocumentsQuery, response: { 200: DocumentListResponse, ...errorResponses } } },
    async (request) => {
      const q: { status?: ListDocumentsQuery['status']; limit: number; cursor?: string } = {
        limit: request.query.limit ?? DEFAULT_LIST_LIMIT,
      };
      if (request.query.status !== undefined) q.status = request.query.status;
      if (request.query.cursor !== undefined) q.cursor = request.query.cursor;
      return documents.list({ tenantId: request.tenantId, kbId: request.params.kb }, q);
    },
  );

  app.get<{ Params: DocumentParams }>(
    '/v1/kbs/:kb/documents/:id',
    { schema: { tags: ['documents'], summary: 'Read one document', params: DocumentParams, response: { 200: DocumentViewSchema, ...errorResponses } } },
    async (request) => documents.get({ tenantId: request.tenantId, kbId: request.params.kb }, request.params.id),
  );

  app.delete<{ Params: DocumentParams }>(
    '/v1/kbs/:kb/documents/:id',
    {
      schema: {
        tags: ['documents'],
        summary: 'Delete a document: rows, chunks, vectors and the stored file',
        params: DocumentParams,
        response: { 204: NoContent, ...errorResponses },
      },
    },
    async (request, reply) => {
      await documents.delete({ tenantId: request.tenantId, kbId: request.params.kb }, request.params.id);
      return reply.code(204).send();
    },
  );
};
