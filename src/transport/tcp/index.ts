/**
 * The TCP transport (`nonstop/transport/tcp`).
 *
 * @module
 */
