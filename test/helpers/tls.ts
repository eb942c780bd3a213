import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** PEM files of a private CA, a server certificate it signed (127.0.0.1, localhost) and a client certificate it signed. */
export interface TestCertificates {
  dir: string;
  caFile: string;
  serverKeyFile: string;
  serverCertFile: string;
  clientKeyFile: string;
  clientCertFile: string;
  read(file: string): string;
}

/** Made with the openssl CLI (EC keys: fast), in a temporary directory, valid for two days. */
export function makeCertificates(): TestCertificates {
  const dir = mkdtempSync(join(tmpdir(), 'callhook-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const key = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...key, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=callhook test CA');
  const sign = (name: string, subject: string, extensions: string) => {
    writeFileSync(at(`${name}.ext`), `${extensions}\n`);
    openssl('req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  };
  sign('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth');
  sign('client', '/CN=callhook', 'extendedKeyUsage=clientAuth');
  return {
    dir,
    caFile: at('ca.crt'),
    serverKeyFile: at('server.key'),
    serverCertFile: at('server.crt'),
    clientKeyFile: at('client.key'),
    clientCertFile: at('client.crt'),
    read: (file) => readFileSync(file, 'utf8'),
  };
}
