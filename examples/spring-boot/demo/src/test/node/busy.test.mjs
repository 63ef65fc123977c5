// A busy service through OpenAI's client: OpenAiNodeClientTest holds every session of the pool while
// this runs, so each request waits the borrow timeout and gets the service's 503.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI from 'openai';
import { client, pool } from './service.mjs';

function assertBusy(error) {
    assert.ok(error instanceof OpenAI.APIError, `${error.constructor.name}: ${error.message}`);
    assert.equal(error.status, 503);
    assert.match(error.message, /^503 The server is busy: all 1 llamaspec sessions are busy/);
    assert.equal(error.type, 'server_error');
    assert.equal(error.code, 'server_busy');
    return true;
}

test('every session busy: 503 as the client\'s APIError', async () => {
    assert.deepEqual(await pool(), { size: 1, free: 0 });
    await assert.rejects(client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'Hi' }],
        max_tokens: 5 }), assertBusy);
});

test('every session busy: a stream is refused with the same 503 before it starts', async () => {
    await assert.rejects(client.completions.create({ model: 'any', prompt: 'Hi', max_tokens: 5, stream: true }),
        assertBusy);
});
