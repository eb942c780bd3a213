import type { CurriBlock } from '../policies/types';
import { renderCapped, type TemplateScope } from '../templates/engine';
import { withoutNotXml, type CurriDirective } from './cixml';

/** A `curri:` block that cannot be answered as written (a rendered action CUCM does not know, a divert without a destination). */
export class CurriTemplateError extends Error {
  override name = 'CurriTemplateError';
}

/**
 * The longest value a `curri:` field may render, in UTF-16 units. CUCM shows names and numbers of
 * a few dozen characters; a loop over call data must not build megabytes while CUCM waits.
 */
export const MAX_CURRI_VALUE = 4096;

/**
 * The directive a policy's `curri:` block renders to over the call's event and its real-time apps'
 * results. An empty rendered value means "do not modify"; without a block, a plain continue.
 * @throws CurriTemplateError
 */
export function renderDirective(block: CurriBlock | undefined, scope: TemplateScope): CurriDirective {
  if (!block) return { action: 'continue' };
  const render = (template: CurriBlock['action'] | undefined, field: string) => {
    if (!template) return '';
    const over = () => new CurriTemplateError(`${field} renders more than ${MAX_CURRI_VALUE} characters`);
    // What XML cannot carry is dropped before the emptiness checks: escapeXml would drop it later,
    // and a value made only of it must mean "do not modify" (or, for divert_to, an error), not
    // an empty name, number or destination.
    return withoutNotXml(renderCapped(template, scope, MAX_CURRI_VALUE, over)).trim();
  };
  const action = render(block.action, 'action').toLowerCase() || 'continue';
  switch (action) {
    case 'reject':
      return { action: 'reject' };
    case 'divert': {
      const destination = render(block.divertTo, 'divert_to');
      if (!destination) throw new CurriTemplateError('divert_to rendered empty');
      return { action: 'divert', destination };
    }
    case 'continue':
      return {
        action: 'continue',
        callingName: render(block.callingName, 'calling_name'),
        callingNumber: render(block.callingNumber, 'calling_number'),
        calledNumber: render(block.calledNumber, 'called_number'),
        greeting: render(block.greeting, 'greeting'),
      };
    default:
      throw new CurriTemplateError(`action rendered "${action}", not continue, reject or divert`);
  }
}
