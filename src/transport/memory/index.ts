/**
 * In-process transport over a simulated network (`nonstop/transport/memory`).
 *
 * @module
 */
