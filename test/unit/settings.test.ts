import { SettingsError } from '../../src/errors';
import { parseSettings } from '../../src/settings';

const problemsOf = (env: Record<string, string>): string[] => {
  try {
    parseSettings(env);
    return [];
  } catch (error) {
    return (error as SettingsError).problems;
  }
};

describe('CALLHOOK_PREFIX', () => {
  it.each(['callhook', '{callhook}', '{callhook:eu}', 'ch-1'])('%s is taken', (prefix) => {
    expect(problemsOf({ CALLHOOK_PREFIX: prefix })).toEqual([]);
  });

  // Redis refuses whitespace in client names, and BullMQ names its connections after the prefix:
  // calls still ran, but no worker showed in /v1/stats and the no-worker alert fired for good.
  it.each(['call hook', '{call hook}', '{callhook}\t', 'callhook:eu', '{a}:b'])('%j is refused', (prefix) => {
    expect(problemsOf({ CALLHOOK_PREFIX: prefix })).toEqual([`CALLHOOK_PREFIX=${prefix}: no spaces or ':'`]);
  });
});
