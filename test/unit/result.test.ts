import { finalResult, skipResult } from '../../src/pipeline/result';
import { parseConfig } from '../../src/policies/load';
import { STEP_COST } from '../../src/templates/engine';
import type { WebhookApp } from '../../src/policies/types';
import type { AttemptReport } from '../../src/webhook/send';

/** An app whose `when` and `message` templates throw, as a helper with a bug would. */
function throwingApp(): WebhookApp {
  const config = parseConfig('policies:\n  - id: p\n    apps:\n      - { name: A, url: "http://h.example/", when: "{{ event.x }}", message: "{{ event.x }}" }\n', {}, 'test');
  const app = config.policies[0]!.apps[0]!;
  const broken = { source: '', render: () => { throw new Error('helper failed'); } };
  return { ...app, when: broken, message: broken };
}

describe('app results when a template throws', () => {
  it('a `when` that cannot be rendered fails the app without sending it', () => {
    expect(skipResult(throwingApp(), { event: {}, app_data: {} }, undefined)).toMatchObject({
      status: 'failed',
      error: { code: 'CALLHOOK_TEMPLATE_RENDER', message: '`when` could not be rendered: helper failed' },
      attempts: 0,
    });
  });

  it('a `message` that cannot be rendered keeps the success it describes', () => {
    const report = { error: null, httpStatus: 200, durationMs: 12, data: { ok: true }, unresolved: [] } as unknown as AttemptReport;
    expect(finalResult(throwingApp(), report, { event: {}, app_data: {} }, { attempts: 1, log: [], request: null })).toMatchObject({
      status: 'success',
      message: 'HTTP 200 in 12 ms (`message` could not be rendered: helper failed)',
    });
  });
});

describe('`when` and `message` within max_request_bytes', () => {
  const appOf = (fields: string) => parseConfig(`policies: [{ id: p, apps: [{ name: A, url: "https://h.example/", max_request_bytes: 1000, ${fields} }] }]`).policies[0]!.apps[0]!;
  const ok = { error: null, httpStatus: 200, durationMs: 3, data: null, unresolved: [] } as unknown as AttemptReport;

  it('a `when` looping over call data stops at the limit and fails the app unsent', () => {
    let read = 0;
    const items = Array.from({ length: 100_000 }, (_, i) => ({ toString: () => `${(read++, i)}` }));
    const result = skipResult(appOf('when: "{{#each event.items}}{{ this }}{{/each}}"'), { event: { items }, app_data: {} }, undefined);
    expect(result).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_TEMPLATE_RENDER', message: '`when` could not be rendered: `when` renders more than max_request_bytes (1000)' } });
    expect(read).toBeLessThan(1000); // not 100,000
  });

  it('nested loops that write little are bounded by their steps: each step counts, so the `when` fails fast', () => {
    const a = Array.from({ length: 5000 }, () => 0);
    const app = parseConfig(`policies: [{ id: p, apps: [{ name: A, url: "https://h.example/", when: "{{#each event.a}}{{#each @root.event.a}}{{#if this.vip}}y{{/if}}{{/each}}{{/each}}" }] }]`).policies[0]!.apps[0]!;
    const started = performance.now();
    const result = skipResult(app, { event: { a }, app_data: {} }, undefined);
    expect(performance.now() - started).toBeLessThan(500); // 25,000,000 steps took 4 s; now at most 131,072
    expect(result).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_TEMPLATE_RENDER', message: '`when` could not be rendered: `when` renders more than max_request_bytes (1048576)' } });
  });

  it('what helpers read and make inside a loop counts too, written or not', () => {
    const a = Array.from({ length: 5000 }, () => 0);
    const event = { a, pad: 'x'.repeat(200_000) };
    for (const when of ['{{#each event.a}}{{#if (json @root.event)}}{{/if}}{{/each}}', '{{#each event.a}}{{#if (digits @root.event.pad)}}{{/if}}{{/each}}', '{{#each event.a}}{{#if (truncate @root.event.a 1)}}{{/if}}{{/each}}']) {
      const app = parseConfig(`policies: [{ id: p, apps: [{ name: A, url: "https://h.example/", when: "${when}" }] }]`).policies[0]!.apps[0]!;
      const started = performance.now();
      const result = skipResult(app, { event, app_data: {} }, undefined);
      expect(performance.now() - started).toBeLessThan(500); // the json one took 1.7 s
      expect(result).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_TEMPLATE_RENDER' } });
    }
    // Outside loops a helper's work is bounded by the template: not counted.
    const once = parseConfig(`policies: [{ id: p, apps: [{ name: A, url: "https://h.example/", max_request_bytes: 1000, when: "{{#if (json event)}}yes{{/if}}" }] }]`).policies[0]!.apps[0]!;
    expect(skipResult(once, { event, app_data: {} }, undefined)).toBeUndefined();
  });

  it('ordinary loops still render: steps and text within the limit', () => {
    const when = 'when: "{{#each event.items}}{{#if this.vip}}{{ this.name }},{{/if}}{{/each}}"';
    const items = Array.from({ length: 100 }, (_, i) => ({ vip: i % 25 === 0, name: `n${i}` }));
    expect(skipResult(appOf(when), { event: { items }, app_data: {} }, undefined)).toBeUndefined(); // renders "n0,n25,n50,n75,": truthy
    const helpers = appOf('when: "{{#each event.items}}{{ upper this.name }}{{ json this.vip }}{{/each}}"');
    expect(skipResult(helpers, { event: { items: items.slice(0, 10) }, app_data: {} }, undefined)).toBeUndefined();
    const quiet = appOf('when: "{{#each event.items}}{{/each}}"');
    const steps = 1000 / STEP_COST;
    expect(skipResult(quiet, { event: { items: Array(steps).fill(0) }, app_data: {} }, undefined)).toMatchObject({ status: 'skipped' }); // within
    expect(skipResult(quiet, { event: { items: Array(steps + 1).fill(0) }, app_data: {} }, undefined)).toMatchObject({ status: 'failed', error: { code: 'CALLHOOK_TEMPLATE_RENDER' } });
  });

  it('a `message` over the limit is not stored; the success stays', () => {
    const app = appOf('message: "{{ event.text }}"');
    const history = { attempts: 1, log: [], request: null };
    expect(finalResult(app, ok, { event: { text: 'x'.repeat(1001) }, app_data: {} }, history).message).toBe('HTTP 200 in 3 ms (`message` could not be rendered: `message` renders more than max_request_bytes (1000))');
    expect(finalResult(app, ok, { event: { text: 'x'.repeat(1000) }, app_data: {} }, history).message).toBe('x'.repeat(1000));
  });
});
