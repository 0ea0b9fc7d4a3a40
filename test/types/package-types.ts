// Type-level test of the published declarations: this file imports the package by its name, so
// it compiles against the bundled dist/**/*.d.ts (`npm run build` first). `npm run typecheck`
// compiles it, and test/unit/package-types.test.ts compiles it again with skipLibCheck off and
// checks that each `Same*` pair below names one declaration, not two copies of it.
//
// A type used by several entry points must be one type: the NodeId or NonstopError that
// `nonstop/testing` uses is the one `nonstop` exports (a copy of the branded NodeId would not
// even be assignable).
import type { MemoryNetwork as TransportMemoryNetwork } from 'nonstop/transport/memory';
import type { NodeId, NonstopError, ProtocolError, Transport } from 'nonstop';
import type { MemoryNetwork, TransportFactory, TransportHarness } from 'nonstop/testing';

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** The NodeId that `nonstop/testing` takes: what a TransportFactory is given. */
export type TestingNodeId = Parameters<TransportFactory>[0][number];
/** The Transport that `nonstop/testing` uses: what a TransportHarness holds. */
export type TestingTransport = TransportHarness['transports'][number];
/**
 * The NonstopError that `nonstop/testing` uses: a transport's events carry a ProtocolError
 * (`frameRejected`) or a NodeId.
 */
export type TestingProtocolError = Exclude<Parameters<ReturnType<TestingTransport['listeners']>[number]>[0], string>;

export type SameNodeId = [TestingNodeId, NodeId];
export type SameTransport = [TestingTransport, Transport];
export type SameProtocolError = [TestingProtocolError, ProtocolError];
export type SameMemoryNetwork = [MemoryNetwork, TransportMemoryNetwork];

export const sameNodeId: Equal<TestingNodeId, NodeId> = true;
export const sameTransport: Equal<TestingTransport, Transport> = true;
export const sameProtocolError: Equal<TestingProtocolError, ProtocolError> = true;
export const sameMemoryNetwork: Equal<MemoryNetwork, TransportMemoryNetwork> = true;

// Assignable both ways (two copies of the branded NodeId are not).
export const fromTesting = (id: TestingNodeId): NodeId => id;
export const toTesting = (id: NodeId): TestingNodeId => id;
export const asNonstopError = (error: TestingProtocolError): NonstopError => error;
