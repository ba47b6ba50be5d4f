import { MemoryOrderStore } from '../../../../raft-node/src/ledger';
import { describeOrderStoreContract } from '../../../support/order-store-contract';

// The in-memory store keeps its contents across a "reopen": it is the same object (the simulation's store).
describeOrderStoreContract('MemoryOrderStore', { create: () => new MemoryOrderStore(), reopen: (store) => store });
