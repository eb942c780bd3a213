import { hintFor } from '../../src/call-test/hints';
import { parseConfig } from '../../src/policies/load';
import { makeEvent } from '../helpers/events';

const policy = parseConfig(`
policies:
  - id: rt
    apps:
      - { name: Caller ID, phase: real_time, order: 50, url: "https://h.example/cid" }
      - { name: Post, order: 10, url: "https://h.example/post" }
      - { name: After, order: 20, url: "https://h.example/after" }
`).byId.get('rt')!;
const app = (slug: string) => policy.apps.find((a) => a.slug === slug)!;

describe('Call Test hints for an app that did not run', () => {
  it('blames the phase, not the order, when the test left a real-time app out', () => {
    // Real-time apps run before post-call ones whatever their order: only the phase kept it out.
    const hint = hintFor('app_data.caller-id.data.name', { app: app('post'), policy, event: makeEvent(), before: [], phase: 'post_call' });
    expect(hint).toBe('app `caller-id` did not run: phase `post_call` leaves out real-time apps, which run before this one; test with phase `all`');
  });

  it('keeps the order hint where the order is the reason', () => {
    // A later post-call app, with or without a phase filter.
    for (const phase of ['all', 'post_call'] as const) {
      expect(hintFor('app_data.after.data.x', { app: app('post'), policy, event: makeEvent(), before: [], phase })).toBe('no app `after` ran before this app (`after` is post_call, order 20; this app is post_call, order 10)');
    }
    // A post-call app never runs before a real-time one: --phase all would not help.
    expect(hintFor('app_data.post.data.x', { app: app('caller-id'), policy, event: makeEvent(), before: [], phase: 'real_time' })).toBe('no app `post` ran before this app (`post` is post_call, order 10; this app is real_time, order 50)');
  });

  it('suggests the standard event field or the slug a path looks like a misspelling of', () => {
    const context = { app: app('post'), policy, event: makeEvent(), before: [], phase: 'all' as const };
    expect(hintFor('event.caling_number', context)).toBe('the event has no field "caling_number" (did you mean event.calling_number?)');
    expect(hintFor('event.site_code', context)).toBe('the event has no field "site_code"');
    expect(hintFor('app_data.caller-ib.data.name', context)).toBe('no app `caller-ib` ran before this app (policy rt has no app with that slug (did you mean `caller-id`?))');
  });

  it("names the event's app_data when the event brought that app's result", () => {
    const event = makeEvent({ app_data: { 'caller-id': { data: {} } } });
    expect(hintFor('app_data.caller-id.data.name', { app: app('post'), policy, event, before: [], phase: 'post_call' })).toBe('the event\'s app_data.caller-id has no "data.name"');
  });
});
