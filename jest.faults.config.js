/**
 * The fault suite (`npm run test:faults`): crashes, Redis restarts, hostile receivers and bad
 * input, each counted from the receiver's side. Kept out of `npm test` (package.json ignores
 * test/faults); run one file at a time, as the cases start processes and a Redis of their own.
 */
module.exports = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  rootDir: __dirname,
  roots: ['<rootDir>/test/faults'],
  testMatch: ['**/*.test.ts'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
  testTimeout: 180000,
  maxWorkers: 1,
  // A handle left open by a failed case must not hang CI; each case ends its own processes.
  forceExit: true,
  transform: { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] },
};
