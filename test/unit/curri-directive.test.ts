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
});
