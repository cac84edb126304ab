import { Type, type Static } from '@sinclair/typebox';
import { Citation } from '../query-schemas.js';

/**
 * OpenAI's request and response shapes, as far as ragd reads or writes them. Requests are open
 * (`additionalProperties: true`): chat clients send many fields ragd has no use for, and refusing
 * them would break the clients. Fields ragd reads are checked in code (messages.ts), where the
 * refusal can say what is unsupported.
 */

const ChatMessageIn = Type.Object(
  {
    role: Type.String({ description: '`user` and `assistant` turns are read; `system`/`developer` are ignored (ragd has its own instructions)' }),
    content: Type.Optional(Type.Unknown({ description: 'a string, or an array of `{type:"text", text}` parts (images are refused)' })),
  },
  { additionalProperties: true },
);

export const ChatCompletionBody = Type.Object(
  {
    model: Type.String({ minLength: 1, maxLength: 300, description: 'a knowledge base id or name, optionally `:lexical`, `:vector` or `:hybrid`' }),
    messages: Type.Array(ChatMessageIn, { minItems: 1, maxItems: 1000, description: 'the last user message is the question; earlier turns are the history' }),
    stream: Type.Optional(Type.Boolean({ description: '`chat.completion.chunk` events, then `data: [DONE]`' })),
    n: Type.Optional(Type.Integer({ minimum: 1, description: 'only 1 is supported' })),
    temperature: Type.Optional(Type.Unknown({ description: 'ignored: the server\'s model settings apply' })),
    max_tokens: Type.Optional(Type.Unknown({ description: 'ignored: the server\'s model settings apply' })),
    stop: Type.Optional(Type.Unknown({ description: 'ignored' })),
    user: Type.Optional(Type.Unknown({ description: 'ignored: the caller is known from its API key' })),
  },
  { additionalProperties: true, description: 'OpenAI chat completion request; other fields are accepted and ignored, except `tools`/`functions`' },
);
export type ChatCompletionBody = Static<typeof ChatCompletionBody>;

export const ModelList = Type.Object(
  {
    object: Type.Literal('list'),
    data: Type.Array(
      Type.Object({
        id: Type.String({ description: 'the KB id, or `id:mode` for a retrieval mode' }),
        object: Type.Literal('model'),
        created: Type.Integer({ description: 'the KB\'s creation time, Unix seconds' }),
        owned_by: Type.String(),
        name: Type.String({ description: 'the KB\'s display name' }),
      }),
    ),
  },
  { description: 'the knowledge bases this credential can ask, as OpenAI models' },
);

/** One numbered source of an answer: `[n]` in the text is `citations[n-1]`. */
const ChatCitation = Type.Composite([Type.Object({ n: Type.Integer() }), Citation]);

export const ChatCompletion = Type.Object(
  {
    id: Type.String(),
    object: Type.Literal('chat.completion'),
    created: Type.Integer(),
    model: Type.String(),
    choices: Type.Array(
      Type.Object({
        index: Type.Integer(),
        message: Type.Object({ role: Type.Literal('assistant'), content: Type.String() }),
        finish_reason: Type.Literal('stop'),
        logprobs: Type.Null(),
      }),
    ),
    citations: Type.Array(ChatCitation, { description: 'the numbered sources; the last streamed chunk carries them too' }),
    answer_kind: Type.Union([Type.Literal('llm'), Type.Literal('extractive')], { description: '`extractive` when no language model answered' }),
    notice: Type.Optional(Type.String()),
  },
  { description: 'the answer; with `stream: true`, `chat.completion.chunk` events and `data: [DONE]`' },
);

export const OpenAiErrorBody = Type.Object({
  error: Type.Object({ message: Type.String(), type: Type.String(), code: Type.String(), param: Type.Null() }),
});

/** The error entries of these routes: OpenAI's shape, not ragd's. */
export const openAiErrorResponses = {
  '4xx': { ...OpenAiErrorBody, description: 'refused: `{error:{message,type,code}}` as OpenAI sends it' },
  '5xx': { ...OpenAiErrorBody, description: 'server failure, or `503 overloaded` with `Retry-After`' },
} as const;
