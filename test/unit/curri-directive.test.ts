import { CurriTemplateError, MAX_CURRI_VALUE, renderDirective } from '../../src/curri/directive';
import { parseConfig } from '../../src/policies/load';

const blockOf = (curri: string) => parseConfig(`policies: [{ id: p, apps: [{ name: A, phase: real_time, url: "https://h.example/" }], curri: ${curri} }]`).policies[0]!.curri;

describe('a curri: block renders within a bound while CUCM waits', () => {
  it('a loop over call data stops at the bound and fails the answer (fail open), naming the field', () => {
    let read = 0;
    const tags = Array.from({ length: 100_000 }, (_, i) => ({ toString: () => `tag-${(read++, i)}` }));
    const block = blockOf('{ calling_name: "{{#each event.tags}}{{ this }} {{/each}}" }');
    expect(() => renderDirective(block, { event: { tags }, app_data: {} })).toThrow(new CurriTemplateError(`calling_name renders more than ${MAX_CURRI_VALUE} characters`));
    expect(read).toBeLessThan(MAX_CURRI_VALUE); // not 100,000
  });

  it('a long value without a loop is refused too; one at the bound is answered', () => {
    const block = blockOf('{ action: divert, divert_to: "{{ event.to }}" }');
    expect(() => renderDirective(block, { event: { to: '5'.repeat(MAX_CURRI_VALUE + 1) }, app_data: {} })).toThrow(CurriTemplateError);
    expect(renderDirective(block, { event: { to: '5'.repeat(MAX_CURRI_VALUE) }, app_data: {} })).toEqual({ action: 'divert', destination: '5'.repeat(MAX_CURRI_VALUE) });
  });

  it('drops what XML cannot carry before the emptiness checks: such a value is empty', () => {
    const scope = { event: { calling_number: '\u0001\u0002', device: ' \uffff\ufffe ', name: 'Jo\u0007e' }, app_data: {} };
    const modify = blockOf('{ calling_name: "{{ event.name }}", calling_number: "{{ event.calling_number }}", greeting: "{{ event.device }}" }');
    expect(renderDirective(modify, scope)).toEqual({ action: 'continue', callingName: 'Joe', callingNumber: '', calledNumber: '', greeting: '' });
    const divert = blockOf('{ action: divert, divert_to: "{{ event.calling_number }}" }');
    expect(() => renderDirective(divert, scope)).toThrow(new CurriTemplateError('divert_to rendered empty'));
  });
});
