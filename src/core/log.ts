/**
 * Debug logging under the `nonstop:<component>` namespaces (enable with `DEBUG=nonstop:*`).
 *
 * @module
 */
import createDebug from 'debug';

/** A debug logger; call `.extend('part')` for a sub-namespace and check `.enabled` before costly arguments. */
export type Logger = createDebug.Debugger;

/** The logger of a component: `logger('ring')` logs under `nonstop:ring`. */
export function logger(component: string): Logger {
  return createDebug(`nonstop:${component}`);
}
