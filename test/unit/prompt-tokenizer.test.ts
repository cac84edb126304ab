import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AnswerGenerator } from '../../src/ports/models.js';
import { AnswerStep } from '../../src/services/query/answer-step.js';
import type { ExtractiveAnswerer } from '../../src/services/query/extractive-answerer.js';
import { fitToBudget, tokenizerRequested } from '../../src/services/query/prompt.js';

// Its own file: node --test runs each file in a fresh process, so the module state starts clean.
describe('the prompt tokenizer (~20 MB of the event loop’s heap)', () => {
  it('is not loaded by an extractive server, nor for prompts that fit; a model-backed answer step loads it', async () => {
    const opts = { fallbackToExtractive: false, promptTokens: 1000 };
    new AnswerStep(null, {} as ExtractiveAnswerer, opts);
    assert.equal(tokenizerRequested(), false, 'an extractive answer step never asks for it');
    assert.deepEqual(await fitToBudget(['short', 'texts'], 1000), ['short', 'texts']);
    assert.equal(tokenizerRequested(), false, 'sources within the budget in bytes need no tokenizing');
    new AnswerStep({} as AnswerGenerator, {} as ExtractiveAnswerer, opts);
    assert.equal(tokenizerRequested(), true, 'a step with a model warms it at construction');
  });
});
