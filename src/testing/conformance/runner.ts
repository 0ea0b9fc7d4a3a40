/**
 * The minimal test-runner surface the conformance suites need, so they run under vitest, jest,
 * mocha or `node:test` without depending on any of them.
 *
 * @module
 */

/** The `describe` / `it` pair of the host project's test runner (vitest's fit as they are). */
export interface ConformanceRunner {
  /** Groups tests. */
  describe(name: string, body: () => void): void;
  /** Declares one test; `timeoutMs` overrides the runner's default where the runner supports it. */
  it(name: string, body: () => Promise<void> | void, timeoutMs?: number): void;
}
