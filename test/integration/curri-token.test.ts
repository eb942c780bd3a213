import { createLogger } from '../../src/logger';
import { curriRequest, readCurriAnswer } from '../helpers/cucm';
import { startHarness } from '../helpers/harness';

/**
 * CUCM takes the token in its URL (`/curri?api_key=`), where the query is decoded: a token with
 * `+`, `&`, `#` or `%` pasted raw is not the token callhook compares. The API says so at start
 * (never printing the token), and the percent-encoded token is taken.
 */
describe('CURRI: an API token that CUCM\'s URL must carry percent-encoded', () => {
  const start = async (token: string) => {
    const logLines: string[] = [];
    const h = await startHarness(__filename, 'policies: []\n', {
      apiToken: token,
      worker: false,
      logger: createLogger({ level: 'warn', destination: { write: (line: string) => void logLines.push(line) } }),
    });
    return { h, logLines };
  };
  const curri = (baseUrl: string, query: string) =>
    fetch(`${baseUrl}/curri?api_key=${query}`, { method: 'POST', headers: { 'content-type': 'text/xml' }, body: curriRequest({ calling: '5550001', called: '2000' }) });

  it('warns at start without printing the token; pasted raw it is refused, percent-encoded it is taken', async () => {
    const token = 'Qm9v+Y3Rh/ZWxsbz1+d29ybGQ9PXh5emFi&Y2Rl#x%41=';
    const { h, logLines } = await start(token);
    try {
      const warnings = logLines.map((line) => JSON.parse(line) as { msg: string }).filter((l) => /CALLHOOK_API_TOKEN/.test(l.msg));
      expect(warnings).toEqual([expect.objectContaining({ msg: expect.stringMatching(/percent-encode it \(\+ as %2B, & as %26, # as %23, % as %25/) })]);
      expect(logLines.join('\n')).not.toContain(token);
      expect(logLines.join('\n')).not.toContain(encodeURIComponent(token));
      expect((await curri(h.baseUrl, token)).status).toBe(401);
      const encoded = await curri(h.baseUrl, encodeURIComponent(token));
      expect(encoded.status).toBe(200);
      expect(readCurriAnswer(await encoded.text()).decision).toBe('Permit');
    } finally {
      await h.stop();
    }
  });

  it('a token of letters, digits and . _ ~ - gets no warning and goes into the URL as it is', async () => {
    const token = 'c0ffee4b7e21d3a9f8e6d5c4b3a29187_~.-';
    const { h, logLines } = await start(token);
    try {
      expect(logLines.filter((line) => line.includes('CALLHOOK_API_TOKEN'))).toEqual([]);
      expect((await curri(h.baseUrl, token)).status).toBe(200);
    } finally {
      await h.stop();
    }
  });
});
