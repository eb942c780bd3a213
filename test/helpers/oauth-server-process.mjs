// A real OAuth2 authorization server (oauth2-mock-server, ESM-only, hence its own process).
// It only issues tokens to CLIENT_ID/CLIENT_SECRET and prints one JSON line per event on stdout.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';

const { CLIENT_ID = 'callhook', CLIENT_SECRET = 'secret', EXPIRES_IN, DELAY_MS } = process.env;
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
// A unique jti per token, so two tokens issued in the same second differ.
server.service.on('beforeTokenSigning', (token) => {
  token.payload.jti = randomUUID();
});
server.service.on('beforeResponse', (response, req) => {
  const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  const [id, secret] = basic
    ? Buffer.from(basic, 'base64').toString().split(':').map((s) => decodeURIComponent(s.replace(/\+/g, ' ')))
    : [req.body.client_id, req.body.client_secret];
  if (id !== CLIENT_ID || secret !== CLIENT_SECRET) {
    response.statusCode = 401;
    response.body = { error: 'invalid_client' };
  } else if (EXPIRES_IN) {
    response.body.expires_in = Number(EXPIRES_IN);
  }
  const line = { event: 'token', status: response.statusCode, token: response.body.access_token ?? null, grant_type: req.body.grant_type, scope: req.body.scope ?? null, basic: Boolean(basic) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});
await server.start(0, '127.0.0.1');
let url = server.issuer.url;
if (DELAY_MS) {
  // A slow authorization server: the same one behind a port that takes DELAY_MS to pass a request on.
  const slow = createServer((req, res) => setTimeout(() => server.service.requestHandler(req, res), Number(DELAY_MS)));
  await new Promise((resolve) => slow.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${slow.address().port}`;
}
process.stdout.write(`${JSON.stringify({ event: 'ready', url })}\n`);
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
