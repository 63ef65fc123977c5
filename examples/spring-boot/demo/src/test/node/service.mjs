// The demo service under test, as OpenAI's client sees it. OpenAiNodeClientTest starts the service and
// sets OPENAI_BASE_URL (http://127.0.0.1:PORT/v1) and LLAMASPEC_EXPECTED (a JSON file: each request and
// what the Java API answers to it, greedy), and runs these scripts under target/openai-node after
// `npm ci` there; they expect its settings (a pool of one session, a borrow timeout of 1 s).
import { readFileSync } from 'node:fs';
import OpenAI from 'openai';

const baseURL = process.env.OPENAI_BASE_URL;
if (!baseURL) {
    throw new Error('OPENAI_BASE_URL is not set: the base URL of the demo service, http://HOST:PORT/v1');
}
if (!process.env.LLAMASPEC_EXPECTED) {
    throw new Error('LLAMASPEC_EXPECTED is not set: the file of expected answers that OpenAiNodeClientTest writes');
}

/** The requests and the Java API's answers to them, by case name. */
export const expected = JSON.parse(readFileSync(process.env.LLAMASPEC_EXPECTED, 'utf8'));

const origin = new URL(baseURL).origin;

/**
 * The raw bytes of every event stream the client reads, kept as the client's own parser reads them (a
 * pass-through, so that an abort still reaches the connection).
 */
export const rawStreams = [];

async function recordingFetch(url, init) {
    const response = await fetch(url, init);
    if (!response.body || !(response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        return response;
    }
    const record = { chunks: [], text() { return Buffer.concat(this.chunks).toString('utf8'); } };
    rawStreams.push(record);
    const body = response.body.pipeThrough(new TransformStream({
        transform(chunk, controller) {
            record.chunks.push(Buffer.from(chunk));
            controller.enqueue(chunk);
        },
    }));
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}

/** OpenAI's client on the service: no retries, so that an error is seen as the service answered it. */
export const client = new OpenAI({
    baseURL,
    apiKey: 'the-demo-takes-no-key',
    maxRetries: 0,
    timeout: 60_000,
    fetch: recordingFetch,
});

/** GET of an actuator endpoint as JSON; null for 404. */
export async function actuator(path) {
    const response = await fetch(origin + '/actuator/' + path, { signal: AbortSignal.timeout(10_000) });
    if (response.status === 404) {
        return null;
    }
    if (!response.ok) {
        throw new Error(`GET /actuator/${path}: ${response.status} ${await response.text()}`);
    }
    return response.json();
}

/** The pool's size and free sessions, from the health component. */
export async function pool() {
    const details = (await actuator('health')).components.llamaspec.details;
    return { size: details.pool.size, free: details.pool.free };
}

/** Streams that ended cancelled (their client went away), from the service's metrics. */
export async function cancelledStreams() {
    const metric = await actuator('metrics/llamaspec.generations?tag=stop_reason:cancelled&tag=stream:true');
    return metric === null ? 0 : metric.measurements[0].value;
}

/** Waits up to timeoutMs for check() to be true; returns its last value. */
export async function eventually(check, timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const ok = await check();
        if (ok || Date.now() >= deadline) {
            return ok;
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
    }
}

/** The data of each event of a raw event stream; every event must be one data line. */
export function events(raw) {
    const data = [];
    for (const event of raw.split('\n\n')) {
        if (event === '') {
            continue;
        }
        if (!event.startsWith('data: ') || event.includes('\n')) {
            throw new Error('not one data line: ' + JSON.stringify(event));
        }
        data.push(event.slice('data: '.length));
    }
    return data;
}
