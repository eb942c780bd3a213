import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { curriRequest } from '../helpers/cucm';
import { makeEvent } from '../helpers/events';
import { startHarness } from '../helpers/harness';
import { Receiver } from '../helpers/receiver';

/**
 * The API description and the live API agree: /openapi.json is a valid OpenAPI 3.1 document,
 * every route the server's router has is in it (and nothing else), and real answers, errors
 * included, validate against the schema described for their status and content type.
 */
const TOKEN = 'openapi-test-token-0123456789abcdef0123';

interface Answer {
  method: string;
  path: string;
  status: number;
  type: string;
  text: string;
}

type Doc = {
  openapi: string;
  servers: { url: string }[];
  paths: Record<string, Record<string, { operationId?: string; summary: string; security?: unknown[]; responses: Record<string, { description: string; content?: Record<string, { schema?: unknown }> }> }>>;
  components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
};

/** (method, path) of every route in Fastify's printRoutes tree, paths in OpenAPI form. */
function routerRoutes(tree: string): string[] {
  const stack: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    stack[depth] = (depth === 0 ? '' : stack[depth - 1]! === '/' ? '/' : stack[depth - 1]!) + match[2]!;
    stack.length = depth + 1;
    for (const method of (match[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean)) {
      routes.push(`${method} ${stack[depth]!.replace(/:(\w+)/g, '{$1}')}`);
    }
  }
  return routes;
}

describe('OpenAPI description', () => {
  let receiver: Receiver;
  let h: Awaited<ReturnType<typeof startHarness>>;
  let doc: Doc;
  const answers: Answer[] = [];

  /** A real request; its answer is kept and validated against the document below. */
  const call = async (method: string, path: string, init: { body?: unknown; headers?: Record<string, string>; auth?: boolean } = {}) => {
    const json = init.body !== undefined && typeof init.body !== 'string';
    const response = await fetch(h.baseUrl + path, {
      method,
      headers: { ...(init.auth === false ? {} : { authorization: `Bearer ${TOKEN}` }), ...(json ? { 'content-type': 'application/json' } : {}), ...init.headers },
      body: init.body === undefined ? undefined : json ? JSON.stringify(init.body) : (init.body as string),
    });
    const answer = { method, path: path.split('?')[0]!, status: response.status, type: (response.headers.get('content-type') ?? '').split(';')[0]!, text: await response.text() };
    answers.push(answer);
    return { ...answer, json: answer.type === 'application/json' ? JSON.parse(answer.text) : undefined };
  };

  beforeAll(async () => {
    receiver = await new Receiver().start();
    receiver.on('/fail', () => ({ status: 404, body: { error: 'no such contact' } }));
    receiver.on('/caller', () => ({ status: 200, body: { name: "O'Brien & Sons" } }));
    h = await startHarness(__filename, `
policies:
  - id: docs
    apps:
      - { name: CRM, url: "${receiver.url}/crm/{{ event.calling_number }}", query: { q: "{{ event.missing }}" } }
  - id: flaky
    apps:
      - { name: Ticket, url: "${receiver.url}/fail", retry_count: 0 }
  - id: live
    apps:
      - { name: Caller ID, phase: real_time, url: "${receiver.url}/caller" }
`, { apiToken: TOKEN });
    doc = (await call('GET', '/openapi.json')).json as Doc;
  });
  afterAll(async () => {
    await h?.stop();
    await receiver?.stop();
  });

  it('is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
    expect(doc.openapi).toBe('3.1.0');
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeDefined();
  });

  it('describes every route the router has, and no other', () => {
    const router = routerRoutes(h.api.printRoutes({ commonPrefix: false }));
    expect(router.length).toBeGreaterThan(20);
    const described = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    // A HEAD that Fastify derives from a GET answers the GET's headers without a body: its GET describes it.
    const undescribed = router.filter((route) => !described.includes(route) && !(route.startsWith('HEAD ') && described.includes(route.replace(/^HEAD/, 'GET'))));
    expect(undescribed).toEqual([]);
    expect(described.filter((route) => !router.includes(route))).toEqual([]);
    for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) expect([`${method} ${path}`, op.operationId]).toEqual([`${method} ${path}`, expect.any(String)]);
    expect(described).toEqual(expect.arrayContaining(['POST /curri', 'HEAD /curri', 'GET /openapi.json', 'GET /docs']));
  });

  it('every error answer is the one Problem schema (a generated client gets one error type); the API is where the document is', () => {
    const problem = { $ref: '#/components/schemas/Problem' };
    const errors = Object.values(doc.paths).flatMap((ops) => Object.values(ops).flatMap((op) => Object.entries(op.responses).filter(([status, r]) => Number(status) >= 400 && r.content?.['application/json'])));
    expect(errors.length).toBeGreaterThan(100);
    // readyz's 503 is its own answer, not an error.
    expect(errors.filter(([, r]) => JSON.stringify(r.content!['application/json']!.schema) !== JSON.stringify(problem)).map(([status, r]) => `${status} ${r.description}`)).toEqual(['503 Not ready']);
    expect(doc.components.schemas.Problem).toMatchObject({ type: 'object', required: ['error'], properties: { error: { properties: { code: { type: 'string' } } } } });
    expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
  });

  it('describes the token rules: public routes need none, /curri takes ?api_key=, the rest the bearer token', () => {
    expect(doc.paths['/healthz']!.get!.security).toEqual([]);
    expect(doc.paths['/curri']!.post!.security).toEqual([{ curriApiKey: [] }]);
    expect(doc.paths['/v1/calls']!.post!.security).toBeUndefined(); // the document's default: bearer
    expect(Object.keys(doc.paths['/v1/calls']!.post!.responses)).toEqual(expect.arrayContaining(['202', '400', '401', '404', '413', '415', '503']));
  });

  it('an event the document accepts, the API accepts: the timestamp as a generated client checks it', async () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema(doc as object, 'callhook');
    const validate = ajv.getSchema('callhook#/paths/~1v1~1realtime/post/requestBody/content/application~1json/schema')!;
    for (const timestamp of ['yesterday', '2026-12-01', '2026-12-01T10:00:00Z', '2026-12-01 10:00:00.123+01:00', '20261201', '12/01/2026', '2026-02-30T10:00:00Z', '2026-12-01T25:00:00Z', '2025-02-29', '2024-02-29T10:00Z']) {
      const event = { calling_number: '1', called_number: '2', policy: 'live', timestamp };
      const answered = (await call('POST', '/v1/realtime', { body: event })).status;
      expect([timestamp, validate(event), answered]).toEqual([timestamp, answered === 200, answered === 200 ? 200 : 400]);
    }
  });

  it('a Call Test request the document accepts, the API accepts: the policy\'s length, the call_id as POST /v1/calls takes it', async () => {
    const ajv = new Ajv2020({ strict: false });
    addFormats(ajv);
    ajv.addSchema(doc as object, 'callhook');
    const validate = ajv.getSchema('callhook#/paths/~1v1~1call-test/post/requestBody/content/application~1json/schema')!;
    const requests = [
      { policy: 'docs' },
      { policy: 'x'.repeat(257) },
      { policy: 'docs', call_id: 'cucm-4-872185' },
      { policy: 'docs', call_id: 872185 },
      { policy: 'docs', call_id: 'a/b' },
    ];
    for (const fields of requests) {
      const body = { calling_number: '5550100', called_number: '1000', ...fields };
      const answered = (await call('POST', '/v1/call-test', { body })).status;
      expect([fields, validate(body), answered]).toEqual([fields, answered === 200, answered === 200 ? 200 : 400]);
    }
  });

  it('the results feed\'s wait: the document\'s pattern takes what the API takes (a number with its unit)', async () => {
    const parameters = (doc.paths['/v1/results']!.get! as unknown as { parameters: { name: string; schema: { pattern: string; examples: string[] } }[] }).parameters;
    const wait = parameters.find((p) => p.name === 'wait')!.schema;
    expect(wait.examples).toEqual(['30s']);
    for (const value of ['5', '30', '200ms', '0.5s', '0.01m', '2h', 'soon', '5 s']) {
      const answered = (await call('GET', `/v1/results?after=0&wait=${value}`)).status;
      expect([value, new RegExp(wait.pattern).test(value)]).toEqual([value, answered === 200]);
    }
  });

  it('real answers, errors included, validate against the schemas described for them', async () => {
    const done = makeEvent({ policy: 'docs', crm_ref: 'kept-as-sent' });
    const failed = makeEvent({ policy: 'flaky' });
    expect((await call('POST', '/v1/calls', { body: done })).status).toBe(202);
    expect((await call('POST', '/v1/calls', { body: [failed, makeEvent({ policy: 'docs' })] })).status).toBe(202);
    expect((await call('POST', '/v1/calls', { body: done })).json.calls[0].status).toBe('duplicate');
    await h.waitForCall(done.call_id);
    await h.waitForCall(failed.call_id);

    const record = await call('GET', `/v1/calls/${done.call_id}`);
    // Fastify neither validated nor reshaped the answer with the route schema: extra event fields are kept.
    expect(record.json.event.crm_ref).toBe('kept-as-sent');
    expect(record.json.app_data.crm.unresolved).toEqual(['event.missing']);
    await call('GET', '/v1/calls?limit=2');
    await call('GET', '/v1/calls?status=completed,failed&policy=docs&since=1h');
    await call('GET', '/v1/results?after=0&limit=5');
    expect((await call('POST', `/v1/calls/${failed.call_id}/replay`)).status).toBe(202);
    expect((await call('POST', `/v1/calls/${failed.call_id}/replay`)).status).toBe(409);
    expect((await call('POST', '/v1/realtime', { body: makeEvent({ policy: 'live' }) })).json.app_data['caller-id'].data.name).toBe("O'Brien & Sons");
    await call('POST', '/v1/call-test', { body: { policy: 'docs', calling_number: '+1 (555) 123-4567', called_number: '1000' } });
    expect((await call('POST', '/v1/call-test?format=text', { body: { policy: 'docs', calling_number: '5550100', called_number: '1000' } })).type).toBe('text/plain');
    await call('GET', '/v1/policies');
    await call('GET', '/v1/stats');
    await call('GET', '/healthz', { auth: false });
    await call('GET', '/readyz', { auth: false });
    await call('GET', '/metrics', { auth: false });
    await call('GET', '/', { auth: false });
    await call('GET', '/console/app.js', { auth: false });
    expect((await call('GET', '/console/nothing.js', { auth: false })).text).toBe('no such file');
    await call('GET', '/docs', { auth: false });
    await call('GET', '/docs/init.js', { auth: false });
    await call('GET', '/docs/swagger-ui.css', { auth: false });
    await call('GET', '/docs/nothing.js', { auth: false });
    const xml = curriRequest({ calling: '5550001', called: '2000' });
    expect((await call('POST', `/curri?api_key=${TOKEN}`, { body: xml, headers: { 'content-type': 'text/xml' }, auth: false })).type).toBe('text/xml');
    await call('HEAD', `/curri?api_key=${TOKEN}`, { auth: false });

    // Error answers: validation is still the handlers' zod code, with its messages.
    const invalid = await call('POST', '/v1/calls', { body: { calling_number: 5, called_number: '1000' } });
    expect(invalid.json.error).toEqual({ code: 'CALLHOOK_EVENT_INVALID', message: expect.any(String), problems: [expect.stringMatching(/^calling_number: /)] });
    expect((await call('GET', '/v1/calls?limit=abc')).json.error.problems).toEqual([expect.stringMatching(/^limit: /)]);
    expect((await call('GET', '/v1/results?wait=2h')).status).toBe(400);
    expect((await call('GET', '/v1/calls/no-such-call')).status).toBe(404);
    // Ids the router cannot even take (undecodable, over maxParamLength) answer as the parameter says: 404.
    expect((await call('GET', '/v1/calls/%zz')).status).toBe(404);
    expect((await call('GET', `/v1/calls/${'a'.repeat(1025)}`)).status).toBe(404);
    expect((await call('POST', '/v1/calls/%zz/replay')).status).toBe(404);
    expect((await call('POST', '/v1/calls/no-such-call/replay')).status).toBe(404);
    expect((await call('POST', '/v1/realtime', { body: makeEvent({ policy: 'nope' }) })).status).toBe(404);
    expect((await call('POST', '/v1/calls', { body: makeEvent({ policy: 'nope' }) })).status).toBe(404);
    expect((await call('POST', '/v1/call-test', { body: { policy: 'nope', calling_number: '1', called_number: '2' } })).status).toBe(404);
    expect((await call('POST', '/v1/calls', { body: '{"calling_number":', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await call('POST', '/v1/calls', { body: 'calling_number=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(415);
    for (const path of ['/v1/calls', '/v1/call-test', '/v1/realtime']) {
      expect((await call('POST', path, { body: '{"calling_number":"1","called_number":"2"}', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    }
    expect((await call('POST', '/v1/realtime', { body: { ...makeEvent(), pad: 'x'.repeat(300_000) } })).status).toBe(413);
    expect((await call('GET', '/v1/stats', { auth: false })).status).toBe(401);
    expect((await call('GET', '/openapi.json', { auth: false })).status).toBe(401);
    expect((await call('POST', '/curri?api_key=wrong', { body: xml, headers: { 'content-type': 'text/xml' }, auth: false })).status).toBe(401);
    expect((await call('POST', `/curri?api_key=${TOKEN}`, { body: 'x'.repeat(70_000), headers: { 'content-type': 'text/xml' }, auth: false })).status).toBe(200);

    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(doc as object, 'callhook');
    const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');
    const problems: string[] = [];
    const exercised = new Set<string>();
    for (const answer of answers) {
      const path = Object.keys(doc.paths).find((p) => new RegExp(`^${p.replace(/\{\w+\}/g, '[^/]+')}$`).test(answer.path));
      const where = `${answer.method} ${answer.path} → ${answer.status} ${answer.type}`;
      const operation = path ? doc.paths[path]![answer.method.toLowerCase()] : undefined;
      const response = operation?.responses[String(answer.status)];
      if (!path || !operation || !response) {
        problems.push(`${where}: status not described`);
        continue;
      }
      exercised.add(`${answer.method} ${path}`);
      if (answer.method === 'HEAD' || !response.content) continue;
      const media = response.content[answer.type];
      if (!media) {
        problems.push(`${where}: content type not described (${Object.keys(response.content).join(', ')})`);
        continue;
      }
      if (!media.schema) continue;
      const validate = ajv.getSchema(`callhook#/${pointer('paths', path, answer.method.toLowerCase(), 'responses', String(answer.status), 'content', answer.type, 'schema')}`)!;
      const value = answer.type === 'application/json' ? JSON.parse(answer.text) : answer.text;
      if (!validate(value)) problems.push(`${where}: ${ajv.errorsText(validate.errors)}`);
      // The schema takes any code: the response's description names those this route answers.
      const code = (value as { error?: { code?: string } }).error?.code;
      if (answer.status >= 400 && code && !response.description.includes(`\`${code}\``)) problems.push(`${where}: ${code} is not named in "${response.description}"`);
    }
    expect(problems).toEqual([]);
    // Every described operation was answered for real.
    const operations = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method.toUpperCase()} ${path}`));
    expect(operations.filter((op) => !exercised.has(op))).toEqual([]);
  });
});
