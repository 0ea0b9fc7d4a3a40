/**
 * Test support for nonstop and for host projects (`nonstop/testing`): the simulated clock and
 * network, and the conformance suites that every Storage and Transport adapter must pass.
 *
 * @module
 */
export { SimulatedClock } from './simulated-clock.js';
