/**
 * The typed event emitter every component extends (`eventemitter3`).
 *
 * Note: eventemitter3 silently drops an `'error'` event that has no listener, so components that
 * emit errors that matter also report them through an `onError` option or a rejected promise.
 *
 * @module
 */
export { EventEmitter } from 'eventemitter3';
