/**
 * The typed event emitter every component extends (`eventemitter3`).
 *
 * Note: eventemitter3 silently drops an `'error'` event that has no listener, so components that
 * emit errors that matter also report them through an `onError` option or a rejected promise.
 *
 * @module
 */
/**
 * The emitter `Storage`, `Transport` and every component extend (eventemitter3's, typed by an
 * events interface). Adapter authors extend this same class.
 */
export { EventEmitter } from 'eventemitter3';
