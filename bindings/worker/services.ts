/**
 * The registry of core services (Worker mode): objects that live in the core
 * on behalf of one client port (remote pcbs, netconns), reached by calls and
 * ops named "<service>.<method>" (bindings/worker/core-worker.ts routes them).
 * A module of its own so service modules and the core worker can both import
 * it without an import cycle.
 *
 * @module
 */
import type { Stack } from "../stack.js";
import type { EventMessage } from "./protocol.js";

/** What a call returns inside the core: the value, out-parameters, bytes. */
export interface DispatchResult {
  v?: unknown;
  out?: unknown;
  bin?: Uint8Array;
}

/**
 * A service: the core-side half of an API whose objects live in the core
 * (remote raw pcbs, netconns). One instance per client port, so events go
 * back to the client that owns the objects. Calls named "<name>.<method>"
 * reach `call` (awaited, answered) or, sent as ops, `op` (no answer).
 */
export interface CoreService {
  call(m: string, a: any[], bin?: Uint8Array): Promise<DispatchResult> | DispatchResult;
  op?(m: string, a: any[], bin?: Uint8Array): void;
  /** Aborts and releases every object of this client (port closed, worker shutting down). */
  close(): Promise<void> | void;
}

/** Posts an event to the owning client; `bin` is transferred. */
export type PostEvent = (ev: Omit<EventMessage, "type">) => void;

/** Builds a service for one client port. */
export type ServiceFactory = (stack: Stack, post: PostEvent) => CoreService;

export const serviceFactories = new Map<string, ServiceFactory>();

/** Registers a service under `name` (calls "<name>.<method>"); the service modules call this on import. */
export function registerService(name: string, f: ServiceFactory): void {
  serviceFactories.set(name, f);
}

