/**
 * The console's browser tests (`npm run test:browser`): a real headless Chromium (Debian's
 * `chromium` package, driven by playwright-core) against a real API, worker, Redis and receivers.
 * Screenshots go to test-output/screens/.
 */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/test/browser'],
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  testTimeout: 120000,
  maxWorkers: 1,
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
};
