// The demo's endpoints through OpenAI's own client: replies, usage, streams, errors and an aborted stream.
// Run by OpenAiNodeClientTest with a pool of one session; see service.mjs for the environment.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import OpenAI from 'openai';
import { cancelledStreams, client, eventually, events, expected, pool, rawStreams } from './service.mjs';

let model;

before(async () => {
    const models = [];
    for await (const entry of client.models.list()) {
        models.push(entry.id);
    }
    assert.equal(models.length, 1, `one model: ${models}`);
    model = models[0];
});

function assertUsage(usage, want) {
    assert.ok(usage.prompt_tokens > 0, JSON.stringify(usage));
    assert.equal(usage.prompt_tokens, want.prompt_tokens);
    assert.equal(usage.completion_tokens, want.completion_tokens);
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
}

test('chat completion: the Java API\'s greedy reply and usage', async () => {
    const want = expected.chat;
    const reply = await client.chat.completions.create({ model, ...want.request });
    assert.equal(reply.object, 'chat.completion');
    assert.match(reply.id, /^chatcmpl-/);
    assert.equal(reply.model, model);
    assert.equal(reply.choices.length, 1);
    const choice = reply.choices[0];
    assert.equal(choice.message.role, 'assistant');
    assert.ok(want.text.length > 0);
    assert.equal(choice.message.content, want.text);
    assert.equal(choice.finish_reason, want.finish_reason);
    assertUsage(reply.usage, want);
});

test('embeddings: the client\'s default base64 encoding decodes to the Java API\'s vectors', async () => {
    const want = expected.embeddings;
    const reply = await client.embeddings.create({ model, input: want.input });
    assert.equal(reply.object, 'list');
    assert.equal(reply.data.length, want.vectors.length);
    reply.data.forEach((item, i) => {
        assert.equal(item.index, i);
        assert.equal(item.embedding.length, want.vectors[i].length);
        item.embedding.forEach((v, k) => assert.ok(Math.abs(v - want.vectors[i][k]) < 1e-6,
            `vector ${i}[${k}]: ${v} vs ${want.vectors[i][k]}`));
    });
    assert.ok(reply.usage.prompt_tokens > 0);
    // and as arrays of numbers when asked for floats
    const floats = await client.embeddings.create({ model, input: want.input[1], encoding_format: 'float' });
    floats.data[0].embedding.forEach((v, k) => assert.ok(Math.abs(v - want.vectors[1][k]) < 1e-6));
});

test('text completion with a stop string: the Java API\'s greedy text, finish_reason stop, usage', async () => {
    const want = expected.text;
    assert.equal(want.finish_reason, 'stop');
    const reply = await client.completions.create({ model, ...want.request });
    assert.equal(reply.object, 'text_completion');
    assert.match(reply.id, /^cmpl-/);
    assert.equal(reply.choices[0].text, want.text);
    assert.equal(reply.choices[0].finish_reason, want.finish_reason);
    assertUsage(reply.usage, want);
});

test('max_tokens reached: finish_reason length, completion_tokens max_tokens', async () => {
    const want = expected.length;
    assert.equal(want.finish_reason, 'length');
    const reply = await client.completions.create({ model, ...want.request });
    assert.equal(reply.choices[0].text, want.text);
    assert.equal(reply.choices[0].finish_reason, 'length');
    assert.equal(reply.usage.completion_tokens, want.request.max_tokens);
    assertUsage(reply.usage, want);
});

/**
 * Sends a streaming request with the client and reads the stream to its end; checks that the client
 * yielded one chunk for each event the service sent, equal to it, and that the last event was [DONE].
 */
async function readStream(request) {
    const streamsBefore = rawStreams.length;
    const { data: stream, response } = await request.withResponse();
    assert.match(response.headers.get('content-type'), /^text\/event-stream/);
    const chunks = [];
    for await (const chunk of stream) {
        chunks.push(chunk);
    }
    assert.equal(rawStreams.length, streamsBefore + 1, 'one event stream read');
    const sent = events(rawStreams.at(-1).text());
    assert.equal(sent.at(-1), '[DONE]');
    assert.equal(sent.indexOf('[DONE]'), sent.length - 1, 'one [DONE], the last event');
    assert.deepEqual(chunks, sent.slice(0, -1).map((data) => JSON.parse(data)), 'every event, parsed by the client');
    return chunks;
}

test('chat stream: every chunk through the client\'s SSE parser, then [DONE]', async () => {
    const want = expected.chatStream;
    const chunks = await readStream(client.chat.completions.create({ model, ...want.request, stream: true }));

    const id = chunks[0].id;
    assert.match(id, /^chatcmpl-/);
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    let text = '';
    let contentChunks = 0;
    chunks.forEach((chunk, i) => {
        assert.equal(chunk.object, 'chat.completion.chunk');
        assert.equal(chunk.id, id);
        const choice = chunk.choices[0];
        if (i < chunks.length - 1) {
            assert.equal(choice.finish_reason, null);
            assert.equal(chunk.usage, undefined);
        }
        if (choice.delta.content) {
            text += choice.delta.content;
            contentChunks++;
        }
    });
    assert.ok(want.text.length > 0);
    assert.equal(text, want.text);
    // one chunk per step with text, as the Java API's stream
    assert.equal(contentChunks, want.chunks);
    assert.ok(contentChunks <= want.completion_tokens);
    const last = chunks.at(-1);
    assert.equal(last.choices[0].finish_reason, want.finish_reason);
    assertUsage(last.usage, want);
});

test('text stream: joins to the Java API\'s text, usage in the last chunk', async () => {
    const want = expected.textStream;
    const chunks = await readStream(client.completions.create({ model, ...want.request, stream: true }));
    let text = '';
    let contentChunks = 0;
    for (const chunk of chunks) {
        assert.equal(chunk.object, 'text_completion');
        if (chunk.choices[0].text) {
            text += chunk.choices[0].text;
            contentChunks++;
        }
    }
    assert.equal(text, want.text);
    assert.equal(contentChunks, want.chunks);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'length');
    assertUsage(chunks.at(-1).usage, want);
    // without speculation a step is one token: one chunk per token generated
    assert.equal(contentChunks, chunks.at(-1).usage.completion_tokens);
});

test('an invalid request: the client\'s BadRequestError with the service\'s message', async () => {
    const messages = [{ role: 'user', content: 'Hi' }];
    await assert.rejects(client.chat.completions.create({ model, messages, temperature: 5 }), (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, `${error.constructor.name}: ${error.message}`);
        assert.equal(error.status, 400);
        assert.equal(error.message, '400 temperature must be a number from 0 to 2.0, got 5.0.');
        assert.equal(error.type, 'invalid_request_error');
        assert.equal(error.param, 'temperature');
        return true;
    });
    await assert.rejects(client.chat.completions.create({ model, max_tokens: 5 }), (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, `${error.constructor.name}: ${error.message}`);
        assert.match(error.message, /^400 messages is required/);
        assert.equal(error.param, 'messages');
        return true;
    });
    // a stream is refused before it starts: the same error, not an event stream
    await assert.rejects(client.completions.create({ model, prompt: 'Hi', max_tokens: 0, stream: true }), (error) => {
        assert.ok(error instanceof OpenAI.BadRequestError, `${error.constructor.name}: ${error.message}`);
        assert.equal(error.message, '400 max_tokens must be at least 1, got 0.');
        return true;
    });
    assert.deepEqual(await pool(), { size: 1, free: 1 });
});

/** Checks that the aborted stream's generation was cancelled and its session is free again. */
async function assertCancelledAndFreed(cancelledBefore) {
    assert.ok(await eventually(async () => (await pool()).free === 1, 2_000), 'the session is free 2 s after the abort');
    assert.ok(await eventually(async () => (await cancelledStreams()) === cancelledBefore + 1, 2_000),
        'the generation ended cancelled');
    // the one session serves the next request (a busy pool would answer 503 after the borrow timeout)
    const want = expected.length;
    const reply = await client.completions.create({ model, ...want.request });
    assert.equal(reply.choices[0].text, want.text);
}

test('a stream aborted with an AbortController frees its session', async () => {
    const cancelledBefore = await cancelledStreams();
    const abort = new AbortController();
    // up to 4000 tokens: seconds of generation, unless the abort cancels it
    const stream = await client.completions.create(
        { model, prompt: 'Once upon a time', max_tokens: 4000, temperature: 0, stream: true },
        { signal: abort.signal });
    const chunks = [];
    // the client ends an aborted stream's iteration quietly, without an error
    for await (const chunk of stream) {
        chunks.push(chunk);
        if (chunks.length === 1) {
            assert.deepEqual(await pool(), { size: 1, free: 0 }, 'the stream holds the session');
            abort.abort();
        }
    }
    assert.ok(chunks.length >= 1);
    assert.ok(chunks.every((chunk) => chunk.choices[0].finish_reason === null), 'no last chunk: the stream was cut');
    await assertCancelledAndFreed(cancelledBefore);
});

test('a chat stream left with break (the client aborts it) frees its session', async () => {
    const cancelledBefore = await cancelledStreams();
    const stream = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Once upon a time' }],
        max_tokens: 4000, temperature: 0, stream: true });
    const chunks = [];
    for await (const chunk of stream) {
        chunks.push(chunk);
        if (chunks.length === 3) {
            break;
        }
    }
    assert.ok(chunks.every((chunk) => chunk.choices[0].finish_reason === null), 'left before the end');
    assert.equal(stream.controller.signal.aborted, true, 'break aborts the request');
    await assertCancelledAndFreed(cancelledBefore);
});
