export { LedgerStateMachine, isCommandError, DEFAULT_SNAPSHOT_RECORD_BYTES, CANCELED_REASON } from './state-machine';
export type { LedgerApplyResult, HaltState, CommandError } from './state-machine';
export { LedgerCommandSchema, RiskLimitsPatchSchema, decodeCommand, encodeCommand } from './commands';
export type { LedgerCommand } from './commands';
export { checkRisk, positionDelta, DEFAULT_RISK_LIMITS } from './risk';
export type { RiskContext } from './risk';
export { MemoryOrderStore } from './order-store';
export type { OrderStore, StoreBatch, LedgerCoreState, CancelTombstone } from './order-store';
