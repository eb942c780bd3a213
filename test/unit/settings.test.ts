import { SettingsError } from '../../src/errors';
import { apiTokenWarnings, parseSettings } from '../../src/settings';

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

describe('CALLHOOK_API_TOKEN in CUCM\'s URL', () => {
  it.each(['a+b', 'a&b', 'a#b', 'a%41', 'a/b=', 'a b', 'é'])('%j: warns that /curri?api_key= needs it percent-encoded, without saying it', (token) => {
    const warnings = apiTokenWarnings({ apiToken: `${token}0123456789abcdef` });
    expect(warnings).toEqual([expect.stringMatching(/percent-encode it/)]);
    expect(warnings[0]).not.toContain(`${token}0123456789abcdef`);
  });

  it.each([undefined, 'c0ffee4b7e21d3a9f8e6d5c4b3a29187', 'A-Z_a.z~09'])('%j: no warning', (token) => {
    expect(apiTokenWarnings({ apiToken: token })).toEqual([]);
  });
});

describe('CALLHOOK_CDR_REDIS_TIMEOUT', () => {
  it('bounds how long ingest-cdr waits for a Redis reply: 10 s unless set, at least 100 ms', () => {
    expect(parseSettings({}).cdrRedisTimeoutMs).toBe(10_000);
    expect(parseSettings({ CALLHOOK_CDR_REDIS_TIMEOUT: '2s' }).cdrRedisTimeoutMs).toBe(2000);
    expect(problemsOf({ CALLHOOK_CDR_REDIS_TIMEOUT: '50ms' })).toEqual(['CALLHOOK_CDR_REDIS_TIMEOUT=50ms: must be at least 100 ms']);
  });
});

describe('CALLHOOK_METRICS_HOST (where a worker or the CDR ingester serves /metrics, /healthz, /readyz)', () => {
  it('is CALLHOOK_HOST unless set, so a setup that served them there still does', () => {
    expect(parseSettings({}).metricsHost).toBe('127.0.0.1');
    expect(parseSettings({ CALLHOOK_HOST: '0.0.0.0', CALLHOOK_API_TOKEN: 'c0ffee4b7e21d3a9f8e6d5c4b3a29187' }).metricsHost).toBe('0.0.0.0');
  });

  it('is its own setting: the API can stay on loopback while Prometheus scrapes a worker from another host', () => {
    const settings = parseSettings({ CALLHOOK_HOST: '127.0.0.1', CALLHOOK_METRICS_HOST: '0.0.0.0' });
    expect([settings.host, settings.metricsHost]).toEqual(['127.0.0.1', '0.0.0.0']);
  });
});
