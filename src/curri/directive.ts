import type { CurriBlock } from '../policies/types';
import type { TemplateScope } from '../templates/engine';
import type { CurriDirective } from './cixml';

/** A `curri:` block that cannot be answered as written (a rendered action CUCM does not know, a divert without a destination). */
export class CurriTemplateError extends Error {
  override name = 'CurriTemplateError';
}

/**
 * The directive a policy's `curri:` block renders to over the call's event and its real-time apps'
 * results. An empty rendered value means "do not modify"; without a block, a plain continue.
 * @throws CurriTemplateError
 */
export function renderDirective(block: CurriBlock | undefined, scope: TemplateScope): CurriDirective {
  if (!block) return { action: 'continue' };
  const render = (template: CurriBlock['action'] | undefined) => template?.render(scope).trim() ?? '';
  const action = render(block.action).toLowerCase() || 'continue';
  switch (action) {
    case 'reject':
      return { action: 'reject' };
    case 'divert': {
      const destination = render(block.divertTo);
      if (!destination) throw new CurriTemplateError('divert_to rendered empty');
      return { action: 'divert', destination };
    }
    case 'continue':
      return { action: 'continue', callingName: render(block.callingName), callingNumber: render(block.callingNumber), calledNumber: render(block.calledNumber), greeting: render(block.greeting) };
    default:
      throw new CurriTemplateError(`action rendered "${action}", not continue, reject or divert`);
  }
}
